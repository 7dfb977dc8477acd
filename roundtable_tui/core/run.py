"""One run setup: a run specification → a ready Manager.

The CLI (`run --auto`), the TUI and the bench/ scripts all start a session through
`prepare`, so they open the model, the session, the knowledge base and the checker the same
way, and a resume means the same thing everywhere:

- `iterations` is the session's total; left out (None), it is `DEFAULT_ITERATIONS` for a new
  session and `DEFAULT_ITERATIONS` more than a resumed session has finished.
- A resumed session keeps its problem; its model unless the spec names another.

Errors: `SessionError` (no such session; `SessionWriteError`, a sessions directory that
cannot be written),
`LLMError` (the model cannot be opened), `ValueError` (an unknown problem or strategy) —
each one line for the user, raised before anything is written where that is possible.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roundtable_tui.config import Settings, settings
from roundtable_tui.core.edits import FORMATS
from roundtable_tui.core.events import Event
from roundtable_tui.core.hints import Hints
from roundtable_tui.core.knowledge import Knowledge
from roundtable_tui.core.manager import Manager, RunConfig
from roundtable_tui.core.prompts import STRATEGIES
from roundtable_tui.core.review import ReviewGate
from roundtable_tui.core.session import (
    Session,
    SessionError,
    check_writable,
    find,
    read_events,
    read_meta,
)
from roundtable_tui.core.state import SessionState
from roundtable_tui.kernels import problems
from roundtable_tui.kernels.checker import Checker, Options
from roundtable_tui.llm.backend import Backend

DEFAULT_ITERATIONS = 5
DEFAULT_PROBLEM = "sgemm"

Status = Callable[[str], None]
"""Shows what the setup is doing now ("loading model embedded…"); one line."""


@dataclass(frozen=True)
class RunSpec:
    """Everything a user chooses for a run (CLI flags, the TUI's new-session form)."""

    problem: str | None = None
    """A problem of `kernels.problems` (default sgemm); a resumed session keeps its own."""
    model: str | None = None
    """embedded, small, a .gguf path, openai:URL#MODEL, scripted:FILE (default: the
    resumed session's model, else the settings' `model`)."""
    iterations: int | None = None
    """The session's total iterations (see the module docstring for None)."""
    minutes: float | None = None
    """Wall-clock budget of this run, in minutes."""
    max_tokens: int | None = None
    """Stop once the session's model tokens reach this."""
    patience: int | None = None
    """Stop after this many iterations without a faster passing kernel."""
    repairs: int = 2
    """Repairs per kernel (a failed kernel goes back to the Coder this many times)."""
    allow_unsafe: bool = False
    """Let kernels use `unsafe` (forbidden by default)."""
    strategy: str = "mixed"
    """mixed, parameters (template only) or code (free-form only)."""
    session: str | None = None
    """The name of a new session, or an existing one to continue."""
    resume: str | None = None
    """An existing session to continue (id, unique prefix or directory); must exist."""
    knowledge: bool = True
    """Give the Proposer the knowledge base (papers and past attempts)."""
    watch_papers: bool = False
    """Also index papers/ in the background while the session runs (the TUI does)."""
    record: Path | None = None
    """Append every model reply to this JSONL file (for scripted replays)."""
    check: Options | None = None
    """The checker's options (default: `Options(allow_unsafe=allow_unsafe)`)."""
    search: str = "both"
    """Who picks template parameter sets: both, model or optimizer (`RunConfig.search`)."""
    confirm_rounds: int | None = None
    """Interleaved rounds of a confirmation (`RunConfig.confirm_rounds`; None: default)."""
    start: str | None = None
    """A new session's starting kernel (iteration 0) instead of the naive one: "template"
    (the problem's first template family with this machine's defaults) or the path of a
    kernel file (`starting_kernel`)."""
    edit_format: str = "blocks"
    """How the Coder writes a code edit (`RunConfig.edit_format`)."""

    def __post_init__(self) -> None:
        if self.problem is not None:
            problems.get(self.problem)  # ValueError naming the choices
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r} (one of {', '.join(STRATEGIES)})")
        if self.edit_format not in FORMATS:
            raise ValueError(
                f"unknown edit format {self.edit_format!r} (one of {', '.join(FORMATS)})"
            )
        for name in ("iterations", "repairs", "max_tokens", "patience"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be ≥ 0, got {value}")
        if self.start not in (None, "template") and not Path(str(self.start)).is_file():
            raise ValueError(f"--start-from: no kernel file {self.start} (or say `template`)")


class StartError(ValueError):
    """A starting kernel (`RunSpec.start`) that cannot be used; the message is one line."""


def starting_kernel(start: str, problem: problems.Problem) -> tuple[str, str]:
    """(source, leaderboard title) of a `RunSpec.start`: the problem's template filled in
    with this machine's defaults, or a kernel file as it is. Raises StartError when the
    problem has no template or the file cannot be read."""
    if start == "template":
        from roundtable_tui.kernels import templates

        found = templates.families(problem.name)
        if not found:
            raise StartError(f"--start-from template: {problem.name} has no template")
        family = found[0]
        return family.instantiate({}), f"template {family.id} (this machine's defaults)"
    try:
        return Path(start).read_text(), Path(start).name
    except (OSError, UnicodeDecodeError) as exc:
        raise StartError(f"--start-from: cannot read {start}: {exc}") from None


@dataclass
class Run:
    """A ready run: `manager.run(cancel)`, then `close()`."""

    manager: Manager
    session: Session
    backend: Backend
    problem: problems.Problem
    resumed: bool
    iterations: int
    """The session's total iterations this run goes to."""
    _closers: list[Callable[[], object]] = field(default_factory=list)

    def close(self) -> None:
        """Closes the session file and stops the papers watcher; safe to call twice."""
        while self._closers:
            # closing must not hide the run's own result
            with contextlib.suppress(Exception):
                self._closers.pop()()
        self.session.close()


def machine_meta(problem: problems.Problem, model: str) -> dict[str, Any]:
    """A new session's meta.json: problem, model, this machine, the benchmark shape."""
    from roundtable_tui.kernels import machine

    return {
        "problem": problem.name,
        "model": model,
        "machine": machine.describe(),
        "shape": problem.default_shape,
    }


def existing_session(spec: RunSpec, root: Path) -> Path | None:
    """The session the spec continues, or None for a new one. Raises SessionError when
    `resume` names no session."""
    if spec.resume:
        return find(root, spec.resume)
    if spec.session:
        try:
            return find(root, spec.session)
        except SessionError:
            return None
    return None


def prepare(
    spec: RunSpec,
    gate: ReviewGate,
    on_event: Callable[[Event], object] | None = None,
    *,
    cfg: Settings | None = None,
    status: Status = lambda _s: None,
    backend_factory: Callable[[str], Backend] | None = None,
    on_papers_indexed: Callable[[object], None] | None = None,
    on_knowledge: Callable[[Any, Any], None] | None = None,
    hints: Hints | None = None,
) -> Run:
    """Opens the model, the session (new or resumed), the knowledge base and the checker,
    and builds the Manager. `backend_factory` replaces `llm.factory.open_backend` (tests).
    The knowledge base is indexed in the background (the session starts at once);
    `on_knowledge(knowledge, report)` is called when it is ready or unavailable, and
    `on_papers_indexed(report)` (with `watch_papers`) whenever papers/ changes later."""
    cfg = cfg or settings()
    root = cfg.sessions_dir
    existing = existing_session(spec, root)
    if existing is not None:
        meta = read_meta(existing)
        problem = problems.get(str(meta.get("problem", DEFAULT_PROBLEM)))
        model = spec.model or str(meta.get("model") or cfg.model)
        done = SessionState.of(read_events(existing)).finished_iterations
        iterations = spec.iterations if spec.iterations is not None else done + DEFAULT_ITERATIONS
    else:
        problem = problems.get(spec.problem or DEFAULT_PROBLEM)
        model = spec.model or cfg.model
        iterations = spec.iterations if spec.iterations is not None else DEFAULT_ITERATIONS
    start: tuple[str, str] | None = None
    if spec.start is not None:
        if existing is not None:
            raise StartError(
                "--start-from sets a new session's starting kernel; this one has its own"
            )
        start = starting_kernel(spec.start, problem)
    # before the model loads: a session that cannot be written fails in one line, at once
    check_writable(root if existing is None else existing)

    status(f"loading model {model}…")
    if backend_factory is not None:
        backend = backend_factory(model)
    else:
        from roundtable_tui.llm.factory import open_backend

        backend = open_backend(model)
    if spec.record is not None:
        from roundtable_tui.llm.scripted import RecordingBackend

        backend = RecordingBackend(backend, spec.record)

    if existing is not None:
        session = Session.open(existing)
    else:
        session = Session.create(root, machine_meta(problem, model), spec.session)
    closers: list[Callable[[], object]] = []
    knowledge: Knowledge | None = None
    if spec.knowledge:
        status("opening the knowledge base…")
        knowledge = _start_knowledge(
            backend, spec, closers, on_knowledge, on_papers_indexed, status
        )
    config = RunConfig(
        iterations=iterations,
        minutes=spec.minutes,
        max_tokens=spec.max_tokens,
        patience=spec.patience,
        repairs=spec.repairs,
        allow_unsafe=spec.allow_unsafe,
        strategy=spec.strategy,
        check=spec.check or Options(allow_unsafe=spec.allow_unsafe),
        search=spec.search,
        edit_format=spec.edit_format,
    )
    if start is not None:
        config.start, config.start_title = start
    if spec.confirm_rounds is not None:
        config.confirm_rounds = spec.confirm_rounds
    try:
        manager = Manager(
            session,
            backend,
            problem,
            gate,
            config,
            Checker(cfg),
            on_event=on_event,
            knowledge=knowledge,
            hints=hints,
        )
    except Exception:
        session.close()
        for close in closers:
            close()
        raise
    return Run(manager, session, backend, problem, existing is not None, iterations, closers)


def _start_knowledge(
    backend: Backend,
    spec: RunSpec,
    closers: list[Callable[[], object]],
    on_knowledge: Callable[[Any, Any], None] | None,
    on_papers_indexed: Callable[[object], None] | None,
    status: Status,
) -> Knowledge | None:
    """The knowledge base, indexed in the background (`knowledge.memory.start_knowledge`,
    which never raises: a base that cannot be used says so in its notices and the run goes
    on without it); with `watch_papers`, papers/ is watched once the first index is done."""
    try:
        from roundtable_tui.knowledge.memory import start_knowledge
    except Exception as exc:  # chromadb or the embedder missing from this installation
        status(f"knowledge base unavailable ({exc}); running without it")
        return None

    def done(knowledge: Any, report: Any) -> None:
        if spec.watch_papers and hasattr(knowledge, "store") and not closers:
            from roundtable_tui.knowledge.watcher import PapersWatcher

            watcher = PapersWatcher(
                knowledge.store, on_change=on_papers_indexed, initial_index=False
            )
            watcher.start()
            closers.append(watcher.stop)
        if on_knowledge is not None:
            on_knowledge(knowledge, report)

    knowledge: Knowledge = start_knowledge(backend.count_tokens, on_done=done)
    return knowledge
