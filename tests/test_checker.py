"""The checker end to end: verdict details, figures, concurrency, the report channel."""

from __future__ import annotations

import threading

from roundtable_tui.config import settings
from roundtable_tui.kernels import machine, problems
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
    assert "independent re-check" in names and "benchmark shape" in names
    assert {"static_s", "build_s", "correctness_s", "benchmark_s", "total_s"} <= set(r.timings)


def test_custom_shape_is_benchmarked_and_checked(checker, quick):
    r = checker.check(naive("binary_gemm"), "binary_gemm", quick(shape={"m": 3, "n": 130, "k": 67}))
    assert r.verdict is Verdict.PASSED, r.reason
    assert r.shape == {"m": 3, "n": 130, "k": 67}


def test_wrong_result_names_the_element(checker, quick):
    src = (KERNELS / "sgemm" / "diagonal_fallacy.rs").read_text()
    r = checker.check(src, "sgemm", quick())
    assert r.verdict is Verdict.WRONG_RESULT
    assert "c[" in r.reason or "row" in r.reason


def test_build_failure_carries_the_compiler_message(checker, quick):
    src = naive("sgemm").replace("c_row.fill(0.0);", "c_row.fill(0.0)\n let x: u32 = 1.5;")
    r = checker.check(src, "sgemm", quick())
    assert r.verdict is Verdict.BUILD_FAILED
    assert "kernel.rs" in r.compiler_output and "error" in r.compiler_output
    assert "candidate/src" not in r.compiler_output


def test_impossible_speed_is_refused(checker, quick, monkeypatch):
    monkeypatch.setattr(machine, "best_peak", lambda threads, measured: 0.001)
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
