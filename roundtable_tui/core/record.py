"""One read model of a saved session: read once, folded once, asked everything.

`sessions list|show`, `replay --rebench`, the TUI's sessions screen, the HTML report and the
crate export all read a session through `load(path) -> SessionRecord`: its meta, its events,
the fold of those events (`core.state.SessionState`), which kernel won, the source each
kernel was checked with, and a one-line summary. Nothing else rebuilds these facts.

Errors: `SessionError` naming the file (and line) for a missing, corrupt or unknown session,
and for a kernel whose source is not recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roundtable_tui.core.events import CheckFinished, Event, Kind
from roundtable_tui.core.session import SessionError, kernel_file, read_events, read_meta
from roundtable_tui.core.state import Entry, SessionState
from roundtable_tui.kernels import problems
from roundtable_tui.kernels.problems import Problem


@dataclass(frozen=True)
class SessionSummary:
    """One line of `sessions list` (and of the TUI's sessions screen)."""

    id: str
    path: Path
    problem: str
    model: str
    created: float
    """Seconds since the epoch."""
    iterations: int
    """Iterations finished."""
    best_gflops: float | None
    best_title: str
    finished: str
    """Why the session last stopped ('' if it did not stop cleanly)."""


def winner(state: SessionState) -> Entry | None:
    """The fastest passed kernel the agents wrote; the naive starting point (iteration 0)
    only when none of theirs passed; None when nothing passed."""
    passed = [e for e in state.entries if e.passed]
    pool = [e for e in passed if e.iteration > 0] or passed
    return max(pool, key=lambda e: e.gflops or 0.0) if pool else None


@dataclass
class SessionRecord:
    """A saved session read once (see the module docstring)."""

    path: Path
    meta: dict[str, Any]
    events: list[Event]
    state: SessionState

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def problem_name(self) -> str:
        return str(self.meta.get("problem") or self.state.problem or "?")

    @property
    def problem(self) -> Problem:
        """The session's problem; SessionError if this roundtable does not know it."""
        try:
            return problems.get(self.problem_name)
        except ValueError as exc:
            raise SessionError(f"{self.path}: {exc}") from None

    @property
    def model(self) -> str:
        return str(self.meta.get("model") or self.state.model or "?")

    @property
    def winner(self) -> Entry | None:
        """See `winner`."""
        return winner(self.state)

    def check_of(self, entry: Entry) -> dict[str, Any]:
        """The recorded check_result of a leaderboard entry, as its wire dict ({} if none)."""
        for ev in self.events:
            if ev.kind is Kind.CHECK_RESULT and ev.iteration == entry.iteration:
                p = ev.payload
                if isinstance(p, CheckFinished) and p.number == entry.number:
                    return ev.data
        return {}

    def source_of(self, entry: Entry) -> str:
        """The kernel as it was checked (a reviewer's edit included): from the events, else
        from kernels/NNN.rs. SessionError when neither has it."""
        if entry.code:
            return entry.code
        if entry.number is None:
            raise SessionError(f"{self.path}: '{entry.title}' never became a kernel")
        file = kernel_file(self.path, entry.number)
        try:
            return file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SessionError(f"kernel {entry.number} is not recorded ({file}: {exc})") from None

    def summary(self) -> SessionSummary:
        best = self.state.best
        return SessionSummary(
            id=self.id,
            path=self.path,
            problem=self.problem_name,
            model=self.model,
            created=float(self.meta.get("created", 0) or 0),
            iterations=self.state.finished_iterations,
            best_gflops=best.gflops if best else None,
            best_title=best.title if best else "",
            finished=self.state.finished,
        )


def load(path: Path) -> SessionRecord:
    """Reads the session at `path` (no repair: a torn last line is left out, not cut)."""
    meta = read_meta(path)
    events = list(read_events(path))
    return SessionRecord(path, meta, events, SessionState.of(events))


def summarize(path: Path) -> SessionSummary:
    """`load(path).summary()`."""
    return load(path).summary()
