from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KERNELS = Path(__file__).resolve().parent / "kernels"


@pytest.fixture(scope="session")
def checker():
    """One checker (and its build cache) for the whole run. The 40 s wall-clock limit leaves
    room for slow honest kernels at the real benchmark shapes on a loaded machine; 45 s of
    CPU per compiler process stops a const-eval spin sooner than the default."""
    from roundtable_tui.config import settings
    from roundtable_tui.kernels.checker import Checker

    cfg = settings()
    build = cfg.build.model_copy(update={"cpu_s": 45})
    limits = {"timeout_s": 40.0, "memory_limit_mb": 2048, "build": build}
    return Checker(cfg.model_copy(update=limits))


@pytest.fixture(scope="session")
def quick():
    """Check options for tests: the full correctness checks, the real benchmark shape, few
    timed calls and no baselines."""
    from roundtable_tui.kernels.checker import Options

    def make(**kw):
        base = dict(baselines=False, bench_budget_ms=50.0, min_samples=2, max_samples=3)
        base.update(kw)
        return Options(**base)

    return make


def pytest_configure(config):
    os.environ.setdefault("ROUNDTABLE_CACHE_DIR", str(ROOT / ".venv" / "roundtable-cache"))
