"""Tokens per second of a JSON reply under a grammar: llama-cpp-python's grammar-first
sampling against the embedded backend's grammar-checked sampling, alternated.

    .venv/bin/python bench/grammar_sampling.py [--model embedded] [--rounds 2] [--asks 4]
"""

from __future__ import annotations

import argparse
import statistics
import sys

from roundtable_tui.llm import llama_cpp, models
from roundtable_tui.llm.backend import Message

SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "reason": {"type": "string"},
        "mr": {"type": "integer"},
        "nr": {"type": "integer"},
        "kc": {"type": "integer"},
        "loop_order": {"enum": ["ir_jr", "jr_ir"]},
    },
    "required": ["title", "reason", "mr", "nr", "kc", "loop_order"],
}
ASK = [
    Message("system", "You tune a BLIS-style sgemm kernel. Reply with JSON only."),
    Message(
        "user",
        "Propose a new parameter set (mr, nr, kc, loop_order) for an AVX2 machine with 16 ymm "
        "registers and a 32 KiB L1. Give a short title and reason.",
    ),
]


def rate(checked: bool, model: str, asks: int) -> float:
    """The median tokens/s of `asks` replies from a freshly loaded backend."""
    hook = llama_cpp.check_grammar_per_token
    if not checked:
        llama_cpp.check_grammar_per_token = lambda llm: None  # llama-cpp-python's own sampling
    try:
        backend = llama_cpp.LlamaCppBackend(models.model_path(model), n_ctx=4096)
    finally:
        llama_cpp.check_grammar_per_token = hook
    rates = []
    for _ in range(asks):
        r = backend.complete(ASK, max_tokens=200, temperature=0.7, json_schema=SCHEMA)
        rates.append(r.completion_tokens / max(r.generate_s, 1e-9))
    return statistics.median(rates)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", default="embedded")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--asks", type=int, default=4)
    args = ap.parse_args()
    for n in range(args.rounds):
        for checked in (False, True):
            name = "grammar-checked" if checked else "grammar-first"
            print(f"round {n + 1} {name}: {rate(checked, args.model, args.asks):.1f} tokens/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
