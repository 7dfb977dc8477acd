"""Session commands that run the loop: `run --auto` (headless) and `tui` (supervised)."""

from __future__ import annotations

import argparse
import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from roundtable_tui.core.run import RunSpec


def spec_from(args: argparse.Namespace) -> RunSpec:
    """The run specification of `run`/`tui` flags (unset flags stay None: the run setup's
    defaults, the same for both commands)."""
    from roundtable_tui.core.run import RunSpec

    record = getattr(args, "record", None)
    try:
        return RunSpec(
            problem=getattr(args, "problem", None),
            model=getattr(args, "model", None),
            iterations=getattr(args, "iterations", None),
            minutes=getattr(args, "minutes", None),
            max_tokens=getattr(args, "max_tokens", None),
            patience=getattr(args, "patience", None),
            repairs=2 if getattr(args, "repairs", None) is None else args.repairs,
            allow_unsafe=bool(getattr(args, "allow_unsafe", False)),
            strategy=getattr(args, "strategy", None) or "mixed",
            search=getattr(args, "search", None) or "both",
            confirm_rounds=getattr(args, "confirm_rounds", None),
            session=getattr(args, "session", None),
            resume=getattr(args, "resume", None),
            knowledge=not getattr(args, "no_knowledge", False),
            record=Path(record) if record else None,
            start=getattr(args, "start_from", None),
            edit_format=getattr(args, "edit_format", None) or "blocks",
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def cmd_run(args: argparse.Namespace) -> int:
    from roundtable_tui.cli.headless import AutoProgress, entry_json, leaderboard_table
    from roundtable_tui.core.review import AutoPolicy
    from roundtable_tui.core.run import StartError, prepare
    from roundtable_tui.llm.backend import LLMError

    if not args.auto:
        raise UsageError(
            "`roundtable run` is headless: pass --auto (the supervised session is `roundtable tui`)"
        )
    quiet = args.json
    console = err if quiet else out
    progress = AutoProgress(console, quiet=quiet)
    spinner = err.status("preparing…") if err.is_terminal and not quiet else None

    def knowledge_ready(knowledge, report) -> None:
        for line in knowledge.drain_notices() if hasattr(knowledge, "drain_notices") else []:
            if not quiet or line.startswith("knowledge unavailable"):
                err.print(f"[yellow]{escape(line)}[/]")

    def status(text: str) -> None:
        if spinner is not None:
            spinner.update(text)
        elif "unavailable" in text:
            err.print(f"[yellow]{escape(text)}[/]")

    if spinner is not None:
        spinner.start()
    try:
        run = prepare(
            spec_from(args),
            AutoPolicy(),
            on_event=progress,
            cfg=_settings_from(args),
            status=status,
            on_knowledge=knowledge_ready,
        )
    except (LLMError, StartError) as exc:
        raise UsageError(str(exc)) from None
    finally:
        if spinner is not None:
            spinner.stop()
    session, manager = run.session, run.manager
    console.print(f"session {session.id} · {run.problem.name} · {run.backend.name}")
    cancel = threading.Event()
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
    run.close()
    reason = result.get("reason", "error: the manager stopped unexpectedly")
    state = manager.state
    if args.json:
        best = state.best
        print(
            json.dumps(
                {
                    "session": session.id,
                    "path": str(session.path),
                    "problem": run.problem.name,
                    "model": run.backend.name,
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


def cmd_tui(args: argparse.Namespace) -> int:
    from roundtable_tui.config import settings
    from roundtable_tui.core.session import find

    try:
        from roundtable_tui.tui.app import Plan, RoundtableApp
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise UsageError(f"the TUI needs textual ({exc}); run `make setup`") from None
    cfg = settings()
    spec = spec_from(args)
    if spec.resume:
        find(cfg.sessions_dir, spec.resume)  # an unknown session: one line here, not in the app
    plan = Plan(
        spec, replay=getattr(args, "replay_path", None), start=bool(getattr(args, "start", False))
    )
    RoundtableApp(plan, cfg).run()
    return EXIT_OK
