"""Confirmation of bests: paired ABBA rounds on the same inputs, a bootstrap interval of the
speed ratio, "faster" only when the interval excludes 1, and a real two-kernel comparison
through the checker."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from roundtable_tui.kernels import problems, templates
from roundtable_tui.kernels.confirm import (
    Confirmation,
    Outcome,
    cannot_be_faster,
    confirm,
    decide,
    ratio_interval,
    worth_confirming,
)

SGEMM = problems.get("sgemm")


class FakeChecker:
    """Answers each check with a time from a per-kernel list; records the calls."""

    def __init__(self, times: dict[str, list[float]], fail: str | None = None):
        self.times = {k: list(v) for k, v in times.items()}
        self.calls: list[tuple[str, int | None]] = []
        self.anchored: list[bool] = []
        self.fail = fail

    def check(self, source, problem, options, cancel=None):
        self.calls.append((source, options.seed))
        self.anchored.append(options.anchor)
        assert options.baselines is False
        assert options.cases is False  # both kernels passed whole checks already
        if source == self.fail:
            return SimpleNamespace(passed=False, median_s=None, verdict="crashed", reason="boom")
        median = self.times[source].pop(0)
        # OpenBLAS takes 1.2 s in every round (timed beside the kernel when anchored)
        flops = SGEMM.flops(SGEMM.shape())
        blas = {"openblas": SimpleNamespace(gflops=flops / 1.2 / 1e9)} if options.anchor else {}
        return SimpleNamespace(
            passed=True,
            median_s=median,
            gflops=flops / median / 1e9,
            verdict="passed",
            reason="",
            baselines=blas,
        )


def test_a_clear_speed_up_is_faster_with_an_interval_above_one():
    outcome, est, low, high = decide([1.30, 1.25, 1.35, 1.28, 1.32])
    assert outcome is Outcome.FASTER
    assert 1.0 < low <= est <= high
    assert est == pytest.approx(1.30, abs=0.02)


def test_a_lucky_single_figure_is_within_noise():
    outcome, est, low, high = decide([1.15, 0.92, 1.05, 0.97, 1.10])
    assert outcome is Outcome.WITHIN_NOISE
    assert low < 1.0 < high


def test_a_clear_slow_down_is_slower():
    assert decide([0.8, 0.82, 0.79, 0.81])[0] is Outcome.SLOWER


def test_one_round_or_equal_ratios_give_no_interval():
    assert ratio_interval([1.2]) == (pytest.approx(1.2), None, None)
    assert decide([1.1, 1.1, 1.1])[0] is Outcome.WITHIN_NOISE


def test_rounds_alternate_abba_on_the_same_inputs_per_round():
    fake = FakeChecker({"cand": [1.0, 1.0, 1.0, 1.0], "best": [1.3, 1.31, 1.29, 1.3]})
    got = confirm(fake, SGEMM, "cand", "best", rounds=4, seed=5)
    order = [who for who, _ in fake.calls]
    assert order == ["cand", "best", "best", "cand", "best", "cand", "cand", "best"]
    seeds = [seed for _, seed in fake.calls]
    assert all(seeds[2 * r] == seeds[2 * r + 1] for r in range(4))
    assert len(set(seeds)) == 4
    assert got.outcome is Outcome.FASTER and got.rounds == 4
    assert got.ratios == pytest.approx([1.3, 1.31, 1.29, 1.3])
    assert got.candidate_gflops > got.best_gflops
    assert got.interval().startswith("1.30x [")
    # OpenBLAS once a round, beside its first check: both kernels get a median fraction of
    # it (confirmed figures)
    assert fake.anchored == [True, False] * 4
    assert got.candidate_fraction == pytest.approx(1.2)
    assert got.best_fraction == pytest.approx(1.2 / 1.3, rel=0.01)
    assert Confirmation.from_dict(got.to_dict()).best_fraction == got.best_fraction


def test_a_kernel_failing_a_round_fails_the_confirmation():
    fake = FakeChecker({"cand": [1.0] * 4, "best": [1.0] * 4}, fail="cand")
    got = confirm(fake, SGEMM, "cand", "best", rounds=4)
    assert got.outcome is Outcome.FAILED and not got.faster
    assert "candidate kernel did not pass round 1" in got.detail


def test_confirmation_round_trips_through_an_event_dict():
    fake = FakeChecker({"cand": [1.0, 1.1, 0.9], "best": [1.0, 1.0, 1.0]})
    got = confirm(fake, SGEMM, "cand", "best", rounds=3, seed=1)
    again = Confirmation.from_dict(got.to_dict())
    assert again == got
    assert got.to_dict()["outcome"] == "within noise"


def test_rounds_stop_once_faster_is_out_of_reach():
    # the candidate is slower in the first two of four rounds: two rounds are enough
    fake = FakeChecker({"cand": [1.1, 1.2, 1.0, 1.0], "best": [1.0, 1.0, 1.0, 1.0]})
    got = confirm(fake, SGEMM, "cand", "best", rounds=4, seed=3)
    assert len(fake.calls) == 4 and got.rounds == 2 and len(got.ratios) == 2
    assert got.outcome is not Outcome.FASTER and "stopped after 2 of 4 rounds" in got.detail
    # one slower round of four can still be outvoted: all four rounds run
    fake = FakeChecker({"cand": [1.1, 0.7, 0.7, 0.7], "best": [1.0] * 4})
    got = confirm(fake, SGEMM, "cand", "best", rounds=4, seed=3)
    assert len(fake.calls) == 8 and got.rounds == 4 and got.detail == ""


def test_an_early_stop_never_turns_away_a_kernel_the_full_rounds_would_confirm():
    rng = np.random.default_rng(11)
    for rounds in (3, 4, 5, 6):
        for _ in range(300):
            ratios = list(np.exp(rng.normal(0.0, 0.2, rounds)))
            for r in range(1, rounds):
                if cannot_be_faster(ratios[:r], rounds):
                    # even the best possible rest of the rounds is not "faster"
                    best_rest = ratios[:r] + [50.0] * (rounds - r)
                    assert decide(best_rest, seed=r)[0] is not Outcome.FASTER
                    assert decide(ratios, seed=r)[0] is not Outcome.FASTER
                    break


def test_worth_confirming_skips_clearly_slower_candidates():
    assert worth_confirming(0.5, None)
    assert worth_confirming(0.46, 0.5)
    assert not worth_confirming(0.40, 0.5)
    assert not worth_confirming(None, 0.5)


@pytest.mark.slow
def test_a_real_comparison_of_two_template_kernels(checker):
    """Two real kernels through the checker at a small shape: the comparison runs its
    rounds and returns a verdict with an interval (no speed is asserted: the machine is
    shared)."""
    fam = templates.family("sgemm/blis")
    a = fam.instantiate({})
    b = fam.instantiate({"kc": 128})
    got = confirm(
        checker,
        SGEMM,
        a,
        b,
        rounds=3,
        shape=SGEMM.shape([96, 96, 96]),
        bench_budget_ms=30.0,
        seed=2,
    )
    assert got.outcome in (Outcome.FASTER, Outcome.WITHIN_NOISE, Outcome.SLOWER), got.detail
    assert len(got.ratios) == got.rounds and all(r > 0 for r in got.ratios)
    # all three rounds, unless the first two already ruled "faster" out
    assert got.rounds == 3 or (got.rounds == 2 and all(r <= 1.0 for r in got.ratios))
    assert got.ratio is not None and got.low is not None and got.low <= got.ratio <= got.high
