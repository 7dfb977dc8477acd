"""How long `roundtable check` takes for a typical kernel, after the first build.

Each round checks a *new* kernel (a rayon sgemm with a unique comment, so it is rebuilt
like every kernel the loop writes) at the default shape with the default options: static
gate, build, all correctness checks, the benchmark with OpenBLAS interleaved, naive, peak.

    .venv/bin/python bench/check_latency.py [--rounds 7] [--problem sgemm]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from roundtable_tui.kernels import problems
from roundtable_tui.kernels.checker import Checker, Options

ROOT = Path(__file__).resolve().parent.parent
TYPICAL = {
    "sgemm": ROOT / "tests/kernels/sgemm/rayon_rows.rs",
    "matmul_forward": ROOT / "tests/kernels/matmul_forward/rayon_blocked.rs",
    "matmul_backward": ROOT / "tests/kernels/matmul_backward/rayon.rs",
    "binary_gemm": ROOT / "tests/kernels/binary_gemm/rayon.rs",
}


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--problem", default="sgemm", choices=list(problems.PROBLEMS))
    args = ap.parse_args()
    source = TYPICAL[args.problem].read_text()
    checker = Checker()
    checker.check(source + "\n// warm-up\n", args.problem, Options())  # the first build
    phases: dict[str, list[float]] = {}
    for n in range(args.rounds):
        t = time.monotonic()
        r = checker.check(source + f"\n// round {n} {time.time()}\n", args.problem, Options())
        wall = time.monotonic() - t
        if not r.passed:
            print(f"round {n}: {r.verdict} {r.reason}", file=sys.stderr)
            return 1
        for k, v in {**r.timings, "wall_s": wall}.items():
            phases.setdefault(k, []).append(v)
        print(
            f"round {n}: {wall:.2f} s ({r.gflops:.1f} GFLOPS, "
            f"{r.fraction_of_openblas or 0:.0%} of OpenBLAS)",
            file=sys.stderr,
        )
    order = [
        "static_s",
        "build_s",
        "correctness_s",
        "benchmark_s",
        "baselines_s",
        "peak_s",
        "run_s",
        "total_s",
        "wall_s",
    ]
    print(f"\n| phase ({args.problem}, {args.rounds} new kernels) | median s | min s | max s |")
    print("| --- | --- | --- | --- |")
    for k in order:
        if k in phases:
            v = phases[k]
            med, lo, hi = statistics.median(v), min(v), max(v)
            print(f"| {k.removesuffix('_s')} | {med:.2f} | {lo:.2f} | {hi:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
