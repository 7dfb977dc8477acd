"""`roundtable bench`: naive, rayon and OpenBLAS GFLOPS and the machine's peak, per problem."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field

from roundtable_tui.config import Settings, settings
from roundtable_tui.kernels import machine
from roundtable_tui.kernels.checker import Checker
from roundtable_tui.kernels.problems import Problem, Shape
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
) -> BenchRow:
    cfg = cfg or settings()
    shape = shape or problem.shape()
    dims = ",".join(map(str, problem.dims_of(shape)))
    seed = secrets.randbits(63)
    orders = [
        f"baseline name={name} dims={dims} seed={seed} max={n} budget_ms=1500"
        for name, n in (("naive", 3), ("rayon", 10), ("openblas", 20))
    ]
    orders += ["peak threads=1 budget_ms=100", f"peak threads={cfg.n_threads} budget_ms=100"]
    row = BenchRow(problem.name, shape, problem.flops(shape) / 1e9, threads=cfg.n_threads)
    try:
        rep = Checker(cfg).run_trusted(problem, orders, cancel)
    except RuntimeError as exc:
        row.error = str(exc)
        return row
    for name in BASELINES:
        st = Stats.of(rep.samples.get(name, []))
        row.gflops[name] = problem.flops(shape) / st.median_s / 1e9 if st else None
        row.median_s[name] = st.median_s if st else None
        row.samples[name] = st.samples if st else 0
    # this run's measurement (the cache keeps the best ever seen, for `impossible`)
    row.peak_gflops_1 = rep.peaks.get(1)
    row.peak_gflops_all = rep.peaks.get(cfg.n_threads)
    machine.best_peak(1, row.peak_gflops_1)
    machine.best_peak(cfg.n_threads, row.peak_gflops_all)
    return row
