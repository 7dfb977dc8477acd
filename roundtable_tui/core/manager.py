"""The Manager: the loop around the table, one iteration as four steps::

    propose ──► verify ──► code ⇄ review ⇄ test ──► finish
    Proposer    Verifier   writer   gate    Tester    (outcome, patience, memory)
       │ (a refused parameter set goes back once)  ▲ repair: build error, wrong result, crash
       └── no proposal / veto ends the iteration ──┘

with budgets on iterations, wall-clock and tokens, a stop after N iterations without
improvement, and cancellation at any point. Every step is an event (`core.events`); the
state (`core.state`) is only ever the fold of those events, and persistent events are
fsync'd to the session before the next step starts, so a killed run resumes where it was.

The writer of a kernel is chosen by the proposal's kind (`Manager.writers`): the model's
`Coder` for code and formulations, the `TemplateCoder` for parameter sets. A new kind of
proposal needs a writer there (and, if it needs checking before code, a case in
`Verifier.check_proposal`).

No step can take the Manager down: an exception inside a step becomes an error event naming
the agent and the step, that iteration ends with `Outcome.ERROR`, and the session goes on
(it stops, with the cause as its reason, after `MAX_STEP_FAILURES` such iterations in a
row). Model errors (`LLMError`) stop the session with the backend's message.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from roundtable_tui.core import edits, scheme_coder
from roundtable_tui.core.agents import (
    AgentError,
    Coder,
    Job,
    Proposer,
    Talk,
    TemplateCoder,
    Tester,
    Verifier,
    Writer,
)
from roundtable_tui.core.events import (
    PICKED,
    Agent,
    AgentStarted,
    CheckFinished,
    CheckProgress,
    CheckStarted,
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
    ReviewRequested,
    SessionFinished,
    SessionResumed,
    SessionStarted,
    Stage,
    Verification,
)
from roundtable_tui.core.hints import Hints, pinned_kind, prompt_lines
from roundtable_tui.core.knowledge import Knowledge, KnowledgeUnavailable, NoKnowledge
from roundtable_tui.core.optimizer import Candidate, ParameterOptimizer
from roundtable_tui.core.parameters import ParameterSpace
from roundtable_tui.core.prompts import STRATEGIES, repair_message
from roundtable_tui.core.review import Action, ReviewGate, ReviewRequest
from roundtable_tui.core.session import Session, SessionError
from roundtable_tui.core.state import SessionState
from roundtable_tui.kernels import asm, problems, schemes, templates
from roundtable_tui.kernels import confirm as confirmation
from roundtable_tui.kernels.checker import Checker, Options
from roundtable_tui.kernels.problems import Problem
from roundtable_tui.kernels.sandbox import Cancelled
from roundtable_tui.kernels.verdict import CheckResult, Verdict
from roundtable_tui.llm.backend import Backend, ContextOverflow, GenerationCancelled, LLMError

log = logging.getLogger(__name__)

REPAIRABLE = {Verdict.BUILD_FAILED, Verdict.WRONG_RESULT, Verdict.CRASHED}
"""Verdicts that send a kernel back to its writer (if the writer repairs)."""
MAX_STEP_FAILURES = 3
"""Iterations in a row ended by an unexpected exception before the session stops."""
SEED_TITLE = "naive (starting point)"
SEARCHES = ("both", "model", "optimizer")
"""Who picks template parameter sets (`RunConfig.search`)."""
STALE_REPEATS = 3
"""Iterations in a row vetoed as repeats of earlier proposals (the code path, no recipe left,
no hint given meanwhile) after which a run stops: the embedded model repeated one idea for 15
of 20 iterations on matmul_backward, ~15-23 s each for nothing."""
OWN_TURN_EVERY = 2
"""With search both, the Proposer writes a set of its own in every iteration whose number is
a multiple of this, and picks one of the optimizer's candidates in the others (in the first,
the defaults are the only candidate: `ParameterOptimizer.suggest`). Shown candidates in every
iteration, the embedded model picked one in 30 of 30 iterations, so its own sets, drawn from
the knowledge base's past attempts, were never tried: on AVX-512 its model-only runs reached
97% of OpenBLAS in three of three, both-mode runs 86-95% (bench/RESULTS.md)."""
REPEATED = "was proposed already"
"""The end of a refusal of a repeated idea."""

CLEAR_MARGIN = 1.5
"""A kernel whose single check is this many times the best's is faster beyond any noise of
one check (±15% on a loaded machine): it becomes the best without interleaved rounds."""


@dataclass
class RunConfig:
    """The budgets and choices of one run (see `core.run.RunSpec` for where they come from)."""

    iterations: int = 5
    """Total iterations of the session (a resumed session continues up to this)."""
    minutes: float | None = None
    """Wall-clock budget of this run, in minutes."""
    max_tokens: int | None = None
    """Stop once the session's model tokens (prompt + completion) reach this."""
    patience: int | None = None
    """Stop after this many iterations without a faster passing kernel."""
    repairs: int = 2
    """How many times one iteration's kernel may go back to the Coder."""
    allow_unsafe: bool = False
    strategy: str = "mixed"
    """mixed (template parameters or free-form code, the Proposer chooses), parameters, code."""
    check: Options = field(default_factory=Options)
    edits: bool = True
    """Code proposals are search/replace edits of one region of the best kernel
    (`core.edits`); False: the Coder writes whole files."""
    grammar: bool = False
    """Constrain the Coder's SEARCH/REPLACE replies with `edits.GRAMMAR` (llama.cpp
    backends; line edits always have theirs)."""
    edit_format: str = "blocks"
    """How the Coder writes an edit (`edits.FORMATS`): blocks (the part's new text or
    SEARCH/REPLACE blocks) or lines (REPLACE a-b … END against numbered lines, held to
    `edits.LINES_GRAMMAR`)."""
    start: str | None = None
    """The starting kernel's source (iteration 0) instead of the naive kernel."""
    start_title: str = ""
    """Its title on the leaderboard (with `start`)."""
    search: str = "both"
    """Who picks template parameter sets: both (in turn, one of the optimizer's candidates
    picked by the model, the defaults first, and a set of the model's own, `OWN_TURN_EVERY`;
    the optimizer's best candidate when the model's set repeats a measured one or is
    invalid), model (the Proposer alone: a repeat or invalid set is vetoed), optimizer
    (`core.optimizer` alone, no model call)."""
    confirm_rounds: int = confirmation.ROUNDS
    """Interleaved rounds that decide whether a kernel close to the best beats it
    (`kernels.confirm`); 0: one check decides (faster when its figure is higher)."""


class StepFailed(Exception):
    """An unexpected exception inside a step, with the agent and step it happened in."""

    def __init__(self, agent: Agent, step: str, cause: BaseException) -> None:
        super().__init__(f"{agent} ({step}): {type(cause).__name__}: {cause}")
        self.agent, self.step, self.cause = agent, step, cause


class Manager:
    """Runs a session: `run(cancel)` until a budget is spent; `state` is the live fold."""

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
        hints: Hints | None = None,
    ) -> None:
        from roundtable_tui.kernels import machine as machine_info

        self.session, self.backend, self.problem = session, backend, problem
        self.gate, self.cfg = gate, config
        self.checker = checker or Checker()
        self.on_event = on_event or (lambda _e: None)
        self.knowledge: Knowledge = knowledge or NoKnowledge()
        self.machine = machine or machine_info.describe()
        self.state = SessionState.of(session.events())
        if config.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {config.strategy!r} (one of {STRATEGIES})")
        found = templates.families(problem.name)
        self.family = found[0] if found and config.strategy != "code" else None
        if config.strategy == "parameters" and self.family is None:
            raise ValueError(f"strategy 'parameters' needs a template; {problem.name} has none")
        self.space = ParameterSpace(self.family) if self.family is not None else None
        if config.search not in SEARCHES:
            raise ValueError(f"unknown search {config.search!r} (one of {SEARCHES})")
        if config.search == "optimizer" and self.family is None:
            raise ValueError(f"search 'optimizer' needs a template; {problem.name} has none")
        self._repeats_in_a_row = 0
        """Iterations in a row vetoed as repeats (`STALE_REPEATS`); a hint resets it."""
        self.hints = hints or Hints()
        self.hints.follow(session.path, self.state.hint_file_lines)
        self._seed_of_search = zlib.crc32(session.id.encode())
        """The optimizer's seed: fixed per session, so resume and replay suggest the same."""
        self._candidates: list[Candidate] = []
        """The optimizer's best unmeasured sets for this iteration (a refused set's filler)."""
        self._shown: list[Candidate] = []
        """Those the Proposer is shown to pick from by number ([] on its own turns)."""
        self._listings: dict[str, list[str]] = {}
        """`_instructions` of recent kernels, by their source (a hash could collide, and call
        two kernels the same)."""
        self._recipes: list[tuple[str, edits.Recipe]] = []
        """The (part, recipe) pairs that fit the best kernel, the least tried first (the
        Proposer is offered the first few)."""
        self._notes: list[dict[str, Any]] = []
        """With a template or on the edit path: the knowledge notes of the session, kept from
        their first retrieval (see `_knowledge`)."""
        self._best_number_before: int | None = None
        self.proposer = Proposer(backend, problem, self.machine, self.family, config.strategy)
        self.verifier = Verifier()
        self.coder = Coder(backend, problem, self.machine)
        self.writers: dict[str, Writer] = {"code": self.coder, "formulation": self.coder}
        """The writer of each proposal kind (kinds not listed go to the model's Coder)."""
        if config.edits:
            grammar = edits.GRAMMAR if config.grammar else None
            if config.edit_format == "lines":
                grammar = edits.LINES_GRAMMAR
            self.writers["code"] = edits.EditWriter(
                problem, self.machine, grammar, self.coder, config.edit_format
            )
        if self.family is not None:
            self.writers["parameters"] = TemplateCoder(self.family)
        if problem.name == "sgemm":
            # a verified formulation becomes a kernel without a model (core/scheme_coder.py)
            self.writers["formulation"] = scheme_coder.SchemeCoder(self._inner_set)
        self.tester = Tester(self.checker, config.check)
        self._lock = threading.Lock()
        self._started = 0.0
        self._best_before: float | None = None
        """The best GFLOPS when the current iteration started (improvement is against it)."""
        self._step: tuple[Agent, str] = (Agent.MANAGER, "start")
        """The agent and step running now (named by an error event if it fails)."""

    # ------------------------------------------------------------------ events
    def emit(self, event: Event) -> Event:
        """Records `event` (if persistent), folds it into `state`, shows it to the viewer."""
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
        self.emit(Event.of(Message(text), Agent.MANAGER, iteration))

    # ------------------------------------------------------------------ the run
    def run(self, cancel: threading.Event) -> str:
        """Runs until a budget is spent or `cancel` is set; returns why it stopped
        ("cancelled", "error: …", or the budget that was reached). Never raises for a
        failing step; a failure to record an event ends the run with it as the reason."""
        self._started = time.monotonic()
        try:
            reason = self._run(cancel)
        except Exception as exc:  # the session itself cannot be written (disk full, …)
            log.exception("the run failed")
            reason = (
                f"error: {exc}"
                if isinstance(exc, SessionError)
                else (f"error: {type(exc).__name__}: {exc}")
            )
            self._close_after_failure(reason)
            return reason
        return reason

    def _close_after_failure(self, reason: str) -> None:
        """Records why the session stopped when an event could not be written: the session
        freed its reserve on a full disk, so the closing event usually still fits."""
        best = self.state.best
        finished = SessionFinished(
            reason=reason,
            iterations=self.state.finished_iterations,
            best_gflops=best.gflops if best else None,
            best_title=best.title if best else "",
            tokens=self.state.tokens,
        )
        try:
            self.emit(Event.of(finished, Agent.MANAGER, self.state.iteration))
        except Exception:  # the disk is still full: the reason goes to the caller only
            log.warning("cannot record the end of the session: %s", reason)

    def _run(self, cancel: threading.Event) -> str:
        if self.state.finished and self.state.seeded:
            spent = self._budget_spent()
            if spent:  # a finished session with nothing left to do: append nothing
                return spent
        self._open()
        reason = "finished"
        failures = 0
        try:
            if not self.state.seeded:
                self._guarded(0, cancel, self._seed)
            while True:
                reason = self._budget_spent()
                if reason:
                    break
                # an iteration a kill interrupted is run again from its start
                it = self.state.finished_iterations + 1
                failed = self._guarded(it, cancel, self._iteration)
                failures = failures + 1 if failed else 0
                if failed and failures >= MAX_STEP_FAILURES:
                    reason = f"error: {failures} iterations in a row failed; the last: {failed}"
                    break
        except (Cancelled, GenerationCancelled):
            reason = "cancelled"
        except LLMError as exc:
            self.emit(
                Event.of(
                    ErrorRaised(str(exc), recoverable=False, step=self._step[1]),
                    self._step[0],
                    self.state.iteration,
                )
            )
            reason = f"error: {exc}"
        best = self.state.best
        self.emit(
            Event.of(
                SessionFinished(
                    reason=reason,
                    iterations=self.state.finished_iterations,
                    best_gflops=best.gflops if best else None,
                    best_title=best.title if best else "",
                    tokens=self.state.tokens,
                ),
                Agent.MANAGER,
                self.state.iteration,
            )
        )
        return reason

    def _open(self) -> None:
        """A new session starts; one with events resumes (even one a kill cut short in
        iteration 0)."""
        if not self.session.events():
            self.emit(Event.of(SessionStarted.from_data(self.session.meta)))
            return
        self.emit(Event.of(SessionResumed(self.state.iteration)))
        done = self.state.finished_iterations
        redo = (
            f" Iteration {self.state.iteration} was interrupted and starts again."
            if self.state.iteration > done
            else ""
        )
        self.say(
            f"Resuming after iteration {done}: {len(self.state.entries)} kernels on record.{redo}",
            self.state.iteration,
        )

    def _guarded(
        self, it: int, cancel: threading.Event, step: Callable[[int, threading.Event], None]
    ) -> str:
        """Runs one iteration; an unexpected exception inside it becomes an error event
        naming the agent and step, and the iteration ends with Outcome.ERROR. Returns the
        failure's description ('' when the iteration ended normally)."""
        self._step = (Agent.MANAGER, "start")
        try:
            step(it, cancel)
        except (Cancelled, GenerationCancelled, LLMError, SessionError):  # SessionError: the
            # session cannot be written (a full disk): the run ends, `run` records why
            raise
        except Exception as exc:
            agent, name = self._step
            log.exception("%s failed in step %s of iteration %d", agent, name, it)
            message = f"{agent} failed ({name}): {type(exc).__name__}: {exc}"[:500]
            self.emit(
                Event.of(
                    ErrorRaised(message, recoverable=True, step=name, exception=type(exc).__name__),
                    agent,
                    it,
                )
            )
            title = self.state.proposal.title if self.state.iteration == it else ""
            self._finish(it, Outcome.ERROR, title, None)
            return message
        return ""

    def _at(self, agent: Agent, step: str) -> None:
        """Marks the step now running (named by the error event if it fails)."""
        self._step = (agent, step)

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
        if self._repeats_in_a_row >= STALE_REPEATS:
            return (
                f"out of new ideas: the Proposer's last {self._repeats_in_a_row} proposals "
                "repeated earlier ones (a hint can point it elsewhere when the session resumes)"
            )
        return ""

    def _seed(self, it: int, cancel: threading.Event) -> None:
        """Iteration 0: the naive kernel, the starting point every proposal improves on."""
        self._at(Agent.MANAGER, "seed")
        code = self.cfg.start or self._naive_code()
        title = (self.cfg.start_title or "given kernel") if self.cfg.start else SEED_TITLE
        self.emit(Event.of(IterationStarted(seed=True), Agent.MANAGER, 0))
        self.say(f"Measuring the starting point: {title}.", 0)
        proposal = Proposal(title, "code", "the kernel every proposal improves on")
        self.emit(Event.of(proposal, Agent.MANAGER, 0))
        self.session.write_kernel(0, code)
        self.emit(Event.of(KernelWritten(0, 1, code, title), Agent.MANAGER, 0))
        self._at(Agent.TESTER, "test")
        self._test(code, 0, 0, proposal, 1, cancel)
        self._confirm(0, None, cancel)
        self.emit(Event.of(IterationFinished(since_improvement=0), Agent.MANAGER, 0))

    # ------------------------------------------------------------------ one iteration
    def _iteration(self, it: int, cancel: threading.Event) -> None:
        """propose → verify → code ⇄ review ⇄ test → finish."""
        best = self.state.best
        self._best_before = best.gflops if best else None
        self._best_number_before = best.number if best else None
        self.emit(Event.of(IterationStarted(), Agent.MANAGER, it))
        drained = self.hints.drain()
        for hint in drained:
            self.emit(Event.of(HintGiven(hint.text, hint.source, hint.line), Agent.MANAGER, it))
        context = self._context(it)
        # a hint of this iteration that names a kind narrows the proposal to it
        context["kind"] = pinned_kind(h.text for h in drained)
        self.say(f"Iteration {it}: best so far {context['best']}.", it)

        proposal, refusal = self._propose(it, cancel, context)
        if proposal is None:
            self._finish(it, Outcome.NO_PROPOSAL, "", None)
            return
        verification = self._verify(it, proposal, refusal)
        # proposals vetoed as repeats in a row since the last hint (`_budget_spent`)
        repeat = refusal is not None and refusal.endswith(REPEATED)
        self._repeats_in_a_row = 0 if drained or not repeat else self._repeats_in_a_row + 1
        if not verification.ok:
            self._finish(it, Outcome.VETOED, proposal.title, None)
            return
        outcome, gflops = self._code_review_test(it, proposal, verification, cancel)
        if outcome.passed:
            self._confirm(it, best, cancel)
        self._finish(it, outcome, proposal.title, gflops)

    def _propose(
        self, it: int, cancel: threading.Event, context: dict[str, Any]
    ) -> tuple[Proposal | None, str | None]:
        """Step 1: the Proposer's proposal, completed and validated once, with the reason it
        cannot be measured (None if it can). A refused parameter set goes back once (search
        model) or is replaced by the optimizer's best candidate (search both); with search
        optimizer the optimizer's candidate is the proposal and no model is asked."""
        if self.cfg.search == "optimizer" and self.family is not None:
            if not self._candidates:
                return None, None
            proposal = self._from_optimizer(self._candidates[0])
            self.emit(Event.of(proposal, Agent.PROPOSER, it))
            return proposal, None
        self._at(Agent.MANAGER, "knowledge")
        chunks = self._knowledge(it, context)
        context["knowledge"] = [str(c.get("text", "")) for c in chunks]
        self._at(Agent.PROPOSER, "propose")
        talk = Talk(self.backend, self.emit, Agent.PROPOSER, it)
        try:
            proposal, refusal = self._complete(self._propose_fitting(it, talk, cancel, context))
            fill = self.cfg.search == "both" and proposal.kind == "parameters"
            if refusal is not None and fill and self._candidates:
                self.say(
                    f"The model's set was refused ({refusal[:160]}); the optimizer's candidate "
                    "fills the iteration.",
                    it,
                )
                proposal, refusal = self._from_optimizer(self._candidates[0], refusal), None
            if refusal is not None and self.proposer.attempts_left:
                self.emit(
                    Event.of(
                        ErrorRaised(refusal, recoverable=True, step="propose"), Agent.PROPOSER, it
                    )
                )
                proposal, refusal = self._complete(self.proposer.again(talk, cancel, refusal))
            if proposal.kind == "parameters" and self.family is not None:
                # the model's, first try or second (the optimizer's filler is named already)
                proposal = replace(proposal, proposed_by=proposal.proposed_by or "model")
        except AgentError as exc:
            self.emit(
                Event.of(
                    ErrorRaised(str(exc), recoverable=True, step="propose"), Agent.PROPOSER, it
                )
            )
            return None, None
        if proposal.formulation and proposal.kind != "formulation":
            self.say(
                f"The scheme written beside this {proposal.kind} proposal is not used: a "
                'formulation is a proposal of its own (kind "formulation").',
                it,
            )
        proposal = replace(
            proposal,
            chunks=tuple(
                {k: c.get(k) for k in ("id", "source", "score", "kind", "page")} for c in chunks
            ),
        )
        self.emit(Event.of(proposal, Agent.PROPOSER, it))
        return proposal, refusal

    def _propose_fitting(
        self, it: int, talk: Talk, cancel: threading.Event, context: dict[str, Any]
    ) -> Proposal:
        """The Proposer's proposal. A prompt too long for the model's context (the server
        says so: ContextOverflow) is tried once more with the knowledge notes shortened by
        what the server says is too much (all of them when it does not say); a second
        overflow stops the run with the server's words as the reason."""
        try:
            return self.proposer.propose(talk, cancel, context)
        except ContextOverflow as exc:
            notes = list(context.get("knowledge") or [])
            if not notes:
                raise
            excess = exc.prompt_tokens - exc.n_ctx if exc.prompt_tokens and exc.n_ctx else 0
            dropped = 0
            while notes and (excess <= 0 or dropped < excess + 64):
                dropped += self.backend.count_tokens(notes.pop())
            context["knowledge"] = notes
            self.emit(
                Event.of(
                    ErrorRaised(
                        f"{exc}; trying once more with {len(notes)} knowledge notes",
                        recoverable=True,
                        step="propose",
                        exception=type(exc).__name__,
                    ),
                    Agent.PROPOSER,
                    it,
                )
            )
            return self.proposer.propose(talk, cancel, context)

    def _picked(self, number: int) -> tuple[Proposal, str | None]:
        """The optimizer's candidate `number` (from 1, as the Proposer was shown them),
        complete and valid; a number with no candidate is refused."""
        if not 1 <= number <= len(self._shown):
            shown = len(self._shown)
            return Proposal(f"optimizer's candidate {number}", "parameters"), (
                f"there is no optimizer's candidate {number} ({shown} were shown)"
            )
        proposal = self._from_optimizer(self._shown[number - 1])
        return replace(proposal, proposed_by=PICKED, candidate=number), None

    def _from_optimizer(self, c: Candidate, refusal: str | None = None) -> Proposal:
        """The optimizer's candidate as a parameter proposal (complete and valid)."""
        assert self.space is not None and self.family is not None
        why = f"the model's set was refused: {refusal[:200]}" if refusal else ""
        title = self.space.name(self.state, dict(c.parameters))
        if dict(c.parameters) == self.family.defaults:  # measured once: name it plainly
            title = f"{self.family.name}: defaults"
        return Proposal(
            title,
            "parameters",
            c.reason,
            why,
            dict(c.parameters),
            dict(c.changes),
            proposed_by="optimizer",
        )

    def _optimizer(self) -> ParameterOptimizer | None:
        """The optimizer told every measured set of the family so far (rebuilt from the
        state, so the same live, on resume and in replay)."""
        if self.family is None or self.cfg.search == "model":
            return None
        return ParameterOptimizer.from_entries(
            self.family, self.state.entries, seed=self._seed_of_search
        )

    def _confirm(self, it: int, best: Any, cancel: threading.Event) -> None:
        """Whether this iteration's passed kernel beats `best` (the best when the iteration
        started) beyond noise; a Confirmed event records it (faster: the new best). The
        first passing kernel is the best; one a clear margin ahead needs no rounds; one
        clearly slower in its check than the best's confirmed figure (or its check's, without
        OpenBLAS) is recorded as slower without rounds."""
        new = next((e for e in reversed(self.state.entries) if e.iteration == it), None)
        if new is None or not new.passed or new.number is None:
            return
        self._at(Agent.TESTER, "confirm")
        if best is None or best.number is None or not best.code:
            self._record(it, Confirmed(new.number, None, "faster", detail="the first kernel"))
            return
        both = new.fraction_of_openblas and best.fraction_of_openblas
        mine = (new.fraction_of_openblas if both else new.gflops) or 0.0
        theirs = (best.fraction_of_openblas if both else best.gflops) or 0.0
        ratio = mine / theirs if theirs else float("inf")
        one = {"ratio": round(ratio, 4), "rounds": 0, "against": best.number}
        # the gate compares with the best's confirmed figure when rounds measured one: its
        # first check may have been a lucky one, which would turn equals away unseen
        steady = self.state.confirmed_fraction(best.number) if both else None
        bar = steady or theirs
        # nor with a best whose figure is its one check (no rounds timed it yet): a lucky one
        # turned the defaults away unseen (108.9 GFLOPS, 80% of OpenBLAS in their check,
        # against a best at 83.2 GFLOPS, 89% in its own); rounds give the best a steady figure
        unsteady = bool(both) and steady is None
        same = self._same_as(new, best)
        if same:
            # nothing that runs changed: no figure can tell them apart, and rounds would
            # only measure noise (an unused variable, a second tile never read)
            self.say(f"Kernel {new.number}: {same}; not compared further.", it)
            self._record(
                it,
                Confirmed(new.number, outcome="within noise", detail=same, same_code=True, **one),
            )
        elif ratio >= CLEAR_MARGIN:
            detail = f"{ratio:.1f}x the best's figure in one check, beyond its noise"
            self._record(it, Confirmed(new.number, outcome="faster", detail=detail, **one))
        elif self.cfg.confirm_rounds <= 0:
            outcome = "faster" if ratio > 1.0 else "slower"
            self._record(it, Confirmed(new.number, outcome=outcome, detail="one check", **one))
        elif not unsteady and not confirmation.worth_confirming(mine, bar):
            detail = "clearly slower in its check; not compared further"
            if steady:
                detail = (
                    f"clearly slower in its check ({mine:.0%} of OpenBLAS against the best's "
                    f"confirmed {steady:.0%}); not compared further"
                )
            self._record(it, Confirmed(new.number, outcome="slower", detail=detail, **one))
        else:
            why = (
                "the best's figure is one check, with no rounds to steady it"
                if unsteady
                else f"it came within {confirmation.WORTH_MARGIN:.0%} of the best (or above) "
                "in its check"
            )
            self.say(
                f"Kernel {new.number}: {why}; {self.cfg.confirm_rounds} interleaved rounds decide.",
                it,
            )

            def progress(text: str) -> None:
                self.emit(Event.of(CheckProgress(text), Agent.TESTER, it))

            got = confirmation.confirm(
                self.checker,
                self.problem,
                new.code,
                best.code,
                rounds=self.cfg.confirm_rounds,
                allow_unsafe=self.cfg.allow_unsafe,
                cancel=cancel,
                progress=progress,
                shape=self.cfg.check.shape,
                bench_budget_ms=min(400.0, self.cfg.check.bench_budget_ms),
                # OpenBLAS beside the rounds only when the checks time it at all
                anchor=self.cfg.check.baselines or self.cfg.check.anchor,
            )
            data = got.to_dict()
            data.pop("interval", None)
            self._record(
                it, Confirmed.from_data({**data, "number": new.number, "against": best.number})
            )

    def _same_as(self, new: Any, best: Any) -> str:
        """Why kernel `new` runs what `best` runs ('' when it may not): the same source, or,
        for a kernel not filled in from a template (an edit, a reviewer's code), the same
        instructions in its compiled listing (`asm.instructions`, built as a check builds
        it): matmul_backward's "two accumulator sets" by the embedded model updated a second
        tile it never read, which LLVM removed, and passed. A listing that cannot be made
        (a build error) says nothing: ''."""
        if new.code.strip() == best.code.strip():
            return "the same source as the best"
        if new.template:
            return ""  # another parameter set of a template: its code differs by design
        try:
            ours, theirs = (self._instructions(src) for src in (new.code, best.code))
        except Exception as exc:  # a listing is a second build: it decides nothing alone
            log.warning("no listing to compare kernel %s with the best: %s", new.number, exc)
            return ""
        if ours != theirs:
            return ""
        return "the same compiled instructions as the best: the edit changes nothing that runs"

    def _instructions(self, source: str) -> list[str]:
        """`asm.instructions` of a kernel's listing, kept for the last few sources (the
        best's is asked for again at every edit)."""
        if source not in self._listings:
            listing = self.checker.builder.assembly(source, self.problem, self.cfg.allow_unsafe)
            while len(self._listings) >= 4:
                self._listings.pop(next(iter(self._listings)))
            self._listings[source] = asm.instructions(listing)
        return self._listings[source]

    def _record(self, it: int, c: Confirmed) -> None:
        self.emit(Event.of(c, Agent.TESTER, it))

    def _complete(self, proposal: Proposal) -> tuple[Proposal, str | None]:
        if proposal.candidate is not None:
            return self._picked(proposal.candidate)
        if proposal.kind == "parameters" and self.cfg.strategy == "code":
            proposal = replace(proposal, kind="code")  # no template on the code path
        if proposal.kind == "code" and self._recipes:
            proposal = self._as_recipe(proposal)
        elif self.cfg.strategy == "code" and self._regions() and self._repeats(proposal.title):
            # no recipe left to take its place: asked again (a ~10 s reply) rather than
            # coded again (the embedded model's Coder repeated its failing reply, 30-90 s)
            return proposal, f"'{proposal.title[:80]}' {REPEATED}"
        if self.space is None:
            return proposal, None
        return self.space.complete(self.state, proposal)

    def _repeats(self, title: str) -> bool:
        """Whether a proposal titled `title` was made before in this session."""
        title = title.strip().lower()
        return bool(title) and any(p.lower().startswith(title) for p in self.state.proposed)

    def _as_recipe(self, proposal: Proposal) -> Proposal:
        """A code proposal that names a recipe that fits (`Recipe.named_in`), with the
        recipe's part, title and idea: the embedded model picked "unroll k by 4" as its idea
        but named `micro_kernel.rank1`, whose Coder then had nothing to unroll. A proposal
        whose title repeats an earlier one's gets the least tried recipe instead: the model
        proposed one title for the last 13 of 20 iterations, and its Coder repeated the same
        failing reply."""
        said = f"{proposal.title} {proposal.idea}"
        for part, recipe in self._recipes:
            if recipe.named_in(said):
                proposal = replace(proposal, title=recipe.title, region=part, idea=recipe.idea)
                break
        part, least = self._recipes[0]
        if proposal.title.strip().lower() != least.title and self._repeats(proposal.title):
            self.say(
                f"The Proposer repeated '{proposal.title[:80]}'; the least tried recipe "
                f"'{least.title}' takes its place.",
                self.state.iteration,
            )
            proposal = replace(
                proposal,
                title=least.title,
                region=part,
                idea=least.idea,
                rationale=f"the least tried recipe, in place of a repeated '{proposal.title[:60]}'",
            )
        return proposal

    def _knowledge(self, it: int, context: dict[str, Any]) -> list[dict[str, Any]]:
        """Chunks for the Proposer; a failing knowledge base is reported and skipped."""
        # the same query (so the same notes) from one iteration to the next keeps the notes in
        # the model's cached prompt prefix: with a template, its family for the whole session
        # (the sets to choose are in the prompt itself); otherwise the best, while it stands
        family = self.family
        # the edit path's proposals pick from recipes and parts shown in the prompt: its
        # notes, too, stay the same for the session (a query on the best kernel, whose
        # answer grew by every attempt, changed the whole prompt after the system message)
        fixed = family is not None or (self.cfg.strategy == "code" and bool(self._regions()))
        if fixed and self._notes:
            # the query is the same, but the knowledge base grows by every attempt, so its
            # answer would change (past attempts) and break the cached prefix from the notes
            # on; this session's attempts are in the prompt's measured sets already
            return self._notes
        if family is not None:
            query = f"{family.id}: {family.summary}"
        elif fixed:
            query = f"{self.problem.name}: {self.problem.summary} micro-kernel, packing, loops"
        else:
            query = context["best"]
        # the parameter and edit paths have the measured sets or recipes to go on: fewer
        # notes, so less prompt to process (the slowest part of an iteration on a CPU)
        budget = 300 if fixed else 600
        try:
            notes = list(self.knowledge.context(self.problem.name, query, budget))
            if fixed:
                self._notes = notes
            return notes
        except Exception as exc:
            log.warning("knowledge failed: %s", exc)
            known = isinstance(exc, KnowledgeUnavailable)  # already says what and why
            self.emit(
                Event.of(
                    ErrorRaised(
                        str(exc)
                        if known
                        else f"knowledge unavailable this iteration: {type(exc).__name__}: {exc}",
                        recoverable=True,
                        step="knowledge",
                        exception=type(exc).__name__,
                    ),
                    Agent.MANAGER,
                    it,
                )
            )
            return []

    def _verify(self, it: int, proposal: Proposal, refusal: str | None) -> Verification:
        """Step 2: the Verifier on the proposal (a veto ends the iteration; its feedback
        reaches the next prompts through the fold)."""
        self._at(Agent.VERIFIER, "verify")
        self.emit(Event.of(AgentStarted(), Agent.VERIFIER, it))
        verification = self.verifier.check_proposal(proposal, refusal, self.family)
        self.emit(Event.of(verification, Agent.VERIFIER, it))
        return verification

    def _code_review_test(
        self, it: int, proposal: Proposal, verification: Verification, cancel: threading.Event
    ) -> tuple[Outcome, float | None]:
        """Step 3: the writer for the proposal's kind writes the kernel; the static gate,
        the review gate and the Tester follow, and a repairable failure goes back to the
        writer (at most `repairs` times). Returns the outcome and the kernel's GFLOPS."""
        self._at(Agent.CODER, "code")
        writer = self.writers.get(proposal.kind, self.coder)
        job = Job(
            Talk(self.backend, self.emit, Agent.CODER, it),
            cancel,
            proposal,
            verification,
            self._best_code(),
            self.state.feedback[-2:],
        )
        draft = writer.write(job)
        code, origin = draft.code, draft.origin
        repairs = self.cfg.repairs if writer.repairable else 0
        outcome, gflops = Outcome.NO_CODE, None
        for attempt in range(1, repairs + 2):
            last = attempt == repairs + 1
            self._at(Agent.CODER, "code")
            if code is None:
                gave_up = getattr(writer, "gave_up", "")
                why = gave_up or getattr(writer, "failure", "") or "the Coder's reply had no kernel"
                stop = last or bool(gave_up)
                self.emit(
                    Event.of(
                        ErrorRaised(why, recoverable=not stop, step="code"),
                        Agent.CODER,
                        it,
                    )
                )
                if stop:
                    break
                code = writer.repair(
                    job,
                    f"Your reply had no ```rust block defining `{self.problem.signature}`. "
                    "Reply with the whole file in one ```rust block.",
                )
                continue
            self._at(Agent.VERIFIER, "gate")
            # an edit must also stay inside its region of the best kernel
            region = getattr(writer, "region", None)
            if region is not None or draft.region is not None:  # an edit, or a rewrite
                origin = {"region": region} if region else {}
            gate = self.verifier.check_code(
                code, self.problem, self.cfg.allow_unsafe, job.best_code, region
            )
            self.emit(
                Event.of(
                    Verification(
                        ok=gate.ok,
                        stage=Stage.CODE,
                        kind="code",
                        detail=gate.reason or "passes the static gate",
                        gate=gate.to_dict(),
                    ),
                    Agent.VERIFIER,
                    it,
                )
            )
            if not gate.ok and not last:
                self._at(Agent.CODER, "repair")
                code = writer.repair(job, repair_message(self.problem, "rejected", gate.reason, ""))
                continue
            number = self._next_number()
            self.session.write_kernel(number, code)
            self.emit(
                Event.of(
                    KernelWritten(
                        number,
                        attempt,
                        code,
                        proposal.title,
                        gate.to_dict(),
                        draft.template if origin else None,
                        dict(draft.parameters or {}) if draft.template else None,
                        origin.get("region"),
                    ),
                    Agent.CODER,
                    it,
                )
            )
            code, origin, action = self._review(
                it, number, attempt, proposal, verification, code, origin, gate.to_dict(), cancel
            )
            if action is Action.REJECT:
                outcome = Outcome.REJECTED_BY_REVIEWER
                break
            self._at(Agent.TESTER, "test")
            scheme = self._scheme_accounting(verification, origin)
            result = self._test(code, it, number, proposal, attempt, cancel, origin, scheme)
            outcome, gflops = Outcome.parse(result.verdict), result.gflops
            if result.verdict not in REPAIRABLE or last or not writer.repairable:
                break
            self._at(Agent.CODER, "repair")
            code = writer.repair(
                job,
                repair_message(
                    self.problem, str(result.verdict), result.reason, result.compiler_output
                ),
            )
        return outcome, gflops

    def _review(
        self,
        it: int,
        number: int,
        attempt: int,
        proposal: Proposal,
        verification: Verification,
        code: str,
        origin: dict[str, Any],
        gate: dict[str, Any],
        cancel: threading.Event,
    ) -> tuple[str, dict[str, Any], Action]:
        """The review gate on kernel `number`: returns the code to test (the reviewer's edit
        if any), its origin ({} once hand-edited) and the action."""
        self._at(Agent.MANAGER, "review")
        request = ReviewRequest(
            it,
            number,
            attempt,
            self.problem.name,
            proposal.to_data(),
            code,
            self._best_code(),
            gate,
            verification.to_data(),
            [dict(c) for c in proposal.chunks],
            origin.get("region"),
        )
        self.emit(Event.of(ReviewRequested(number), Agent.MANAGER, it))
        decision = self.gate.review(request, cancel)
        if cancel.is_set():
            raise Cancelled()
        edited = decision.action is Action.EDIT and decision.code is not None
        if edited and decision.code is not None:
            code = decision.code
            origin = {"author": "human"}  # a hand-edited kernel is the reviewer's own code
            self.session.write_kernel(number, code)
        self.emit(
            Event.of(
                Reviewed(
                    number,
                    str(decision.action),
                    decision.reason,
                    decision.code is not None,
                    code if edited else None,
                ),
                Agent.MANAGER,
                it,
            )
        )
        return code, origin, decision.action

    def _finish(self, it: int, outcome: Outcome, title: str, gflops: float | None) -> None:
        """Step 4: the iteration's outcome, and whether it improved on the best."""
        now = self.state.best
        # improved: this iteration's kernel was confirmed faster than the best before it
        improved = (
            outcome.passed
            and now is not None
            and now.iteration == it
            and now.number != self._best_number_before
        )
        since = 0 if improved else self.state.since_improvement + 1
        best = self.state.best
        self.emit(
            Event.of(
                IterationFinished(
                    verdict=outcome,
                    title=title,
                    gflops=gflops,
                    improved=improved,
                    best_gflops=best.gflops if best else None,
                    since_improvement=since,
                ),
                Agent.MANAGER,
                it,
            )
        )

    # ------------------------------------------------------------------ helpers
    def _context(self, it: int = 0) -> dict[str, Any]:
        """The Proposer's view of the session in iteration `it` (`prompts.proposer_messages`
        keywords)."""
        s = self.state
        best = s.best
        if best and best.gflops:
            best_text = f"'{best.title}' at {best.gflops:.1f} GFLOPS" + (
                f" ({best.fraction_of_openblas:.0%} of OpenBLAS)"
                if best.fraction_of_openblas
                else ""
            )
        else:
            best_text = "none yet (the naive kernel)"
        space = self.space
        # with a template, its sets are listed as measured sets (with their changes): the
        # leaderboard only adds the other kernels (fewer prompt tokens to process)
        board = [
            f"{e.title}: {e.gflops:.1f} GFLOPS"
            for e in s.leaderboard()
            if e.passed and e.gflops and not (space and e.template == space.family.id)
        ][:4]
        failed = [(e.iteration, e.title, f"{e.verdict} ({e.reason[:120]})") for e in s.failures]
        failed += [(it, title, f"no kernel ({why[:120]})") for it, title, why in s.no_kernel]
        fails = [f"{title}: {what}" for _it, title, what in sorted(failed)[-4:]]
        self._recipes = (
            edits.recipes(
                self._best_code(),
                s.proposed,
                [e.title for e in s.entries if e.passed],
                limit=len(edits.RECIPES),
            )
            if self.cfg.strategy == "code" and self._regions()
            else []
        )
        optimizer = self._optimizer()
        self._candidates = (
            optimizer.suggest(space.base(s), k=3) if optimizer is not None and space else []
        )
        own = self.cfg.search == "both" and it % OWN_TURN_EVERY == 0
        self._shown = [] if own else self._candidates
        return {
            "hints": prompt_lines(s.hints),
            "candidates": [c.describe() for c in self._shown],
            "best": best_text,
            "leaderboard": board,
            "failures": fails,
            "feedback": s.feedback[-3:],
            "tried": space.tried(s) if space else [],
            "best_parameters": space.changes_from_defaults(space.base(s)) if space else "",
            # the optimizer's candidates stand in for the one-parameter moves
            "untried": space.untried(s) if space and not self._shown else [],
            "regions": self._regions(),
            # concrete changes for the code path: a small model's own ideas were too vague
            # for its Coder ("reorder to reduce cache misses")
            "recipes": [f"{part}: {r.title} ({r.idea})" for part, r in self._recipes[:3]],
            "recipe_titles": [r.title for _part, r in self._recipes[:3]],
        }

    def _regions(self) -> list[str]:
        """The regions of the best kernel a code proposal may edit ([] without edits)."""
        if not self.cfg.edits or self.cfg.strategy == "parameters":
            return []
        code = self._best_code()
        try:
            return [r.describe() for r in edits.targets(code)]
        except edits.RegionError:
            return []

    def _naive_code(self) -> str:
        return problems.naive_kernel_path(self.problem, self.checker.cfg.rust_workspace).read_text()

    def _best_code(self) -> str:
        best = self.state.best
        if best and best.code:
            return best.code
        return self._naive_code()

    def _next_number(self) -> int:
        kernels = self.session.path / "kernels"
        numbers = [int(p.stem) for p in kernels.glob("*.rs") if p.stem.isdigit()]
        return max(numbers, default=0) + 1

    def _inner_set(self) -> dict[str, Any]:
        """The best sgemm/blis parameter set: a formulation's block products run under it."""
        space = self.space
        if space is not None and space.family.id == schemes.INNER:
            return space.base(self.state)
        return {}

    def _scheme_accounting(
        self, verification: Verification, origin: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The checker's accounting for a kernel the template writer built from the scheme
        the Verifier proved (None for any other kernel, and once a reviewer edited it)."""
        if (
            origin.get("template") != scheme_coder.FAMILY
            or not verification.ok
            or not verification.scheme
        ):
            return None
        shape = self.cfg.check.shape or self.problem.shape()
        return scheme_coder.check_options(
            verification.scheme,
            str(verification.scheme.get("name", "scheme")),
            dict(verification.parameters or {}),
            shape,
        )

    def _test(
        self,
        code: str,
        it: int,
        number: int,
        proposal: Proposal,
        attempt: int,
        cancel: threading.Event,
        origin: dict[str, Any] | None = None,
        scheme: dict[str, Any] | None = None,
    ) -> CheckResult:
        """The Tester's check of kernel `number`, recorded and remembered (`scheme`: the
        accounting of a kernel built from a verified formulation)."""
        self.emit(Event.of(AgentStarted(), Agent.TESTER, it))
        self.emit(Event.of(CheckStarted(number), Agent.TESTER, it))

        def progress(phase: str) -> None:
            self.emit(Event.of(CheckProgress(phase), Agent.TESTER, it))

        result = self.tester.test(code, self.problem, cancel, progress, scheme)
        data = result.to_dict()
        data.update(
            {
                "number": number,
                "title": proposal.title,
                "kind": proposal.kind,
                "attempt": attempt,
                **(origin or {}),
            }
        )
        self.emit(Event.of(CheckFinished.from_data(data), Agent.TESTER, it))
        self._at(Agent.MANAGER, "record")
        try:
            self.knowledge.record({"proposal": proposal.to_data(), "code": code, "result": data})
        except Exception as exc:
            log.exception("knowledge.record failed")
            self.emit(
                Event.of(
                    ErrorRaised(
                        f"the attempt was not stored in the knowledge base: {exc}",
                        recoverable=True,
                        step="record",
                        exception=type(exc).__name__,
                    ),
                    Agent.MANAGER,
                    it,
                )
            )
        return result
