"""Kernel commands: `check`, `bench`, `problems`, `templates`."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from contextlib import nullcontext
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from roundtable_tui.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    _fmt,
    _settings_from,
    err,
    out,
)
from roundtable_tui.kernels import problems
from roundtable_tui.kernels.verdict import CheckResult, Verdict


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
        if r.flags.get("openblas_coretype"):
            out.print(
                f"  OpenBLAS ran its {r.flags['openblas_coretype']} kernels: the ISA this kernel "
                f"was built for ({escape(r.flags.get('rustflags', ''))})"
            )
    if r.flags.get("unprotected"):
        out.print(f"  [yellow]without the protections[/] {escape(r.flags['unprotected'])}")
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


def cmd_problems(args: argparse.Namespace) -> int:
    for p in problems.PROBLEMS.values():
        out.print(f"[bold]{p.name}[/]  {p.summary}")
        out.print(f"  {p.signature}", markup=False)
        out.print(
            f"  default shape {p.format_shape(p.default_shape)} "
            f"({', '.join(p.dims)}), {p.flops(p.default_shape) / 1e9:.1f} GFLOP\n"
        )
    out.print("[bold]Every problem[/]")
    for rule in problems.CONTRACT_RULES:
        out.print(f"  • {rule}", markup=False)
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

