"""The `roundtable` command."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from contextlib import nullcontext
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from roundtable_tui import __version__
from roundtable_tui.core.session import SessionError
from roundtable_tui.kernels import problems
from roundtable_tui.kernels.build import ToolMissing
from roundtable_tui.kernels.verdict import VERDICT_HELP, CheckResult, Verdict

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _console(stderr: bool = False) -> Console:
    c = Console(stderr=stderr, highlight=False)
    return c if c.is_terminal else Console(stderr=stderr, highlight=False, width=120)


out = _console()
err = _console(stderr=True)


class UsageError(Exception):
    """Bad input from the user: printed as one clear line, exit status 2."""


def _infer_problem(source: str) -> str:
    from roundtable_tui.kernels.policy import TokenizeError, tokenize

    try:
        tokens = tokenize(source)
    except TokenizeError:
        tokens = []
    found = [
        name
        for name in problems.PROBLEMS
        if any(t.text == name and i and tokens[i - 1].text == "fn" for i, t in enumerate(tokens))
    ]
    if len(found) != 1:
        raise UsageError(
            "cannot tell which problem the kernel solves; pass --problem "
            f"({', '.join(problems.PROBLEMS)})"
        )
    return found[0]


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "—" if value is None else f"{value:{spec}}{suffix}"


def _verdict_style(v: Verdict) -> str:
    return "bold green" if v is Verdict.PASSED else "bold red"


def print_check(r: CheckResult, name: str) -> None:
    problem = problems.get(r.problem)
    out.print(
        f"[{_verdict_style(r.verdict)}]{r.verdict}[/] {name} · {r.problem} "
        f"{problem.format_shape(r.shape)}"
    )
    if not r.passed:
        out.print(f"  reason: {escape(r.reason)}")
    if r.compiler_output:
        out.print("\n[bold]compiler output[/]")
        out.print(r.compiler_output, markup=False)
    if r.gflops is not None:
        t = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
        for col in ("", "GFLOPS", "median", "95% CI", "samples"):
            t.add_column(col, justify="right" if col else "left")
        lo, hi = r.ci95_s or (None, None)
        t.add_row(
            "kernel",
            _fmt(r.gflops, ".1f"),
            _fmt(r.median_s and r.median_s * 1e3, ".2f", " ms"),
            f"{_fmt(lo and lo * 1e3, '.2f')}–{_fmt(hi and hi * 1e3, '.2f')} ms",
            str(r.samples),
        )
        for b in r.baselines.values():
            t.add_row(b.name, f"{b.gflops:.1f}", f"{b.median_s * 1e3:.2f} ms", "", str(b.samples))
        if r.peak_gflops:
            t.add_row("machine peak", f"{r.peak_gflops:.1f}", "", "", "")
        out.print()
        out.print(t)
        out.print(
            f"\n  speedup vs naive {_fmt(r.speedup_vs_naive, '.2f', '×')} · "
            f"{_fmt(r.fraction_of_openblas and r.fraction_of_openblas * 100, '.0f', '%')} "
            f"of OpenBLAS · {_fmt(r.fraction_of_peak and r.fraction_of_peak * 100, '.0f', '%')}"
            " of peak"
        )
    failed = [c for c in r.checks if not c.ok]
    passed = [c for c in r.checks if c.ok]
    out.print(f"\n  checks: {len(passed)} passed" + (f", {len(failed)} failed" if failed else ""))
    for c in failed:
        out.print(f"  [red]✗[/] {escape(c.name)}: {escape(c.detail)}")
    if r.max_abs_error is not None:
        out.print(f"  largest error {r.max_abs_error:.2e} (bound there {r.error_bound:.2e})")
    notes = r.gate.get("notes", [])
    for n in notes:
        out.print(f"  note: line {n['line']}: {escape(n['message'])}")
    steps = " · ".join(f"{k.removesuffix('_s')} {v:.2f}s" for k, v in r.timings.items())
    out.print(f"  time: {steps}", style="dim")


def cmd_check(args: argparse.Namespace) -> int:
    from roundtable_tui.kernels.checker import Checker, Options

    path = Path(args.kernel)
    try:
        source = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    problem = problems.get(args.problem or _infer_problem(source))
    shape = problem.parse_shape(args.shape) if args.shape else None
    opts = Options(
        shape=shape,
        allow_unsafe=args.allow_unsafe,
        baselines=not args.no_baselines,
        bench_budget_ms=args.budget_ms,
        seed=args.seed,
    )
    checker = Checker(_settings_from(args))
    cancel = threading.Event()
    show = not args.json and err.is_terminal
    status = err.status("checking…") if show else None
    if status:
        status.start()
    try:
        result = checker.check(
            source,
            problem,
            opts,
            cancel,
            progress=(lambda p: status.update(f"{path.name}: {p}…")) if status else None,
        )
    except KeyboardInterrupt:
        cancel.set()
        raise
    finally:
        if status:
            status.stop()
    if args.json:
        print(result.to_json())
    else:
        print_check(result, path.name)
        if args.asm and result.verdict is not Verdict.REJECTED:
            _print_asm(source, problem, checker)
    return EXIT_OK if result.passed else EXIT_FAILED


def _print_asm(source: str, problem: problems.Problem, checker) -> None:
    from roundtable_tui.kernels import asm
    from roundtable_tui.kernels.build import BuildFailed

    try:
        listing = checker.builder.assembly(source, problem)
    except BuildFailed as exc:
        err.print(f"no assembly: {exc}")
        return
    out.print("\n  assembly (the kernel's own functions, most FMAs first):")
    for f in asm.kernel_functions(listing):
        out.print(f"    {f.summary()}")


def _settings_from(args: argparse.Namespace):
    from roundtable_tui.config import settings

    cfg = settings()
    updates = {}
    if getattr(args, "timeout", None):
        updates["timeout_s"] = args.timeout
    if getattr(args, "memory_mb", None):
        updates["memory_limit_mb"] = args.memory_mb
    return cfg.model_copy(update=updates) if updates else cfg


def cmd_bench(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from roundtable_tui.kernels.baselines import bench

    names = [args.problem] if args.problem else list(problems.PROBLEMS)
    rows = []
    for name in names:
        problem = problems.get(name)
        shape = problem.parse_shape(args.shape) if args.shape else None
        with err.status(f"{name}…") if err.is_terminal and not args.json else nullcontext():
            rows.append(bench(problem, shape))
    if args.json:
        print(json.dumps([asdict(r) for r in rows]))
        return EXIT_OK
    t = Table(
        title="baselines on this machine (GFLOPS, median; same run per problem)",
        header_style="bold",
    )
    for col in (
        "problem",
        "shape",
        "naive",
        "rayon",
        "OpenBLAS",
        "peak 1 thread",
        f"peak {rows[0].threads} threads",
    ):
        t.add_column(col, justify="left" if col in ("problem", "shape") else "right")
    for r in rows:
        p = problems.get(r.problem)
        t.add_row(
            r.problem,
            p.format_shape(r.shape),
            *(_fmt(r.gflops[b], ".1f") for b in ("naive", "rayon", "openblas")),
            _fmt(r.peak_gflops_1, ".1f"),
            _fmt(r.peak_gflops_all, ".1f"),
        )
    out.print(t)
    for r in rows:
        if r.error:
            err.print(f"[red]{r.problem}: {r.error}[/]")
    return EXIT_FAILED if any(r.error for r in rows) else EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from roundtable_tui.doctor import diagnose

    items = diagnose()
    if args.json:
        print(json.dumps([i.__dict__ for i in items]))
    else:
        t = Table(show_header=False, box=None)
        t.add_column()
        t.add_column()
        t.add_column()
        for i in items:
            mark = "[green]✓[/]" if i.ok else "[yellow]![/]"
            t.add_row(
                mark, i.name, i.detail + (f"\n[dim]→ {i.fix}[/]" if not i.ok and i.fix else "")
            )
        out.print(t)
    required = {"python", "cargo", "rustc", "sandbox"}
    return EXIT_OK if all(i.ok for i in items if i.name in required) else EXIT_FAILED


def cmd_problems(args: argparse.Namespace) -> int:
    for p in problems.PROBLEMS.values():
        out.print(f"[bold]{p.name}[/]  {p.summary}")
        out.print(f"  {p.signature}", markup=False)
        out.print(
            f"  default shape {p.format_shape(p.default_shape)} "
            f"({', '.join(p.dims)}), {p.flops(p.default_shape) / 1e9:.1f} GFLOP\n"
        )
    return EXIT_OK


EXIT_ERROR, EXIT_INTERRUPTED = 3, 130


def _machine_meta(problem: problems.Problem, model: str) -> dict:
    from roundtable_tui.kernels import machine

    return {
        "problem": problem.name,
        "model": model,
        "machine": machine.describe(),
        "shape": problem.default_shape,
    }


def cmd_run(args: argparse.Namespace) -> int:
    from roundtable_tui.core.manager import Manager, RunConfig
    from roundtable_tui.core.review import AutoPolicy
    from roundtable_tui.core.session import Session, SessionError, find, read_meta
    from roundtable_tui.headless import AutoProgress, entry_json, leaderboard_table
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
    """The knowledge base for the Proposer, indexed incrementally; None if it cannot load."""
    try:
        from roundtable_tui.knowledge.memory import open_knowledge

        with (
            err.status("indexing papers/ (incremental)…")
            if err.is_terminal and not quiet
            else nullcontext()
        ):
            knowledge = open_knowledge(backend.count_tokens)
            report = knowledge.store.index()
        if not quiet and (report.added or report.updated or report.removed):
            console.print(
                f"knowledge: +{report.added} ~{report.updated} -{report.removed} files, "
                f"{report.chunks} chunks"
            )
        return knowledge
    except Exception as exc:  # the loop runs without knowledge rather than not at all
        err.print(f"[yellow]knowledge base unavailable ({escape(str(exc))}); running without it[/]")
        return None


def cmd_papers(args: argparse.Namespace) -> int:
    from roundtable_tui.knowledge import cli_papers

    if args.action == "index":
        return cli_papers.cmd_index(args.path, out)
    if args.action == "search":
        return cli_papers.cmd_search(" ".join(args.query), args.k, out, args.json)
    return cli_papers.cmd_stats(out, args.json)


def cmd_replay(args: argparse.Namespace) -> int:
    from roundtable_tui.config import settings
    from roundtable_tui.core.session import find, read_events
    from roundtable_tui.headless import print_transcript

    path = find(settings().sessions_dir, args.session)
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

    from roundtable_tui.config import settings
    from roundtable_tui.core.session import SessionError, find, list_sessions, summarize
    from roundtable_tui.headless import leaderboard_table

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
    from roundtable_tui.export import ExportError, export

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

    from roundtable_tui import report
    from roundtable_tui.config import settings
    from roundtable_tui.core.session import find
    from roundtable_tui.export import ExportError

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


def cmd_model(args: argparse.Namespace) -> int:
    from roundtable_tui.llm import models

    if args.action == "list":
        t = Table(header_style="bold")
        for col in ("name", "model", "status", "size", "path"):
            t.add_column(col)
        for d in models.describe():
            t.add_row(
                str(d.get("name")),
                str(d.get("title")),
                str(d.get("status")),
                str(d.get("size", "")),
                str(d.get("path")),
            )
        out.print(t)
        return EXIT_OK
    names = args.names or ["embedded"]
    for name in names:
        if name not in models.MODELS:
            raise UsageError(f"unknown model {name!r}; choose from {', '.join(models.MODELS)}")
        if args.action == "path":
            print(models.model_path(name))
            continue

        def show(message: str, done: int, total: int, name: str = name) -> None:
            err.print(f"{name}: [{done}/{total}] {message}")

        try:
            path = models.fetch(name, force=args.force, progress=show)
        except models.ModelError as exc:
            raise UsageError(str(exc)) from None
        out.print(f"{name}: {path} (verified)")
    return EXIT_OK


def _parse_assignments(items: list[str]) -> dict[str, int | str]:
    values: dict[str, int | str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"expected NAME=VALUE, got {item!r}")
        values[name.strip()] = int(value) if value.strip().lstrip("-").isdigit() else value.strip()
    return values


def cmd_templates(args: argparse.Namespace) -> int:
    from roundtable_tui.kernels import templates

    if args.action == "list":
        table = Table(box=None, pad_edge=False)
        for col in ("template", "parameters", "summary"):
            table.add_column(col)
        for fam in templates.families():
            table.add_row(fam.id, " ".join(p.name for p in fam.params), fam.summary)
        out.print(table)
        return EXIT_OK
    try:
        fam = templates.family(args.template)
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from None
    if args.action == "show":
        out.print(escape(fam.describe()))
        return EXIT_OK
    try:
        source = fam.instantiate(_parse_assignments(args.assignments))
    except templates.ParameterError as exc:
        err.print(f"[bold red]refused[/] {fam.id}:")
        for reason in exc.reasons:
            err.print(f"  - {escape(reason)}")
        return EXIT_USAGE
    if args.output:
        Path(args.output).write_text(source)
        err.print(f"wrote {args.output}; check it with: roundtable check {args.output}")
    else:
        sys.stdout.write(source)
    return EXIT_OK


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


def build_parser() -> argparse.ArgumentParser:
    verdicts = "\n".join(f"  {v:<14} {VERDICT_HELP[v]}" for v in Verdict)
    parser = argparse.ArgumentParser(
        prog="roundtable",
        description="A roundtable of local-LLM agents searching for fast Rust matmul kernels, "
        "with a checker that cannot be fooled.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"roundtable {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    c = sub.add_parser(
        "check",
        help="verdict and speed figures for one kernel file",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Static gate → build → correctness → benchmark → one verdict.\n"
        "Exit status 0 only for `passed`.",
        epilog=f"verdicts:\n{verdicts}\n\nexample:\n  roundtable check my_sgemm.rs --problem sgemm",
    )
    c.add_argument("kernel", help="the kernel's Rust source file")
    c.add_argument(
        "--problem",
        "-p",
        choices=list(problems.PROBLEMS),
        help="which contract the kernel implements (inferred from its pub fn if omitted)",
    )
    c.add_argument(
        "--json", action="store_true", help="print one JSON object (the last line of stdout)"
    )
    c.add_argument(
        "--allow-unsafe",
        action="store_true",
        help="allow `unsafe` code in the kernel (it is forbidden by default)",
    )
    c.add_argument("--shape", help="benchmark shape, e.g. 1024x1024x1024 or m=512,n=512,k=256")
    c.add_argument(
        "--no-baselines",
        action="store_true",
        help="skip timing naive and OpenBLAS beside the kernel (faster; no ratios)",
    )
    c.add_argument(
        "--budget-ms",
        type=float,
        default=1500.0,
        help="time to spend on the kernel's timed calls (default 1500)",
    )
    c.add_argument("--timeout", type=float, help="wall-clock limit of the run in seconds")
    c.add_argument("--memory-mb", type=int, help="memory limit of the run in MiB")
    c.add_argument("--seed", type=int, help="master seed (random by default; for reproducing)")
    c.add_argument(
        "--asm",
        action="store_true",
        help="also show what the compiler made of each function (packed/scalar FMAs, "
        "stack accesses)",
    )
    c.set_defaults(func=cmd_check)

    b = sub.add_parser("bench", help="naive, rayon, OpenBLAS and peak GFLOPS per problem")
    b.add_argument("--problem", "-p", choices=list(problems.PROBLEMS))
    b.add_argument("--shape", help="shape instead of the problem's default")
    b.add_argument("--json", action="store_true", help="print JSON instead of a table")
    b.set_defaults(func=cmd_bench)

    d = sub.add_parser("doctor", help="what is installed and which protections are active")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_doctor)

    tui = sub.add_parser("tui", help="the supervised session (the default command)")
    tui.add_argument("--problem", "-p", choices=list(problems.PROBLEMS))
    tui.add_argument("--model", "-m", help="embedded (default), small, PATH.gguf, openai:URL#MODEL")
    tui.add_argument("--iterations", "-n", type=int, help="iterations (default 5)")
    tui.add_argument("--minutes", type=float, help="stop after this many minutes")
    tui.add_argument("--resume", metavar="ID", help="continue a saved session")
    tui.add_argument("--start", action="store_true", help="start a new session at once")
    tui.add_argument(
        "--strategy",
        choices=["mixed", "parameters", "code"],
        help="mixed (default), parameters (template only), code (free-form only)",
    )
    tui.set_defaults(func=cmd_tui)

    te = sub.add_parser(
        "templates",
        help="the parameterised kernel families: list, show, render",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  roundtable templates show sgemm/blis\n"
        "  roundtable templates render sgemm/blis kc=384 mc=144 -o k.rs && roundtable check k.rs",
    )
    tes = te.add_subparsers(dest="action", required=True, metavar="ACTION")
    tes.add_parser("list", help="every template family")
    tsh = tes.add_parser("show", help="a template's parameters, ranges and rules")
    tsh.add_argument("template", help="template id (sgemm/blis) or problem name")
    tre = tes.add_parser("render", help="fill a template in with NAME=VALUE settings")
    tre.add_argument("template", help="template id (sgemm/blis) or problem name")
    tre.add_argument("assignments", nargs="*", metavar="NAME=VALUE")
    tre.add_argument("-o", "--output", help="write the kernel here instead of stdout")
    te.set_defaults(func=cmd_templates)

    p = sub.add_parser("problems", help="the four kernel contracts")
    p.set_defaults(func=cmd_problems)

    r = sub.add_parser(
        "run",
        help="a headless session: agents propose, write and test kernels",
        description="Runs the roundtable without the TUI. Every kernel is approved by a policy "
        "(it must pass the static gate) instead of a human.",
        epilog="examples:\n  roundtable run --auto --problem sgemm --iterations 5\n"
        "  roundtable run --auto --resume 20261121-2010-sgemm-ab12\n\n"
        "exit status: 0 finished (budget reached), 3 stopped by an error, "
        "130 interrupted (resumable), 2 bad arguments",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument("--auto", action="store_true", help="approve kernels by policy (required)")
    r.add_argument("--problem", "-p", choices=list(problems.PROBLEMS), help="default sgemm")
    r.add_argument("--model", "-m", help="embedded (default), small, PATH.gguf, openai:URL#MODEL")
    r.add_argument("--iterations", "-n", type=int, default=5, help="iterations in total (5)")
    r.add_argument("--minutes", type=float, help="stop after this many minutes")
    r.add_argument("--max-tokens", type=int, help="stop after this many model tokens")
    r.add_argument("--patience", type=int, help="stop after N iterations without improvement")
    r.add_argument("--repairs", type=int, default=2, help="repairs per kernel (2)")
    r.add_argument("--session", help="name of a new session, or an existing one to continue")
    r.add_argument("--resume", metavar="ID", help="continue a saved session")
    r.add_argument("--allow-unsafe", action="store_true", help="let kernels use unsafe")
    r.add_argument(
        "--strategy",
        choices=["mixed", "parameters", "code"],
        default="mixed",
        help="mixed (default): the Proposer tunes the problem's template or proposes free-form "
        "code; parameters: template only; code: free-form only",
    )
    r.add_argument("--json", action="store_true", help="print a JSON summary at the end")
    r.add_argument("--timeout", type=float, help="wall-clock limit of one kernel run (s)")
    r.add_argument(
        "--no-knowledge",
        action="store_true",
        help="run without the knowledge base (papers and past attempts)",
    )
    r.add_argument(
        "--record",
        metavar="FILE",
        help="append every model reply to FILE (JSONL) for scripted replays",
    )
    r.set_defaults(func=cmd_run)

    rp = sub.add_parser("replay", help="replay a saved session")
    rp.add_argument("session", help="session id (or a unique prefix, or a directory)")
    rp.add_argument("--headless", action="store_true", help="print the transcript per agent")
    rp.add_argument(
        "--rebench",
        action="store_true",
        help="re-check every recorded kernel on this machine, old vs new figures",
    )
    rp.set_defaults(func=cmd_replay)

    se = sub.add_parser(
        "sessions",
        help="saved sessions: list, show, export",
        description="list: every saved session\n"
        "show ID: its machine and leaderboard\n"
        "export ID: its best passed kernel as a standalone Cargo crate (the kernel as a library,\n"
        "  a correctness test against an f64 reference, a timing example, a README with its\n"
        "  figures)",
        epilog="ID is a session id, a unique prefix of one, or a session directory.\n\n"
        "examples:\n  roundtable sessions list\n  roundtable sessions show example-sgemm-small\n"
        "  roundtable sessions export example-sgemm-small -o sgemm-kernel\n\n"
        "export takes the fastest passed kernel the agents wrote; the naive starting point\n"
        "only when none of theirs passed; a session where nothing passed is an error (exit 2).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    se.add_argument("action", choices=["list", "show", "export"])
    se.add_argument("session", nargs="?", metavar="ID", help="the session (show, export)")
    se.add_argument("--json", action="store_true", help="list: print JSON")
    se.add_argument(
        "-o",
        "--output",
        metavar="DIR",
        help="export: the crate's directory (default ./<problem>-<session id>)",
    )
    se.add_argument("--force", action="store_true", help="export: write into a non-empty directory")
    se.set_defaults(func=cmd_sessions)

    rep = sub.add_parser(
        "report",
        help="one self-contained HTML report of a saved session",
        description="Writes one HTML file: the session's problem, model and machine; the best\n"
        "GFLOPS over iterations against naive, rayon, OpenBLAS and the machine's peak; a\n"
        "roofline of every passed kernel; the leaderboard with every verdict; the winning\n"
        "kernel's source. Charts are embedded: the file needs nothing else.",
        epilog="The roofline's memory roof is this machine's bandwidth, measured once "
        "(under a second) and cached.\n\nexample:\n  roundtable report example-sgemm-small "
        "--open",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rep.add_argument("session", metavar="ID", help="session id, unique prefix, or directory")
    rep.add_argument(
        "-o", "--output", metavar="FILE", help="where to write (default <session dir>/report.html)"
    )
    rep.add_argument("--open", action="store_true", help="open the report in a web browser")
    rep.set_defaults(func=cmd_report)

    pa = sub.add_parser("papers", help="the knowledge base: index, search, stats")
    pas = pa.add_subparsers(dest="action", required=True, metavar="ACTION")
    pi = pas.add_parser("index", help="index papers/ (or PATH) incrementally")
    pi.add_argument("path", nargs="?")
    ps = pas.add_parser("search", help="the chunks nearest to QUERY")
    ps.add_argument("query", nargs="+")
    ps.add_argument("-k", type=int, default=5, help="how many (5)")
    ps.add_argument("--json", action="store_true")
    pst = pas.add_parser("stats", help="files, chunks, collections, model")
    pst.add_argument("--json", action="store_true")
    pa.set_defaults(func=cmd_papers)

    mo = sub.add_parser("model", help="the embedded GGUF models: fetch, list, path")
    mo.add_argument("action", choices=["fetch", "list", "path"])
    mo.add_argument("names", nargs="*", help="embedded and/or small (default embedded)")
    mo.add_argument("--force", action="store_true", help="fetch again even if present")
    mo.set_defaults(func=cmd_model)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        return cmd_tui(args)
    try:
        return args.func(args)
    except (UsageError, ValueError, ToolMissing, SessionError) as exc:
        err.print(f"[red]error:[/] {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
