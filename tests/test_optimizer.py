"""The optimizer beside the model: valid, unmeasured suggestions with reasons, tile shapes
first, deterministic for a session (resume and replay suggest what the live run did), every
measured set told, and a search that climbs a known landscape."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from roundtable_tui.core.optimizer import Candidate, ParameterOptimizer
from roundtable_tui.kernels import templates

BLIS = templates.family("sgemm/blis")
# three register tiles this machine's rules accept, other than the defaults' (AVX2 gives 2x32,
# 4x24, 10x8; AVX-512 and NEON others), so the tests hold on any ISA
T1, T2, T3 = [s for s in BLIS.tile_shapes() if s != (BLIS.defaults["mr"], BLIS.defaults["nr"])][:3]


def entry(parameters, gflops=None, fraction=None, verdict="passed", template=BLIS.id):
    return SimpleNamespace(
        template=template,
        parameters=BLIS.validate(parameters),
        verdict=verdict,
        gflops=gflops,
        fraction_of_openblas=fraction,
    )


def tile(mr: int, nr: int) -> dict:
    """The defaults with another register tile (nc kept a whole number of micro-panels)."""
    return BLIS.validate({"mr": mr, "nr": nr, "nc": nr * 128})


def landscape(values) -> float:
    """A made-up speed surface with one peak (T1 tiles, kc 384, mc 144, blocks)."""
    score = 1.0
    score -= 0.04 * abs(int(values["mr"]) - T1[0]) + 0.004 * abs(int(values["nr"]) - T1[1])
    score -= 0.0005 * abs(int(values["kc"]) - 384) + 0.0008 * abs(int(values["mc"]) - 144)
    score -= 0.2 * (values["parallel"] != "blocks") + 0.05 * (values["unroll_k"] != 1)
    return max(score, 0.01)


def test_suggestions_are_valid_unmeasured_and_have_reasons():
    opt = ParameterOptimizer(BLIS, seed=1)
    opt.tell(BLIS.defaults, 0.3)
    got = opt.suggest(BLIS.defaults, k=4)
    assert 1 <= len(got) <= 4
    for c in got:
        assert isinstance(c, Candidate)
        assert BLIS.validate(c.parameters) == c.parameters
        assert c.parameters != BLIS.defaults
        assert c.reason and c.source in ("tile", "tpe", "neighbour")
        # the changes are exactly what differs from the base
        assert {**BLIS.defaults, **c.changes} == c.parameters
    assert len({tuple(sorted(c.parameters.items())) for c in got}) == len(got)


def test_the_first_suggestion_is_the_machines_defaults_alone():
    opt = ParameterOptimizer(BLIS, seed=1)
    got = opt.suggest(None, k=3)
    assert [c.parameters for c in got] == [BLIS.defaults] and got[0].changes == {}
    opt.tell(BLIS.defaults, 0.3)
    assert len(opt.suggest(BLIS.defaults, k=3)) == 3


def test_register_tile_shapes_lead_until_three_are_measured():
    d = BLIS.defaults
    shapes = [T1, (5, 13), T2, T3]
    shapes = [s for s in shapes if s != (d["mr"], d["nr"])]
    opt = ParameterOptimizer(BLIS, seed=0, tile_shapes=shapes)
    opt.tell(d, 0.3)
    first = opt.suggest(d, k=2)
    assert [c.source for c in first] == ["tile", "tile"]
    assert (first[0].parameters["mr"], first[0].parameters["nr"]) == shapes[0]
    assert f"{shapes[0][0]}x{shapes[0][1]}" in first[0].reason
    # a tile shape the template refuses (13 columns is no whole number of vectors) is skipped
    assert all((c.parameters["mr"], c.parameters["nr"]) != (5, 13) for c in first)
    opt.tell(first[0].parameters, 0.5)
    opt.tell(opt.suggest(first[0].parameters, k=1)[0].parameters, 0.4)
    # three tile shapes measured: TPE leads now
    assert opt.suggest(first[0].parameters, k=1)[0].source == "tpe"


def test_the_template_tile_list_is_used_and_each_tile_gets_its_blocking():
    opt = ParameterOptimizer(BLIS)
    listed = getattr(BLIS, "tile_shapes", None)
    if listed is not None:
        assert opt.tiles() == listed()
    for values, reason in opt._tiles(BLIS.defaults):
        assert BLIS.validate(values) == values
        assert f"{values['mr']}x{values['nr']}" in reason


def test_derived_tile_shapes_are_valid_and_ordered_by_fmas_per_load():
    opt = ParameterOptimizer(BLIS)
    shapes = opt._derive_tiles()
    assert shapes, "the template accepts some tile shape"
    for mr, nr in shapes:
        BLIS.validate({"mr": mr, "nr": nr})

    lanes = {p.name: p for p in BLIS.params}["nr"].multiple_of

    def ratio(s):
        return (s[0] * s[1] / lanes) / (s[0] + s[1] / lanes)

    assert [ratio(s) for s in shapes] == sorted((ratio(s) for s in shapes), reverse=True)


def test_same_observations_and_seed_give_the_same_suggestions():
    def run():
        opt = ParameterOptimizer(BLIS, seed=7)
        for values, score in [
            (BLIS.defaults, 0.30),
            (tile(*T1), 0.55),
            (tile(*T2), 0.45),
            (tile(*T3), None),
        ]:
            opt.tell(BLIS.validate(values), score)
        return [c.parameters for c in opt.suggest(k=3)]

    assert run() == run()


def test_measured_and_failed_sets_are_never_suggested_again():
    opt = ParameterOptimizer(BLIS, seed=3)
    measured = []
    for step in range(8):
        got = opt.suggest(k=1)
        assert got, f"nothing suggested at step {step}"
        values = got[0].parameters
        assert values not in measured
        measured.append(values)
        opt.tell(values, None if step % 3 == 2 else landscape(values))


def test_from_entries_tells_the_family_sets_with_same_run_fractions():
    entries = [
        entry({}, gflops=40.0, fraction=0.30),
        entry(tile(*T1), gflops=30.0, fraction=0.45),  # slower raw, faster same-run
        entry(tile(*T2), verdict="wrong_result"),
        SimpleNamespace(
            template="", parameters={}, verdict="passed", gflops=9.0, fraction_of_openblas=0.1
        ),
    ]
    opt = ParameterOptimizer.from_entries(BLIS, entries, seed=0)
    assert len(opt.observations) == 3
    assert opt.best().parameters["mr"] == T1[0]
    assert opt.observations[2].score is None
    # without a fraction on some passed set, raw GFLOPS for all
    entries[1].fraction_of_openblas = None
    best = ParameterOptimizer.from_entries(BLIS, entries).best()
    assert best.parameters == BLIS.defaults


def test_a_value_off_the_ladder_is_still_told():
    opt = ParameterOptimizer(BLIS, seed=0)
    odd = BLIS.validate({"kc": 200, "mc": 100})  # a human's values, not on the ladders
    opt.tell(odd, 0.4)
    study, _dists, _ladders = opt.study()
    assert len(study.trials) == 1 and study.trials[0].params["kc"] == 200
    assert all(c.parameters != odd for c in opt.suggest(odd, k=3))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_search_climbs_a_known_landscape(seed):
    """Ten measurements from the defaults on a made-up surface: the optimizer alone gets
    beyond what the tile sweep found and never measures a set twice."""
    opt = ParameterOptimizer(BLIS, seed=seed)
    opt.tell(BLIS.defaults, landscape(BLIS.defaults))
    after_tiles = None
    for _ in range(10):
        best = opt.best()
        got = opt.suggest(best.parameters, k=1)
        assert got
        if got[0].source != "tile" and after_tiles is None:
            after_tiles = best.score
        opt.tell(got[0].parameters, landscape(got[0].parameters))
    sets = [tuple(sorted(o.parameters.items())) for o in opt.observations]
    assert len(set(sets)) == len(sets)
    assert opt.best().score > after_tiles > landscape(BLIS.defaults)


def test_every_family_can_be_searched():
    for fam in templates.families():
        opt = ParameterOptimizer(fam, seed=0)
        opt.tell(fam.defaults, 1.0)
        got = opt.suggest(k=2)
        assert got, fam.id
        for c in got:
            assert fam.validate(c.parameters) == c.parameters
