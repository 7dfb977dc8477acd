"""Recipe wordings side by side: each (part, title, idea) below asked once of the Coder on
the edit path against the problem's template kernel, the edit applied, gated, built and
checked (every correctness case, a short benchmark). The embedded model samples at
temperature 0.2, so one reply per wording says how that wording reads to it.

    .venv/bin/python bench/recipe_wording.py [--problem sgemm] [--model embedded]
        [--recipes [--titles T ...] [--without-examples]] [--repeat N]

`--recipes` asks the recipes as they stand in edits.RECIPES (the Coder's prompt shows a
recipe's example below its idea) instead of the wordings below.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import threading
import time
from pathlib import Path

from roundtable_tui.core import edits
from roundtable_tui.core.prompts import preamble
from roundtable_tui.kernels import machine as machine_info
from roundtable_tui.kernels import problems
from roundtable_tui.kernels.checker import Checker, Options
from roundtable_tui.llm.backend import Message
from roundtable_tui.llm.factory import open_backend

sys.path.insert(0, str(Path(__file__).parent))
from edit_reliability import best_template_kernel, complete  # noqa: E402

WORDINGS = [
    # (function, title, idea): the first of each pair is the wording of 2026-11-30 17:00
    (
        "rank1",
        "hoist the broadcast",
        "read a[i] into a local once per row (let ai = a[i];) "
        "before the loop over j, and use ai in the FMA: one broadcast register per row",
    ),
    (
        "rank1",
        "hoist the broadcast",
        "keep both loops; as the first line inside the loop "
        "over i, write let ai = a[i]; and use ai instead of a[i] in the loop over j",
    ),
    (
        "micro_kernel",
        "two accumulator sets",
        "keep two accumulator tiles, even k steps into "
        "the first and odd ones into the second, and return their sum (two independent FMA "
        "chains per register)",
    ),
    (
        "micro_kernel",
        "two accumulator sets",
        "in the KU == 1 branch, declare let mut acc2 = "
        "[[0.0f32; NR]; MR]; walk the steps in pairs (chunks_exact(2)): rank1(&mut acc, ..) for "
        "the first of a pair, rank1(&mut acc2, ..) for the second, the odd last step into acc; "
        "then add acc2[i][j] into acc[i][j] for every i, j and return acc",
    ),
    (
        "micro_kernel",
        "unroll k by 4",
        "in the KU == 1 branch, walk the panels four k steps "
        "at a time (chunks_exact(4) on a_cols and b_rows) with four rank-1 calls per step, then "
        "the remaining steps one by one",
    ),
    (
        "pack_a",
        "edge panel without a branch",
        "in the else branch (h < MR), keep the loop "
        "over kk and replace the inner loop by two: for i in 0..h copy a[(i0 + i) * lda + kk] "
        "into col[i], then for i in h..MR set col[i] = 0.0",
    ),
]


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", default="embedded")
    ap.add_argument("--problem", default="sgemm", choices=list(problems.PROBLEMS))
    ap.add_argument(
        "--recipes",
        action="store_true",
        help="ask the recipes of edits.RECIPES as they stand (with their examples) instead",
    )
    ap.add_argument("--repeat", type=int, default=1, help="replies asked per wording")
    ap.add_argument("--titles", nargs="*", help="with --recipes: only these recipes")
    ap.add_argument(
        "--without-examples", action="store_true", help="the Coder's prompt without examples"
    )
    args = ap.parse_args()
    if args.without_examples:  # the A/B: the same recipes, their examples left out
        edits.RECIPES = tuple(dataclasses.replace(r, example="") for r in edits.RECIPES)
    problem = problems.get(args.problem)
    source = best_template_kernel(args.problem)
    machine = machine_info.describe()
    backend = open_backend(args.model)
    checker = Checker()
    quick = Options(baselines=False, bench_budget_ms=300, min_samples=3, max_samples=5)
    parts = {r.name.rsplit(".", 1)[-1]: r.name for r in edits.targets(source)}
    wordings = (
        [
            (f, r.title, r.idea)
            for r in edits.RECIPES
            for f in r.functions[:1]
            if not args.titles or r.title in args.titles
        ]
        if args.recipes
        else WORDINGS
    )
    passed = asked = 0
    for function, title, idea in [w for w in wordings for _ in range(args.repeat)]:
        name = next((parts[f] for f in parts if f.startswith(function)), None)
        if name is None:
            continue
        region = edits.find_region(source, name)
        msgs = edits.edit_messages(
            preamble(problem, machine), {"title": title, "idea": idea}, source, region, []
        )
        start = time.monotonic()
        done = complete(
            backend, [Message(r, x) for r, x in msgs], edits.budget(region.text(source)), None
        )
        try:
            applied = edits.apply_edit(source, edits.parse_edit(done.text, name))
            gate = edits.check(source, applied.code, name, problem)
            if not gate["ok"]:
                raise edits.EditError(gate["detail"])
            result = checker.check(applied.code, problem, quick, threading.Event())
            outcome = f"{result.verdict}: {result.reason[:90]} ({result.gflops or 0:.1f} GFLOPS)"
            passed += str(result.verdict) == "passed"
        except edits.EditError as exc:
            outcome = f"{type(exc).__name__}: {str(exc)[:110]}"
        asked += 1
        seconds = time.monotonic() - start
        print(f"{title} | {idea[:60]}… | {seconds:.0f} s, {done.completion_tokens} tokens")
        print(f"    {outcome}", flush=True)
        print("    " + done.text.strip().replace("\n", "\n    "), flush=True)
    print(f"passed: {passed} of {asked} replies")
    return 0


if __name__ == "__main__":
    sys.exit(main())
