"""The FP32 peak that decides `impossible`: measured robustly, cross-checked with theory.

A measured peak is only a lower bound of the hardware's (a loaded machine measures low; on
this project's shared 2-core host the 2-thread figure has come out below the 1-thread one),
so the figure a kernel is judged against is the largest of:

- the best peak ever measured with `threads` threads (machine.best_peak keeps it per CPU);
- `threads` × the best single-thread peak ever measured (the cores are identical and a single
  core runs at least at the all-core clock, so this is an upper bound of the all-core peak);
- the theoretical peak, cores × FMA units × lanes × 2 × clock, when the OS reveals the
  maximum clock (cpufreq's cpuinfo_max_freq); a clock from /proc/cpuinfo is the current or
  nominal one, below the boost clock, so it is shown but never used as the bound.

A kernel is `impossible` above checker.IMPOSSIBLE_MARGIN (1.15) times that figure: the margin
covers timer granularity and the boost clock's spread. An honest kernel cannot exceed
threads × its own core's peak, so it is never `impossible`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from roundtable_tui.kernels import machine

FMA_UNITS = 2
"""FMA pipes per core: two on every x86 core with AVX2 or AVX-512 so far (an upper bound)."""


@dataclass
class Peak:
    gflops: float
    source: str
    """Which figure decided, in words (for the check's detail)."""


def simd_lanes(flags: set[str]) -> int | None:
    """f32 lanes of the widest FMA (or mul+add pair) the CPU has."""
    if "avx512f" in flags:
        return 16
    if {"avx2", "fma"} <= flags or "avx" in flags:
        return 8
    if "sse2" in flags or "asimd" in flags:
        return 4
    return None


def max_clock_ghz() -> tuple[float | None, bool]:
    """(clock in GHz, whether it is the maximum clock) of cpu0."""
    try:
        khz = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").read_text()
        return int(khz) / 1e6, True
    except (OSError, ValueError):
        pass
    try:
        mhz = [
            float(line.split(":", 1)[1])
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("cpu MHz")
        ]
        return (max(mhz) / 1e3 if mhz else None), False
    except (OSError, ValueError):
        return None, False


def theoretical(threads: int) -> tuple[float | None, bool]:
    """(threads × FMA units × lanes × 2 × clock in GFLOPS, whether the clock is the maximum)."""
    lanes = simd_lanes(machine.cpu_flags())
    clock, is_max = max_clock_ghz()
    if lanes is None or clock is None:
        return None, False
    return threads * FMA_UNITS * lanes * 2 * clock, is_max


def peak_for_judging(threads: int, measured: dict[int, float]) -> Peak | None:
    """The peak a kernel running on `threads` threads is judged against (see the module
    docstring); `measured` holds this run's peaks by thread count (GFLOPS), which also update
    the stored best."""
    best_t = machine.best_peak(threads, measured.get(threads))
    best_1 = machine.best_peak(1, measured.get(1))
    candidates: list[tuple[float, str]] = []
    if best_t:
        candidates.append((best_t, f"best measured {threads}-thread peak {best_t:.1f} GFLOPS"))
    if best_1:
        candidates.append(
            (threads * best_1, f"{threads} × the best 1-thread peak {best_1:.1f} GFLOPS")
        )
    theo, is_max = theoretical(threads)
    if theo and is_max:
        candidates.append((theo, f"theoretical peak {theo:.1f} GFLOPS at the maximum clock"))
    if not candidates:
        return None
    gflops, source = max(candidates)
    if theo and not is_max:
        source += f"; theoretical at the reported clock {theo:.1f} GFLOPS (boost not known)"
    return Peak(gflops, source)
