"""Confirmation of a best beyond noise: a candidate kernel and the current best, timed in
alternation under the same conditions, and a bootstrap confidence interval of their speed
ratio.

One check's figure moves by ±15% with the machine's load, so a session ranked by single
checks keeps its luckiest measurement as "best". Here both kernels go through the public
checker (`Checker.check`: same shape, same input seed per round, no baselines, a short
benchmark) in ABBA order (candidate, best, best, candidate, …), so a drift in load touches
both alike. Each round gives one paired ratio best_time / candidate_time (above 1: the
candidate is faster); the estimate is their geometric mean and the interval a percentile
bootstrap of the mean log ratio (`scipy.stats.bootstrap`).

The outcome is "faster" only when the whole 95% interval is above 1, "slower" when it is
below 1, otherwise "within noise"; "failed" when either kernel did not pass a round. The
rounds stop early once "faster" is out of reach (`cannot_be_faster`): most candidates are
not faster, and their rounds were half of a search iteration's time.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from scipy import stats

from roundtable_tui.kernels.checker import Checker, Options
from roundtable_tui.kernels.problems import Problem, Shape

ROUNDS = 4
"""Alternations by default: up to four paired ratios from eight short checks (~15 s on a
quiet 2-core host; ~7 s when two rounds rule "faster" out, `cannot_be_faster`)."""
CONFIDENCE = 0.95
WORTH_MARGIN = 0.10
"""A candidate is confirmed when its single check is within this fraction of the best's (or
above it): a clearly slower one is not worth the rounds."""


class Outcome(StrEnum):
    FASTER = "faster"
    WITHIN_NOISE = "within noise"
    SLOWER = "slower"
    FAILED = "failed"


@dataclass(frozen=True)
class Confirmation:
    """The result of one interleaved comparison (ratios: candidate speed / best speed)."""

    outcome: Outcome
    ratio: float | None
    low: float | None
    high: float | None
    rounds: int
    candidate_gflops: float | None = None
    """Median over the rounds."""
    best_gflops: float | None = None
    candidate_fraction: float | None = None
    """Median over the rounds of the candidate's fraction of OpenBLAS (timed in each round's
    checks); None without OpenBLAS."""
    best_fraction: float | None = None
    """The same for the best: its confirmed figure, steadier than its first check's."""
    detail: str = ""
    seconds: float = 0.0
    ratios: list[float] = field(default_factory=list)
    """The per-round ratios."""

    @property
    def faster(self) -> bool:
        return self.outcome is Outcome.FASTER

    def interval(self) -> str:
        """`1.12x [1.05, 1.19]`, or '' without one."""
        if self.ratio is None:
            return ""
        if self.low is None or self.high is None:
            return f"{self.ratio:.2f}x"
        return f"{self.ratio:.2f}x [{self.low:.2f}, {self.high:.2f}]"

    def describe(self) -> str:
        head = f"{self.outcome}"
        if self.ratio is not None:
            head += f": {self.interval()} of the best's speed over {self.rounds} rounds"
        return head + (f" ({self.detail})" if self.detail else "")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["outcome"] = str(self.outcome)
        d["interval"] = self.interval()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Confirmation:
        return cls(
            outcome=Outcome(d.get("outcome", "failed")),
            ratio=d.get("ratio"),
            low=d.get("low"),
            high=d.get("high"),
            rounds=int(d.get("rounds", 0)),
            candidate_gflops=d.get("candidate_gflops"),
            best_gflops=d.get("best_gflops"),
            candidate_fraction=d.get("candidate_fraction"),
            best_fraction=d.get("best_fraction"),
            detail=str(d.get("detail", "")),
            seconds=float(d.get("seconds", 0.0)),
            ratios=list(d.get("ratios") or []),
        )


def worth_confirming(candidate: float | None, best: float | None) -> bool:
    """Whether a candidate's single-check score (fraction of OpenBLAS, or GFLOPS; the same
    kind for both) comes close enough to the best's to spend a confirmation on it."""
    if candidate is None:
        return False
    if best is None:
        return True
    return candidate >= best * (1.0 - WORTH_MARGIN)


def ratio_interval(
    ratios: list[float], confidence: float = CONFIDENCE, seed: int = 0
) -> tuple[float, float | None, float | None]:
    """The geometric mean of paired speed ratios and a percentile-bootstrap interval of it
    (None, None with fewer than two ratios or when all are equal)."""
    logs = np.log(np.asarray(ratios, dtype=float))
    estimate = float(np.exp(logs.mean()))
    if len(logs) < 2 or np.ptp(logs) == 0.0:
        return estimate, None, None
    res = stats.bootstrap(
        (logs,),
        np.mean,
        confidence_level=confidence,
        n_resamples=4000,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    ci = res.confidence_interval
    return estimate, float(np.exp(ci.low)), float(np.exp(ci.high))


def cannot_be_faster(ratios: list[float], rounds: int, confidence: float = CONFIDENCE) -> bool:
    """Whether `ratios` (the first rounds of `rounds`) already rule out "faster", whatever the
    remaining rounds give: a bootstrap resample drawn only from the k ratios at or below 1
    has a mean log ratio at or below 0, and such resamples are a share (k/rounds)^rounds of
    all; once that share reaches 1 - `confidence` (twice the interval's lower tail, a margin
    for the Monte Carlo), the interval's lower end cannot lie above 1. With 4 rounds: two
    rounds in which the candidate was not faster."""
    k = sum(1 for r in ratios if r <= 1.0)
    return k > 0 and (k / rounds) ** rounds >= 1.0 - confidence


def _median(values: list[float]) -> float | None:
    return float(np.median(values)) if values else None


def decide(ratios: list[float], seed: int = 0) -> tuple[Outcome, float, float | None, float | None]:
    """The outcome of a comparison from its paired ratios (candidate speed / best speed)."""
    estimate, low, high = ratio_interval(ratios, seed=seed)
    if low is not None and low > 1.0:
        return Outcome.FASTER, estimate, low, high
    if high is not None and high < 1.0:
        return Outcome.SLOWER, estimate, low, high
    return Outcome.WITHIN_NOISE, estimate, low, high


def confirm(
    checker: Checker,
    problem: Problem,
    candidate: str,
    best: str,
    rounds: int = ROUNDS,
    allow_unsafe: bool = False,
    cancel: threading.Event | None = None,
    progress: Callable[[str], None] | None = None,
    bench_budget_ms: float = 400.0,
    seed: int | None = None,
    shape: Shape | None = None,
    anchor: bool = True,
) -> Confirmation:
    """Times `candidate` against `best` (kernel sources) in `rounds` ABBA alternations.

    Each round checks both kernels on the same fresh inputs (one seed per round, drawn from
    `seed` or at random) at `shape` (the problem's benchmark shape by default); builds are
    cached by the checker, so only the first round compiles. The rounds skip the correctness
    cases (both kernels passed whole checks; every timed call is still verified). With
    `anchor`, the first check of every round also times OpenBLAS (in its own trusted
    process), and both kernels' GFLOPS in that round are taken as fractions of it: a median
    fraction of OpenBLAS each over the rounds. Raises `sandbox.Cancelled` when `cancel` is
    set."""
    say = progress or (lambda _text: None)
    t0 = time.monotonic()
    master = np.random.default_rng(seed if seed is not None else secrets.randbits(63))
    ratios: list[float] = []
    times: dict[str, list[float]] = {"candidate": [], "best": []}
    fractions: dict[str, list[float]] = {"candidate": [], "best": []}
    sources = {"candidate": candidate, "best": best}
    for r in range(rounds):
        seed_r = int(master.integers(2**62))
        order = ("candidate", "best") if r % 4 in (0, 3) else ("best", "candidate")
        got: dict[str, float] = {}
        blas: float | None = None  # the round's OpenBLAS GFLOPS, timed beside its first check
        for who in order:
            say(f"confirmation round {r + 1}/{rounds}: {who}")
            opts = Options(
                shape=shape,
                allow_unsafe=allow_unsafe,
                baselines=False,
                anchor=anchor and blas is None,
                bench_budget_ms=bench_budget_ms,
                min_samples=3,
                max_samples=10,
                seed=seed_r,
                cases=False,  # both passed whole checks; the timed calls are still verified
            )
            result = checker.check(sources[who], problem, opts, cancel)
            if not result.passed or not result.median_s:
                return Confirmation(
                    Outcome.FAILED,
                    None,
                    None,
                    None,
                    r,
                    detail=f"the {who} kernel did not pass round {r + 1}: "
                    f"{result.verdict} ({result.reason[:160]})",
                    seconds=time.monotonic() - t0,
                    ratios=ratios,
                )
            got[who] = result.median_s
            if "openblas" in result.baselines:
                blas = result.baselines["openblas"].gflops
            if blas and result.gflops:
                fractions[who].append(result.gflops / blas)
        times["candidate"].append(got["candidate"])
        times["best"].append(got["best"])
        ratios.append(got["best"] / got["candidate"])
        if r + 1 < rounds and cannot_be_faster(ratios, rounds):
            break  # the rounds left could not make it the best: they would only cost time
    outcome, estimate, low, high = decide(ratios, seed=int(master.integers(2**31)))
    detail = ""
    if len(ratios) < rounds:
        slow = sum(1 for r in ratios if r <= 1.0)
        detail = (
            f"stopped after {len(ratios)} of {rounds} rounds: not faster in {slow}, so no "
            "later round could confirm it faster"
        )
    flops = problem.flops(shape or problem.shape())
    return Confirmation(
        outcome,
        estimate,
        low,
        high,
        len(ratios),
        candidate_gflops=flops / float(np.median(times["candidate"])) / 1e9,
        best_gflops=flops / float(np.median(times["best"])) / 1e9,
        candidate_fraction=_median(fractions["candidate"]),
        best_fraction=_median(fractions["best"]),
        detail=detail,
        seconds=time.monotonic() - t0,
        ratios=ratios,
    )
