"""The catalogue is the one source of the Rust glue, and the committed copies match it."""

import pytest

from roundtable_tui.config import settings
from roundtable_tui.kernels import problems


def test_committed_rust_glue_is_generated_from_the_catalogue():
    for path, text in problems.committed_files(settings().rust_workspace).items():
        assert path.read_text() == text, (
            f"{path} is stale: run python -m roundtable_tui.kernels.problems"
        )


def test_entry_types_follow_the_signatures():
    entry = problems.rust_entry()
    for p in problems.PROBLEMS.values():
        assert f"pub type {p.variant}Fn = fn({', '.join(p.param_types)});" in entry


def test_candidate_glue_forbids_unsafe_unless_allowed():
    p = problems.get("binary_gemm")
    assert "#![forbid(unsafe_code)]" in problems.rust_candidate_lib(p)
    assert "forbid" not in problems.rust_candidate_lib(p, allow_unsafe=True)
    assert "pub use kernel::binary_gemm;" in problems.rust_candidate_lib(p)
    assert "Entry::BinaryGemm(candidate::binary_gemm)" in problems.rust_runner_main(p)


def test_naive_kernels_exist_for_every_problem():
    for p in problems.PROBLEMS.values():
        src = problems.naive_kernel_path(p, settings().rust_workspace).read_text()
        assert f"pub fn {p.name}(" in src


def test_flops():
    assert problems.get("sgemm").flops({"m": 2, "n": 3, "k": 4}) == 48
    s = {"b": 4, "t": 1024, "c": 768, "oc": 768}
    fwd = problems.get("matmul_forward").flops(s)
    assert fwd == 2 * 4 * 1024 * 768 * 768
    assert problems.get("matmul_backward").flops(s) == 2 * fwd + 4 * 1024 * 768
    assert problems.get("matmul_backward").flops(s, with_bias=False) == 2 * fwd


@pytest.mark.parametrize(
    "text,expected",
    [
        ("512x256x128", {"m": 512, "n": 256, "k": 128}),
        ("m=1,n=2,k=3", {"m": 1, "n": 2, "k": 3}),
        ("7,8,9", {"m": 7, "n": 8, "k": 9}),
    ],
)
def test_parse_shape(text, expected):
    assert problems.get("sgemm").parse_shape(text) == expected


@pytest.mark.parametrize("text", ["1x2", "0x1x1", "axbxc", "m=1,n=2,q=3", "1x2x3x4"])
def test_bad_shapes_are_refused_clearly(text):
    with pytest.raises(ValueError, match="sgemm"):
        problems.get("sgemm").parse_shape(text)


def test_unknown_problem_names_the_choices():
    with pytest.raises(ValueError, match="sgemm, matmul_forward"):
        problems.get("dgemm")


def test_correctness_shapes_cover_the_awkward_cases():
    for p in problems.PROBLEMS.values():
        shapes = p.correctness_shapes
        assert all(len(s) == len(p.dims) for s in shapes)
        assert any(all(d == 1 for d in s) for s in shapes), "all-ones shape"
        assert any(s[2] == 1 for s in shapes), "a reduction of length 1"
        assert any(len(set(s)) == len(s) for s in shapes), "all dimensions different"
        odd = {2**k + d for k in range(4, 10) for d in (-1, 1)}
        assert any(set(s) & odd for s in shapes), "2^k±1"


def test_settings_paths_are_absolute(monkeypatch, tmp_path):
    from roundtable_tui.config import Settings

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ROUNDTABLE_CACHE_DIR", "relative/cache")
    cfg = Settings()
    assert cfg.cache_dir == tmp_path / "relative" / "cache"
