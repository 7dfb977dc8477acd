"""What a session knows, rebuilt from its events: the leaderboard, the best kernel, the
failures and feedback the next proposal must see.

`SessionState.apply` is the only way this state is built: the manager (live and on resume),
replay, the TUI and the read model of a saved session (`core.record`) all fold the same
events through it, so whatever the next prompt sees after a resume is what it saw before.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from roundtable_tui.core.events import (
    CheckFinished,
    Confirmed,
    ErrorRaised,
    Event,
    HintGiven,
    IterationFinished,
    IterationStarted,
    KernelWritten,
    Message,
    Outcome,
    Proposal,
    Reviewed,
    SessionFinished,
    SessionResumed,
    SessionStarted,
    Stage,
    Verification,
)


@dataclass
class Entry:
    """One line of the leaderboard: a kernel that was checked, or a proposal that ended
    before a check (vetoed, rejected by the reviewer)."""

    iteration: int
    number: int | None
    """The kernel's number (kernels/NNN.rs); None when no kernel was written (a veto).
    0 is the naive starting point."""
    title: str
    kind: str
    """The proposal's kind: code, parameters, formulation, …"""
    verdict: Outcome
    reason: str = ""
    gflops: float | None = None
    """Median GFLOPS at the benchmark shape (passed kernels)."""
    speedup_vs_naive: float | None = None
    fraction_of_openblas: float | None = None
    fraction_of_peak: float | None = None
    code: str = ""
    """The source that was checked (the reviewer's edit when there was one)."""
    template: str = ""
    """The template family the kernel was filled in from ('' for free-form code)."""
    parameters: dict[str, Any] = field(default_factory=dict)
    proposed_by: str = ""
    """Who chose a parameter set: model or optimizer ('' for other kernels)."""
    confirmation: Confirmed | None = None
    """The comparison with the best it met (None: not compared, e.g. clearly slower)."""

    def __post_init__(self) -> None:
        self.verdict = Outcome.parse(self.verdict)

    @property
    def passed(self) -> bool:
        return self.verdict is Outcome.PASSED


@dataclass
class SessionState:
    """The fold of a session's events (see the module docstring)."""

    problem: str = ""
    model: str = ""
    entries: list[Entry] = field(default_factory=list)
    iteration: int = 0
    """The last iteration started."""
    finished_iterations: int = 0
    """The last iteration finished."""
    seeded: bool = False
    """The naive starting point (iteration 0) has been measured."""
    tokens: int = 0
    """Prompt and completion tokens of every model reply."""
    feedback: list[str] = field(default_factory=list)
    """Vetoes and reviewer rejections, oldest first: shown to the next Proposer and Coder."""
    finished: str = ""
    """Why the session stopped ('' while it runs or after a resume)."""
    since_improvement: int = 0
    baselines: dict[str, float] = field(default_factory=dict)
    """GFLOPS of each baseline (naive, rayon, openblas) from the latest check."""
    hints: list[str] = field(default_factory=list)
    """A human's hints, oldest first (the latest few reach the Proposer)."""
    hint_file_lines: int = 0
    """Lines of the session's hints file already recorded as hints."""
    proposed: list[str] = field(default_factory=list)
    """Title and idea of every proposal, oldest first (recipes not yet named, edits.recipes)."""
    no_kernel: list[tuple[int, str, str]] = field(default_factory=list)
    """(iteration, title, why) of every iteration whose Coder gave no kernel, oldest first:
    shown to the Proposer beside the failed kernels, so it does not propose them again."""
    _coder_error: str = ""
    _proposal: Proposal = field(default_factory=Proposal)
    _kernels: dict[int, str] = field(default_factory=dict)
    _bests: list[tuple[int, int]] = field(default_factory=list)
    """(iteration, kernel number) of every confirmation that made a kernel the best."""
    _figures: dict[int, list[float]] = field(default_factory=dict)
    """Kernel number -> its median fractions of OpenBLAS from the confirmations it was in."""

    def confirmed_fraction(self, number: int | None) -> float | None:
        """Kernel `number`'s confirmed figure: the median of its fractions of OpenBLAS over
        the confirmation rounds it took part in (as candidate or as the best), or None when
        no confirmation timed it beside OpenBLAS. Steadier than its own first check, whose
        figure moves by ±15% with the machine's load."""
        got = self._figures.get(number) if number is not None else None
        return float(statistics.median(got)) if got else None

    @property
    def best(self) -> Entry | None:
        """The session's best: the last kernel confirmed faster than the best before it
        (`kernels.confirm`); in a session without confirmations (recorded before them), the
        fastest passed kernel."""
        if self._bests:
            number = self._bests[-1][1]
            for e in reversed(self.entries):
                if e.number == number and e.passed:
                    return e
        passed = [e for e in self.entries if e.passed and e.gflops]
        return max(passed, key=lambda e: e.gflops or 0.0) if passed else None

    @property
    def failures(self) -> list[Entry]:
        return [e for e in self.entries if not e.passed]

    @property
    def proposal(self) -> Proposal:
        """The latest proposal."""
        return self._proposal

    def leaderboard(self) -> list[Entry]:
        """Passed kernels fastest first, then everything else in order."""
        return sorted(self.entries, key=lambda e: (not e.passed, -(e.gflops or 0.0)))

    def code_of(self, number: int) -> str:
        """The source of kernel `number` as it was checked ('' if unknown)."""
        return self._kernels.get(number, "")

    def apply(self, ev: Event) -> None:
        """Folds one event in."""
        p = ev.payload
        if isinstance(p, SessionStarted):
            self.problem = p.problem or self.problem
            self.model = p.model or self.model
        elif isinstance(p, IterationStarted):
            if ev.iteration <= self.finished_iterations and (ev.iteration or self.seeded):
                return  # a stray restart of a finished iteration changes nothing
            # an iteration a kill interrupted runs again: what it left is replaced by the rerun
            self.entries = [e for e in self.entries if e.iteration != ev.iteration]
            self.no_kernel = [x for x in self.no_kernel if x[0] != ev.iteration]
            self._coder_error = ""
            self._bests = [b for b in self._bests if b[0] != ev.iteration]
            self.iteration = max(self.iteration, ev.iteration)
        elif isinstance(p, Message):
            if ev.agent is not None:
                self.tokens += p.tokens
        elif isinstance(p, Proposal):
            self._proposal = p
            self.proposed.append(f"{p.title} {p.idea}")
        elif isinstance(p, KernelWritten):
            self._kernels[p.number] = p.code
        elif isinstance(p, Reviewed):
            self._review(ev, p)
        elif isinstance(p, Verification):
            if not p.ok and p.stage is Stage.PROPOSAL:
                title = p.title or self._proposal.title or "?"
                self.feedback.append(f"verifier vetoed '{title}': {p.detail[:200]}")
                self.entries.append(
                    Entry(ev.iteration, None, title, self._proposal.kind, Outcome.VETOED, p.detail)
                )
        elif isinstance(p, CheckFinished):
            self.entries.append(
                Entry(
                    iteration=ev.iteration,
                    number=p.number,
                    title=p.title,
                    kind=p.kind,
                    verdict=p.verdict,
                    reason=p.reason,
                    gflops=p.gflops,
                    speedup_vs_naive=p.speedup_vs_naive,
                    fraction_of_openblas=p.fraction_of_openblas,
                    fraction_of_peak=p.fraction_of_peak,
                    code=self._kernels.get(p.number, str(p.extra.get("code", ""))),
                    template=p.template or "",
                    parameters=dict(p.parameters or {}),
                    proposed_by=self._proposal.proposed_by or "" if p.template else "",
                )
            )
            for name, b in p.baselines.items():
                self.baselines[name] = float(b.get("gflops", 0.0) or 0.0)
        elif isinstance(p, ErrorRaised):
            if p.step == "code":
                self._coder_error = p.message
        elif isinstance(p, IterationFinished):
            if p.verdict is Outcome.NO_CODE and ev.iteration:
                why = self._coder_error or "the Coder's replies held no kernel"
                self.no_kernel.append((ev.iteration, p.title or "?", why))
            self.finished_iterations = max(self.finished_iterations, ev.iteration)
            self.since_improvement = p.since_improvement
            if ev.iteration == 0:
                self.seeded = True
        elif isinstance(p, HintGiven):
            self.hints.append(p.text)
            if p.source == "file":
                self.hint_file_lines = max(self.hint_file_lines, p.line)
        elif isinstance(p, Confirmed):
            for e in reversed(self.entries):
                if e.number == p.number and e.iteration == ev.iteration:
                    e.confirmation = p
                    break
            if p.faster:
                self._bests.append((ev.iteration, p.number))
            for number, fraction in (
                (p.number, p.candidate_fraction),
                (p.against, p.best_fraction),
            ):
                if number is not None and fraction:
                    self._figures.setdefault(number, []).append(float(fraction))
        elif isinstance(p, SessionResumed):
            self.finished = ""
        elif isinstance(p, SessionFinished):
            self.finished = p.reason

    def _review(self, ev: Event, p: Reviewed) -> None:
        if p.action == "edit" and p.code is not None:
            self._kernels[p.number] = p.code
        elif p.action == "reject":
            title = self._proposal.title or "?"
            self.feedback.append(f"reviewer rejected '{title}': {p.reason}")
            self.entries.append(
                Entry(
                    ev.iteration,
                    p.number,
                    title,
                    self._proposal.kind or "?",
                    Outcome.REJECTED_BY_REVIEWER,
                    p.reason,
                    code=self._kernels.get(p.number, ""),
                )
            )

    @classmethod
    def of(cls, events: Iterable[Event]) -> SessionState:
        """The state after `events`, in order."""
        state = cls()
        for ev in events:
            state.apply(ev)
        return state
