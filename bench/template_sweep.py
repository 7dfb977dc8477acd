"""Checks a template family over parameter sets, side by side with OpenBLAS in each check.

Each set is a JSON object (missing parameters take the template's defaults). Every check is
the full `roundtable check` at the default shape; --repeat runs the list several times
(interleaved, so drift on a shared machine hits every set alike) and reports medians.

    .venv/bin/python bench/template_sweep.py sgemm/blis '{}' '{"parallel":"split","kc":512}'
    .venv/bin/python bench/template_sweep.py binary_gemm/packed '{}' --repeat 3 --asm
    .venv/bin/python bench/template_sweep.py sgemm/blis '{}' --target-cpu x86-64-v3

The defaults are the template's as derived for the machine built for (--target-cpu, by
default this one); with a lesser target the OpenBLAS anchor runs on the same ISA.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

from roundtable_tui.config import settings
from roundtable_tui.kernels import asm, machine, problems, templates
from roundtable_tui.kernels.build import Builder
from roundtable_tui.kernels.checker import Checker, Options


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("family", help="template id, e.g. sgemm/blis")
    ap.add_argument("sets", nargs="*", default=["{}"], help="parameter sets as JSON objects")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--asm", action="store_true", help="also print the FMA/spill analysis")
    ap.add_argument("--target-cpu", default="native", help="build for this CPU (x86-64-v3…)")
    args = ap.parse_args()
    try:
        cfg = machine.with_target(settings(), args.target_cpu)
    except machine.TargetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    here = machine.current(cfg)
    fam = templates.family(args.family, here)
    coretype = machine.openblas_coretype(here)
    anchor = f"OpenBLAS on its {coretype} kernels" if coretype else "OpenBLAS (its own choice)"
    print(f"# {machine.cpu_model()}: {here.summary()}\n# {cfg.rustflags}; anchor: {anchor}")
    print(f"# defaults: {json.dumps(fam.defaults)}")
    problem = problems.PROBLEMS[fam.problem]
    sources: list[tuple[str, str]] = []
    for text in args.sets:
        try:
            sources.append((text, fam.instantiate(json.loads(text))))
        except templates.ParameterError as e:
            print(f"refused {text}: " + "; ".join(e.reasons), file=sys.stderr)
    if args.asm:
        builder = Builder(cfg)
        for text, source in sources:
            for f in asm.kernel_functions(builder.assembly(source, problem))[:3]:
                print(f"{text}  {f.summary()}")
    checker = Checker(cfg)
    runs: dict[str, list[tuple[float, float, float]]] = {t: [] for t, _ in sources}
    for _ in range(args.repeat):
        for text, source in sources:
            r = checker.check(source, fam.problem, Options())
            if not r.passed:
                print(f"{r.verdict} {text}: {r.reason}")
                continue
            row = (r.gflops or 0.0, r.fraction_of_openblas or 0.0, r.fraction_of_peak or 0.0)
            runs[text].append(row)
            print(f"{row[0]:7.1f} GFLOPS {row[1]:5.0%} of OpenBLAS {row[2]:4.0%} of peak  {text}")
    if args.repeat > 1:
        print("\nmedians:")
        for text, rows in runs.items():
            if rows:
                g, o, p = (statistics.median(col) for col in zip(*rows, strict=True))
                print(f"{g:7.1f} GFLOPS {o:5.0%} of OpenBLAS {p:4.0%} of peak  {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
