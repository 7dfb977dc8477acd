"""Where a Strassen-like level pays: the inner packed kernel alone against 1 and 2 levels of
Strassen and of Winograd's variant over it, side by side in one run, at several sgemm sizes.

Every figure is a full `roundtable check` (correctness at every shape, each timed call
verified) at the given size; the variants are interleaved per size and the list is run
--repeat times, so drift on a shared machine hits every variant alike; medians are reported.
GFLOPS are effective (2·m·n·k / time); the scheme's real multiplications are (7/8)^levels of
that, which the checker's `impossible` verdict takes into account. The schemes are verified
here (core.formulation) before they are rendered, and the checker is handed their accounting
from this trusted side.

    .venv/bin/python bench/formulation_sweep.py --sizes 1024 2048 4096 --repeat 2
    .venv/bin/python bench/formulation_sweep.py --inner '{"mr": 6, "nr": 16}' --json out.json

Writes bench/formulation_sweep.json (for `core.formulation.crossover_note`, which the
Proposer's prompt shows) unless --json names another file.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import platform
import statistics
import sys
from pathlib import Path

from roundtable_tui.core.formulation import parse_formulation, strassen, verify, winograd
from roundtable_tui.kernels import schemes, templates
from roundtable_tui.kernels.checker import Checker, Options

ROOT = Path(__file__).resolve().parent.parent


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--inner", default="{}", help="sgemm/blis parameter set (JSON)")
    ap.add_argument("--levels", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--samples", type=int, default=5, help="timed calls per check (at least)")
    ap.add_argument("--json", default=str(ROOT / "bench" / "formulation_sweep.json"))
    args = ap.parse_args()
    inner = json.loads(args.inner)
    blis = templates.family(schemes.INNER)
    derive = getattr(blis, "derive", None)
    inner_set = blis.validate(derive(inner) if derive and inner else inner)
    # no OpenBLAS/naive anchors: the comparison is with the inner kernel, in the same run
    base_opts = Options(baselines=False, min_samples=args.samples, max_samples=args.samples + 5)
    variants: list[tuple[str, int, str, Options]] = [
        ("inner alone (sgemm/blis)", 0, blis.instantiate(inner_set), base_opts)
    ]
    for label, make in (("strassen", strassen), ("winograd", winograd)):
        scheme = parse_formulation(make())
        proof = verify(scheme)
        if not proof.ok:  # the shipped schemes are right; this guards the pipeline
            print(f"{label}: {proof.detail}", file=sys.stderr)
            return 1
        for levels in args.levels:
            acc = schemes.accounting(scheme, levels)
            src = schemes.render(scheme, label, {"levels": levels, "cutoff": 1}, inner_set)
            opts = dataclasses.replace(base_opts)
            for name, value in (
                ("mult_fraction", acc.mult_fraction),
                ("error_growth", acc.error_growth),
            ):
                if hasattr(opts, name):  # the checker's hooks for verified schemes
                    setattr(opts, name, value)
            variants.append((label, levels, src, opts))
    checker = Checker()
    print(f"inner set: {json.dumps(inner_set)}")
    rows = []
    for size in args.sizes:
        shape = {"m": size, "n": size, "k": size}
        figures: dict[tuple[str, int], list[float]] = {(v[0], v[1]): [] for v in variants}
        for _ in range(args.repeat):
            for label, levels, src, opts in variants:
                r = checker.check(src, "sgemm", dataclasses.replace(opts, shape=shape))
                if not r.passed:
                    print(f"{size}³ {label} x{levels}: {r.verdict}: {r.reason}")
                    continue
                figures[(label, levels)].append(r.gflops or 0.0)
                print(
                    f"{size}³ {label:26s} x{levels}: {r.gflops:7.1f} GFLOPS effective, "
                    f"max error {r.max_abs_error:.2e} (bound {r.error_bound:.2e})",
                    flush=True,
                )
        base = statistics.median(figures[variants[0][0], 0] or [0.0])
        for (label, levels), values in figures.items():
            if not values:
                continue
            g = statistics.median(values)
            rows.append(
                {
                    "shape": size,
                    "variant": "inner" if levels == 0 else label,
                    "levels": levels,
                    "gflops": round(g, 2),
                    "ratio": round(g / base, 3) if base else 0.0,
                    "samples": len(values),
                }
            )
    print("\n| size | variant | levels | GFLOPS (effective, median) | vs inner alone |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        print(
            f"| {row['shape']}³ | {row['variant']} | {row['levels']} | {row['gflops']:.1f} "
            f"| {row['ratio']:.2f}x |"
        )
    out = {
        "machine": f"{_cpu()}, {checker.cfg.n_threads} threads",
        "date": datetime.date.today().isoformat(),
        "command": " ".join(sys.argv),
        "inner": inner_set,
        "rows": rows,
    }
    Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
