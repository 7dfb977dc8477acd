"""The Manager: an explicit state machine around the table.

    Proposer → Verifier → Coder → (static gate, repair) → review gate → Tester → memory
                                    ↑________ repair (build error / wrong result) ______|

with budgets on iterations, wall-clock and tokens, a stop after M iterations without
improvement, and cancellation at any point. Every step is an event; persistent events are
fsync'd to the session before the next step starts, so a killed run resumes where it was.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from roundtable_tui.core.agents import AgentError, Coder, Proposer, Talk, Tester, Verifier
from roundtable_tui.core.events import Agent, Event, Kind
from roundtable_tui.core.knowledge import Knowledge, NoKnowledge
from roundtable_tui.core.prompts import STRATEGIES, repair_message
from roundtable_tui.core.review import Action, ReviewGate, ReviewRequest
from roundtable_tui.core.session import Session
from roundtable_tui.core.state import SessionState
from roundtable_tui.kernels import problems, templates
from roundtable_tui.kernels.checker import Checker, Options
from roundtable_tui.kernels.problems import Problem
from roundtable_tui.kernels.sandbox import Cancelled
from roundtable_tui.kernels.verdict import Verdict
from roundtable_tui.llm.backend import Backend, GenerationCancelled, LLMError

log = logging.getLogger(__name__)

REPAIRABLE = {Verdict.BUILD_FAILED, Verdict.WRONG_RESULT, Verdict.CRASHED}


class Phase(StrEnum):
    PROPOSE = "propose"
    VERIFY = "verify"
    CODE = "code"
    REVIEW = "review"
    TEST = "test"
    MEMORY = "memory"
    DONE = "done"


@dataclass
class RunConfig:
    iterations: int = 5
    """Total iterations of the session (a resumed session continues up to this)."""
    minutes: float | None = None
    max_tokens: int | None = None
    patience: int | None = None
    """Stop after this many iterations without a faster passing kernel."""
    repairs: int = 2
    """How many times one iteration's kernel may go back to the Coder."""
    allow_unsafe: bool = False
    strategy: str = "mixed"
    """mixed (template parameters or free-form code, the Proposer chooses), parameters, code."""
    check: Options = field(default_factory=Options)


class Manager:
    def __init__(
        self,
        session: Session,
        backend: Backend,
        problem: Problem,
        gate: ReviewGate,
        config: RunConfig,
        checker: Checker | None = None,
        on_event: Callable[[Event], object] | None = None,
        knowledge: Knowledge | None = None,
        machine: dict[str, Any] | None = None,
    ) -> None:
        from roundtable_tui.kernels import machine as machine_info

        self.session, self.backend, self.problem = session, backend, problem
        self.gate, self.cfg = gate, config
        self.checker = checker or Checker()
        self.on_event = on_event or (lambda _e: None)
        self.knowledge = knowledge or NoKnowledge()
        self.machine = machine or machine_info.describe()
        self.state = SessionState.of(session.events())
        if config.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {config.strategy!r} (one of {STRATEGIES})")
        found = templates.families(problem.name)
        self.family = found[0] if found and config.strategy != "code" else None
        if config.strategy == "parameters" and self.family is None:
            raise ValueError(f"strategy 'parameters' needs a template; {problem.name} has none")
        self.proposer = Proposer(backend, problem, self.machine, self.family, config.strategy)
        self.verifier = Verifier()
        self.coder = Coder(backend, problem, self.machine)
        self.tester = Tester(self.checker, config.check)
        self.phase = Phase.PROPOSE
        self._lock = threading.Lock()
        self._started = 0.0
        self._best_before: float | None = None
        """The best GFLOPS when the current iteration started (improvement is against it)."""

    # ------------------------------------------------------------------ events
    def emit(self, event: Event) -> Event:
        with self._lock:
            if event.persist:
                self.session.append(event)
            self.state.apply(event)
        try:
            self.on_event(event)
        except Exception:  # a failing viewer (say, one shutting down) never stops the engine
            log.exception("a viewer failed on %s", event.kind)
        return event

    def say(self, text: str, iteration: int) -> None:
        self.emit(Event(Kind.MESSAGE, {"text": text}, Agent.MANAGER, iteration))

    # ------------------------------------------------------------------ the run
    def run(self, cancel: threading.Event) -> str:
        """Runs until a budget is spent or `cancel` is set; returns why it stopped."""
        self._started = time.monotonic()
        if self.state.iteration == 0 and not self.state.entries:
            self.emit(Event(Kind.SESSION_STARTED, dict(self.session.meta)))
        else:
            self.emit(Event(Kind.SESSION_RESUMED, {"after_iteration": self.state.iteration}))
            done = self.state.finished_iterations
            redo = (
                f" Iteration {self.state.iteration} was interrupted and starts again."
                if self.state.iteration > done
                else ""
            )
            self.say(
                f"Resuming after iteration {done}: {len(self.state.entries)} kernels on "
                f"record.{redo}",
                self.state.iteration,
            )
        reason = "finished"
        try:
            if not any(e.number == 0 for e in self.state.entries):
                self._seed(cancel)
            while True:
                reason = self._budget_spent()
                if reason:
                    break
                # an iteration a kill interrupted is run again from its start
                self._iteration(self.state.finished_iterations + 1, cancel)
        except (Cancelled, GenerationCancelled):
            reason = "cancelled"
        except LLMError as exc:
            self.emit(
                Event(
                    Kind.ERROR,
                    {"message": str(exc), "recoverable": False},
                    Agent.MANAGER,
                    self.state.iteration,
                )
            )
            reason = f"error: {exc}"
        self.phase = Phase.DONE
        best = self.state.best
        self.emit(
            Event(
                Kind.SESSION_FINISHED,
                {
                    "reason": reason,
                    "iterations": self.state.finished_iterations,
                    "best_gflops": best.gflops if best else None,
                    "best_title": best.title if best else "",
                    "tokens": self.state.tokens,
                },
                Agent.MANAGER,
                self.state.iteration,
            )
        )
        return reason

    def _budget_spent(self) -> str:
        c, s = self.cfg, self.state
        if s.finished_iterations >= c.iterations:
            return f"iteration budget reached ({c.iterations})"
        if c.minutes is not None and time.monotonic() - self._started > c.minutes * 60:
            return f"time budget reached ({c.minutes:g} min)"
        if c.max_tokens is not None and s.tokens >= c.max_tokens:
            return f"token budget reached ({s.tokens} ≥ {c.max_tokens})"
        if c.patience is not None and s.since_improvement >= c.patience:
            return f"no improvement in {c.patience} iterations"
        return ""

    def _seed(self, cancel: threading.Event) -> None:
        """Iteration 0: the naive kernel, the starting point every proposal improves on."""
        code = problems.naive_kernel_path(self.problem, self.checker.cfg.rust_workspace).read_text()
        self.emit(Event(Kind.ITERATION_STARTED, {"seed": True}, Agent.MANAGER, 0))
        self.say("Measuring the starting point: the naive kernel.", 0)
        self.emit(
            Event(
                Kind.PROPOSAL,
                {
                    "title": "naive (starting point)",
                    "kind": "code",
                    "idea": "the plain loop every search starts from",
                    "rationale": "",
                    "parameters": {},
                    "chunks": [],
                },
                Agent.MANAGER,
                0,
            )
        )
        self.session.write_kernel(0, code)
        self.emit(
            Event(
                Kind.KERNEL,
                {"number": 0, "attempt": 1, "code": code, "title": "naive (starting point)"},
                Agent.MANAGER,
                0,
            )
        )
        self._test(code, 0, 0, {"title": "naive (starting point)", "kind": "code"}, 1, cancel)
        self.emit(Event(Kind.ITERATION_FINISHED, {"since_improvement": 0}, Agent.MANAGER, 0))

    def _context(self) -> dict[str, Any]:
        s = self.state
        best = s.best
        best_text = (
            f"'{best.title}' at {best.gflops:.1f} GFLOPS"
            + (
                f" ({best.fraction_of_openblas:.0%} of OpenBLAS)"
                if best and best.fraction_of_openblas
                else ""
            )
            if best and best.gflops
            else "none yet (the naive kernel)"
        )
        board = [
            f"{e.title}: {e.gflops:.1f} GFLOPS"
            for e in s.leaderboard()
            if e.verdict == "passed" and e.gflops
        ][:4]
        fails = [f"{e.title}: {e.verdict} ({e.reason[:120]})" for e in s.failures[-4:]]
        return {
            "best": best_text,
            "leaderboard": board,
            "failures": fails,
            "feedback": s.feedback[-3:],
            "tried": self._tried()[:8],
            "best_parameters": " ".join(f"{k}={v}" for k, v in self._base_parameters().items())
            if self.family
            else "",
            "untried": self._untried(),
        }

    def _untried(self, limit: int = 6) -> list[str]:
        """Valid one-parameter moves from the best set that were not measured, in an order
        that changes per iteration (so the first listed is not always the one chosen)."""
        if self.family is None:
            return []
        measured = [e.parameters for e in self.state.entries if e.template == self.family.id]
        moves = self.family.neighbours(self._base_parameters(), measured)
        random.Random(self.state.iteration).shuffle(moves)
        return [" ".join(f"{k}={v}" for k, v in m.items()) for m in moves[:limit]]

    def _base_parameters(self) -> dict[str, Any]:
        """The template's best measured set so far (its defaults before any)."""
        assert self.family is not None
        mine = [
            e
            for e in self.state.leaderboard()
            if e.template == self.family.id and e.verdict == "passed" and e.gflops
        ]
        return dict(mine[0].parameters) if mine else self.family.defaults

    def _name_change(self, values: dict[str, Any]) -> str:
        """A parameter set's title: what it changes from the best set."""
        base = self._base_parameters()
        diff = [f"{k} {v}" for k, v in values.items() if base.get(k) != v]
        assert self.family is not None
        return f"{self.family.name}: " + (", ".join(diff) if diff else "the best set again")

    def _tried(self) -> list[str]:
        """The template's parameter sets measured so far, best first, as changes from the
        defaults (compact: every prompt token costs time on a CPU)."""
        if self.family is None:
            return []
        defaults = self.family.defaults
        lines = []
        mine = [e for e in self.state.leaderboard() if e.template == self.family.id]
        for e in mine:
            diff = " ".join(f"{k}={v}" for k, v in e.parameters.items() if defaults.get(k) != v)
            result = (
                f"{e.gflops:.1f} GFLOPS"
                + (f" ({e.fraction_of_openblas:.0%} of OpenBLAS)" if e.fraction_of_openblas else "")
                if e.verdict == "passed" and e.gflops
                else e.verdict
            )
            lines.append(f"{diff or 'defaults'} -> {result}")
        return lines

    def _complete(self, proposal: dict[str, Any]) -> None:
        """A parameter proposal's `changes` applied to the best set give its `parameters`."""
        kind = proposal.get("kind")
        if self.family is not None and kind == "parameters" and "changes" in proposal:
            proposal["parameters"] = {**self._base_parameters(), **proposal["changes"]}

    def _refuse(self, proposal: dict[str, Any]) -> str | None:
        """Why a parameter proposal cannot be measured (invalid, or measured already)."""
        if self.family is None or proposal.get("kind") != "parameters":
            return None
        self._complete(proposal)
        if not proposal.get("changes", True):
            return "`changes` is empty: change at least one parameter of the best set"
        try:
            values = self.family.validate(proposal.get("parameters") or {})
        except templates.ParameterError as exc:
            return "; ".join(exc.reasons)
        for e in self.state.entries:
            if e.template == self.family.id and e.parameters == values:
                got = f"{e.gflops:.1f} GFLOPS" if e.gflops else e.verdict
                return f"that exact set was measured in iteration {e.iteration} ({got})"
        return None

    def _best_code(self) -> str:
        best = self.state.best
        if best and best.code:
            return best.code
        return problems.naive_kernel_path(self.problem, self.checker.cfg.rust_workspace).read_text()

    def _finish(self, iteration: int, verdict: str, title: str, gflops: float | None) -> None:
        before = self._best_before
        improved = verdict == "passed" and gflops is not None and gflops > (before or 0.0)
        since = 0 if improved else self.state.since_improvement + 1
        best = self.state.best
        self.emit(
            Event(
                Kind.ITERATION_FINISHED,
                {
                    "verdict": verdict,
                    "title": title,
                    "gflops": gflops,
                    "improved": improved,
                    "best_gflops": best.gflops if best else None,
                    "since_improvement": since,
                },
                Agent.MANAGER,
                iteration,
            )
        )

    def _iteration(self, it: int, cancel: threading.Event) -> None:
        best = self.state.best
        self._best_before = best.gflops if best else None
        self.emit(Event(Kind.ITERATION_STARTED, {}, Agent.MANAGER, it))
        self.say(f"Iteration {it}: best so far {self._context()['best']}.", it)

        # Proposer
        self.phase = Phase.PROPOSE
        context = self._context()
        # what is about to be tried next: the best so far and what just failed
        query = " ".join([context["best"], *context["failures"][-1:], *context["feedback"][-1:]])
        # the parameter path has the measured sets and the moves to go on: fewer notes, so
        # less prompt to process (the slowest part of an iteration on a CPU)
        budget = 300 if self.family is not None else 600
        chunks = self.knowledge.context(self.problem.name, query, budget)
        context["knowledge"] = [c.get("text", "") for c in chunks]
        try:
            proposal = self.proposer.propose(
                Talk(self.backend, self.emit, Agent.PROPOSER, it), cancel, context, self._refuse
            )
        except AgentError as exc:
            self.emit(
                Event(Kind.ERROR, {"message": str(exc), "recoverable": True}, Agent.PROPOSER, it)
            )
            self._finish(it, "no_proposal", "", None)
            return
        if self.family is not None and proposal.get("kind") == "parameters":
            self._complete(proposal)
            try:
                values = self.family.validate(proposal.get("parameters") or {})
                proposal["title"] = self._name_change(values)
            except templates.ParameterError:
                proposal["title"] = f"{self.family.name}: refused parameters"
        proposal["chunks"] = [
            {k: c.get(k) for k in ("id", "source", "score", "kind", "page")} for c in chunks
        ]
        self.emit(Event(Kind.PROPOSAL, proposal, Agent.PROPOSER, it))

        # Verifier (the proposal)
        self.phase = Phase.VERIFY
        self.emit(Event(Kind.AGENT_STARTED, {}, Agent.VERIFIER, it))
        verification = self.verifier.check_proposal(proposal, self.family)
        if verification["ok"] and verification.get("parameters"):
            repeat = self._refuse(proposal)
            if repeat:
                verification = {**verification, "ok": False, "detail": repeat}
        self.emit(Event(Kind.VERIFICATION, verification, Agent.VERIFIER, it))
        if not verification["ok"]:
            self.state.feedback.append(
                f"verifier vetoed '{proposal['title']}': {verification['detail'][:200]}"
            )
            self._finish(it, "vetoed", proposal["title"], None)
            return

        # Coder, static gate, review, Tester, with bounded repairs
        self.phase = Phase.CODE
        talk = Talk(self.backend, self.emit, Agent.CODER, it)
        origin: dict[str, Any] = {}
        code: str | None
        if self.family is not None and verification.get("parameters"):
            # the parameter path: the template filled in; nothing for a model to repair
            code = self.coder.instantiate(talk, self.family, verification["parameters"])
            origin = {"template": self.family.id, "parameters": verification["parameters"]}
            repairs = 0
        else:
            code = self.coder.write(
                talk, cancel, proposal, self._best_code(), self.state.feedback[-2:]
            )
            repairs = self.cfg.repairs
        verdict, gflops = "no_code", None
        for attempt in range(1, repairs + 2):
            last = attempt == repairs + 1
            if code is None:
                msg = (
                    f"Your reply had no ```rust block defining `{self.problem.signature}`. "
                    "Reply with the whole file in one ```rust block."
                )
                self.emit(
                    Event(
                        Kind.ERROR,
                        {"message": "the Coder's reply had no kernel", "recoverable": not last},
                        Agent.CODER,
                        it,
                    )
                )
                if last:
                    break
                code = self.coder.repair(talk, cancel, msg)
                continue
            gate = self.verifier.check_code(code, self.problem, self.cfg.allow_unsafe)
            self.emit(
                Event(
                    Kind.VERIFICATION,
                    {
                        "ok": gate.ok,
                        "kind": "code",
                        "detail": gate.reason or "passes the static gate",
                        "gate": gate.to_dict(),
                    },
                    Agent.VERIFIER,
                    it,
                )
            )
            if not gate.ok and not last:
                code = self.coder.repair(
                    talk, cancel, repair_message(self.problem, "rejected", gate.reason, "")
                )
                continue
            number = self._next_number()
            self.session.write_kernel(number, code)
            self.emit(
                Event(
                    Kind.KERNEL,
                    {
                        "number": number,
                        "attempt": attempt,
                        "code": code,
                        "title": proposal["title"],
                        "gate": gate.to_dict(),
                        **origin,
                    },
                    Agent.CODER,
                    it,
                )
            )
            self.phase = Phase.REVIEW
            request = ReviewRequest(
                it,
                number,
                attempt,
                self.problem.name,
                proposal,
                code,
                self._best_code(),
                gate.to_dict(),
                verification,
                proposal.get("chunks", []),
            )
            self.emit(Event(Kind.REVIEW_REQUESTED, {"number": number}, Agent.MANAGER, it))
            decision = self.gate.review(request, cancel)
            if cancel.is_set():
                raise Cancelled()
            data = {"number": number, **decision.to_dict()}
            if decision.action is Action.EDIT and decision.code is not None:
                code = decision.code
                origin = {}  # a hand-edited instance is the reviewer's own code
                self.session.write_kernel(number, code)
                data["code"] = code
            self.emit(Event(Kind.REVIEW, data, Agent.MANAGER, it))
            if decision.action is Action.REJECT:
                verdict = "rejected_by_reviewer"
                break
            self.phase = Phase.TEST
            result = self._test(code, it, number, proposal, attempt, cancel, origin)
            verdict, gflops = str(result.verdict), result.gflops
            if result.verdict not in REPAIRABLE or last:
                break
            self.phase = Phase.CODE
            code = self.coder.repair(
                talk,
                cancel,
                repair_message(
                    self.problem, str(result.verdict), result.reason, result.compiler_output
                ),
            )
        self.phase = Phase.MEMORY
        self._finish(it, verdict, proposal["title"], gflops)

    def _next_number(self) -> int:
        kernels = self.session.path / "kernels"
        numbers = [int(p.stem) for p in kernels.glob("*.rs") if p.stem.isdigit()]
        return max(numbers, default=0) + 1

    def _test(
        self,
        code: str,
        it: int,
        number: int,
        proposal: dict[str, Any],
        attempt: int,
        cancel: threading.Event,
        origin: dict[str, Any] | None = None,
    ):
        self.emit(Event(Kind.AGENT_STARTED, {}, Agent.TESTER, it))
        self.emit(Event(Kind.CHECK_STARTED, {"number": number}, Agent.TESTER, it))

        def progress(phase: str) -> None:
            self.emit(Event(Kind.CHECK_PROGRESS, {"phase": phase}, Agent.TESTER, it))

        result = self.tester.test(code, self.problem, cancel, progress)
        data = result.to_dict()
        data.update(
            {
                "number": number,
                "title": proposal.get("title", ""),
                "kind": proposal.get("kind", ""),
                "attempt": attempt,
                **(origin or {}),
            }
        )
        self.emit(Event(Kind.CHECK_RESULT, data, Agent.TESTER, it))
        self.knowledge.record({"proposal": proposal, "code": code, "result": data})
        return result
