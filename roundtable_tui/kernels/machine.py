"""Facts about this machine that every result records, and its measured FP32 peak."""

from __future__ import annotations

import json
import os
import platform
import subprocess
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
