"""`roundtable bench`: naive, rayon and OpenBLAS GFLOPS and the machine's peak, per problem."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from roundtable_tui.config import Settings, settings
from roundtable_tui.kernels import machine, problems
from roundtable_tui.kernels.build import Builder
from roundtable_tui.kernels.checker import parse_report
from roundtable_tui.kernels.problems import Problem, Shape
from roundtable_tui.kernels.sandbox import Limits, run_jailed, scrubbed_env
from roundtable_tui.kernels.verdict import Stats

BASELINES = ("naive", "rayon", "openblas")


@dataclass
class BenchRow:
    problem: str
    shape: dict[str, int]
    gflop: float
    gflops: dict[str, float | None] = field(default_factory=dict)
    median_s: dict[str, float | None] = field(default_factory=dict)
    samples: dict[str, int] = field(default_factory=dict)
    peak_gflops_1: float | None = None
    peak_gflops_all: float | None = None
    threads: int = 1
    error: str = ""


def bench(
    problem: Problem,
    shape: Shape | None = None,
    cfg: Settings | None = None,
    cancel: threading.Event | None = None,
    progress: Callable[[str], None] | None = None,
) -> BenchRow:
    cfg = cfg or settings()
    shape = shape or problem.shape()
    builder = Builder(cfg)
    seed_kernel = problems.naive_kernel_path(problem, cfg.rust_workspace).read_text()
    if progress:
        progress("build")
    built = builder.build(seed_kernel, problem, cancel=cancel)
    dims = ",".join(map(str, problem.dims_of(shape)))
    nonce = secrets.token_hex(16)
    seed = secrets.randbits(63)
    lines = [f"nonce {nonce}"]
    for name, maxn in (("naive", 3), ("rayon", 10), ("openblas", 20)):
        lines.append(f"phase {name}")
        lines.append(f"baseline name={name} dims={dims} seed={seed} max={maxn} budget_ms=1500")
    lines.append("phase peak")
    lines += ["peak threads=1 budget_ms=100", f"peak threads={cfg.n_threads} budget_ms=100"]
    limits = Limits(wall_s=max(cfg.timeout_s, 300.0), memory_bytes=cfg.memory_limit_mb << 20)

    def on_line(line: str) -> None:
        if progress and line.startswith("phase "):
            progress(line.split()[1])

    out = run_jailed(
        [str(built.binary)],
        "\n".join(lines) + "\n",
        nonce,
        limits,
        scrubbed_env(cfg.n_threads),
        cancel,
        on_line,
    )
    rep = parse_report(out)
    row = BenchRow(problem.name, shape, problem.flops(shape) / 1e9, threads=cfg.n_threads)
    for name in BASELINES:
        st = Stats.of(rep.samples.get(name, []))
        row.gflops[name] = problem.flops(shape) / st.median_s / 1e9 if st else None
        row.median_s[name] = st.median_s if st else None
        row.samples[name] = st.samples if st else 0
    row.peak_gflops_1 = machine.best_peak(1, rep.peaks.get(1))
    row.peak_gflops_all = machine.best_peak(cfg.n_threads, rep.peaks.get(cfg.n_threads))
    if rep.failure or not rep.done:
        row.error = rep.failure[1] if rep.failure else f"harness stopped early ({out.returncode})"
    return row
