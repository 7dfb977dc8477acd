"""Builds of untrusted kernels run under limits and die with roundtable (issue 11 item 5)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from roundtable_tui.config import settings
from roundtable_tui.kernels import problems
from roundtable_tui.kernels.build import Builder, BuildFailed

from .conftest import KERNELS

SGEMM = problems.get("sgemm")
NAIVE = (
    "for i in 0..m { for j in 0..n { let mut s = z; "
    "for p in 0..k { s += a[i * k + p] * b[p * n + j]; } c[i * n + j] = s; } }"
)
SPIN = KERNELS / "sgemm" / "redteam_const_eval_spin.rs"


def static_kernel(mib: int) -> str:
    return (
        f"static PAD: [u8; {mib} << 20] = [7u8; {mib} << 20];\n"
        "pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {\n"
        f"    let z = PAD[m % PAD.len()] as f32 * 0.0;\n    {NAIVE}\n}}\n"
        f"// {time.time()}\n"
    )


def spin_kernel() -> str:
    if SPIN.exists():
        return SPIN.read_text() + f"// {time.time()}\n"
    return (
        "#[allow(long_running_const_eval)]\nconst SPIN: u64 = { let mut i = 0u64; "
        "while i < (1u64 << 40) { i += 1; } i };\n"
        "pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {\n"
        f"    let z = (SPIN as f32) * 0.0;\n    {NAIVE}\n}}\n// {time.time()}\n"
    )


def builder(**limits) -> Builder:
    cfg = settings()
    return Builder(cfg.model_copy(update={"build": cfg.build.model_copy(update=limits)}))


def leftovers(b: Builder) -> list[str]:
    deps = b.root / "target" / "release" / "deps"
    return [p.name for p in deps.iterdir() if "candidate" in p.name or p.name.startswith("rmeta")]


@pytest.mark.slow
@pytest.mark.parametrize(
    "source,limits,limit,words",
    [
        (static_kernel(256), {"memory_mb": 1024}, "memory", "memory limit"),
        (static_kernel(96), {"disk_mb": 48}, "disk", "disk quota"),
        (None, {"cpu_s": 4}, "cpu", "CPU limit"),
        (None, {"timeout_s": 4.0}, "wall_clock", "wall-clock limit"),
    ],
    ids=["memory", "disk", "cpu", "wall_clock"],
)
def test_build_limit_gives_build_failed_naming_it(source, limits, limit, words):
    b = builder(**limits)
    with pytest.raises(BuildFailed) as info:
        b.build(source or spin_kernel(), SGEMM)
    assert info.value.limit == limit
    assert words in str(info.value) and "setting build." in str(info.value)
    assert leftovers(b) == []  # nothing of the kernel left on disk


def _processes_in(root: Path) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if Path(os.readlink(proc / "cwd")).resolve() == root.resolve():
                found.append((proc / "cmdline").read_bytes().split(b"\0")[0].decode())
        except OSError:
            continue
    return found


@pytest.mark.slow
def test_build_dies_with_roundtable(tmp_path):
    """Issue 13's finding: cargo and rustc started in their own session outlived a killed run.
    Now the build guard kills the whole build when roundtable dies, even by SIGKILL."""
    b = builder()
    src = tmp_path / "spin.rs"
    src.write_text(spin_kernel())
    code = (
        "import sys\nfrom roundtable_tui.kernels.build import Builder\n"
        "from roundtable_tui.kernels import problems\n"
        "Builder().build(open(sys.argv[1]).read(), problems.get('sgemm'))\n"
    )
    run = subprocess.Popen([sys.executable, "-c", code, str(src)], env=os.environ.copy())
    try:
        deadline = time.monotonic() + 120
        while not any("rustc" in p for p in _processes_in(b.root)):
            assert time.monotonic() < deadline, "the build never started"
            assert run.poll() is None, "the build process ended early"
            time.sleep(0.2)
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
    deadline = time.monotonic() + 10
    while _processes_in(b.root) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_in(b.root) == []
