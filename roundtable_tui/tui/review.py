"""The review gate in the TUI: a modal with everything the reviewer needs on one screen."""

from __future__ import annotations

import difflib
import os
import shlex
import subprocess
import threading
from pathlib import Path

from rich.markup import escape
from rich.syntax import Syntax
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Static, TextArea

from roundtable_tui.core.review import Action, AutoPolicy, ReviewDecision, ReviewRequest


class EditScreen(ModalScreen[str | None]):
    """An inline editor for the kernel; ctrl+s keeps the edit, escape drops it."""

    BINDINGS = [
        Binding("ctrl+s", "save", "keep edit", id="edit.save"),
        Binding("escape", "cancel", "cancel", id="edit.cancel"),
    ]

    def __init__(self, code: str) -> None:
        super().__init__()
        self.code = code

    def compose(self) -> ComposeResult:
        with Vertical(id="edit-box"):
            yield Label("Edit the kernel · ctrl+s keeps the edit · escape cancels")
            yield TextArea.code_editor(self.code, id="editor")
            yield Footer()

    def action_save(self) -> None:
        self.dismiss(self.query_one(TextArea).text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ReasonScreen(ModalScreen[str | None]):
    """Why the kernel is rejected: the reason goes back to the Proposer and the Coder."""

    BINDINGS = [Binding("escape", "cancel", "cancel", id="reason.cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="reason-box"):
            yield Label("Why reject it? (the agents read this)")
            yield Input(placeholder="e.g. it still loops i-j-k; pack B first", id="reason")

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or "rejected by the reviewer")

    def action_cancel(self) -> None:
        self.dismiss(None)


def _section(title: str, body: str) -> Static:
    return Static(f"[b]{title}[/b]\n{body}", classes="review-section")


def _describe(p: dict) -> str:
    text = str(p.get("idea", ""))
    if p.get("rationale"):
        text += f"\n\nwhy: {p['rationale']}"
    if p.get("kind") == "code" and p.get("region"):
        text += f"\n\nregion to edit (as proposed): {p['region']}"
    if p.get("kind") == "parameters" and p.get("parameters"):
        settings = " ".join(f"{k}={v}" for k, v in p["parameters"].items())
        text += f"\n\ntemplate parameters (filled in without a model): {settings}"
    return text


def _scheme(v: dict) -> str:
    """A verified (or vetoed) formulation as equations, with the proof's verdict."""
    verdict = "proved: every C block equals the block product" if v.get("ok") else "vetoed"
    lines = [str(x) for x in v.get("equations") or []]
    how = v.get("parameters") or {}
    if v.get("ok") and how.get("levels") is not None:
        lines.append(
            f"applied for up to {how['levels']} level(s) while blocks stay at least "
            f"{how.get('cutoff', '?')} on a side (template sgemm/strassen, no model)"
        )
    return "\n".join([verdict, *lines])


class ReviewScreen(ModalScreen[ReviewDecision]):
    """approve / edit / reject one kernel before the Tester compiles and runs it."""

    BINDINGS = [
        Binding("a", "approve", "approve", id="review.approve"),
        Binding("e", "edit", "edit", id="review.edit"),
        Binding("x", "external", "$EDITOR", id="review.external"),
        Binding("r", "reject", "reject", id="review.reject"),
        Binding("t", "auto", "auto-approve from now", id="review.auto"),
    ]

    def __init__(self, request: ReviewRequest, kernel_file: Path | None = None) -> None:
        super().__init__()
        self.request = request
        self.code = request.code
        self.edited = False
        self.kernel_file = kernel_file
        self.auto = False

    def compose(self) -> ComposeResult:
        r = self.request
        p = r.proposal
        with Vertical(id="review-box"):
            yield Label(
                f"Review kernel {r.number} · iteration {r.iteration} · attempt "
                f"{r.attempt} · {escape(str(p.get('title', '')))} ({p.get('kind')})",
                id="review-title",
            )
            with Horizontal():
                with VerticalScroll(id="review-left"):
                    yield _section("Proposal", escape(_describe(p)))
                    chunks = r.chunks or []
                    yield _section(
                        "Knowledge used",
                        "\n".join(
                            f"• {escape(str(c.get('source') or c.get('id')))}" for c in chunks
                        )
                        or "none",
                    )
                    v = r.verification
                    yield _section("Verifier", escape(str(v.get("detail", ""))))
                    if v.get("equations"):
                        yield _section("Block scheme", escape(_scheme(v)))
                    gate = r.gate
                    lines = [
                        f"[red]✗ {escape(x['message'])}[/red]" for x in gate.get("violations", [])
                    ]
                    lines += [f"• {escape(n['message'])}" for n in gate.get("notes", [])]
                    yield _section("Static gate", "\n".join(lines) or "nothing to note")
                    yield _section(self._diff_title(), "")
                    yield Static(self._diff(), id="review-diff")
                with VerticalScroll(id="review-right"):
                    yield Static(
                        Syntax(self.code, "rust", theme="monokai", line_numbers=True),
                        id="review-code",
                    )
            yield Footer()

    def _diff_title(self) -> str:
        """What the diff shows: an edit of one region, or a kernel against the best."""
        if self.request.region:
            return f"The edit of region {escape(self.request.region)} against the current best"
        return "Diff against the current best"

    def _diff(self) -> Syntax:
        diff = difflib.unified_diff(
            self.request.best_code.splitlines(),
            self.code.splitlines(),
            "best",
            f"kernel {self.request.number}",
            lineterm="",
            n=2,
        )
        return Syntax("\n".join(diff) or "(identical)", "diff", theme="monokai")

    def on_mount(self) -> None:
        if self.kernel_file is not None:
            self.watch_file()

    @work(exclusive=True, group="review-watch", exit_on_error=False)
    async def watch_file(self) -> None:
        """A save to the kernel's file from any editor replaces the code under review."""
        from watchfiles import awatch

        assert self.kernel_file is not None
        async for _changes in awatch(self.kernel_file, stop_event=None, debounce=200):
            try:
                text = self.kernel_file.read_text()
            except OSError:
                continue
            if text != self.code:
                self._set_code(text)
                self.notify("kernel file changed on disk: the saved version is under review")

    def _set_code(self, code: str) -> None:
        self.code = code
        self.edited = code != self.request.code
        self.query_one("#review-code", Static).update(
            Syntax(code, "rust", theme="monokai", line_numbers=True)
        )
        self.query_one("#review-diff", Static).update(self._diff())

    def _decide(self, decision: ReviewDecision) -> None:
        self.workers.cancel_group(self, "review-watch")
        self.dismiss(decision)

    def action_approve(self) -> None:
        if self.edited:
            self._decide(ReviewDecision(Action.EDIT, code=self.code, reason="edited on disk"))
        else:
            self._decide(ReviewDecision(Action.APPROVE, reason="approved by the reviewer"))

    def action_auto(self) -> None:
        self.auto = True
        self.action_approve()

    def action_edit(self) -> None:
        def done(code: str | None) -> None:
            if code is not None and code != self.request.code:
                self._decide(ReviewDecision(Action.EDIT, code=code, reason="edited inline"))

        self.app.push_screen(EditScreen(self.code), done)

    def action_external(self) -> None:
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        path = self.kernel_file
        if path is None:
            self.notify("no kernel file to open", severity="warning")
            return
        path.write_text(self.code)
        with self.app.suspend():
            subprocess.run([*shlex.split(editor), str(path)], check=False)
        text = path.read_text()
        if text != self.request.code:
            self._decide(ReviewDecision(Action.EDIT, code=text, reason=f"edited in {editor}"))

    def action_reject(self) -> None:
        def done(reason: str | None) -> None:
            if reason is not None:
                self._decide(ReviewDecision(Action.REJECT, reason=reason))

        self.app.push_screen(ReasonScreen(), done)

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:  # pragma: no cover - mouse users
        getattr(self, f"action_{event.button.id}", lambda: None)()


class TuiReviewGate:
    """The manager's thread waits here while the reviewer decides in the UI thread."""

    def __init__(self, app: App, kernels_dir: Path | None = None) -> None:
        self.app = app
        self.auto_approve = False
        self.kernels_dir = kernels_dir

    def review(self, request: ReviewRequest, cancel: threading.Event) -> ReviewDecision:
        if self.auto_approve:
            return AutoPolicy().review(request, cancel)
        answered = threading.Event()
        box: dict[str, ReviewDecision] = {}
        kernel_file = self.kernels_dir / f"{request.number:03d}.rs" if self.kernels_dir else None

        def show() -> None:
            screen = ReviewScreen(request, kernel_file)

            def answer(decision: ReviewDecision | None) -> None:
                if screen.auto:
                    self.auto_approve = True
                box["d"] = decision or ReviewDecision(Action.REJECT, reason="closed")
                answered.set()

            self.app.push_screen(screen, answer)

        if cancel.is_set():
            return ReviewDecision(Action.REJECT, reason="cancelled")
        try:
            self.app.call_from_thread(show)
        except RuntimeError:  # the app has already exited
            return ReviewDecision(Action.REJECT, reason="cancelled")
        while not answered.wait(0.1):
            if cancel.is_set():
                # posting never blocks, even when the app is already shutting down
                self.app.post_message(CloseReview())
                return ReviewDecision(Action.REJECT, reason="cancelled")
        return box["d"]


class CloseReview(Message):
    """The manager stopped waiting for a decision (cancelled): close the review screen."""
