"""Where one iteration of the roundtable spends its time, with a real model.

Runs a headless session (auto policy) for a few iterations and splits each iteration's
wall time into prompt processing and generation per agent (with tokens/s), and the Tester's
build, correctness checks, benchmark and baselines.

    .venv/bin/python bench/loop_iteration.py [--model embedded] [--iterations 3] [--problem sgemm]
        [--strategy mixed]
    .venv/bin/python bench/loop_iteration.py --session ID   # split a saved session
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
from pathlib import Path

from roundtable_tui.config import settings
from roundtable_tui.core.events import Event, Kind
from roundtable_tui.core.review import AutoPolicy
from roundtable_tui.core.run import RunSpec, prepare
from roundtable_tui.kernels import problems


def split(events: list[Event]) -> list[dict[str, float]]:
    rows: dict[int, dict[str, float]] = {}
    start: dict[int, float] = {}
    for ev in events:
        it = ev.iteration
        if it == 0:
            continue
        row = rows.setdefault(it, {})
        d = ev.data
        if ev.kind is Kind.ITERATION_STARTED:
            start[it] = ev.ts
        elif ev.kind is Kind.MESSAGE and d.get("completion_tokens"):
            agent = str(ev.agent)
            for key in ("prompt_s", "generate_s", "completion_tokens", "prompt_tokens"):
                row[f"{agent}_{key}"] = row.get(f"{agent}_{key}", 0.0) + float(d.get(key, 0))
        elif ev.kind is Kind.CHECK_RESULT:
            for key in ("build_s", "correctness_s", "benchmark_s", "baselines_s", "total_s"):
                row[f"check_{key}"] = row.get(f"check_{key}", 0.0) + d["timings"].get(key, 0.0)
        elif ev.kind is Kind.ITERATION_FINISHED and it in start:
            row["wall_s"] = ev.ts - start[it]
    return [rows[k] for k in sorted(rows) if "wall_s" in rows[k]]


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", default="embedded")
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--problem", default="sgemm", choices=list(problems.PROBLEMS))
    ap.add_argument("--strategy", default="mixed", choices=["mixed", "parameters", "code"])
    ap.add_argument(
        "--session", help="split a saved session's iterations instead of running new ones"
    )
    args = ap.parse_args()
    if args.session:
        from roundtable_tui.core.session import find, read_events

        events = list(read_events(find(settings().sessions_dir, args.session)))
        report(split(events), f"session {args.session}", args.problem, args.model)
        return 0
    events: list[Event] = []
    with tempfile.TemporaryDirectory() as tmp:
        # the same run setup as `roundtable run --auto`, in a throwaway sessions directory
        cfg = settings().model_copy(update={"sessions_dir": Path(tmp)})
        spec = RunSpec(
            problem=args.problem,
            model=args.model,
            iterations=args.iterations,
            strategy=args.strategy,
            knowledge=False,
        )
        run = prepare(spec, AutoPolicy(), on_event=events.append, cfg=cfg)
        backend = run.backend
        try:
            reason = run.manager.run(threading.Event())
        finally:
            run.close()
    for ev in events:
        if ev.kind is Kind.CHECK_RESULT and ev.iteration:
            d = ev.data
            print(
                f"iteration {ev.iteration}: {d.get('title', '')!r} {d.get('verdict')} "
                f"{d.get('gflops') or 0:.1f} GFLOPS {d.get('parameters', '')}",
                file=sys.stderr,
            )
    report(split(events), f"{reason}; model {backend.name}", args.problem, args.model)
    return 0


def report(rows: list[dict[str, float]], what: str, problem: str, model: str) -> None:
    print(f"{len(rows)} iterations ({what})", file=sys.stderr)
    keys = sorted({k for r in rows for k in r})
    print(f"\n| phase ({problem}, {model}) | median | min | max |")
    print("| --- | --- | --- | --- |")
    for k in keys:
        v = [r.get(k, 0.0) for r in rows]
        print(f"| {k} | {statistics.median(v):.1f} | {min(v):.1f} | {max(v):.1f} |")
    for agent in ("proposer", "coder"):
        toks = sum(r.get(f"{agent}_completion_tokens", 0) for r in rows)
        secs = sum(r.get(f"{agent}_generate_s", 0) for r in rows)
        if secs:
            print(f"\n{agent}: {toks:.0f} tokens generated at {toks / secs:.1f} tokens/s")


if __name__ == "__main__":
    sys.exit(main())
