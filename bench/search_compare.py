"""Model only vs optimizer only vs both: the same parameter-path budget from the template
defaults, each mode run in turn (same machine, same hour), and what each found.

For every run: the session's best as a fraction of OpenBLAS measured in the same checks
(the median of `--final` fresh checks of the best kernel with OpenBLAS interleaved, after
the session), how that best was confirmed, iterations lost (vetoed as repeats or invalid, no
proposal), who proposed each measured set, and the median iteration wall time.

    .venv/bin/python bench/search_compare.py [--problem sgemm] [--iterations 10]
        [--modes optimizer both model] [--repeat 1] [--model embedded] [--confirm-rounds 4]

Sessions are kept in the sessions directory as search-<mode>-<n>-<time> (for `roundtable
report` and `replay`). The machine is shared and loaded: read the figures as ratios within
one run, not as absolute speeds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time

from roundtable_tui.core.events import Event, Kind
from roundtable_tui.core.review import AutoPolicy
from roundtable_tui.core.run import RunSpec, prepare
from roundtable_tui.kernels import problems
from roundtable_tui.kernels.checker import Checker, Options
from roundtable_tui.llm.scripted import ScriptedBackend


def one(args: argparse.Namespace, mode: str, n: int) -> dict:
    events: list[Event] = []
    name = f"search-{mode}-{n}-{time.strftime('%H%M%S')}"
    spec = RunSpec(
        problem=args.problem,
        model=args.model,
        iterations=args.iterations,
        strategy="parameters",
        session=name,
        knowledge=mode != "optimizer" and not args.no_knowledge,
        search=mode,
        confirm_rounds=args.confirm_rounds,
    )
    factory = (lambda _m: ScriptedBackend([])) if mode == "optimizer" else None
    run = prepare(spec, AutoPolicy(), events.append, backend_factory=factory)
    t0 = time.monotonic()
    try:
        reason = run.manager.run(threading.Event())
    finally:
        run.close()
    wall = time.monotonic() - t0
    state = run.manager.state
    starts = {e.iteration: e.ts for e in events if e.kind is Kind.ITERATION_STARTED}
    ends = {e.iteration: e.ts for e in events if e.kind is Kind.ITERATION_FINISHED}
    per_it = [ends[i] - starts[i] for i in ends if i and i in starts]
    outcomes = [
        e.data.get("verdict") for e in events if e.kind is Kind.ITERATION_FINISHED and e.iteration
    ]
    lost = sum(1 for o in outcomes if o in ("vetoed", "no_proposal", "error"))
    by = [e.proposed_by for e in state.entries if e.template]
    best = state.best
    final = []
    checker = Checker()
    for _ in range(args.final):
        r = checker.check(best.code, args.problem, Options())
        if r.passed and r.fraction_of_openblas:
            final.append((r.fraction_of_openblas, r.gflops, r.baselines["openblas"].gflops))
    frac = statistics.median(f for f, _, _ in final) if final else None
    conf = best.confirmation
    return {
        "mode": mode,
        "session": run.session.id,
        "reason": reason,
        "best": best.title,
        "best_parameters": best.parameters,
        "best_confirmed": (f"{conf.outcome} {conf.interval()} ({conf.detail})" if conf else ""),
        "best_of_openblas_final": frac,
        "final_checks": final,
        "lost": lost,
        "outcomes": outcomes,
        "proposed_by": by,
        "iteration_s_median": statistics.median(per_it) if per_it else None,
        "wall_s": wall,
        "tokens": state.tokens,
    }


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--problem", default="sgemm", choices=list(problems.PROBLEMS))
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--modes", nargs="+", default=["optimizer", "both", "model"])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--model", default="embedded")
    ap.add_argument("--confirm-rounds", type=int, default=None)
    ap.add_argument("--final", type=int, default=3, help="checks of each best with OpenBLAS")
    ap.add_argument("--no-knowledge", action="store_true", help="no knowledge base")
    ap.add_argument("--out", default=None, help="append one JSON line per run to this file")
    args = ap.parse_args()
    rows = []
    for n in range(args.repeat):
        for mode in args.modes:
            row = one(args, mode, n)
            rows.append(row)
            print(json.dumps(row), flush=True)
            if args.out:
                with open(args.out, "a") as fh:
                    fh.write(json.dumps(row) + "\n")
    print(
        f"\n| mode | best (confirmed) | of OpenBLAS (median of {args.final}) | lost | "
        "proposed by | iteration s (median) |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        frac = r["best_of_openblas_final"]
        by = {k: r["proposed_by"].count(k) for k in set(r["proposed_by"])}
        print(
            f"| {r['mode']} | {r['best']} — {r['best_confirmed']} | "
            f"{frac:.0%} | {r['lost']} | {by} | {r['iteration_s_median']:.1f} |"
            if frac is not None
            else f"| {r['mode']} | {r['best']} | – | {r['lost']} | {by} | – |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
