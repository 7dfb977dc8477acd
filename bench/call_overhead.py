"""What parent-owned timing costs per call: the stop/continue and pipe exchange around a call.

For each problem, one check of a typical kernel at the default shape (default options); the
checker times nine empty exchanges (`noop N` → `done N`, no kernel call) in the kernel's own
process and records their median as `timings.call_overhead_s`. Printed next to the median
timed call it is added to (the overhead is never subtracted: a kernel could inflate it).

    .venv/bin/python bench/call_overhead.py [--problem sgemm ...]
"""

from __future__ import annotations

import argparse
import sys
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
    ap.add_argument("--problem", nargs="*", default=list(TYPICAL), choices=list(problems.PROBLEMS))
    args = ap.parse_args()
    checker = Checker()
    print("| problem (shape) | kernel | median call | per-call overhead | overhead / call |")
    print("| --- | --- | --- | --- | --- |")
    for name in args.problem:
        problem = problems.get(name)
        r = checker.check(TYPICAL[name].read_text(), problem, Options(baselines=False))
        if not r.passed or not r.median_s:
            print(f"{name}: {r.verdict} {r.reason}", file=sys.stderr)
            return 1
        over = r.timings["call_overhead_s"]
        print(
            f"| {name} ({problem.format_shape(r.shape)}) | {TYPICAL[name].name} | "
            f"{r.median_s * 1e3:.2f} ms | {over * 1e6:.0f} µs | {over / r.median_s:.3%} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
