"""Facts about this machine that every result records, its measured FP32 peak and its memory
bandwidth."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from functools import lru_cache
from pathlib import Path

from roundtable_tui.config import settings


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def simd_level() -> str:
    flags = cpu_flags()
    for name, needs in (
        ("AVX-512", {"avx512f"}),
        ("AVX2+FMA", {"avx2", "fma"}),
        ("AVX", {"avx"}),
        ("SSE2", {"sse2"}),
        ("NEON", {"asimd"}),
    ):
        if needs <= flags:
            return name
    return "scalar"


@lru_cache(maxsize=1)
def rustc_version() -> str:
    try:
        return (
            subprocess.run(
                ["rustc", "--version"], capture_output=True, text=True, timeout=30
            ).stdout.strip()
            or "unknown"
        )
    except (OSError, subprocess.SubprocessError):
        return "not installed"


def describe() -> dict[str, object]:
    cfg = settings()
    return {
        "cpu": cpu_model(),
        "cores": len(os.sched_getaffinity(0)),
        "threads": cfg.n_threads,
        "simd": simd_level(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "rustc": rustc_version(),
        "rustflags": cfg.rustflags,
    }


def _peak_file() -> Path:
    return settings().cache_dir / "peak.json"


def best_peak(threads: int, measured: float | None) -> float | None:
    """The highest peak seen for `threads` (a busy machine measures low; the hardware doesn't
    change), updated with `measured`."""
    path = _peak_file()
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    key = f"{cpu_model()}|{threads}"
    best = max(filter(None, (known.get(key), measured)), default=None)
    if measured is not None and best != known.get(key):
        known[key] = best
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(known, indent=1))
        tmp.replace(path)
    return best


def _bandwidth_file() -> Path:
    return settings().cache_dir / "bandwidth.json"


def _l3_bytes() -> int:
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            if (index / "level").read_text().strip() == "3":
                size = (index / "size").read_text().strip().upper()
                units = {"K": 2**10, "M": 2**20, "G": 2**30}
                return int(size.rstrip("KMG")) * units.get(size[-1], 1)
        except (OSError, ValueError):
            continue
    return 32 * 2**20


def measure_bandwidth(repeats: int = 5) -> float:
    """Main-memory bandwidth in GB/s: one thread copying an array four times the size of the
    last-level cache (64–256 MiB), best of `repeats`, counted as STREAM counts a copy (bytes
    read + bytes written). About half a second."""
    import numpy as np

    size = min(max(4 * _l3_bytes(), 64 * 2**20), 256 * 2**20)
    src = np.ones(size // 4, dtype=np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # touches every page before timing
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - start)
    return 2 * src.nbytes / best / 1e9


def memory_bandwidth(measure: bool = True) -> float | None:
    """This machine's memory bandwidth (GB/s, see `measure_bandwidth`), measured once and
    cached per CPU model in the cache directory; None if unknown and `measure` is False."""
    path = _bandwidth_file()
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    value = known.get(cpu_model())
    if isinstance(value, int | float) and value > 0:
        return float(value)
    if not measure:
        return None
    known[cpu_model()] = round(measure_bandwidth(), 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(known, indent=1))
    tmp.replace(path)
    return float(known[cpu_model()])
