"""A `--strategy code` session on the edit path, starting from the best template kernel.

Iteration 0 measures the template kernel (the parameter path's best set from bench/best/ when
it fits this machine, else the template's defaults for it); every later iteration is a code
proposal the Coder writes as SEARCH/REPLACE edits of one region. Prints, per iteration, the
region, how the edit matched, the verdict and GFLOPS, and then: the share of kernels that
build and pass, the share of iterations that reach a kernel at all, the median iteration
time, how many passing edits compiled to the start's instructions (nothing that runs
changed), and whether an edit beat the starting kernel (with its diff).

    .venv/bin/python bench/edit_session.py [--model embedded] [--problem sgemm]
        [--iterations 10] [--minutes 40] [--grammar] [--format blocks|lines] [--keep DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
from pathlib import Path

from roundtable_tui.core import edits
from roundtable_tui.core.events import Event, Kind
from roundtable_tui.core.manager import Manager, RunConfig
from roundtable_tui.core.review import AutoPolicy
from roundtable_tui.core.session import Session
from roundtable_tui.kernels import problems
from roundtable_tui.kernels.checker import Options
from roundtable_tui.llm.factory import open_backend

sys.path.insert(0, str(Path(__file__).parent))
from edit_reliability import best_template_kernel  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", default="embedded")
    ap.add_argument("--problem", default="sgemm", choices=list(problems.PROBLEMS))
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--minutes", type=float, default=None)
    ap.add_argument("--grammar", action="store_true", help="constrain edits with the GBNF")
    ap.add_argument(
        "--format", default="blocks", choices=["blocks", "lines"], help="the edit format"
    )
    ap.add_argument("--keep", type=Path, help="keep the session under this directory")
    args = ap.parse_args()

    problem = problems.get(args.problem)
    start = best_template_kernel(args.problem)
    backend = open_backend(args.model)
    events: list[Event] = []
    root = args.keep or Path(tempfile.mkdtemp(prefix="edit-session-"))
    root.mkdir(parents=True, exist_ok=True)
    session = Session.create(root, {"problem": problem.name, "model": args.model})
    config = RunConfig(
        iterations=args.iterations,
        minutes=args.minutes,
        strategy="code",
        grammar=args.grammar,
        edit_format=args.format,
        start=start,
        start_title="template (parameter path's best)",
        # no OpenBLAS baseline per kernel: the figures are compared with the start's
        check=Options(baselines=False),
    )

    def show(ev: Event) -> None:
        events.append(ev)
        d = ev.data
        if ev.kind is Kind.CHECK_RESULT:
            print(
                f"it {ev.iteration:2} kernel {d.get('number')}: {d.get('verdict'):12} "
                f"{d.get('gflops') or 0:7.1f} GFLOPS  region={d.get('region')}  "
                f"{str(d.get('title', ''))[:50]!r} {str(d.get('reason', ''))[:80]}",
                flush=True,
            )
        elif ev.kind is Kind.ERROR:
            print(f"it {ev.iteration:2} error: {str(d.get('message'))[:150]}", flush=True)
        elif ev.kind is Kind.ITERATION_FINISHED and ev.iteration:
            print(f"it {ev.iteration:2} finished: {d.get('verdict')}", flush=True)

    manager = Manager(session, backend, problem, AutoPolicy(), config, on_event=show)
    reason = manager.run(threading.Event())
    session.close()

    results = [e for e in events if e.kind is Kind.CHECK_RESULT]
    seed = next((e for e in results if e.iteration == 0), None)
    mine = [e for e in results if e.iteration > 0]
    passed = [e for e in mine if e.data.get("verdict") == "passed"]
    starts = {e.iteration: e.ts for e in events if e.kind is Kind.ITERATION_STARTED}
    times = [
        e.ts - starts[e.iteration]
        for e in events
        if e.kind is Kind.ITERATION_FINISHED and e.iteration in starts and e.iteration > 0
    ]
    iterations = len(times)
    with_kernel = len({e.iteration for e in mine})
    print(f"\n{reason}; model {backend.name}; session {session.path}")
    print(
        f"kernels built and checked: {len(mine)}; passed: {len(passed)} "
        f"({len(passed) / len(mine):.0%} of kernels)"
        if mine
        else "no kernel reached the checker"
    )
    same = {
        e.data.get("number")
        for e in events
        if e.kind is Kind.CONFIRMATION and e.data.get("same_code")
    }
    if passed:
        print(
            f"passed with the start's instructions (nothing that runs changed): "
            f"{sum(e.data.get('number') in same for e in passed)} of {len(passed)}"
        )
    print(f"iterations with a kernel: {with_kernel}/{iterations}")
    if times:
        print(
            f"median iteration: {statistics.median(times):.1f} s "
            f"(min {min(times):.1f}, max {max(times):.1f})"
        )
    base = seed.data.get("gflops") if seed else None
    print(f"start: {base or 0:.1f} GFLOPS")
    if passed and base:
        top = max(passed, key=lambda e: e.data.get("gflops") or 0)
        g = top.data.get("gflops") or 0
        print(f"best edit: {g:.1f} GFLOPS ({g / base:.2f}x the start) kernel {top.data['number']}")
        if g > base:
            code = (session.path / "kernels" / f"{top.data['number']:03d}.rs").read_text()
            print(edits.unified_diff(start, code))
    return 0


if __name__ == "__main__":
    sys.exit(main())
