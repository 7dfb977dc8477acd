"""The peak that decides `impossible`: robust to a loaded machine, never below an honest
kernel's reach."""

from roundtable_tui.kernels import machine, peak


def test_peak_is_at_least_threads_times_the_single_thread_peak(monkeypatch):
    best = {1: 100.0, 2: 120.0}  # a loaded machine: 2 threads measured far below 2 × 1
    monkeypatch.setattr(machine, "best_peak", lambda t, m: best.get(t))
    monkeypatch.setattr(peak, "theoretical", lambda t: (None, False))
    p = peak.peak_for_judging(2, {})
    assert p is not None and p.gflops == 200.0 and "1-thread" in p.source


def test_theoretical_peak_counts_only_with_the_maximum_clock(monkeypatch):
    monkeypatch.setattr(machine, "best_peak", lambda t, m: 50.0)
    monkeypatch.setattr(peak, "theoretical", lambda t: (300.0, True))
    assert peak.peak_for_judging(2, {}).gflops == 300.0
    monkeypatch.setattr(peak, "theoretical", lambda t: (300.0, False))
    p = peak.peak_for_judging(2, {})
    assert p.gflops == 100.0 and "boost not known" in p.source


def test_lanes_from_flags():
    assert peak.simd_lanes({"avx2", "fma"}) == 8
    assert peak.simd_lanes({"avx512f", "avx2", "fma"}) == 16
    assert peak.simd_lanes(set()) is None
