"""Commands on saved sessions: `replay`, `sessions list|show|export`, `report`."""

from __future__ import annotations

import argparse
import json
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from roundtable_tui.cli.common import EXIT_OK, UsageError, _fmt, err, out
from roundtable_tui.cli.run import cmd_tui

if TYPE_CHECKING:
    from roundtable_tui.core.record import SessionRecord


def cmd_replay(args: argparse.Namespace) -> int:
    from roundtable_tui.cli.headless import print_transcript
    from roundtable_tui.config import settings
    from roundtable_tui.core.record import load
    from roundtable_tui.core.session import find

    path = find(settings().sessions_dir, args.session)
    record = load(path)  # a damaged meta.json or event is refused here as by every command
    if not args.headless and not args.rebench:
        args.replay_path = path
        return cmd_tui(args)
    if args.headless:
        print_transcript(out, record.events)
    if args.rebench:
        return _rebench(record)
    return EXIT_OK


def _rebench(record: SessionRecord) -> int:
    """Every checked kernel of the session checked again here, old and new figures; then
    the session's best against the fastest other kernel here, by the rule that made it the
    best (`kernels.confirm`: interleaved rounds, a bootstrap interval of the speed ratio)."""
    from roundtable_tui.core.session import SessionError
    from roundtable_tui.kernels import confirm
    from roundtable_tui.kernels.checker import Checker, Options

    checker = Checker()
    t = Table(title=f"re-checked on this machine: {record.id}", header_style="bold")
    for col in ("#", "title", "recorded", "now", "GFLOPS then", "GFLOPS now", "of OpenBLAS now"):
        t.add_column(col)
    best = record.state.best
    rivals: list[tuple[float, int, str]] = []
    best_code = ""
    for entry in record.state.entries:
        check = record.check_of(entry)
        if not check or entry.number is None:
            continue
        try:
            code = record.source_of(entry)
        except SessionError as exc:
            err.print(f"[yellow]skipping: {escape(str(exc))}[/]")
            continue
        allow = str(check.get("flags", {}).get("allow_unsafe")) == "True"
        with (
            err.status(f"re-checking kernel {entry.number}…") if err.is_terminal else nullcontext()
        ):
            now = checker.check(code, record.problem, Options(allow_unsafe=allow))
        if best is not None and entry is best:
            best_code = code
        elif now.passed and now.fraction_of_openblas and not allow:
            rivals.append((now.fraction_of_openblas, entry.number, code))
        t.add_row(
            str(entry.number),
            entry.title[:40],
            str(entry.verdict),
            str(now.verdict),
            _fmt(entry.gflops, ".1f"),
            _fmt(now.gflops, ".1f"),
            _fmt(now.fraction_of_openblas and now.fraction_of_openblas * 100, ".0f", "%"),
        )
    out.print(t)
    if best is not None and best_code and rivals:
        _, number, code = max(rivals)
        with err.status(f"kernel {number} against the best…") if err.is_terminal else nullcontext():
            got = confirm.confirm(checker, record.problem, code, best_code)
        verdict = {
            "faster": f"kernel {number} beats the recorded best here",
            "slower": "the recorded best holds here",
            "within noise": "the recorded best and it are within noise here",
            "failed": "no verdict",
        }[str(got.outcome)]
        out.print(
            f"best (kernel {best.number}) against the fastest other kernel now ({number}): "
            f"{escape(got.describe())} — {verdict}"
        )
    return EXIT_OK


def cmd_sessions(args: argparse.Namespace) -> int:
    import time as _time

    from roundtable_tui.cli.headless import leaderboard_table
    from roundtable_tui.config import settings
    from roundtable_tui.core.record import load
    from roundtable_tui.core.session import SessionError, find, list_sessions

    root = settings().sessions_dir
    if args.action == "list":
        t = Table(header_style="bold", title=f"sessions in {root}")
        for col in ("id", "problem", "model", "created", "iterations", "best GFLOPS", "best"):
            t.add_column(col)
        rows = []
        for path in list_sessions(root):
            try:
                s = load(path).summary()
            except SessionError as exc:
                err.print(f"[yellow]skipping: {exc}[/]")
                continue
            rows.append(s)
            t.add_row(
                s.id,
                s.problem,
                s.model,
                _time.strftime("%Y-%m-%d %H:%M", _time.localtime(s.created)),
                str(s.iterations),
                _fmt(s.best_gflops, ".1f"),
                s.best_title[:40],
            )
        if args.json:
            print(json.dumps([{**s.__dict__, "path": str(s.path)} for s in rows]))
        else:
            out.print(t)
        return EXIT_OK
    if not args.session:
        raise UsageError(f"which session? `roundtable sessions {args.action} ID`")
    if args.action == "export":
        return _export(find(root, args.session), args)
    record = load(find(root, args.session))
    state, meta = record.state, record.meta
    out.print(
        f"[bold]{record.id}[/] · {record.problem_name} · {record.model} · "
        f"{state.finished_iterations} iterations · {state.tokens} tokens · "
        f"{state.finished or 'not finished'}"
    )
    machine = meta.get("machine", {})
    if machine:
        out.print(
            f"machine: {machine.get('cpu')} · {machine.get('simd')} · "
            f"{machine.get('rustc')} · {machine.get('rustflags')}"
        )
    out.print(leaderboard_table(state))
    return EXIT_OK


def _export(path: Path, args: argparse.Namespace) -> int:
    from roundtable_tui.outputs.export import ExportError, export

    dest = Path(args.output) if args.output else None
    try:
        with err.status("exporting…") if err.is_terminal else nullcontext():
            ex = export(path, dest, force=args.force)
    except ExportError as exc:
        raise UsageError(str(exc)) from None
    e = ex.entry
    out.print(
        f"exported kernel #{e.number} (iteration {e.iteration}, {_fmt(e.gflops, '.1f')} GFLOPS): "
        f"{escape(e.title[:60])}\n  → {ex.path}"
    )
    for note in ex.notes:
        err.print(f"[yellow]note:[/] {escape(note)}")
    out.print(f"  cd {ex.path} && cargo test --release && cargo run --release --example bench")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    import webbrowser

    from roundtable_tui.config import settings
    from roundtable_tui.core.session import find
    from roundtable_tui.outputs import report
    from roundtable_tui.outputs.export import ExportError

    path = find(settings().sessions_dir, args.session)
    try:
        with err.status("writing the report…") if err.is_terminal else nullcontext():
            target = report.write(path, Path(args.output) if args.output else None)
    except ExportError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write the report: {exc}") from None
    out.print(f"report: {target}")
    if args.open:
        webbrowser.open(target.resolve().as_uri())
    return EXIT_OK
