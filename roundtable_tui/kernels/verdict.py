"""Verdicts, the statistics of timings, and the result of one check (KERNELS.md)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np


class Verdict(StrEnum):
    PASSED = "passed"
    REJECTED = "rejected"
    BUILD_FAILED = "build_failed"
    WRONG_RESULT = "wrong_result"
    CRASHED = "crashed"
    TIMEOUT = "timeout"
    OUT_OF_MEMORY = "out_of_memory"
    IMPOSSIBLE = "impossible"


VERDICT_HELP = {
    Verdict.PASSED: "did the whole job on every check; its speed figures are trustworthy",
    Verdict.REJECTED: "refused before building (policy: unsafe, banned APIs, signature missing, …)",
    Verdict.BUILD_FAILED: "the compiler refused it",
    Verdict.WRONG_RESULT: "ran, but some output was wrong (or inputs were modified)",
    Verdict.CRASHED: "panicked, aborted, overflowed its stack, exited early, or was killed",
    Verdict.TIMEOUT: "exceeded its CPU or wall-clock limit",
    Verdict.OUT_OF_MEMORY: "exceeded its memory limit",
    Verdict.IMPOSSIBLE: "claimed a speed above what this machine can physically do",
}


@dataclass
class Stats:
    samples: int
    median_s: float
    mad_s: float
    ci95_s: tuple[float, float]
    min_s: float

    @classmethod
    def of(cls, times: list[float], seed: int = 0) -> Stats | None:
        if not times:
            return None
        t = np.asarray(times, dtype=float)
        med = float(np.median(t))
        mad = float(np.median(np.abs(t - med)))
        if len(t) > 1:
            rng = np.random.default_rng(seed)
            boots = np.median(rng.choice(t, size=(2000, len(t)), replace=True), axis=1)
            lo, hi = (float(x) for x in np.percentile(boots, [2.5, 97.5]))
        else:
            lo = hi = med
        return cls(len(t), med, mad, (lo, hi), float(t.min()))


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class Baseline:
    name: str
    gflops: float
    median_s: float
    samples: int


@dataclass
class CheckResult:
    verdict: Verdict
    reason: str
    problem: str
    shape: dict[str, int]
    kernel_sha256: str
    gflops: float | None = None
    median_s: float | None = None
    mad_s: float | None = None
    ci95_s: tuple[float, float] | None = None
    samples: int = 0
    speedup_vs_naive: float | None = None
    fraction_of_openblas: float | None = None
    fraction_of_peak: float | None = None
    peak_gflops: float | None = None
    max_abs_error: float | None = None
    error_bound: float | None = None
    checks: list[Check] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    baselines: dict[str, Baseline] = field(default_factory=dict)
    gate: dict = field(default_factory=dict)
    compiler_output: str = ""
    kernel_output: str = ""
    flags: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.PASSED

    def to_dict(self) -> dict:
        d = asdict(self)
        d["verdict"] = str(self.verdict)
        return _finite(d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=False)


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: those become null."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
