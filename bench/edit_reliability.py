"""How reliably a model writes edits to the best kernel: free text against a llama.cpp grammar.

For the recipes the Proposer is offered (`edits.RECIPES`) and a few requests of earlier runs
on a problem's template kernel (its best parameter set
from bench/best/, with its region markers), each on one region or one function's body inside
a region (`edits.parts`), asks the model for an edit once per mode, side by side in one
run (free: the part's new text or SEARCH/REPLACE blocks, as the Coder asks; grammar: blocks
constrained by `edits.GRAMMAR`; lines: `REPLACE a-b` … `END` blocks against the part's
numbered lines, constrained by `edits.LINES_GRAMMAR`), and counts how many replies parse,
apply inside the region, pass the static gate, and (with --check) build and pass
`roundtable check` (all correctness cases, a short benchmark). Prints one row per reply and
a summary.

    .venv/bin/python bench/edit_reliability.py [--model embedded] [--problem sgemm] [--check]
        [--modes free,grammar,lines] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

from roundtable_tui.config import PROJECT_ROOT
from roundtable_tui.core import edits
from roundtable_tui.core.prompts import preamble
from roundtable_tui.kernels import machine as machine_info
from roundtable_tui.kernels import problems, templates
from roundtable_tui.kernels.checker import Checker, Options
from roundtable_tui.llm.backend import Completion, Message
from roundtable_tui.llm.factory import open_backend

HAND_WRITTEN = {
    "sgemm": [
        (
            "packing.pack_a",
            "pack A row by row",
            "in pack_a, walk each row of A with chunks_exact over kc instead of indexing",
        ),
        (
            "micro_kernel.rank1",
            "B rows as arrays",
            "load each B row into a local [f32; NR] array before the MR broadcasts",
        ),
    ],
}
"""Requests beyond the recipes the Proposer is offered (`edits.RECIPES`), from earlier runs."""


def requests_for(problem: str, source: str) -> list[tuple[str, str, str]]:
    """(part, title, idea) of every recipe that fits `source` (as the Proposer is offered
    them), then the problem's HAND_WRITTEN requests."""
    offered = [(part, r.title, r.idea) for part, r in edits.recipes(source, [], len(edits.RECIPES))]
    return offered + HAND_WRITTEN.get(problem, [])


def best_template_kernel(problem: str) -> str:
    """The problem's template with the parameters of bench/best/<problem>.rs (its first
    line names them), so the kernel has its region markers; the template's defaults for
    this machine when that set does not fit it."""
    family = templates.families(problem)[0]
    best = PROJECT_ROOT / "bench" / "best" / f"{problem}.rs"
    values: dict[str, object] = {}
    if best.exists():
        head = best.read_text().splitlines()[0]
        for key, value in re.findall(r"(\w+)=([\w.]+)", head.split(":", 1)[-1]):
            values[key] = int(value) if value.isdigit() else value
    try:
        return family.instantiate(values)
    except templates.ParameterError as exc:  # measured on another machine: its defaults here
        print(
            f"bench/best/{problem}.rs does not fit this machine ({exc}); defaults", file=sys.stderr
        )
        return family.instantiate({})


def complete(
    backend, messages: list[Message], max_tokens: int, grammar: str | None
) -> Completion:
    """One reply; with `grammar` (GBNF), constrained by it (embedded backend only)."""
    if not grammar:
        return backend.complete(messages, max_tokens=max_tokens, temperature=0.2, tag="coder")
    from llama_cpp import LlamaGrammar

    llm = backend.llm  # the embedded backend's llama_cpp.Llama
    start = time.monotonic()
    out = llm.create_chat_completion(
        messages=[{"role": m.role, "content": m.content} for m in messages],
        max_tokens=max_tokens,
        temperature=0.2,
        grammar=LlamaGrammar.from_string(grammar, verbose=False),
    )
    usage = out["usage"]
    return Completion(
        text=out["choices"][0]["message"]["content"] or "",
        prompt_tokens=usage["prompt_tokens"],
        completion_tokens=usage["completion_tokens"],
        generate_s=time.monotonic() - start,
        finish_reason=out["choices"][0]["finish_reason"] or "",
    )


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", default="embedded")
    ap.add_argument("--problem", default="sgemm", choices=list(problems.PROBLEMS))
    ap.add_argument("--modes", default="free,grammar")
    ap.add_argument("--check", action="store_true", help="build and check the edits that apply")
    ap.add_argument(
        "--max-tokens", type=int, default=0, help="per reply (default: as the Coder, edits.budget)"
    )
    ap.add_argument("--json", type=Path)
    ap.add_argument("--limit", type=int, default=0, help="only the first N requests")
    ap.add_argument("--threads", type=int, default=0, help="llama.cpp threads (embedded)")
    args = ap.parse_args()

    problem = problems.get(args.problem)
    source = best_template_kernel(args.problem)
    machine = machine_info.describe()
    if args.threads and not args.model.startswith(("openai:", "scripted:")):
        from roundtable_tui.llm import models
        from roundtable_tui.llm.llama_cpp import LlamaCppBackend

        backend: Any = LlamaCppBackend(models.resolve(args.model), n_threads=args.threads)
    else:
        backend = open_backend(args.model)
    checker = Checker()
    # every correctness case, then a short benchmark at the default shape (no baselines)
    quick = Options(baselines=False, bench_budget_ms=300, min_samples=3, max_samples=5)
    rows = []
    requests = requests_for(args.problem, source)[: args.limit or None]
    for region_name, title, idea in requests:
        region = edits.find_region(source, region_name)
        for mode in args.modes.split(","):
            fmt = "lines" if mode == "lines" else "blocks"
            msgs = edits.edit_messages(
                preamble(problem, machine), {"title": title, "idea": idea}, source, region, [], fmt
            )
            messages = [Message(role, text) for role, text in msgs]
            grammar = {"grammar": edits.GRAMMAR, "lines": edits.LINES_GRAMMAR}.get(mode)
            start = time.monotonic()
            limit = args.max_tokens or edits.budget(region.text(source), fmt)
            done = complete(backend, messages, limit, grammar)
            row = {
                "region": region_name,
                "title": title,
                "mode": mode,
                "seconds": round(time.monotonic() - start, 1),
                "prompt_tokens": done.prompt_tokens,
                "completion_tokens": done.completion_tokens,
                "finish": done.finish_reason,
                "stage": "parse",
                "detail": "",
            }
            try:
                edit = edits.parse_edit(done.text, region_name)
                row["stage"] = "apply"
                applied = edits.apply_edit(source, edit)
                row["matches"] = applied.matches
                row["stage"] = "gate"
                verdict = edits.check(source, applied.code, region_name, problem)
                if not verdict["ok"]:
                    raise edits.EditError(verdict["detail"])
                row["stage"] = "applied"
                if args.check:
                    result = checker.check(applied.code, problem, quick, threading.Event())
                    row["verdict"] = str(result.verdict)
                    row["stage"] = "passed" if str(result.verdict) == "passed" else "check"
                    row["detail"] = result.reason[:160]
                    row["gflops"] = result.gflops
            except edits.EditError as exc:
                row["detail"] = str(exc)[:160]
            row["reply"] = done.text
            rows.append(row)
            print(
                f"{mode:8} {region_name:26} {title[:28]:28} {row['seconds']:6.1f}s "
                f"{row['completion_tokens']:4}tok  {row['stage']:8} {row['detail'][:90]}",
                flush=True,
            )
    print()
    for mode in args.modes.split(","):
        mine = [r for r in rows if r["mode"] == mode]
        ok = [r for r in mine if r["stage"] in ("applied", "passed", "check")]
        passed = [r for r in mine if r["stage"] == "passed"]
        print(
            f"{mode}: {len(ok)}/{len(mine)} apply and pass the gate"
            + (f", {len(passed)}/{len(mine)} build and pass" if args.check else "")
            + f"; median {statistics.median(r['seconds'] for r in mine):.1f} s, "
            f"median {statistics.median(r['completion_tokens'] for r in mine):.0f} tokens"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
