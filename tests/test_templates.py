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
from roundtable_tui.kernels import asm, problems, templates
from roundtable_tui.llm.scripted import ScriptedBackend

from .scripted import SGEMM, SMALL

BLIS = templates.family("sgemm/blis")


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
        ({"nr": 40}, "nr must be a multiple of 16"),
        ({"kc": "big"}, "kc must be an integer"),
        ({"kc": True}, "kc must be an integer"),
        ({"parallel": "gpu"}, "parallel must be one of serial, blocks, split"),
        ({"tile": 4}, "unknown parameter 'tile'"),
        ({"mr": 8, "mc": 96}, "spills to the stack"),
        ({"mr": 12, "nr": 16}, "vectorises across the tile's rows"),
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
    a = BLIS.instantiate({"kc": 384, "parallel": "split"})
    assert a == BLIS.instantiate({"parallel": "split", "kc": 384})
    assert "const KC: usize = 384; // @param kc" in a
    assert "const PAR: Par = Par::Split; // @param parallel" in a
    assert a.startswith("// roundtable template sgemm/blis: ")
    default = BLIS.instantiate({})
    changed = [(x, y) for x, y in zip(default.splitlines(), a.splitlines(), strict=True) if x != y]
    assert len(changed) == 3  # the header, KC and PAR


def test_neighbours_are_valid_untried_one_parameter_moves():
    best = BLIS.defaults
    moves = BLIS.neighbours(best)
    assert {"kc": 192} in moves and {"kc": 320} in moves and {"parallel": "split"} in moves
    assert {"mr": 16} not in moves  # spills: refused, so not offered
    for move in moves:
        assert len(move) == 1
        BLIS.validate({**best, **move})
    measured = [BLIS.validate({"kc": 192})]
    assert {"kc": 192} not in BLIS.neighbours(best, measured)


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
SGEMM_GRID = [
    {},
    {"mr": 4, "nr": 16, "mc": 8, "kc": 16, "nc": 32, "parallel": "serial"},
    {"mr": 6, "nr": 64, "mc": 18, "kc": 24, "nc": 128, "loop_order": "ir_jr"},
    {"mr": 10, "nr": 32, "mc": 30, "kc": 40, "unroll_k": 4, "parallel": "split", "split_tasks": 3},
    {"mr": 1, "nr": 16, "mc": 1, "kc": 8, "nc": 16, "parallel": "blocks", "unroll_k": 3},
    {"parallel": "split", "split_tasks": 64, "kc": 512},
    {"mr": 12, "mc": 100, "kc": 40, "unroll_k": 2},  # blocks end in a partial micro-panel
]


@pytest.mark.slow
@pytest.mark.parametrize("params", SGEMM_GRID, ids=lambda p: json.dumps(p) or "defaults")
def test_sgemm_template_passes_every_check_over_the_grid(checker, quick, params):
    source = BLIS.instantiate(params)
    r = checker.check(source, SGEMM, quick(shape={"m": 97, "n": 83, "k": 71}))
    assert r.passed, (r.verdict, r.reason, r.compiler_output[-2000:])
    names = {c.name for c in r.checks}
    assert len(names) >= len(SGEMM.correctness_shapes)


@pytest.mark.slow
@pytest.mark.parametrize(
    "params", [{}, {"mr": 6, "nr": 64, "mc": 96}, {"mr": 4, "nr": 48, "nc": 960}]
)
def test_the_micro_kernel_compiles_to_packed_fma_without_spills(checker, params):
    listing = checker.builder.assembly(BLIS.instantiate(params), SGEMM)
    funcs = {f.name.rsplit("::", 1)[-1]: f for f in asm.kernel_functions(listing)}
    micro = funcs["micro_kernel"]
    values = BLIS.validate(params)
    tile_vectors = values["mr"] * values["nr"] // 16
    assert micro.fma["zmm"] >= tile_vectors, micro.summary()
    assert micro.fma["scalar"] == 0, micro.summary()
    assert micro.stack_refs == 0, micro.summary()


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
    m, events, reason, backend = _run(tmp_path, [_proposal(params)])
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
    assert m._tried()[0].startswith("kc=128 mc=48 -> ")
    untried = m._context()["untried"]
    assert untried and all("=" in u for u in untried)


@pytest.mark.slow
def test_a_refused_set_goes_back_to_the_proposer_with_the_reason(tmp_path):
    replies = [_proposal({"mr": 8}), _proposal({"mr": 16})]
    m, events, _, backend = _run(tmp_path, replies)
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
    m, events, _, backend = _run(tmp_path, replies, iterations=2)
    second = [msgs for tag, msgs in backend.calls][1:]
    assert "kc=128 -> " in second[0][-1].content  # iteration 2's prompt lists it
    assert re.match(r"Refused: that exact set was measured in iteration 1", second[1][-1].content)
    checks = [e for e in events if e.kind is Kind.CHECK_RESULT]
    assert len(checks) == 2  # the seed and iteration 1 only


@pytest.mark.slow
def test_changes_apply_to_the_best_set_and_an_empty_change_is_refused(tmp_path):
    replies = [_proposal({"kc": 128}), _proposal({}), _proposal({"mc": 48})]
    m, events, _, backend = _run(tmp_path, replies, iterations=2)
    assert backend.calls[2][1][-1].content.startswith("Refused: `changes` is empty")
    params = [e.data["parameters"] for e in events if e.kind is Kind.CHECK_RESULT and e.iteration]
    assert [(p["kc"], p["mc"]) for p in params] == [(128, 96), (128, 48)]


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
OTHER_GRIDS = {
    "matmul_forward/blis": [
        {},
        {"mr": 1, "nr": 16, "mc": 1, "kc": 8, "nc": 16, "parallel": "serial"},
        {"mr": 12, "nr": 32, "mc": 36, "kc": 24, "nc": 64, "unroll_k": 3, "loop_order": "ir_jr"},
        {"mr": 5, "nr": 48, "mc": 10, "kc": 40, "nc": 96, "parallel": "split", "split_tasks": 3},
        {"mr": 4, "nr": 64, "mc": 512, "kc": 512, "nc": 4096, "unroll_k": 4},
        {"parallel": "split", "split_tasks": 64, "unroll_k": 2},
    ],
    "matmul_backward/blis": [
        {},
        {"mr": 1, "nr": 16, "mc": 1, "kc": 8, "nc": 16, "parallel": "serial"},
        {"mr": 12, "nr": 32, "mc": 36, "kc": 24, "nc": 64, "unroll_k": 3, "gemms": "in_turn"},
        {"mr": 5, "nr": 48, "mc": 10, "kc": 40, "nc": 96, "parallel": "split", "split_tasks": 3},
        {"mr": 4, "nr": 64, "mc": 512, "kc": 512, "nc": 4096, "loop_order": "ir_jr"},
        {"parallel": "split", "split_tasks": 64, "gemms": "in_turn", "unroll_k": 2},
    ],
    "binary_gemm/packed": [
        {},
        {"mr": 1, "nr": 16, "kc": 8, "nc": 16, "parallel": "serial"},
        {"mr": 6, "nr": 48, "kc": 24, "nc": 96, "unroll_k": 3, "loop_order": "ir_jr"},
        {"mr": 5, "nr": 32, "kc": 40, "nc": 64, "parallel": "rows", "split_tasks": 3},
        {"mr": 12, "nr": 32, "kc": 1024, "nc": 256, "unroll_k": 4, "parallel": "columns"},
        {"mr": 2, "nr": 64, "kc": 64, "nc": 4096, "parallel": "rows", "split_tasks": 64},
        {"kc": 128, "nc": 2048, "parallel": "shared"},
    ],
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
        ("matmul_forward/blis", {"mr": 8, "mc": 96}, "mr = 8 (a power of two) makes LLVM"),
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


@pytest.mark.slow
@pytest.mark.parametrize(
    ("ident", "params"),
    [
        ("matmul_forward/blis", {}),
        ("matmul_forward/blis", {"mr": 12, "nr": 32, "mc": 96, "unroll_k": 2}),
        ("matmul_backward/blis", {}),
        ("matmul_backward/blis", {"mr": 10, "nr": 32, "mc": 90}),
        ("binary_gemm/packed", {}),
        ("binary_gemm/packed", {"mr": 6, "nr": 64, "unroll_k": 4}),
    ],
)
def test_the_other_micro_kernels_compile_to_packed_fma_without_spills(checker, ident, params):
    fam = templates.family(ident)
    listing = checker.builder.assembly(fam.instantiate(params), problems.get(fam.problem))
    funcs = {f.name.rsplit("::", 1)[-1]: f for f in asm.kernel_functions(listing)}
    micro = funcs["micro_kernel"]
    values = fam.validate(params)
    assert micro.fma["zmm"] >= values["mr"] * values["nr"] // 16, micro.summary()
    assert micro.fma["scalar"] == 0, micro.summary()
    assert micro.stack_refs == 0, micro.summary()
