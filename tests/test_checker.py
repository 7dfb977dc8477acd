"""The checker end to end: verdict details, figures, concurrency, the report channel."""

from __future__ import annotations

import threading

import pytest

from roundtable_tui.config import settings
from roundtable_tui.kernels import machine, peak, problems
from roundtable_tui.kernels.checker import Options
from roundtable_tui.kernels.verdict import Verdict

from .conftest import KERNELS


def naive(name: str) -> str:
    return problems.naive_kernel_path(problems.get(name), settings().rust_workspace).read_text()


def test_passed_result_has_every_figure_and_field(checker):
    r = checker.check(
        naive("sgemm"), "sgemm", Options(bench_budget_ms=300, min_samples=3, max_samples=5)
    )
    assert r.verdict is Verdict.PASSED, r.reason
    d = r.to_dict()
    for key in (
        "verdict",
        "reason",
        "problem",
        "shape",
        "gflops",
        "median_s",
        "ci95_s",
        "samples",
        "speedup_vs_naive",
        "fraction_of_openblas",
        "fraction_of_peak",
        "max_abs_error",
        "error_bound",
        "checks",
        "timings",
        "kernel_sha256",
    ):
        assert key in d
    assert d["shape"] == {"m": 1024, "n": 1024, "k": 1024}
    assert 3 <= r.samples <= 5
    lo, hi = r.ci95_s
    assert lo <= r.median_s <= hi
    assert 0 < r.fraction_of_peak < 1
    assert r.speedup_vs_naive > 0.3  # naive against itself, same run
    if "openblas" in r.baselines:
        assert 0 < r.fraction_of_openblas < 1.5
    assert r.max_abs_error < r.error_bound
    names = [c.name for c in r.checks]
    assert "timing owned by the parent" in names and "benchmark shape" in names
    assert {"static_s", "build_s", "correctness_s", "benchmark_s", "total_s"} <= set(r.timings)
    # the parent's own per-call overhead is measured and small next to a 1024³ call
    assert 0 < r.timings["call_overhead_s"] < 0.1 * r.median_s


def test_custom_shape_is_benchmarked_and_checked(checker, quick):
    r = checker.check(naive("binary_gemm"), "binary_gemm", quick(shape={"m": 3, "n": 130, "k": 67}))
    assert r.verdict is Verdict.PASSED, r.reason
    assert r.shape == {"m": 3, "n": 130, "k": 67}


def test_wrong_result_names_the_case_and_the_element(checker, quick):
    src = (KERNELS / "sgemm" / "diagonal_fallacy.rs").read_text()
    r = checker.check(src, "sgemm", quick())
    assert r.verdict is Verdict.WRONG_RESULT
    assert "case " in r.reason and "shape " in r.reason and "inputs " in r.reason
    assert "c[" in r.reason


def test_one_wrong_element_at_large_k_is_found_every_time(checker, quick):
    """Case 01: every element at the benchmark shape is checked once per check, and the
    deep-K case (K > 2048, few rows and columns) finds the last element's bug first."""
    src = (KERNELS / "sgemm" / "case01_one_wrong_element_at_large_k.rs").read_text()
    for seed in range(3):
        r = checker.check(src, "sgemm", quick(seed=seed))
        assert r.verdict is Verdict.WRONG_RESULT, r.reason
        assert "c[1023,1023]" in r.reason or "case deep-K-" in r.reason, r.reason


def test_one_term_dropped_on_later_calls_is_found_at_every_seed(checker, quick):
    """The kernel drops one product term in one element from its third large call on: the
    timed calls compared in full are drawn from those with visible inputs, where that error
    always exceeds the bound (drawn from all calls, ~30% of such checks passed)."""
    src = (KERNELS / "sgemm" / "redteam_one_elem_late_calls.rs").read_text()
    for seed in range(6):
        opts = quick(seed=seed, min_samples=8, max_samples=8, bench_budget_ms=60_000.0)
        r = checker.check(src, "sgemm", opts)
        assert r.verdict is Verdict.WRONG_RESULT, (seed, r.reason)


def test_a_cache_keyed_on_an_order_blind_checksum_is_caught_at_every_seed(checker, quick):
    """The kernel returns its last C when the inputs' multiset of values is the same: the
    swap update must move two different values (a swap of an equal pair used to change one
    of them, and seed 19 passed the whole check) that change the product beyond its bound."""
    src = (KERNELS / "sgemm" / "redteam_order_blind_cache.rs").read_text()
    for seed in range(12, 24):
        r = checker.check(src, "sgemm", quick(seed=seed))
        assert r.verdict is Verdict.WRONG_RESULT, (seed, r.reason)
        assert "update-swap" in r.reason, (seed, r.reason)


def test_timed_calls_compared_in_full_include_visible_ones(checker, quick, monkeypatch):
    """Batches alternate between visible inputs and drawn ones, and every check compares
    min(3, V) of its V visible timed calls in full, besides the warm-up and one other."""
    from roundtable_tui.kernels import inputs

    made, full = [], []
    make, check_full = inputs.make_call, inputs.check_full

    def making(problem, dims, *args, **kw):
        call = make(problem, dims, *args, **kw)
        if kw.get("pool") is not None:
            made.append(call)
        return call

    def checking(call, after, growth=1.0):
        if call.label.startswith("call "):
            full.append(call)
        return check_full(call, after, growth)

    monkeypatch.setattr(inputs, "make_call", making)
    monkeypatch.setattr(inputs, "check_full", checking)
    shape = {"m": 64, "n": 64, "k": 64}
    for seed in range(4):
        made.clear(), full.clear()
        opts = quick(seed=seed, shape=shape, min_samples=12, max_samples=12)
        assert checker.check(naive("sgemm"), "sgemm", opts).passed
        timed = [c for c in made if c.label != "call 0"]
        visible = [c for c in timed if inputs.is_visible(c)]
        assert 0 < len(visible) < len(timed)  # both kinds, fresh calls of both halves
        seen = [c for c in full if c.label != "call 0"]
        assert sum(inputs.is_visible(c) for c in seen) >= min(3, len(visible))
        assert any(not inputs.is_visible(c) for c in seen)


def test_forged_report_is_refused_without_the_static_refusal(checker, quick):
    """Case 06 with the named #25860 refusal switched off: the kernel really gets arbitrary
    memory access and writes forged timing lines; the parent's own clock and protocol still
    never pass it at a speed it did not reach."""
    shape = {"m": 512, "n": 512, "k": 512}
    forged = (KERNELS / "sgemm" / "case06_forged_report_via_soundness_hole.rs").read_text()
    control = (KERNELS / "sgemm" / "case06_control_naive_ijk.rs").read_text()
    assert checker.check(forged, "sgemm", quick(shape=shape)).verdict is Verdict.REJECTED
    r = checker.check(forged, "sgemm", quick(shape=shape, refuse_soundness_holes=False))
    honest = checker.check(control, "sgemm", quick(shape=shape))
    assert honest.verdict is Verdict.PASSED, honest.reason
    if r.verdict is Verdict.PASSED:  # allowed only at its true speed
        assert r.gflops < 3 * honest.gflops
    else:
        assert r.verdict is Verdict.CRASHED and "reply channel" in r.reason


def test_background_work_after_return_is_not_counted_as_done(checker, quick):
    """A kernel that returns at once and leaves the work to a detached rayon job (here via
    the #25860 hole, refusal off) is stopped between calls: its output is unfinished."""
    src = KERNELS / "matmul_forward" / "redteam_hole_background_writer.rs"
    if not src.exists():
        return
    r = checker.check(src.read_text(), "matmul_forward", quick(refuse_soundness_holes=False))
    assert r.verdict is not Verdict.PASSED


def test_build_failure_carries_the_compiler_message(checker, quick):
    src = naive("sgemm").replace("c_row.fill(0.0);", "c_row.fill(0.0)\n let x: u32 = 1.5;")
    r = checker.check(src, "sgemm", quick())
    assert r.verdict is Verdict.BUILD_FAILED
    assert "kernel.rs" in r.compiler_output and "error" in r.compiler_output
    assert "candidate/src" not in r.compiler_output


def test_impossible_speed_is_refused(checker, quick, monkeypatch):
    monkeypatch.setattr(machine, "best_peak", lambda threads, measured: 0.001)
    monkeypatch.setattr(peak, "theoretical", lambda threads: (None, False))
    r = checker.check(naive("sgemm"), "sgemm", quick(shape={"m": 64, "n": 64, "k": 64}))
    assert r.verdict is Verdict.IMPOSSIBLE
    assert "peak" in r.reason


def test_concurrent_checks_do_not_mix_their_kernels(checker, quick):
    honest = naive("sgemm")
    wrong = (KERNELS / "sgemm" / "transposed_b.rs").read_text()
    shape = {"m": 96, "n": 80, "k": 70}
    results: dict[str, Verdict] = {}

    def run(name: str, src: str) -> None:
        # a unique comment makes each a new build, so both really compete for the workspace
        tag = f"\n// {name} {threading.get_ident()}\n"
        results[name] = checker.check(src + tag, "sgemm", quick(shape=shape)).verdict

    threads = [threading.Thread(target=run, args=a) for a in (("honest", honest), ("wrong", wrong))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"honest": Verdict.PASSED, "wrong": Verdict.WRONG_RESULT}


def test_cancel_stops_a_hanging_kernel_quickly(checker, quick):
    import time

    src = (KERNELS / "sgemm" / "hang.rs").read_text()
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    t = time.monotonic()
    from roundtable_tui.kernels.sandbox import Cancelled

    try:
        checker.check(src, "sgemm", quick(), cancel=cancel)
        raise AssertionError("a cancelled check must not return a verdict")
    except Cancelled:
        pass
    assert time.monotonic() - t < 8


def test_sandbox_reports_its_protections(checker, quick):
    r = checker.check(naive("sgemm"), "sgemm", quick(shape={"m": 8, "n": 8, "k": 8}))
    assert "memory=" in r.flags["sandbox"] and "cpu=" in r.flags["sandbox"]


HOLES = sorted(
    p
    for p in KERNELS.glob("*/*.rs")
    if any(hole in "".join(p.read_text().splitlines()[:4]) for hole in ("25860", "57893"))
)
# its cheat only moves an in-process timer: under the parent's clock it runs at its true speed
TRUE_SPEED_ONLY = {"redteam_hole_timer_nudge"}


@pytest.mark.slow
@pytest.mark.parametrize("path", HOLES, ids=[f"{p.parent.name}/{p.stem}" for p in HOLES])
def test_soundness_hole_kernels_without_the_static_refusal(path, checker, quick):
    """Defence in depth: every kernel that uses a rustc soundness hole (#25860, #57893) is
    refused by name, and with that
    refusal off the parent still never passes it on a forged figure or unfinished work."""
    source = path.read_text()
    problem = path.parent.name
    assert checker.check(source, problem, quick()).verdict is Verdict.REJECTED
    r = checker.check(source, problem, quick(refuse_soundness_holes=False))
    if path.stem not in TRUE_SPEED_ONLY:
        assert r.verdict is not Verdict.PASSED, r.reason


@pytest.mark.slow
def test_output_written_after_the_return_is_wrong_even_when_the_work_finishes(checker, quick):
    """The child runs on after `done` until its threads idle (so left-behind work cannot race
    the next call), but its result is what it left at the return: a kernel that hands part
    of its output to a background job is wrong, however complete the output is later."""
    path = KERNELS / "matmul_backward" / "redteam_hole_alias_background.rs"
    r = checker.check(path.read_text(), "matmul_backward", quick(refuse_soundness_holes=False))
    assert r.verdict is Verdict.WRONG_RESULT
    assert "`dweight` changed after the call returned" in r.reason
