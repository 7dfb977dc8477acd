"""Shared pieces of the scripted-model tests: replies in the recorded format, small checks."""

from __future__ import annotations

import json

from roundtable_tui.config import settings
from roundtable_tui.kernels import problems
from roundtable_tui.kernels.checker import Options

SGEMM = problems.get("sgemm")
NAIVE = problems.naive_kernel_path(SGEMM, settings().rust_workspace).read_text()
SMALL = Options(
    shape={"m": 64, "n": 48, "k": 40},
    baselines=False,
    bench_budget_ms=30,
    min_samples=2,
    max_samples=2,
)
"""All correctness cases, a small benchmark shape, two timed calls, no baselines."""


def proposal(title: str = "Use rayon over rows", kind: str = "code", **extra) -> dict:
    """A Proposer reply as the model writes it (JSON)."""
    return {
        "tag": "proposer",
        "text": json.dumps(
            {
                "title": title,
                "kind": kind,
                "idea": f"{title}: split the rows over threads",
                "rationale": "two cores",
                **extra,
            }
        ),
    }


def fenced(code: str) -> str:
    return f"Here is the kernel:\n```rust\n{code}```\n"
