"""Secondary screens: new session, saved sessions, help."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Footer, Input, Label, Markdown, Select

from roundtable_tui.kernels import problems


@dataclass
class NewSession:
    problem: str
    model: str
    iterations: int
    minutes: float | None
    strategy: str = "mixed"


STRATEGY_CHOICES = [
    ("mixed: template parameters or free-form code", "mixed"),
    ("parameters: tune the problem's template only", "parameters"),
    ("code: the model writes every kernel", "code"),
]


class NewSessionScreen(ModalScreen[NewSession | None]):
    BINDINGS = [Binding("escape", "cancel", "cancel", id="new.cancel")]

    def __init__(self, model: str) -> None:
        super().__init__()
        self.model = model

    def compose(self) -> ComposeResult:
        with Vertical(id="new-box"):
            yield Label("[b]New session[/b]")
            yield Label("problem")
            yield Select(
                [(p, p) for p in problems.PROBLEMS], value="sgemm", allow_blank=False, id="problem"
            )
            yield Label("model: embedded, small, a .gguf path or openai:URL#MODEL")
            yield Input(self.model, id="model")
            yield Label("iterations")
            yield Input("5", id="iterations", type="integer")
            yield Label("minutes (empty: no limit)")
            yield Input("", id="minutes", type="number")
            yield Label("strategy")
            yield Select(STRATEGY_CHOICES, value="mixed", allow_blank=False, id="strategy")
            yield Button("Start", variant="primary", id="start")
            yield Footer()

    @on(Button.Pressed, "#start")
    @on(Input.Submitted)
    def start(self) -> None:
        minutes = self.query_one("#minutes", Input).value.strip()
        iterations = self.query_one("#iterations", Input).value.strip() or "5"
        self.dismiss(
            NewSession(
                problem=str(self.query_one("#problem", Select).value),
                model=self.query_one("#model", Input).value.strip() or self.model,
                iterations=max(1, int(iterations)),
                minutes=float(minutes) if minutes else None,
                strategy=str(self.query_one("#strategy", Select).value),
            )
        )

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
        from roundtable_tui.core.session import SessionError, list_sessions, summarize

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
