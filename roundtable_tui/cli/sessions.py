"""Commands on saved sessions: `replay`, `sessions list|show|export`, `report`."""

from __future__ import annotations

import argparse
import json
from contextlib import nullcontext
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from roundtable_tui.cli.common import EXIT_OK, UsageError, _fmt, err, out
from roundtable_tui.cli.run import cmd_tui


def cmd_replay(args: argparse.Namespace) -> int:
    from roundtable_tui.cli.headless import print_transcript
    from roundtable_tui.config import settings
    from roundtable_tui.core.session import find, read_events, read_meta

    path = find(settings().sessions_dir, args.session)
    read_meta(path)  # a damaged meta.json is refused here as by every other command
    events = list(read_events(path))
    if not args.headless and not args.rebench:
        args.replay_path = path
        return cmd_tui(args)
    if args.headless:
        print_transcript(out, events)
    if args.rebench:
        return _rebench(path, events)
    return EXIT_OK


def _rebench(path: Path, events: list) -> int:
    from roundtable_tui.core.events import Kind
    from roundtable_tui.kernels.checker import Checker, Options

    checker = Checker()
    t = Table(title=f"re-checked on this machine: {path.name}", header_style="bold")
    for col in ("#", "title", "recorded", "now", "GFLOPS then", "GFLOPS now", "of OpenBLAS now"):
        t.add_column(col)
    kernels = {e.data.get("number"): e for e in events if e.kind is Kind.KERNEL}
    edits = {
        e.data.get("number"): e.data.get("code")
        for e in events
        if e.kind is Kind.REVIEW and e.data.get("code")
    }
    for ev in events:
        if ev.kind is not Kind.CHECK_RESULT:
            continue
        number = ev.data.get("number")
        code = edits.get(number) or (
            kernels[number].data.get("code") if number in kernels else None
        )
        if not code:
            continue
        allow = ev.data.get("flags", {}).get("allow_unsafe") == "True"
        with err.status(f"re-checking kernel {number}…") if err.is_terminal else nullcontext():
            now = checker.check(code, ev.data["problem"], Options(allow_unsafe=allow))
        t.add_row(
            str(number),
            str(ev.data.get("title", ""))[:40],
            str(ev.data.get("verdict")),
            str(now.verdict),
            _fmt(ev.data.get("gflops"), ".1f"),
            _fmt(now.gflops, ".1f"),
            _fmt(now.fraction_of_openblas and now.fraction_of_openblas * 100, ".0f", "%"),
        )
    out.print(t)
    return EXIT_OK


def cmd_sessions(args: argparse.Namespace) -> int:
    import time as _time

    from roundtable_tui.cli.headless import leaderboard_table
    from roundtable_tui.config import settings
    from roundtable_tui.core.session import SessionError, find, list_sessions, summarize

    root = settings().sessions_dir
    if args.action == "list":
        t = Table(header_style="bold", title=f"sessions in {root}")
        for col in ("id", "problem", "model", "created", "iterations", "best GFLOPS", "best"):
            t.add_column(col)
        rows = []
        for path in list_sessions(root):
            try:
                s = summarize(path)
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
    from roundtable_tui.core.session import read_events, read_meta
    from roundtable_tui.core.state import SessionState

    path = find(root, args.session)
    meta = read_meta(path)
    state = SessionState.of(list(read_events(path)))
    out.print(
        f"[bold]{path.name}[/] · {meta.get('problem')} · {meta.get('model')} · "
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

