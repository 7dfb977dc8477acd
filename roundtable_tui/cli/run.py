"""Session commands that run the loop: `run --auto` (headless) and `tui` (supervised)."""

from __future__ import annotations

import argparse
import json
import threading
from contextlib import nullcontext
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from roundtable_tui.cli.common import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    UsageError,
    _settings_from,
    err,
    out,
)
from roundtable_tui.kernels import problems


def _machine_meta(problem: problems.Problem, model: str) -> dict:
    from roundtable_tui.kernels import machine

    return {
        "problem": problem.name,
        "model": model,
        "machine": machine.describe(),
        "shape": problem.default_shape,
    }


def cmd_run(args: argparse.Namespace) -> int:
    from roundtable_tui.cli.headless import AutoProgress, entry_json, leaderboard_table
    from roundtable_tui.core.manager import Manager, RunConfig
    from roundtable_tui.core.review import AutoPolicy
    from roundtable_tui.core.session import Session, SessionError, find, read_meta
    from roundtable_tui.kernels.checker import Options
    from roundtable_tui.llm.backend import LLMError
    from roundtable_tui.llm.factory import open_backend

    if not args.auto:
        raise UsageError(
            "`roundtable run` is headless: pass --auto (the supervised session is `roundtable tui`)"
        )
    cfg = _settings_from(args)
    root = cfg.sessions_dir
    ident = args.resume or args.session
    existing = None
    if ident:
        try:
            existing = find(root, ident)
        except SessionError:
            if args.resume:
                raise
    if existing is not None:
        meta = read_meta(existing)
        problem = problems.get(str(meta["problem"]))
        model = args.model or str(meta.get("model", cfg.model))
    else:
        problem = problems.get(args.problem or "sgemm")
        model = args.model or cfg.model
    quiet = args.json
    console = err if quiet else out
    from roundtable_tui.core.session import check_writable

    # before the model loads: a session that cannot be written fails in one line, at once
    check_writable(existing if existing is not None else root)
    with err.status(f"loading model {model}…") if err.is_terminal and not quiet else nullcontext():
        try:
            backend = open_backend(model)
        except LLMError as exc:
            raise UsageError(str(exc)) from None
    if args.record:
        from roundtable_tui.llm.scripted import RecordingBackend

        backend = RecordingBackend(backend, Path(args.record))
    if existing is not None:
        session = Session.open(existing)
    else:
        session = Session.create(root, _machine_meta(problem, model), args.session)
    console.print(f"session {session.id} · {problem.name} · {backend.name}")
    run_cfg = RunConfig(
        iterations=args.iterations,
        minutes=args.minutes,
        max_tokens=args.max_tokens,
        patience=args.patience,
        repairs=args.repairs,
        allow_unsafe=args.allow_unsafe,
        strategy=args.strategy,
        check=Options(allow_unsafe=args.allow_unsafe),
    )
    cancel = threading.Event()
    progress = AutoProgress(console, quiet=quiet)
    from roundtable_tui.kernels.checker import Checker

    knowledge = None if args.no_knowledge else _open_knowledge(backend, console, quiet)
    manager = Manager(
        session,
        backend,
        problem,
        AutoPolicy(),
        run_cfg,
        Checker(cfg),
        on_event=progress,
        knowledge=knowledge,
    )
    result: dict[str, str] = {}
    finished = threading.Event()

    def work() -> None:
        try:
            result["reason"] = manager.run(cancel)
        finally:
            finished.set()

    # an Event, not Thread.join: a join interrupted by Ctrl-C can return early afterwards
    threading.Thread(target=work, daemon=True).start()
    with progress:
        try:
            while not finished.wait(0.2):
                pass
        except KeyboardInterrupt:
            cancel.set()
            console.print(
                "stopping… (the session is saved; resume with "
                f"`roundtable run --auto --resume {session.id}`)"
            )
            while not finished.wait(0.2):
                pass
    session.close()
    reason = result.get("reason", "error: the manager stopped unexpectedly")
    state = manager.state
    if args.json:
        best = state.best
        print(
            json.dumps(
                {
                    "session": session.id,
                    "path": str(session.path),
                    "problem": problem.name,
                    "model": backend.name,
                    "reason": reason,
                    "iterations": state.finished_iterations,
                    "tokens": state.tokens,
                    "best": entry_json(best) if best else None,
                    "leaderboard": [entry_json(e) for e in state.leaderboard()],
                }
            )
        )
    else:
        out.print(leaderboard_table(state, f"session {session.id}: {reason}"))
        out.print(f"replay: roundtable replay {session.id} --headless")
    if reason == "cancelled":
        return EXIT_INTERRUPTED
    return EXIT_ERROR if reason.startswith("error") else EXIT_OK


def _open_knowledge(backend, console: Console, quiet: bool):
    """The knowledge base for the Proposer: papers/ indexed in the background (the session
    starts at once; knowledge joins when ready). Never raises: a store that cannot be used
    gives one line here and an error event in the session, and the run goes on without it."""
    from roundtable_tui.knowledge.memory import start_knowledge

    def done(knowledge, report) -> None:
        for line in knowledge.drain_notices():
            if not quiet or line.startswith("knowledge unavailable"):
                err.print(f"[yellow]{escape(line)}[/]")

    return start_knowledge(backend.count_tokens, on_done=done)


def cmd_tui(args: argparse.Namespace) -> int:
    from roundtable_tui.config import settings
    from roundtable_tui.core.session import find

    try:
        from roundtable_tui.tui.app import Plan, RoundtableApp
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise UsageError(f"the TUI needs textual ({exc}); run `make setup`") from None
    cfg = settings()
    plan = Plan(
        problem=getattr(args, "problem", None) or "sgemm",
        model=getattr(args, "model", None) or cfg.model,
        iterations=getattr(args, "iterations", None) or 5,
        minutes=getattr(args, "minutes", None),
        start=bool(getattr(args, "start", False)),
        strategy=getattr(args, "strategy", None) or "mixed",
    )
    if getattr(args, "resume", None):
        plan.resume = find(cfg.sessions_dir, args.resume)
    if getattr(args, "replay_path", None):
        plan.replay = args.replay_path
    RoundtableApp(plan, cfg).run()
    return EXIT_OK

