"""What a session knows, rebuilt from its events: the leaderboard, the best kernel, the
failures and feedback the next proposal must see. The manager, resume, replay and the TUI
all fold the same events through `SessionState.apply`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from roundtable_tui.core.events import Event, Kind


@dataclass
class Entry:
    iteration: int
    number: int
    title: str
    kind: str
    verdict: str
    reason: str = ""
    gflops: float | None = None
    speedup_vs_naive: float | None = None
    fraction_of_openblas: float | None = None
    fraction_of_peak: float | None = None
    code: str = ""
    template: str = ""
    """The template family the kernel was filled in from ('' for free-form code)."""
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class SessionState:
    problem: str = ""
    model: str = ""
    entries: list[Entry] = field(default_factory=list)
    iteration: int = 0
    """The last iteration started."""
    finished_iterations: int = 0
    tokens: int = 0
    feedback: list[str] = field(default_factory=list)
    finished: str = ""
    since_improvement: int = 0
    baselines: dict[str, float] = field(default_factory=dict)
    _proposal: dict[str, Any] = field(default_factory=dict)
    _kernels: dict[int, str] = field(default_factory=dict)

    @property
    def best(self) -> Entry | None:
        passed = [e for e in self.entries if e.verdict == "passed" and e.gflops]
        return max(passed, key=lambda e: e.gflops or 0.0) if passed else None

    @property
    def failures(self) -> list[Entry]:
        return [e for e in self.entries if e.verdict != "passed"]

    def leaderboard(self) -> list[Entry]:
        return sorted(self.entries, key=lambda e: (e.verdict != "passed", -(e.gflops or 0.0)))

    def apply(self, ev: Event) -> None:
        d = ev.data
        if ev.kind is Kind.SESSION_STARTED:
            self.problem = d.get("problem", self.problem)
            self.model = d.get("model", self.model)
        elif ev.kind is Kind.ITERATION_STARTED:
            self.iteration = max(self.iteration, ev.iteration)
        elif ev.kind is Kind.MESSAGE and ev.agent is not None:
            self.tokens += int(d.get("prompt_tokens", 0)) + int(d.get("completion_tokens", 0))
        elif ev.kind is Kind.PROPOSAL:
            self._proposal = d
        elif ev.kind is Kind.KERNEL:
            self._kernels[int(d.get("number", 0))] = d.get("code", "")
        elif ev.kind is Kind.REVIEW and d.get("action") == "reject":
            title = self._proposal.get("title", "?")
            self.feedback.append(f"reviewer rejected '{title}': {d.get('reason', '')}")
            number = int(d.get("number", 0))
            self.entries.append(
                Entry(
                    ev.iteration,
                    number,
                    title,
                    self._proposal.get("kind", "?"),
                    "rejected_by_reviewer",
                    d.get("reason", ""),
                    code=self._kernels.get(number, ""),
                )
            )
        elif ev.kind is Kind.REVIEW and d.get("action") == "edit":
            self._kernels[int(d.get("number", 0))] = d.get("code", "")
        elif ev.kind is Kind.VERIFICATION and not d.get("ok", True) and d.get("kind") != "code":
            self.entries.append(
                Entry(
                    ev.iteration,
                    0,
                    self._proposal.get("title", "?"),
                    self._proposal.get("kind", "?"),
                    "vetoed",
                    d.get("detail", ""),
                )
            )
        elif ev.kind is Kind.CHECK_RESULT:
            number = int(d.get("number", 0))
            self.entries.append(
                Entry(
                    iteration=ev.iteration,
                    number=number,
                    title=d.get("title", ""),
                    kind=d.get("kind", ""),
                    verdict=d.get("verdict", "?"),
                    reason=d.get("reason", ""),
                    gflops=d.get("gflops"),
                    speedup_vs_naive=d.get("speedup_vs_naive"),
                    fraction_of_openblas=d.get("fraction_of_openblas"),
                    fraction_of_peak=d.get("fraction_of_peak"),
                    code=self._kernels.get(number, d.get("code", "")),
                    template=d.get("template") or "",
                    parameters=dict(d.get("parameters") or {}),
                )
            )
            for name, b in (d.get("baselines") or {}).items():
                self.baselines[name] = b.get("gflops", 0.0)
        elif ev.kind is Kind.ITERATION_FINISHED:
            self.finished_iterations = max(self.finished_iterations, ev.iteration)
            self.since_improvement = int(d.get("since_improvement", self.since_improvement))
        elif ev.kind is Kind.SESSION_RESUMED:
            self.finished = ""
        elif ev.kind is Kind.SESSION_FINISHED:
            self.finished = d.get("reason", "finished")

    @classmethod
    def of(cls, events: list[Event]) -> SessionState:
        state = cls()
        for ev in events:
            state.apply(ev)
        return state
