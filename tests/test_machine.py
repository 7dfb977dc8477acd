"""The machine model: facts read from the OS, target CPUs, the register tiles and blocking the
templates derive from them, checked against machines described by their vendors' figures
(Zen 3, Zen 4, an AVX-512 Intel server core, an Apple M-series core)."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest

from roundtable_tui.kernels import machine, protections, templates
from roundtable_tui.kernels.machine import KIB, MIB

ZEN3, ZEN4 = machine.documented("zen3"), machine.documented("zen4")
SPR, M2 = machine.documented("spr"), machine.documented("apple-m2")
DOCUMENTED = [ZEN3, ZEN4, SPR, M2]


@pytest.mark.parametrize(
    ("m", "lanes", "vreg", "sgemm_tile", "forward_tile", "binary_tile"),
    [
        # BLIS's own choices are 6x16 (haswell, zen3), 32x12 (skx, zen4: 12x32 row-major)
        # and 8x12 (armv8a: 12x8 row-major): two vectors wide, as tall as the registers allow
        (ZEN3, 8, "ymm", (6, 16), (6, 16), (4, 16)),
        (ZEN4, 16, "zmm", (12, 32), (6, 64), (4, 64)),
        (SPR, 8, "ymm", (12, 16), (6, 32), (4, 48)),
        (M2, 4, "v", (12, 8), (6, 16), (4, 16)),
    ],
    ids=lambda v: getattr(v, "name", None),
)
def test_default_tiles_are_derived_from_the_register_file(
    m, lanes, vreg, sgemm_tile, forward_tile, binary_tile
):
    assert (m.lanes, m.vreg) == (lanes, vreg)
    for ident, tile in (
        ("sgemm/blis", sgemm_tile),
        ("matmul_forward/blis", forward_tile),
        ("matmul_backward/blis", forward_tile),
        ("binary_gemm/packed", binary_tile),
    ):
        fam = templates.family(ident, m)
        d = fam.defaults
        assert (d["mr"], d["nr"]) == tile, ident
        assert fam.validate({}) == d
        # room for the B vectors and the broadcast beside the accumulators
        assert m.tile_regs(*tile) <= m.vregs and m.fits(*tile)


@pytest.mark.parametrize("m", DOCUMENTED, ids=lambda m: m.name)
def test_blocking_fits_the_caches_of_each_machine(m):
    sgemm = templates.family("sgemm/blis", m).defaults
    mr, nr, kc, mc, nc = (sgemm[k] for k in ("mr", "nr", "kc", "mc", "nc"))
    assert 4 * (mr + nr) * kc <= m.l1d  # an A and a B micro-panel in L1d
    assert 4 * mc * kc <= m.l2 // 2  # the packed A block in half of L2
    assert 4 * kc * nc <= m.l3 // 2  # the packed B panel in half of L3
    assert mc % mr == 0 and nc % nr == 0 and kc % 8 == 0
    for ident in ("matmul_forward/blis", "matmul_backward/blis"):
        d = templates.family(ident, m).defaults
        assert 4 * d["mc"] * d["kc"] <= m.l2 and d["mc"] % d["mr"] == 0


def test_different_machines_get_different_blocking():
    kcs = {m.name: templates.family("sgemm/blis", m).defaults["kc"] for m in DOCUMENTED}
    # a bigger L1d (Apple's 128 KiB, Intel's 48 KiB) gives a deeper panel
    assert kcs[M2.name] > kcs[SPR.name] > kcs[ZEN4.name]


@pytest.mark.parametrize("m", DOCUMENTED, ids=lambda m: m.name)
def test_reasons_speak_of_the_machine_at_hand(m):
    fam = templates.family("sgemm/blis", m)
    mr = m.tile_rows(2) + 1
    with pytest.raises(templates.ParameterError) as info:
        fam.validate({"mr": mr, "nr": 2 * m.lanes})
    text = " ".join(info.value.reasons)
    assert f"{m.vregs} {m.vreg} registers" in text
    assert f"{mr}x{2 * m.lanes} needs {2 * mr} accumulators" in text
    text = fam.describe()
    assert "L1 data cache" in text and f"Machine: {m.isa}" in text
    wide = f"{m.tile_rows(4)}x{4 * m.lanes}"
    assert f"Register tiles (mr x nr) that fit this machine: {wide}," in text


def test_register_tiles_of_an_avx2_core():
    # 16 ymm registers: 6x16 takes 12 accumulators + 2 B vectors + 1 broadcast
    assert ZEN3.tile_regs(6, 16) == 15 and ZEN3.fits(6, 16)
    assert not ZEN3.fits(12, 32) and not ZEN3.fits(6, 32) and not ZEN3.fits(3, 32)
    assert ZEN3.tiles() == [(2, 32), (4, 24), (6, 16), (12, 8)]
    # the tiles the sgemm rules accept (LLVM's 1-vector limit drops 12x8 to 10x8)
    assert templates.family("sgemm/blis", ZEN3).tile_shapes() == [
        (2, 32),
        (4, 24),
        (6, 16),
        (10, 8),
    ]


def test_start_sets_rederive_the_blocking_per_tile():
    fam = templates.family("matmul_forward/blis", ZEN4)
    sets = fam.start_sets()
    assert [(s["mr"], s["nr"]) for s in sets] == fam.tile_shapes()
    for s in sets:
        assert s["mc"] % s["mr"] == 0  # the mc default follows the tile
        fam.validate(s)


TEMPLATE_JSONS = sorted((templates.TEMPLATES_DIR).glob("*/*.json"))


@pytest.mark.parametrize("path", TEMPLATE_JSONS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_template_writes_down_a_cache_size_or_register_count(path: Path):
    spec = json.loads(path.read_text())
    for rule in spec.get("rules", ()):
        literals = [
            n.value
            for n in ast.walk(ast.parse(rule["rule"], mode="eval"))
            if isinstance(n, ast.Constant) and isinstance(n.value, int)
        ]
        assert all(v <= 16 for v in literals), (rule["rule"], "name a machine fact instead")
    text = json.dumps(spec)
    for word in ("KiB", "MiB", "zmm", "ymm", "32 registers", "16 registers", "1024 * 1024"):
        assert word not in text, f"{path.name} writes down {word!r}: use a machine fact"


# ------------------------------------------------------------------ facts from the OS
def _cache_dir(root: Path, level: int, kind: str, size: str, shared: str) -> None:
    d = root / f"index{level}{kind[0]}"
    d.mkdir(parents=True)
    (d / "level").write_text(f"{level}\n")
    (d / "type").write_text(f"{kind}\n")
    (d / "size").write_text(f"{size}\n")
    (d / "shared_cpu_list").write_text(f"{shared}\n")


def test_sysfs_caches_are_per_core_except_l3(tmp_path, monkeypatch):
    monkeypatch.setattr(machine, "_smt_per_core", lambda: 2)
    _cache_dir(tmp_path, 1, "Data", "48K", "0,64")
    _cache_dir(tmp_path, 1, "Instruction", "32K", "0,64")
    _cache_dir(tmp_path, 2, "Unified", "2048K", "0,64")
    _cache_dir(tmp_path, 3, "Unified", "107520K", "0-55,64-119")
    assert machine.sysfs_caches(tmp_path) == {"l1d": 48 * KIB, "l2": 2 * MIB, "l3": 105 * MIB}


def test_sysctl_caches_of_an_apple_core(monkeypatch):
    answers = {
        "hw.perflevel0.l1dcachesize": "131072",
        "hw.perflevel0.l2cachesize": "16777216",
        "hw.perflevel0.cpusperl2": "4",
    }
    monkeypatch.setattr(machine, "_sysctl", answers.get)
    assert machine.sysctl_caches() == {"l1d": 128 * KIB, "l2": 4 * MIB, "l3": 16 * MIB}


def test_host_isa_from_flags():
    assert machine.host_isa({"sse2", "avx", "avx2", "fma"}) == "AVX2"
    assert machine.host_isa({"avx2", "fma", "avx512f", "avx512vl"}) == "AVX-512"
    assert machine.host_isa({"asimd"}) == "NEON"
    assert machine.host_isa(set()) == "scalar"


def test_this_machine_is_described():
    m = machine.current()
    assert m.isa in ("AVX2", "AVX-512", "NEON", "AVX", "SSE2")
    assert m.l1d > 0 and m.l2 >= m.l1d and m.l3 >= m.l2 // 4 and m.cores >= 1
    assert m.tiles(), "no register tile fits?"
    facts = machine.describe()
    for key in ("isa", "lanes", "vregs", "l1d", "l2", "l3", "target_cpu", "rustflags"):
        assert key in facts


# ------------------------------------------------------------------ target CPUs
def test_a_target_cpu_sets_rustflags_and_the_isa(monkeypatch):
    from roundtable_tui.config import Settings

    cfg = Settings(target_cpu="x86-64-v3", rustflags="-C target-cpu=native -C opt-level=3")
    assert cfg.rustflags == "-C target-cpu=x86-64-v3 -C opt-level=3"
    assert machine.target_of(cfg.rustflags) == "x86-64-v3"
    monkeypatch.setattr(machine, "compiler_vector_bits", lambda flags: None)
    m = machine.detect(cfg)
    assert (m.isa, m.lanes, m.vregs, m.target_cpu) == ("AVX2", 8, 16, "x86-64-v3")


def test_a_target_beyond_the_host_is_refused(monkeypatch):
    monkeypatch.setattr(machine, "host_isa", lambda flags=None: "AVX2")
    with pytest.raises(machine.TargetError, match="needs AVX-512, which this CPU lacks"):
        machine.check_target("x86-64-v4")
    with pytest.raises(machine.TargetError, match="unknown target CPU 'pentium9'"):
        machine.check_target("pentium9")
    machine.check_target("x86-64-v3")  # a lesser or equal ISA is fine


def test_the_openblas_anchor_runs_on_the_kernels_isa(monkeypatch):
    monkeypatch.setattr(machine, "host_isa", lambda flags=None: "AVX-512")
    v3 = machine.Machine("x", "x86_64", "AVX2", 256, 16, True, 2, 1, 1, 1, 1, 1, "x86-64-v3")
    assert machine.openblas_coretype(v3) == "Haswell"
    native = machine.Machine("x", "x86_64", "AVX-512", 512, 32, True, 2, 1, 1, 1, 1, 1)
    assert machine.openblas_coretype(native) is None


# ------------------------------------------------------------------ off Linux
def _remove(monkeypatch, tmp_path, absent: str) -> None:
    """Simulates an OS without one of the checker's Linux-only protections."""
    if absent == "/proc":
        monkeypatch.setattr(protections, "PROC", tmp_path)  # an empty /proc
    else:
        symbol = {"namespaces": "unshare", "prctl": "prctl"}[absent]
        real = protections._libc_has
        monkeypatch.setattr(protections, "_libc_has", lambda s: s != symbol and real(s))


def test_on_linux_every_protection_is_there():
    if not sys.platform.startswith("linux"):
        pytest.skip("Linux only")
    assert all(p.available for p in protections.probe())
    assert protections.require() == []


@pytest.mark.parametrize("absent", ["namespaces", "prctl", "/proc"])
def test_a_missing_protection_refuses_the_check_unless_opted_in(monkeypatch, tmp_path, absent):
    from roundtable_tui.config import Settings, settings
    from roundtable_tui.kernels.checker import Checker

    _remove(monkeypatch, tmp_path, absent)
    missing = [p for p in protections.probe() if not p.available]
    assert absent in [p.name for p in missing]
    with pytest.raises(protections.Unprotected, match="ROUNDTABLE_ALLOW_UNPROTECTED=1"):
        Checker(settings()).check("pub fn sgemm() {}", "sgemm")
    allowed = Settings(allow_unprotected=True)
    assert absent in protections.require(allowed)
    # doctor names it, and says checks refuse without the opt-in
    from roundtable_tui.cli.doctor import machine_items

    items = {i.name: i for i in machine_items(settings())}
    item = items[f"protection: {absent}"]
    assert not item.ok and "checks refuse to run" in item.detail
    assert items["machine"].ok and machine.current().isa in items["machine"].detail


def test_an_opted_in_check_says_what_was_missing(monkeypatch, tmp_path, checker, quick):
    _remove(monkeypatch, tmp_path, "prctl")
    cfg = checker.cfg.model_copy(update={"allow_unprotected": True})
    from roundtable_tui.kernels.checker import Checker

    r = Checker(cfg).check("fn nothing() {}", "sgemm", quick())
    assert r.verdict == "rejected"  # refused by the static gate: no build needed
    assert r.flags["unprotected"] == "prctl"


def test_the_target_cpu_flag_reaches_the_templates(monkeypatch, capsys):
    from roundtable_tui.cli import main
    from roundtable_tui.config import settings

    monkeypatch.setenv("ROUNDTABLE_TARGET_CPU", "native")  # restored after the test
    try:
        assert main(["--target-cpu", "pentium9", "templates", "list"]) == 2
        assert "unknown target CPU 'pentium9'" in capsys.readouterr().err
        if machine.host_isa() not in ("AVX2", "AVX-512"):
            return
        assert main(["templates", "show", "sgemm/blis", "--target-cpu", "x86-64-v3"]) == 0
        shown = capsys.readouterr().out
        assert "Machine: AVX2+FMA · 8 f32 lanes (ymm) · 16 vector registers" in shown
        assert "built for x86-64-v3" in shown and "default 6)" in shown
    finally:
        settings.cache_clear()


@pytest.mark.slow
def test_a_kernel_built_for_a_lesser_isa_is_anchored_on_that_isa(quick):
    """Built for x86-64-v2 (SSE) on an AVX2 or AVX-512 machine: OpenBLAS runs its Nehalem
    kernels beside it, and the result says so."""
    from roundtable_tui.config import settings
    from roundtable_tui.kernels import problems
    from roundtable_tui.kernels.checker import Checker

    if machine.host_isa() not in ("AVX2", "AVX-512"):
        pytest.skip("needs an x86-64 machine with AVX2 or AVX-512")
    cfg = machine.with_target(
        settings().model_copy(update={"timeout_s": 20.0, "memory_limit_mb": 2048}), "x86-64-v2"
    )
    checker = Checker(cfg)
    if not checker.builder.openblas:
        pytest.skip("OpenBLAS is not installed")
    m = machine.current(cfg)
    assert (m.isa, m.lanes, m.target_cpu) == ("SSE2", 4, "x86-64-v2")
    naive = problems.naive_kernel_path(problems.get("sgemm"), cfg.rust_workspace).read_text()
    r = checker.check(naive, "sgemm", quick(shape={"m": 64, "n": 64, "k": 64}, baselines=True))
    assert r.passed, (r.verdict, r.reason)
    assert r.flags["openblas_coretype"] == "Nehalem"
    assert "openblas" in r.baselines and r.fraction_of_openblas
