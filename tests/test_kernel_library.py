"""Every kernel in tests/kernels/ gets the verdict its header states.

Header lines: `// expect: <verdict>`, `// why: ...`, optionally `// flags: --allow-unsafe`,
`--shape MxNxK` (a smaller benchmark shape for a kernel too slow for the default one) and/or
`--samples N` (N timed calls, as a real check makes, for a kernel wrong only on later calls).
The failing inputs of the public bug reports (shared/cases/checker) are here as `case*.rs`;
`redteam_*.rs` were written by someone who had not read the checker's code.
The library holds the confabulations of the original experiment (diagonal fallacy, broken
buffer), the cheats public harnesses were fooled by, kernels that crash, hang or eat
memory, and honest kernels of many styles that must pass.
"""

from __future__ import annotations

import re

import pytest

from roundtable_tui.kernels import problems
from roundtable_tui.kernels.checker import Options
from roundtable_tui.kernels.verdict import Verdict

from .conftest import KERNELS

CASES = sorted(KERNELS.glob("*/*.rs"))


def header(path):
    text = path.read_text()
    expect = re.search(r"^// expect: (\w+)", text, re.M)
    assert expect, f"{path} has no `// expect:` line"
    flags = re.search(r"^// flags: (.*)$", text, re.M)
    return text, Verdict(expect.group(1)), (flags.group(1).split() if flags else [])


def test_library_covers_every_cheat_and_style():
    names = {f"{p.parent.name}/{p.stem}" for p in CASES}
    required = {
        "sgemm/diagonal_fallacy",
        "sgemm/broken_buffer",
        "sgemm/result_cache",
        "sgemm/warmup_then_skip",
        "sgemm/big_shape_skip",
        "sgemm/precision_bf16",
        "sgemm/early_exit",
        "sgemm/forged_stdout",
        "sgemm/hang",
        "sgemm/memory_hog",
        "sgemm/stack_overflow",
        "sgemm/process_spawn",
        "sgemm/file_write",
        "sgemm/network",
        "sgemm/include_str",
        "sgemm/naive_ikj",
        "sgemm/rayon_rows",
        "sgemm/tiled_remainders",
        "sgemm/transposed_packing",
        "sgemm/microkernel_fixed_array",
        "sgemm/strassen_one_level",
        "sgemm/f64_accumulate",
        "sgemm/case01_one_wrong_element_at_large_k",
        "sgemm/case02_writes_past_mn_in_c",
        "sgemm/case05_huge_static_compile_memory",
        "sgemm/case06_forged_report_via_soundness_hole",
        "sgemm/case06_control_naive_ijk",
        "sgemm/case07_fixed_point_only_on_test_grid",
    }
    assert required <= names, sorted(required - names)
    verdicts = {header(p)[1] for p in CASES}
    assert set(Verdict) - {Verdict.IMPOSSIBLE} <= verdicts


def options_for(path, expected: Verdict, flags: list[str]) -> Options:
    """The check options of `test_verdict` for the library kernel at `path` (its header's
    verdict and flags): the quick test's, with a real check's timed calls for a kernel
    expected not to pass. `bench/library_sweep.py` re-checks the library with them."""
    options = Options(
        baselines=False,
        bench_budget_ms=50.0,
        min_samples=2,
        max_samples=3,
        allow_unsafe="--allow-unsafe" in flags,
    )
    if "--shape" in flags:
        problem = problems.get(path.parent.name)
        options.shape = problem.parse_shape(flags[flags.index("--shape") + 1])
    if "--samples" in flags:  # a kernel wrong only on later calls needs the calls to be made
        options.min_samples = options.max_samples = int(flags[flags.index("--samples") + 1])
        options.bench_budget_ms = 60_000.0  # all N calls, however slow the machine
    elif expected is not Verdict.PASSED:
        # a wrong kernel gets at least the timed calls a real check makes of it (its least:
        # min_samples, or 3 for a slow kernel), not the quick test's 2-3: one wrong only on
        # later calls passed 1 of 40 quick checks (CI failed on it once) and 0 of 40 of these
        real = Options()
        options.min_samples = real.min_samples
        options.max_samples = max(options.max_samples, real.min_samples)
        options.bench_budget_ms = real.bench_budget_ms
    return options


@pytest.mark.slow
@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_verdict(path, checker):
    source, expected, flags = header(path)
    result = checker.check(source, path.parent.name, options_for(path, expected, flags))
    assert result.verdict == expected, (
        f"{path.name}: got {result.verdict} ({result.reason}), expected {expected}"
    )
    if expected is Verdict.PASSED:
        assert result.gflops and result.gflops > 0
        assert all(c.ok for c in result.checks)
    else:
        assert result.reason
