"""`roundtable sessions export`: the winning kernel as a crate that builds and tests itself."""

from __future__ import annotations

import os
import subprocess
import tomllib
from pathlib import Path

import pytest

from roundtable_tui import cli
from roundtable_tui.core.record import winner
from roundtable_tui.core.state import Entry, SessionState
from roundtable_tui.outputs.export import ExportError, export

from .conftest import KERNELS
from .sessions import Attempt, copy_example, make_session, naive

# the kernel library's honest-looking kernels that compute the wrong thing
WRONG = {
    "sgemm": "accumulates.rs",  # C += A·B into a C it should overwrite
    "matmul_forward": "ignores_bias.rs",
    "matmul_backward": "overwrites_grads.rs",  # = where gradients must accumulate
    "binary_gemm": "wrong_bit_order.rs",
}


def cargo(crate: Path, *args: str) -> subprocess.CompletedProcess:
    # one target directory for every exported crate: rayon and the test harness build once
    target = Path(os.environ["ROUNDTABLE_CACHE_DIR"]) / "export-target"
    env = {**os.environ, "CARGO_TARGET_DIR": str(target), "CARGO_TERM_COLOR": "never"}
    env.pop("RUSTFLAGS", None)
    return subprocess.run(
        ["cargo", *args], cwd=crate, env=env, capture_output=True, text=True, timeout=600
    )


def entry(iteration: int, verdict: str, gflops: float | None) -> Entry:
    return Entry(iteration, iteration, f"k{iteration}", "code", verdict, gflops=gflops)


def test_winner_is_the_agents_best_and_the_seed_only_as_a_last_resort():
    seed = entry(0, "passed", 40.0)
    slow, fast = entry(1, "passed", 20.0), entry(2, "passed", 30.0)
    wrong = entry(3, "wrong_result", None)
    assert winner(SessionState(entries=[seed, slow, fast, wrong])) is fast
    assert winner(SessionState(entries=[seed, wrong])) is seed
    assert winner(SessionState(entries=[entry(0, "timeout", None), wrong])) is None


@pytest.mark.slow
def test_example_session_exports_a_crate_that_builds_tests_and_benches(tmp_path):
    crate = tmp_path / "crate"
    ex = export(copy_example(tmp_path), crate)
    assert (ex.entry.number, ex.entry.iteration, ex.seed_only) == (2, 2, False)
    manifest = tomllib.loads((crate / "Cargo.toml").read_text())
    assert manifest["package"]["edition"] == "2024"
    assert manifest["dependencies"] == {"rayon": "1"}  # crates.io-normal: no path, no git
    assert manifest["profile"]["release"]["opt-level"] == 3
    config = tomllib.loads((crate / ".cargo" / "config.toml").read_text())
    assert config["build"]["rustflags"] == ["-C", "target-cpu=native"]
    # crates.io unreachable (as on the CI machine): rayon from Debian's sources, said so
    debian = ex.registry.startswith("debian")
    assert ("source" in config) == debian
    assert ("Debian's crate sources" in (crate / "README.md").read_text()) == debian
    kernel = (tmp_path / "sessions" / "example-sgemm-small" / "kernels" / "002.rs").read_text()
    lib = (crate / "src" / "lib.rs").read_text()
    assert kernel.strip() in lib and "#![forbid(unsafe_code)]" in lib
    readme = (crate / "README.md").read_text()
    assert "example-sgemm-small" in readme and "31.7 GFLOPS" in readme
    assert "| from | free-form code written by the Coder |" in readme
    assert "cargo test --release" in readme

    test = cargo(crate, "test", "--release")
    assert test.returncode == 0, test.stderr[-3000:]
    assert "test sgemm_matches_an_f64_reference ... ok" in test.stdout
    bench = cargo(crate, "run", "--release", "--example", "bench", "--", "64", "48", "40")
    assert bench.returncode == 0, bench.stderr[-3000:]
    assert "sgemm m=64 n=48 k=40: median" in bench.stdout and "GFLOPS" in bench.stdout


@pytest.mark.slow
@pytest.mark.parametrize("problem", list(WRONG))
def test_exported_test_passes_the_naive_kernel_and_catches_a_wrong_one(tmp_path, problem):
    good = make_session(tmp_path, problem, [Attempt("naive", naive(problem), gflops=5.0)], "good")
    crate = tmp_path / "good-crate"
    export(good, crate)
    result = cargo(crate, "test", "--release")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"test {problem}_matches_an_f64_reference ... ok" in result.stdout

    wrong_code = (KERNELS / problem / WRONG[problem]).read_text()
    bad = make_session(
        tmp_path,
        problem,
        [Attempt("naive", naive(problem), gflops=5.0), Attempt("wrong", wrong_code, gflops=9.0)],
        "bad",
    )
    crate = tmp_path / "bad-crate"
    assert export(bad, crate).entry.title == "wrong"
    result = cargo(crate, "test", "--release")
    assert result.returncode != 0
    assert f"test {problem}_matches_an_f64_reference ... FAILED" in result.stdout
    assert "expected" in result.stdout and "> " in result.stdout  # names element and bound


def test_no_passed_kernel_is_a_clear_error(tmp_path, capsys):
    attempts = [
        Attempt("naive (starting point)", naive("sgemm"), verdict="timeout"),
        Attempt("fast", "pub fn sgemm() {}", verdict="wrong_result"),
    ]
    path = make_session(tmp_path, "sgemm", attempts)
    with pytest.raises(ExportError, match="no passed kernel.*timeout, wrong_result"):
        export(path, tmp_path / "crate")
    assert not (tmp_path / "crate").exists()
    assert cli.main(["sessions", "export", str(path), "-o", str(tmp_path / "crate")]) == 2
    assert "no passed kernel" in capsys.readouterr().err


def test_only_the_seed_passed_exports_it_and_says_so(tmp_path):
    attempts = [
        Attempt("naive (starting point)", naive("matmul_forward"), gflops=3.0),
        Attempt("fast", "pub fn matmul_forward() {}", verdict="build_failed"),
    ]
    ex = export(make_session(tmp_path, "matmul_forward", attempts), tmp_path / "crate")
    assert ex.seed_only and ex.entry.iteration == 0 and not ex.uses_rayon
    assert "No kernel written by the agents passed" in (tmp_path / "crate/README.md").read_text()
    assert "dependencies" in tomllib.loads((tmp_path / "crate/Cargo.toml").read_text())
    assert tomllib.loads((tmp_path / "crate/Cargo.toml").read_text())["dependencies"] == {}


def test_model_text_cannot_reach_the_crate_as_code(tmp_path):
    title = 'x\npub fn evil() {}\r\n#![allow(unsafe_code)] "quoted" | pipe'
    path = make_session(
        tmp_path,
        "sgemm",
        [Attempt("naive", naive("sgemm"), gflops=1.0), Attempt(title, naive("sgemm"), gflops=2.0)],
    )
    export(path, tmp_path / "crate")
    lib = (tmp_path / "crate" / "src" / "lib.rs").read_text()
    code_lines = [line for line in lib.splitlines() if not line.startswith("//")]
    assert not any("evil" in line or "allow(unsafe_code)" in line for line in code_lines)
    readme = (tmp_path / "crate" / "README.md").read_text()
    assert "pub fn evil() {} #![allow(unsafe_code)] &quot;quoted&quot; \\| pipe" in readme


def test_export_refuses_a_non_empty_directory_without_force(tmp_path, capsys):
    path = make_session(tmp_path, "sgemm", [Attempt("naive", naive("sgemm"), gflops=1.0)])
    dest = tmp_path / "crate"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="not empty"):
        export(path, dest)
    assert cli.main(["sessions", "export", str(path), "-o", str(dest), "--force"]) == 0
    assert (dest / "src" / "lib.rs").exists() and (dest / "notes.txt").read_text() == "mine"
    assert str(dest) in "".join(capsys.readouterr().out.split())


def test_readme_names_the_template_and_its_parameters(tmp_path):
    attempts = [
        Attempt("naive", naive("sgemm"), gflops=1.0),
        Attempt(
            "tiles",
            naive("sgemm"),
            gflops=2.0,
            kind="parameters",
            template="blis",
            parameters={"MC": 64, "NR": 16},
        ),
    ]
    export(make_session(tmp_path, "sgemm", attempts), tmp_path / "crate")
    readme = (tmp_path / "crate" / "README.md").read_text()
    assert "| from | template blis (MC=64, NR=16) |" in readme


def test_default_directory_is_problem_and_session_id(tmp_path, monkeypatch):
    path = make_session(
        tmp_path, "binary_gemm", [Attempt("naive", naive("binary_gemm"), gflops=1.0)]
    )
    monkeypatch.chdir(tmp_path)
    ex = export(path)
    assert ex.path == tmp_path / "binary_gemm-s1"
    assert "pub fn binary_gemm(" in (ex.path / "src" / "lib.rs").read_text()
