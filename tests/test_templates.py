"""The parameter path: template families load and validate, refuse bad parameter sets with
reasons, instantiate deterministically, pass `roundtable check` over a grid of parameter
sets (every correctness shape, edges included), compile to packed FMA, and drive the
manager without a model writing code."""

from __future__ import annotations

import json
import re
import threading

import pytest

from roundtable_tui.core.events import Agent, Kind
from roundtable_tui.core.manager import Manager, RunConfig
from roundtable_tui.core.review import AutoPolicy
from roundtable_tui.core.session import Session
from roundtable_tui.kernels import asm, machine, problems, templates
from roundtable_tui.llm.scripted import ScriptedBackend

from .scripted import SGEMM, SMALL

BLIS = templates.family("sgemm/blis")
HERE = BLIS.machine  # the machine the current settings build for: every figure below is its
LANES = HERE.lanes


def test_every_family_loads_and_its_defaults_are_valid():
    fams = templates.families()
    assert BLIS in fams
    for fam in fams:
        assert fam.problem in problems.PROBLEMS
        assert fam.validate({}) == fam.defaults
        for p in fam.params:
            assert p.help, f"{fam.id}.{p.name} needs a help text"
            for value in p.suggest:
                assert p.check(value) is None, f"{fam.id}: suggested {p.name}={value} invalid"


def test_schema_lists_every_parameter_with_the_template_choices():
    schema = BLIS.schema()
    assert set(schema["required"]) == {p.name for p in BLIS.params}
    assert schema["properties"]["parallel"]["enum"] == ["serial", "blocks", "split"]
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        ({"mr": 20}, "mr must be at most 16 (got 20)"),
        ({"nr": LANES + 1}, f"nr must be a multiple of {LANES}"),
        ({"kc": "big"}, "kc must be an integer"),
        ({"kc": True}, "kc must be an integer"),
        ({"parallel": "gpu"}, "parallel must be one of serial, blocks, split"),
        ({"tile": 4}, "unknown parameter 'tile'"),
        ({"mr": 8, "mc": 96}, "spills to the stack"),
        ({"mr": 12, "nr": LANES}, "vectorises across the tile's rows"),
        ({"mr": HERE.tile_rows(2) + 1, "nr": 2 * LANES}, f"{HERE.vregs} {HERE.vreg} registers"),
        ({"mr": 16, "nr": 32, "mc": 96}, "spills to the stack"),
        ({"kc": 2048, "mr": 12}, "L1 data cache"),
    ],
)
def test_invalid_parameters_are_refused_with_a_reason(given, fragment):
    with pytest.raises(templates.ParameterError) as info:
        BLIS.instantiate(given)
    assert any(fragment in r for r in info.value.reasons), info.value.reasons


def test_every_reason_is_reported_at_once():
    with pytest.raises(templates.ParameterError) as info:
        BLIS.validate({"mr": 0, "nr": 7, "zz": 1})
    assert len(info.value.reasons) == 3


def test_quoted_numbers_from_a_model_are_accepted():
    assert BLIS.validate({"kc": "384"})["kc"] == 384


def test_instantiation_is_deterministic_and_only_touches_the_marked_constants():
    kc = BLIS.defaults["kc"] - 8
    a = BLIS.instantiate({"kc": kc, "parallel": "split"})
    assert a == BLIS.instantiate({"parallel": "split", "kc": kc})
    assert f"const KC: usize = {kc}; // @param kc" in a
    assert "const PAR: Par = Par::Split; // @param parallel" in a
    assert a.startswith("// roundtable template sgemm/blis: ")
    default = BLIS.instantiate({})
    changed = [(x, y) for x, y in zip(default.splitlines(), a.splitlines(), strict=True) if x != y]
    assert len(changed) == 3  # the header, KC and PAR


def test_neighbours_are_valid_untried_one_parameter_moves():
    best = BLIS.defaults
    moves = BLIS.neighbours(best)
    ladder = next(p.suggest for p in BLIS.params if p.name == "kc")
    at = ladder.index(best["kc"])
    below, above = ladder[at - 1], ladder[at + 1]
    assert {"kc": below} in moves and {"kc": above} in moves and {"parallel": "split"} in moves
    assert {"mr": 16} not in moves  # spills: refused, so not offered
    for move in moves:
        assert len(move) == 1
        BLIS.validate({**best, **move})
    measured = [BLIS.validate({"kc": below})]
    assert {"kc": below} not in BLIS.neighbours(best, measured)


@pytest.mark.parametrize(
    "ident,mode",
    [
        ("sgemm/blis", "split"),
        ("matmul_backward/blis", "split"),
        ("matmul_forward/blis", "split"),
        ("binary_gemm/packed", "rows"),
    ],
)
def test_a_parameter_the_kernel_ignores_is_not_a_new_set(ident, mode):
    """split_tasks only matters when the C rows are split: elsewhere two sets that differ in
    it build the same kernel, so they compare equal and no move offers it."""
    fam = templates.family(ident)
    base = fam.validate({"parallel": "serial"})
    assert fam.validate({**base, "split_tasks": 8}) == base
    assert fam.ignored({"split_tasks": 8, "parallel": "serial"}) == [
        f"split_tasks (only when parallel == '{mode}')"
    ]
    assert all("split_tasks" not in m for m in fam.neighbours(base))
    split = fam.validate({**base, "parallel": mode, "split_tasks": 8})
    assert split["split_tasks"] == 8 and fam.ignored(split) == []
    assert any("split_tasks" in m for m in fam.neighbours(split))
    assert "only when parallel ==" in next(p.describe() for p in fam.params if p.when)


def test_rules_cannot_run_code():
    rule = templates.Rule("__import__('os').system('true')", "nope")
    with pytest.raises(ValueError, match="not allowed"):
        rule.holds({"mr": 1})


def test_a_marked_constant_without_a_declaration_is_an_error(tmp_path, monkeypatch):
    fam_dir = tmp_path / "sgemm"
    fam_dir.mkdir()
    (fam_dir / "bad.rs").write_text(BLIS.source.replace("// @param kc", "// @param kk"))
    (fam_dir / "bad.json").write_text(
        json.dumps({"params": {p.name: {"type": "int", "default": 1} for p in BLIS.params}})
    )
    monkeypatch.setattr(templates, "TEMPLATES_DIR", tmp_path)
    templates.families.cache_clear()
    try:
        with pytest.raises(templates.TemplateError, match="do not match"):
            templates.families()
    finally:
        monkeypatch.undo()
        templates.families.cache_clear()


# A grid meant to find edge bugs: tiny blocks (every shape has remainders), k-unrolling with
# a tail, every threading mode and loop order, tall and wide tiles.
# The tiles come from this machine's register file (the widest and the tallest that fit).
(WIDE_MR, WIDE_NR), *_, (TALL_MR, TALL_NR) = BLIS.tile_shapes()
MR0 = BLIS.defaults["mr"]
SGEMM_GRID = [
    {},
    {"mr": 4, "nr": LANES, "mc": 8, "kc": 16, "nc": 4 * LANES, "parallel": "serial"},
    {
        "mr": WIDE_MR,
        "nr": WIDE_NR,
        "mc": 3 * WIDE_MR,
        "kc": 24,
        "nc": 2 * WIDE_NR,
        "loop_order": "jr_ir",
    },
    {
        "mr": TALL_MR,
        "nr": TALL_NR,
        "mc": 3 * TALL_MR,
        "kc": 40,
        "nc": 4 * TALL_NR,
        "unroll_k": 4,
        "parallel": "split",
        "split_tasks": 3,
    },
    {"mr": 1, "nr": LANES, "mc": 1, "kc": 8, "nc": LANES, "parallel": "blocks", "unroll_k": 3},
    {"parallel": "split", "split_tasks": 64, "kc": 512},
    {"mc": 8 * MR0 + 4, "kc": 40, "unroll_k": 2},  # blocks end in a partial micro-panel
]


@pytest.mark.slow
@pytest.mark.parametrize("params", SGEMM_GRID, ids=lambda p: json.dumps(p) or "defaults")
def test_sgemm_template_passes_every_check_over_the_grid(checker, quick, params):
    source = BLIS.instantiate(params)
    r = checker.check(source, SGEMM, quick(shape={"m": 97, "n": 83, "k": 71}))
    assert r.passed, (r.verdict, r.reason, r.compiler_output[-2000:])
    names = {c.name for c in r.checks}
    assert len(names) >= len(SGEMM.correctness_shapes)


def test_assembly_analysis_counts_fma_widths_and_spills():
    listing = "\n".join(
        [
            "_ZN9candidate6kernel12micro_kernel17h0123456789abcdefE:",
            "\tvfmadd231ps\t%zmm1, %zmm2, %zmm3",
            "\tvfmadd213ps\t(%rax), %ymm2, %ymm3",
            "\tvfmadd231ss\t%xmm1, %xmm2, %xmm3",
            "\tvmovups\t%zmm3, 64(%rsp)",
            "\t.cfi_endproc",
            "_ZN4core3ptr8drop_in_place17h0123456789abcdefE:",
            "\tretq",
        ]
    )
    funcs = asm.kernel_functions(listing)
    assert [f.name for f in funcs] == ["candidate::kernel::micro_kernel"]
    f = funcs[0]
    assert (f.fma["zmm"], f.fma["ymm"], f.fma["scalar"], f.stack_refs) == (1, 1, 1, 1)
    assert f.packed_fma == 2


# --------------------------------------------------------------------- the manager's path
def _proposal(params: dict, title: str = "retune", kind: str = "parameters") -> dict:
    """A Proposer reply on the parameter path: the changes from the best set."""
    body = {"kind": kind, "changes": params, "idea": title}
    return {"tag": "proposer", "text": json.dumps(body)}


def _run(tmp_path, replies, iterations=1, **cfg):
    backend = ScriptedBackend(replies)
    session = Session.create(tmp_path, {"problem": "sgemm", "model": "scripted"}, "t")
    events = []
    m = Manager(
        session,
        backend,
        SGEMM,
        AutoPolicy(),
        RunConfig(iterations=iterations, check=SMALL, **cfg),
        on_event=events.append,
        machine={"cores": 2, "simd": "AVX-512"},
    )
    reason = m.run(threading.Event())
    session.close()
    return m, events, reason, backend


@pytest.mark.slow
def test_a_parameter_proposal_is_filled_in_without_the_coder_model(tmp_path):
    params = {"kc": 128, "mc": 48}
    m, events, reason, backend = _run(tmp_path, [_proposal(params)], search="model")
    assert "iteration budget" in reason
    assert [tag for tag, _ in backend.calls] == ["proposer"]  # no coder call at all
    system = backend.calls[0][1][0].content
    assert "Template sgemm/blis" in system and "kc (8..2048 step 8" in system
    kernel = [e for e in events if e.kind is Kind.KERNEL and e.iteration == 1][0]
    assert kernel.agent is Agent.CODER
    assert kernel.data["template"] == "sgemm/blis"
    assert kernel.data["code"] == templates.family("sgemm/blis").instantiate(params)
    result = [e for e in events if e.kind is Kind.CHECK_RESULT and e.iteration == 1][0].data
    assert result["verdict"] == "passed"
    assert result["parameters"] == BLIS.validate(params)
    entry = [e for e in m.state.entries if e.template][0]
    assert entry.parameters["kc"] == 128
    assert entry.title == "blis: kc 128, mc 48"
    # the next proposal sees what was measured, as changes from the defaults, and where to go
    assert m.space.tried(m.state)[0].startswith("kc=128 mc=48 -> ")
    untried = m._context()["untried"]
    assert untried and all("=" in u for u in untried)


@pytest.mark.slow
def test_a_refused_set_goes_back_to_the_proposer_with_the_reason(tmp_path):
    replies = [_proposal({"mr": 8}), _proposal({"mr": 16})]
    m, events, _, backend = _run(tmp_path, replies, search="model")
    retry = backend.calls[1][1][-1].content
    assert retry.startswith("Refused: with mr 8 or 16")
    # the second answer was refused too: the Verifier vetoes it with every reason
    veto = [e for e in events if e.kind is Kind.VERIFICATION and e.iteration == 1][0].data
    assert veto["ok"] is False and "spills to the stack" in veto["detail"]
    assert not [e for e in events if e.kind is Kind.KERNEL and e.iteration == 1]
    assert m.state.entries[-1].verdict == "vetoed"


@pytest.mark.slow
def test_a_set_measured_before_is_not_measured_again(tmp_path):
    replies = [_proposal({"kc": 128}), _proposal({"kc": 128}), _proposal({"kc": 128})]
    m, events, _, backend = _run(tmp_path, replies, iterations=2, search="model")
    second = [msgs for tag, msgs in backend.calls][1:]
    assert "kc=128 -> " in second[0][-1].content  # iteration 2's prompt lists it
    assert re.match(r"Refused: that exact set was measured in iteration 1", second[1][-1].content)
    checks = [e for e in events if e.kind is Kind.CHECK_RESULT]
    assert len(checks) == 2  # the seed and iteration 1 only


@pytest.mark.slow
def test_changes_apply_to_the_best_set_and_an_empty_change_is_refused(tmp_path):
    replies = [_proposal({"kc": 128}), _proposal({}), _proposal({"mc": 48})]
    m, events, _, backend = _run(tmp_path, replies, iterations=2, search="model")
    assert backend.calls[2][1][-1].content.startswith("Refused: `changes` is empty")
    params = [e.data["parameters"] for e in events if e.kind is Kind.CHECK_RESULT and e.iteration]
    # mc follows kc where it was not set (derived for this machine's L2 and tile)
    derived = BLIS.validate({"kc": 128})["mc"]
    assert [(p["kc"], p["mc"]) for p in params] == [(128, derived), (128, 48)]


def test_strategy_code_keeps_the_free_form_path(tmp_path):
    from .scripted import NAIVE, fenced, proposal

    m, events, _, backend = _run(
        tmp_path, [proposal(), {"tag": "coder", "text": fenced(NAIVE)}], strategy="code"
    )
    assert [tag for tag, _ in backend.calls] == ["proposer", "coder"]
    assert "Template" not in backend.calls[0][1][0].content
    result = [e for e in events if e.kind is Kind.CHECK_RESULT][-1].data
    assert result["verdict"] == "passed" and "template" not in result


def test_strategy_parameters_needs_a_template(tmp_path):
    session = Session.create(tmp_path, {"problem": "sgemm", "model": "scripted"}, "t")
    with pytest.raises(ValueError, match="unknown strategy"):
        Manager(session, ScriptedBackend([]), SGEMM, AutoPolicy(), RunConfig(strategy="x"))
    session.close()


# ------------------------------------------------- the other problems' template families
# Grids meant to find edge bugs, as for sgemm: tiny blocks and one-row or one-vector tiles
# (every shape has remainders, depth blocks that add), k-unrolling with a tail, every
# threading mode and loop order, more tasks than rows, blocks larger than the matrices.
def _other_grid(ident: str) -> list[dict]:
    fam = templates.family(ident)
    (wide_mr, wide_nr), *_, (tall_mr, tall_nr) = fam.tile_shapes()
    l2_floats = fam.machine.l2 // 4
    if ident == "binary_gemm/packed":
        return [
            {},
            {"mr": 1, "nr": 16, "kc": 8, "nc": 16, "parallel": "serial"},
            {
                "mr": wide_mr,
                "nr": wide_nr,
                "kc": 24,
                "nc": 2 * wide_nr,
                "unroll_k": 3,
                "loop_order": "ir_jr",
            },
            {"mr": 5, "nr": 16, "kc": 40, "nc": 64, "parallel": "rows", "split_tasks": 3},
            {
                "mr": tall_mr,
                "nr": tall_nr,
                "kc": 512,
                "nc": 256,
                "unroll_k": 4,
                "parallel": "columns",
            },
            # blocks as large as this machine's L2 allows
            {
                "mr": 2,
                "nr": 32,
                "kc": 64,
                "nc": min(4096, l2_floats // 64 // 32 * 32),
                "parallel": "rows",
                "split_tasks": 64,
            },
            {"kc": 128, "nc": l2_floats // 2 // 128 // 64 * 64, "parallel": "shared"},
        ]
    four = min(fam.machine.tile_cols(4), 4 * LANES)
    grid = [
        {},
        {"mr": 1, "nr": LANES, "mc": 1, "kc": 8, "nc": LANES, "parallel": "serial"},
        {
            "mr": wide_mr,
            "nr": wide_nr,
            "mc": 3 * wide_mr,
            "kc": 24,
            "nc": 2 * wide_nr,
            "unroll_k": 3,
        },
        {
            "mr": 5,
            "nr": 2 * LANES,
            "mc": 10,
            "kc": 40,
            "nc": 12 * LANES,
            "parallel": "split",
            "split_tasks": 3,
        },
        {
            "mr": 4,
            "nr": four,
            "mc": min(256, l2_floats // 512 // 4 * 4),
            "kc": 512,
            "nc": 4096 // four * four,
        },
        {
            "mr": tall_mr,
            "nr": tall_nr,
            "parallel": "split",
            "split_tasks": 64,
            "unroll_k": 2,
            "mc": 8 * tall_mr,
        },
    ]
    if ident == "matmul_forward/blis":
        grid[2]["loop_order"] = "ir_jr"
        grid[4]["unroll_k"] = 4
    else:
        grid[2]["gemms"] = "in_turn"
        grid[4]["loop_order"] = "ir_jr"
        grid[5]["gemms"] = "in_turn"
    return grid


# Grids meant to find edge bugs, as for sgemm: tiny blocks and one-row or one-vector tiles
# (every shape has remainders, depth blocks that add), k-unrolling with a tail, every
# threading mode and loop order, more tasks than rows, blocks larger than the matrices; the
# tiles are this machine's (the widest and the tallest that fit its registers).
OTHER_GRIDS = {
    ident: _other_grid(ident)
    for ident in ("matmul_forward/blis", "matmul_backward/blis", "binary_gemm/packed")
}
# Benchmark shapes off every tile multiple (the correctness shapes are the catalogue's).
SMALL_SHAPES = {
    "matmul_forward": {"b": 3, "t": 29, "c": 71, "oc": 53},
    "matmul_backward": {"b": 3, "t": 29, "c": 71, "oc": 53},
    "binary_gemm": {"m": 7, "n": 197, "k": 83},
}
OTHER_CASES = [(fam, params) for fam, grid in OTHER_GRIDS.items() for params in grid]


def test_the_other_grids_are_valid_and_cover_every_choice():
    for ident, grid in OTHER_GRIDS.items():
        fam = templates.family(ident)
        for params in grid:
            fam.validate(params)
        for p in fam.params:
            if p.type == "choice":
                used = {fam.validate(params)[p.name] for params in grid}
                assert used == {c for c, _ in p.choices}, f"{ident}: grid misses {p.name}"


@pytest.mark.parametrize(
    ("ident", "given", "fragment"),
    [
        ("matmul_forward/blis", {"mr": 8, "mc": 96}, "LLVM vectorises across the tile's rows"),
        ("matmul_forward/blis", {"mr": 10, "mc": 96}, "mc must be a multiple of mr"),
        ("matmul_forward/blis", {"mr": 12, "nr": 64, "mc": 96}, "spills to the stack"),
        ("matmul_backward/blis", {"nc": 100}, "nc must be a multiple of nr"),
        ("matmul_backward/blis", {"gemms": "parallel"}, "gemms must be one of in_turn, joined"),
        ("matmul_backward/blis", {"mc": 1020, "mr": 6, "kc": 512}, "L2 cache"),
        ("binary_gemm/packed", {"nc": 200}, "nc must be a multiple of nr"),
        ("binary_gemm/packed", {"kc": 2048, "nc": 512}, "L2 cache"),
        ("binary_gemm/packed", {"parallel": "blocks"}, "parallel must be one of serial"),
    ],
)
def test_the_other_families_refuse_bad_sets_with_a_reason(ident, given, fragment):
    with pytest.raises(templates.ParameterError) as info:
        templates.family(ident).validate(given)
    assert any(fragment in r for r in info.value.reasons), info.value.reasons


@pytest.mark.slow
@pytest.mark.parametrize(
    ("ident", "params"), OTHER_CASES, ids=[f"{f}:{json.dumps(p)}" for f, p in OTHER_CASES]
)
def test_the_other_templates_pass_every_check_over_their_grids(checker, quick, ident, params):
    fam = templates.family(ident)
    problem = problems.get(fam.problem)
    r = checker.check(fam.instantiate(params), fam.problem, quick(shape=SMALL_SHAPES[fam.problem]))
    assert r.passed, (r.verdict, r.reason, r.compiler_output[-2000:])
    names = {c.name for c in r.checks}
    assert len(names) >= len(problem.correctness_shapes)


# ------------------------------------------------------- assembly, per instruction set
# The rules promise that every tile they accept stays in registers on the machine they were
# derived for. Assembly needs no running, so any x86-64 machine checks AVX2 (x86-64-v3),
# AVX-512 at 512 bits (znver4) and AVX-512 at 256 bits (x86-64-v4, as LLVM tunes Intel's
# cores) besides its own instruction set.
TILED = [f.id for f in templates.families() if {"mr", "nr"} <= {p.name for p in f.params}]
OTHER_TARGETS = ["x86-64-v3", "znver4", "x86-64-v4"] if HERE.arch == "x86_64" else []


def _target_settings(target: str):
    from roundtable_tui.config import settings

    return settings() if target == "native" else machine.with_target(settings(), target, run=False)


@pytest.fixture(scope="session")
def builder_for():
    """A Builder (its own build copy) per target CPU."""
    from roundtable_tui.kernels.build import Builder

    made: dict = {}

    def get(target: str):
        if target not in made:
            made[target] = Builder(_target_settings(target))
        return made[target]

    return get


def _asm_cases() -> list[tuple[str, str, dict]]:
    """(target, family, parameter set): on this machine the defaults and every start tile;
    on the other instruction sets the defaults and the widest start tile, and every start
    tile of sgemm/blis (the families share its micro-kernel: a 7x48 tile on AVX-512 spilled
    in all four, unseen from an AVX2 host that built only the widest). A target that builds
    what this machine builds natively adds nothing and is left out."""
    cases: list[tuple[str, str, dict]] = []
    for target in ["native", *OTHER_TARGETS]:
        m = machine.current(_target_settings(target))
        if target != "native" and (m.isa, m.vector_bits, m.vregs) == (
            HERE.isa,
            HERE.vector_bits,
            HERE.vregs,
        ):
            continue
        for ident in TILED:
            fam = templates.family(ident, m)
            every = target == "native" or ident == "sgemm/blis"
            sets = [fam.defaults, *fam.start_sets()[: None if every else 1]]
            for values in sets:
                if (target, ident, values) not in cases:
                    cases.append((target, ident, values))
    return cases


ASM_CASES = _asm_cases()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("target", "ident", "values"),
    ASM_CASES,
    ids=[f"{t}:{i}:{v['mr']}x{v['nr']}" for t, i, v in ASM_CASES],
)
def test_the_tiles_the_rules_allow_compile_to_packed_fma_without_spills(
    builder_for, target, ident, values
):
    builder = builder_for(target)
    m = machine.current(builder.cfg)
    fam = templates.family(ident, m)
    listing = builder.assembly(fam.instantiate(values), problems.get(fam.problem))
    funcs = {f.name.rsplit("::", 1)[-1]: f for f in asm.kernel_functions(listing)}
    micro = funcs["micro_kernel"]
    vectors = values["mr"] * -(-values["nr"] // m.lanes)
    assert micro.fma[m.vreg] >= vectors, (m.summary(), micro.summary())
    assert micro.fma["scalar"] == 0, micro.summary()
    assert micro.stack_refs == 0, (values, micro.summary())


@pytest.fixture(scope="session")
def avx2_checker():
    """A checker building every kernel for x86-64-v3 (AVX2), with its OpenBLAS anchor on
    OpenBLAS's Haswell kernels."""
    from roundtable_tui.config import settings
    from roundtable_tui.kernels.checker import Checker

    if HERE.arch != "x86_64" or "avx2" not in machine.cpu_flags():
        pytest.skip("x86-64-v3 kernels need an x86-64 CPU with AVX2")
    cfg = settings().model_copy(update={"timeout_s": 20.0, "memory_limit_mb": 2048})
    return Checker(machine.with_target(cfg, "x86-64-v3"))


@pytest.mark.slow
@pytest.mark.parametrize("ident", TILED)
def test_the_templates_built_for_avx2_pass_every_check(avx2_checker, quick, ident):
    m = machine.current(avx2_checker.cfg)
    assert (m.isa, m.lanes, m.vregs, m.target_cpu) == ("AVX2", 8, 16, "x86-64-v3")
    fam = templates.family(ident, m)
    shape = SMALL_SHAPES.get(fam.problem, {"m": 97, "n": 83, "k": 71})
    r = avx2_checker.check(fam.instantiate({}), fam.problem, quick(shape=shape))
    assert r.passed, (r.verdict, r.reason, r.compiler_output[-2000:])
    assert "target-cpu=x86-64-v3" in r.flags.get("rustflags", "")
