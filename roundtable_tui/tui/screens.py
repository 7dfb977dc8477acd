"""Secondary screens: new session, saved sessions, help."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import (
    Button,
    Checkbox,
    DataTable,
    Footer,
    Input,
    Label,
    Markdown,
    Select,
)

from roundtable_tui.core.run import RunSpec
from roundtable_tui.kernels import problems

STRATEGY_CHOICES = [
    ("mixed: template parameters or free-form code", "mixed"),
    ("parameters: tune the problem's template only", "parameters"),
    ("code: the model writes every kernel", "code"),
]


class NewSessionScreen(ModalScreen[RunSpec | None]):
    """The new-session form: every option of `roundtable run` (a `core.run.RunSpec`)."""

    BINDINGS = [Binding("escape", "cancel", "cancel", id="new.cancel")]

    def __init__(self, spec: RunSpec, default_model: str) -> None:
        super().__init__()
        self.spec = spec
        self.model = spec.model or default_model

    def compose(self) -> ComposeResult:
        s = self.spec

        def number(value: float | None) -> str:
            return "" if value is None else f"{value:g}"

        with Vertical(id="new-box"):
            yield Label("[b]New session[/b]")
            yield Label("problem")
            yield Select(
                [(p, p) for p in problems.PROBLEMS],
                value=s.problem or "sgemm",
                allow_blank=False,
                id="problem",
            )
            yield Label("model: embedded, small, a .gguf path or openai:URL#MODEL")
            yield Input(self.model, id="model")
            yield Label("strategy")
            yield Select(STRATEGY_CHOICES, value=s.strategy, allow_blank=False, id="strategy")
            with Horizontal(classes="new-row"):
                yield Label("iterations")
                yield Input(str(s.iterations or 5), id="iterations", type="integer")
                yield Label("minutes")
                yield Input(number(s.minutes), id="minutes", type="number", placeholder="no limit")
            with Horizontal(classes="new-row"):
                yield Label("repairs")
                yield Input(str(s.repairs), id="repairs", type="integer")
                yield Label("patience")
                yield Input(number(s.patience), id="patience", type="integer", placeholder="none")
            with Horizontal(classes="new-row"):
                yield Label("max tokens")
                yield Input(
                    number(s.max_tokens), id="max-tokens", type="integer", placeholder="no limit"
                )
                yield Checkbox("allow unsafe", s.allow_unsafe, id="allow-unsafe")
            yield Button("Start", variant="primary", id="start")
            yield Footer()

    def _int(self, ident: str) -> int | None:
        value = self.query_one(ident, Input).value.strip()
        return int(value) if value else None

    @on(Button.Pressed, "#start")
    @on(Input.Submitted)
    def start(self) -> None:
        minutes = self.query_one("#minutes", Input).value.strip()
        try:
            spec = replace(
                self.spec,
                problem=str(self.query_one("#problem", Select).value),
                model=self.query_one("#model", Input).value.strip() or self.model,
                iterations=max(1, self._int("#iterations") or 5),
                minutes=float(minutes) if minutes else None,
                repairs=max(0, self._int("#repairs") or 0),
                patience=self._int("#patience"),
                max_tokens=self._int("#max-tokens"),
                allow_unsafe=self.query_one("#allow-unsafe", Checkbox).value,
                strategy=str(self.query_one("#strategy", Select).value),
                resume=None,
                session=None,
            )
        except ValueError as exc:
            self.notify(str(exc), severity="error")
            return
        self.dismiss(spec)

    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass
class SessionChoice:
    path: Path
    action: str  # resume | replay


class SessionsScreen(ModalScreen[SessionChoice | None]):
    """Saved sessions with their best results; resume or replay one."""

    BINDINGS = [
        Binding("enter", "resume", "resume", id="sessions.resume"),
        Binding("p", "replay", "replay", id="sessions.replay"),
        Binding("escape", "cancel", "close", id="sessions.close"),
    ]

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        self.paths: list[Path] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="sessions-box"):
            yield Label(f"[b]Sessions[/b] in {escape(str(self.root))} · enter resume · p replay")
            yield DataTable(id="sessions-table", cursor_type="row")
            yield Footer()

    def on_mount(self) -> None:
        from roundtable_tui.core.record import summarize
        from roundtable_tui.core.session import SessionError, list_sessions

        table = self.query_one(DataTable)
        for col in ("id", "problem", "model", "created", "iterations", "best GFLOPS", "best"):
            table.add_column(col)
        for path in reversed(list_sessions(self.root)):
            try:
                s = summarize(path)
            except SessionError as exc:
                self.notify(str(exc), severity="warning")
                continue
            self.paths.append(path)
            table.add_row(
                s.id,
                s.problem,
                s.model,
                time.strftime("%Y-%m-%d %H:%M", time.localtime(s.created)),
                str(s.iterations),
                f"{s.best_gflops:.1f}" if s.best_gflops else "—",
                escape(s.best_title[:30]),
            )

    def _chosen(self) -> Path | None:
        table = self.query_one(DataTable)
        if not self.paths:
            return None
        return self.paths[table.cursor_row]

    def action_resume(self) -> None:
        path = self._chosen()
        if path:
            self.dismiss(SessionChoice(path, "resume"))

    def action_replay(self) -> None:
        path = self._chosen()
        if path:
            self.dismiss(SessionChoice(path, "replay"))

    def action_cancel(self) -> None:
        self.dismiss(None)


HELP = """\
# roundtable

Five agents work on one kernel problem, iteration after iteration:

* **Proposer** proposes one idea (from the best kernel so far, failures, your feedback);
* **Verifier** checks algebraic formulations with sympy and the code with the static gate;
* **Coder** writes the kernel;
* **you** approve, edit or reject it (the *review* screen);
* **Tester** (`roundtable check`) builds, verifies and times it;
* **Manager** keeps the order and the budgets.

## Keys

| key | main screen | | key | review screen |
| --- | --- | --- | --- | --- |
| n | new session | | a | approve |
| s | saved sessions (resume, replay) | | e | edit inline (ctrl+s keeps) |
| c | cancel the running step | | x | edit in $EDITOR |
| t | toggle auto-approve | | r | reject with a reason |
| ctrl+p | command palette | | t | approve, and auto-approve from now |
| ? | this help · q quit | | | |

In a replay: space play/pause, → step, + and − speed.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "close", "close", id="help.close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Markdown(HELP)
            yield Footer()

    def action_close(self) -> None:
        self.dismiss(None)
