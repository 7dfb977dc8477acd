"""The parent's inputs and checks (guard zones, special values, bounds), and the timing
statistics."""

import json
import math

import numpy as np
import pytest

from roundtable_tui.kernels import inputs, problems
from roundtable_tui.kernels.verdict import CheckResult, Stats, Verdict

SGEMM = problems.get("sgemm")


def run_honestly(call: inputs.Call, dtype=np.float32) -> list[np.ndarray | None]:
    """The outputs an honest kernel leaves (computed in `dtype`), tails untouched."""
    outs = [None if o is None else o.copy() for o in call.outputs]
    for pr in inputs.products(call):
        with np.errstate(all="ignore"):
            p, q = pr.p().astype(dtype), pr.q().astype(dtype)
            val = p @ q
            if pr.init is not None:
                val = val + pr.init.astype(dtype)
        out = outs[pr.slot]
        out[: pr.rows * pr.cols] = val.astype(np.float32).ravel()
    return outs


def test_distributions_span_magnitudes_and_are_finite():
    rng = np.random.default_rng(1)
    for dist in inputs.CASE_DISTRIBUTIONS:
        v = inputs.draw(rng, dist, 4096)
        assert v.dtype == np.float32 and np.isfinite(v).all(), dist
    assert (inputs.draw(rng, "positive", 1000) >= 0).all()
    ints = inputs.draw(rng, "integers", 1000)
    assert np.array_equal(ints, np.round(ints))
    assert np.abs(inputs.draw(rng, "tiny", 1000)).max() < 2.0**-30
    assert np.abs(inputs.draw(rng, "large", 1000)).max() > 2.0**19
    away = np.abs(inputs.draw(rng, "away", 1000))
    assert away.min() >= 0.5 and away.max() < 2.0


def test_canaries_are_never_nan_and_tails_are_poison():
    rng = np.random.default_rng(2)
    c = inputs.canaries(rng, 100_000)
    assert np.isfinite(c).all()
    assert len(np.unique(c.view(np.uint32))) > 99_000
    call = inputs.make_call(SGEMM, (5, 6, 7), rng, label="t", slack=9)
    assert all(
        not np.isfinite(a[a.size - 9 :]).all() or np.abs(a[-9:]).max() > 1e37 for a in call.inputs
    )
    assert np.isnan(call.outputs[0][:30]).all() and np.isfinite(call.outputs[0][30:]).all()


def test_full_check_accepts_f32_and_refuses_one_wrong_element():
    rng = np.random.default_rng(3)
    call = inputs.make_call(SGEMM, (40, 50, 600), rng, label="t", slack=4, dists=("away",))
    outs = run_honestly(call)
    assert inputs.check_full(call, outs)[0] is None
    outs[0][40 * 50 - 1] += 0.25  # case 01: one element among 2000, far below a row-sum test
    msg, _ = inputs.check_full(call, outs)
    assert msg and "c[39,49]" in msg and "shape 40x50x600" in msg


def test_bound_admits_f32_rounding_and_refuses_bf16():
    rng = np.random.default_rng(5)
    call = inputs.make_call(SGEMM, (64, 64, 256), rng, label="t", dists=("uniform",))
    assert inputs.check_full(call, run_honestly(call))[0] is None

    def to_bf16(x):
        return (x.astype(np.float32).view(np.uint32) & 0xFFFF0000).view(np.float32)

    low = call.outputs[0].copy()
    (pr,) = inputs.products(call)
    low[: 64 * 64] = (to_bf16(pr.p()).astype(np.float64) @ to_bf16(pr.q())).ravel()
    assert inputs.check_full(call, [low])[0]


def test_guards_catch_written_tails_and_modified_inputs():
    rng = np.random.default_rng(6)
    call = inputs.make_call(SGEMM, (3, 4, 5), rng, label="t", slack=8)
    outs = run_honestly(call)
    ins = [a.copy() for a in call.inputs]
    assert inputs.check_guards(call, ins, outs, None) is None
    outs[0][12] = 0.0  # zero, not NaN: the guard compares bits
    assert "past the 12" in inputs.check_guards(call, ins, outs, None)
    outs = run_honestly(call)
    ins[1][3] = -ins[1][3]
    assert "modified input `b`" in inputs.check_guards(call, ins, outs, None)


@pytest.mark.parametrize("special", ["zero_times_nan", "zero_times_inf"])
def test_nonfinite_inputs_must_reach_every_output_they_feed(special):
    """0·NaN and 0·Inf are NaN: a kernel that skips zero terms (a sparse path that tests B
    for NaN alone forgot Inf) leaves a finite value where the output must be NaN."""
    rng = np.random.default_rng(7)
    call = inputs.make_call(
        SGEMM, (6, 7, 8), rng, label="t", dists=("normal",), specials=(special,)
    )
    assert call.has_nonfinite
    (pr,) = inputs.products(call)
    q = pr.q()
    assert np.isnan(q).any() == (special == "zero_times_nan")
    assert np.isinf(q).any() == (special == "zero_times_inf")
    outs = run_honestly(call)
    assert inputs.check_full(call, outs)[0] is None
    j = int(np.argwhere(~np.isfinite(q).all(axis=0))[0][0])
    c = outs[0][:42].reshape(6, 7)
    c[:, j] = np.where(np.isnan(c[:, j]), 1.0, c[:, j])  # a kernel that skips zeros
    msg, _ = inputs.check_full(call, outs)
    assert msg and "must be non-finite" in msg


def test_subnormal_rows_are_not_flushed():
    rng = np.random.default_rng(8)
    call = inputs.make_call(SGEMM, (4, 5, 16), rng, label="t", specials=("subnormal",))
    outs = run_honestly(call, np.float64)
    assert inputs.check_full(call, outs)[0] is None
    (pr,) = inputs.products(call)
    p = pr.p()
    tiny = np.abs(p).max(axis=1) < 2.0**-126
    assert tiny.any()
    flushed = np.where(np.abs(p) < 2.0**-126, 0.0, p) @ pr.q()
    outs[0][:20] = flushed.astype(np.float32).ravel()
    assert inputs.check_full(call, outs)[0]


def test_sampled_check_catches_a_wrong_row_and_backward_accumulates():
    rng = np.random.default_rng(9)
    back = problems.get("matmul_backward")
    call = inputs.make_call(back, (2, 3, 4, 5), rng, label="t", slack=3)
    outs = run_honestly(call)
    assert [pr.name for pr in inputs.products(call)] == ["dinp", "dweight", "dbias"]
    assert inputs.check_sampled(call, outs, rng, 32, 2)[0] is None
    overwritten = [o.copy() for o in outs]
    (pr,) = [p for p in inputs.products(call) if p.name == "dweight"]
    overwritten[1][: pr.rows * pr.cols] = (pr.p() @ pr.q()).astype(np.float32).ravel()
    msg, _ = inputs.check_sampled(call, overwritten, rng, 32, 2)
    assert msg and "dweight" in msg


def test_a_dropped_starting_value_is_caught_at_any_input_scale():
    """The kind of redteam_dweight_overwrite_high_rows: `dweight = ...` for `+=` (and a
    forward bias left out) must be wrong by more than the bound in every call, fresh or
    updated, at every distribution and pool scale; at K = 4096 a prior drawn small once hid
    it."""
    back, fwd = problems.get("matmul_backward"), problems.get("matmul_forward")
    rng = np.random.default_rng(11)
    for n in range(60):
        dist = inputs.TIMED_DISTRIBUTIONS[n % len(inputs.TIMED_DISTRIBUTIONS)]
        pool = inputs.Pool(rng, 64 * 4096) if n % 2 else None
        for problem, dims in ((back, (2, 2048, 8, 16)), (fwd, (2, 64, 4096, 8))):
            call = inputs.make_call(problem, dims, rng, label="t", dists=(dist,), pool=pool)
            if n % 3 == 0:
                call = inputs.updated_call(call, rng, "u")
            if problem is fwd and not n % 3:
                continue  # an update keeps the bias; the fresh call covers it
            outs = run_honestly(call)
            assert inputs.check_full(call, outs)[0] is None, (n, dist)
            for pr in inputs.products(call):
                if pr.init is None:
                    continue
                dropped = [o.copy() for o in outs]
                dropped[pr.slot][: pr.rows * pr.cols] = (pr.p() @ pr.q()).astype(np.float32).ravel()
                msg, _ = inputs.check_full(call, dropped)
                assert msg and pr.name in msg, (n, dist, pr.name)


def test_updated_call_changes_every_input_a_little():
    """A cache keyed on any one input (a packed B by pointer, a result by A's checksum) must
    see a change in every update, as in a training loop's next step."""
    rng = np.random.default_rng(10)
    binary = problems.get("binary_gemm")
    for n in range(40):
        problem = (SGEMM, binary, problems.get("matmul_backward"))[n % 3]
        dims = (4, 5, 6, 70) if problem.name == "matmul_backward" else (20, 70, 20)
        call = inputs.make_call(problem, dims, rng, label="t", slack=2)
        nxt = inputs.updated_call(call, rng, "u", ("swap", "run", "few")[n % 3 - 1])
        for a, b in zip(call.inputs, nxt.inputs, strict=True):
            if a is None:
                continue
            changed = int((a.view(np.uint32) != b.view(np.uint32)).sum())
            assert 0 < changed <= max(3, int(math.sqrt(a.size)) + 1), problem.name
        if call.bits is not None:
            flipped = np.bitwise_xor(call.bits, nxt.bits)
            assert flipped.any()
            # only bits of the matrix change, never the last word's padding (n = 70)
            assert not (flipped[1::2] >> np.uint64(6)).any()


def test_a_one_element_update_leaves_every_other_input_alone():
    """A cache keyed on values sampled from every input (a small bias's samples are hit by
    most changes of every input) sees one element of one input change."""
    rng = np.random.default_rng(15)
    forward = problems.get("matmul_forward")
    touched = set()
    for _ in range(20):
        call = inputs.make_call(forward, (2, 3, 33, 65), rng, label="t")
        nxt = inputs.updated_call(call, rng, "u", "one")
        diffs = [int((a != b).sum()) for a, b in zip(call.inputs, nxt.inputs, strict=True)]
        assert sorted(diffs) == [0, 0, 1]
        touched.add(diffs.index(1))
    assert touched == {0, 1, 2}  # inp, weight and bias each in turn


def test_a_swap_update_keeps_the_values_but_not_the_product():
    """An order-blind digest (a sum, a sorted sample) of the inputs is the same after a swap
    update; the product is not, so a result cached under that digest is stale."""
    rng = np.random.default_rng(11)
    for n in range(60):  # integers repeat values: a swap of equal ones once changed them
        dist = inputs.CASE_DISTRIBUTIONS[n % len(inputs.CASE_DISTRIBUTIONS)]
        call = inputs.make_call(SGEMM, (9, 7, 5), rng, label="t", dists=(dist,))
        nxt = inputs.updated_call(call, rng, "u", "swap")
        for a, b in zip(call.inputs, nxt.inputs, strict=True):
            assert int((a != b).sum()) == 2, dist
            assert np.array_equal(np.sort(a), np.sort(b)), dist  # the same values, moved
        (before,), (after,) = inputs.products(call), inputs.products(nxt)
        assert not np.array_equal(before.p() @ before.q(), after.p() @ after.q()), dist


def stale_outputs(prev: inputs.Call, call: inputs.Call) -> list[np.ndarray | None]:
    """What a cache keyed on anything but `call`'s exact inputs returns for `call`: `prev`'s
    honest outputs, over `call`'s priors where outputs accumulate (matmul_backward)."""
    old = run_honestly(prev)
    outs = [None if o is None else o.copy() for o in call.outputs]
    slots = inputs.layout(call.problem, call.dims)[1]
    for pr_old, pr_new in zip(inputs.products(prev), inputs.products(call), strict=True):
        used = pr_old.rows * pr_old.cols
        value = old[pr_old.slot][:used].astype(np.float64)
        if slots[pr_old.slot].accumulate:  # the cached product, added to the new prior
            value += (pr_new.init - pr_old.init).ravel()
        outs[pr_old.slot][:used] = value.astype(np.float32)
    return outs


@pytest.mark.parametrize("name", ["sgemm", "matmul_forward", "matmul_backward", "binary_gemm"])
def test_every_update_of_a_correctness_case_shows_in_its_products(name):
    """An update that changes only elements too small to show (a `mixed` matrix holds 2⁻²⁴
    next to 2²⁴) lets a stale cached result pass: a cache keyed on an order-blind checksum
    passed a whole check that way. Every update kind, at every distribution, must leave a
    stale result failing the case's full check (the check's base case shape)."""
    problem = problems.get(name)
    dims = problem.correctness_shapes[len(problem.correctness_shapes) // 2]
    rng = np.random.default_rng(16)
    for dist in inputs.CASE_DISTRIBUTIONS:
        for how in inputs.UPDATES:
            for _ in range(12):
                prev = inputs.make_call(problem, dims, rng, label="t", dists=(dist,))
                call = inputs.visible_update(prev, rng, "u", how)
                msg, _ = inputs.check_full(call, stale_outputs(prev, call))
                assert msg, (dist, how)
                assert inputs.check_full(call, run_honestly(call, np.float64))[0] is None


def test_zeroed_garbage_is_zero_but_for_a_few_values():
    rng = np.random.default_rng(12)
    call = inputs.make_call(SGEMM, (20, 30, 4), rng, label="t", garbage_outputs="zeros")
    c = call.outputs[0][:600]
    assert 1 <= int((c != 0).sum()) <= 3 and not np.signbit(c[c == 0]).any()


def test_scaled_rows_give_every_row_and_column_its_own_power_of_two():
    rng = np.random.default_rng(13)
    call = inputs.make_call(
        SGEMM, (40, 30, 20), rng, label="t", dists=["away", "away"], specials=["scaled_rows"]
    )
    (pr,) = inputs.products(call)
    rows = np.abs(pr.p()).max(axis=1)
    cols = np.abs(pr.q()).max(axis=0)
    assert rows.max() / rows.min() > 2**8 and cols.max() / cols.min() > 2**8


def test_the_classical_bound_holds_each_element_to_its_own_row():
    """A zero row of A next to loud rows: its elements must come out (nearly) exactly zero;
    an error the size of another row's rounding (a Strassen-like mix, a shared exponent)
    is refused there, and accepted at a loud row."""
    rng = np.random.default_rng(14)
    call = inputs.make_call(SGEMM, (8, 6, 64), rng, label="t", dists=["normal", "normal"])
    a = call.inputs[0]
    a[:64] = 0.0  # row 0 of A
    a[64:128] *= np.float32(2.0**20)  # row 1 loud
    outs = run_honestly(call, np.float64)
    assert inputs.check_full(call, outs)[0] is None
    (pr,) = inputs.products(call)
    noise = 1e-6 * np.linalg.norm(pr.p()[1]) * np.linalg.norm(pr.q()[:, 0]) * 2**-20
    quiet = [o.copy() for o in outs]
    quiet[0][0] += np.float32(noise)  # c[0,0], in the zero row
    assert "c[0,0]" in (inputs.check_full(call, quiet)[0] or "")
    loud = [o.copy() for o in outs]
    loud[0][6] += np.float32(noise)  # c[1,0], in the loud row
    assert inputs.check_full(call, loud)[0] is None


def test_binary_bits_unpack_lsb_first():
    rng = np.random.default_rng(11)
    p = problems.get("binary_gemm")
    call = inputs.make_call(p, (1, 70, 2), rng, label="t")
    (prod,) = inputs.products(call)
    words = call.bits[:4].reshape(2, 2)
    assert prod.q()[0, 0] == (1.0 if words[0, 0] & np.uint64(1) else -1.0)
    assert prod.q()[1, 65] == (1.0 if (words[1, 1] >> np.uint64(1)) & np.uint64(1) else -1.0)
    assert (words[:, 1] >> np.uint64(6)).max() == 0  # unused high bits are zero


def test_stats_median_mad_and_bootstrap_ci():
    st = Stats.of([1.0, 2.0, 3.0, 4.0, 100.0])
    assert st.median_s == 3.0
    assert st.mad_s == 1.0
    lo, hi = st.ci95_s
    assert lo <= 3.0 <= hi
    assert Stats.of([]) is None
    one = Stats.of([0.5])
    assert one.ci95_s == (0.5, 0.5)


def test_result_json_has_no_nan():
    r = CheckResult(
        Verdict.CRASHED,
        "x",
        "sgemm",
        {"m": 1, "n": 1, "k": 1},
        "00",
        gflops=math.nan,
        ci95_s=(math.inf, 1.0),
    )
    d = json.loads(r.to_json())
    assert d["gflops"] is None and d["ci95_s"] == [None, 1.0]
    assert d["verdict"] == "crashed"


@pytest.mark.parametrize("name", ["sgemm", "matmul_backward"])
def test_every_check_has_scaled_rows_at_the_shapes_large_in_every_dimension(name):
    """A one-level Strassen runs only where every GEMM dimension is large (its plain loop
    takes the rest): a check that drew its scaled rows at 256x17x257 passed one."""
    from roundtable_tui.kernels.checker import Checker

    problem = problems.get(name)
    for seed in range(8):
        cases = Checker()._cases(problem, np.random.default_rng(seed))
        scaled = sorted(c.dims for c in cases if "scaled_rows" in c.specials)
        want = {"sgemm": [(127, 129, 65), (129, 127, 255)]}.get(
            name, [(1, 31, 127, 129), (4, 16, 96, 80)]
        )
        assert scaled == sorted(want)


def test_a_swap_can_stay_in_one_row_or_column_and_an_update_can_change_one_input_alone():
    """A cache keyed on an order-blind digest per row of A (or per column of B), exactly on
    the other input, is stale only when a swap stays inside that row (column) of that input
    and nothing else changes."""
    rng = np.random.default_rng(17)
    m, n, k = 9, 7, 5
    call = inputs.make_call(SGEMM, (m, n, k), rng, label="t", dists=("normal",))
    b0 = call.inputs[1][: k * n].copy()
    a0 = call.inputs[0][: m * k].reshape(m, k)
    for _ in range(20):
        row = inputs.updated_call(call, rng, "u", "swap", only=0, within="row")
        a1 = row.inputs[0][: m * k].reshape(m, k)
        assert np.array_equal(row.inputs[1][: k * n], b0)  # B untouched
        moved = np.flatnonzero((a0 != a1).any(axis=1))
        assert len(moved) == 1 and sorted(a0[moved[0]]) == sorted(a1[moved[0]])
        col = inputs.updated_call(call, rng, "u", "swap", only=1, within="column")
        b1 = col.inputs[1][: k * n].reshape(k, n)
        assert np.array_equal(col.inputs[0], call.inputs[0])  # A untouched
        moved = np.flatnonzero((b0.reshape(k, n) != b1).any(axis=0))
        assert len(moved) == 1 and sorted(b0.reshape(k, n)[:, moved[0]]) == sorted(b1[:, moved[0]])


def test_a_nudge_moves_a_few_elements_by_less_than_a_tolerant_cache_allows():
    rng = np.random.default_rng(18)
    call = inputs.make_call(SGEMM, (9, 7, 5), rng, label="t", dists=("normal",))
    nxt = inputs.updated_call(call, rng, "u", "nudge")
    for a, b in zip(call.inputs, nxt.inputs, strict=True):
        changed = np.flatnonzero(a != b)
        assert 1 <= len(changed) <= 3
        rel = np.abs(b[changed] / a[changed] - 1)
        assert (rel > 2**-17).all() and (rel <= 2**-10).all()


def test_every_nudge_a_check_makes_leaves_the_leading_bits_of_every_value_and_shows():
    """A cache keyed on the leading 16 bits of every value (a bf16 digest) passed a CI run:
    a nudge by a drawn factor moved those bits about once in 16 per element. Every visible
    nudge (the correctness cases' kind) of 300 draws keeps the leading 9 … 18 bits of every
    input (a cache keyed on them returns the previous C), stays within a 1e-3 relative
    tolerance, and changes the product by more than the check's bound."""
    problem = problems.get("sgemm")

    def same_lead(a: np.ndarray, b: np.ndarray, lead: int) -> bool:
        shift = np.uint32(32 - lead)
        return bool(np.array_equal(a.view(np.uint32) >> shift, b.view(np.uint32) >> shift))

    twenty = 0
    for seed in range(300):
        rng = np.random.default_rng(seed)
        dims = tuple(int(x) for x in rng.integers(8, 80, size=3))
        prev = inputs.make_call(problem, dims, rng, label="t", dists=("normal",))
        only = (None, 0, 1)[seed % 3]
        call = inputs.visible_update(prev, rng, "u", "nudge", only=only)
        assert inputs.stale_caught(prev, call), f"seed {seed}: no nudge showed"
        for a, b in zip(prev.inputs, call.inputs, strict=True):
            for lead in (9, 12, 16, 18):
                assert same_lead(a, b, lead)
            assert np.allclose(a, b, rtol=1e-3, atol=0)
        twenty += all(same_lead(a, b, 20) for a, b in zip(prev.inputs, call.inputs, strict=True))
    # the lowest bit that shows is taken: a key on 20 leading bits is stale in most nudges
    # (280 of 300 measured; about 1 in 3 when the bit was drawn, and a red-team kernel keyed
    # on 20 bits passed 4 checks in 5)
    assert twenty >= 240


def test_a_kernel_sampling_c_to_skip_clearing_it_meets_two_cs_that_look_cleared():
    """A kernel that reads c[0], c[mn/2] and c[mn-1] and adds into C without clearing it
    when they are +0.0 escapes a C of zeros with a few large values only when a large value
    sits where it reads (a CI run passed `redteam_skip_clear_when_c_looks_zero` so): every
    check holds two such Cs, at shapes and values drawn apart, and in each of 300 checks'
    cases one of them at least catches it, although each alone lets it through sometimes."""
    from roundtable_tui.kernels.checker import Checker

    problem = problems.get("sgemm")
    escaped_one = 0
    for seed in range(300):
        rng = np.random.default_rng(seed)
        zeroed = [c for c in Checker()._cases(problem, rng) if c.garbage == "zeros"]
        assert len(zeroed) == 2
        caught = []
        for case in zeroed:
            call = inputs.make_call(problem, case.dims, rng, label="t", garbage_outputs="zeros")
            m, n, _k = case.dims
            c = call.outputs[0][: m * n]
            probed = [c[i] for i in (0, m * n // 2, m * n - 1)]
            looks_cleared = all(v == 0 and not np.signbit(v) for v in probed)
            caught.append(looks_cleared and bool(np.any(c != 0)))
        escaped_one += not all(caught)
        assert any(caught), f"seed {seed}: both Cs had a large value where the kernel reads"
    assert escaped_one > 0  # one such C alone is not enough


def test_every_check_holds_integer_inputs_whose_sums_overflow_32_bit_integers():
    """A kernel that computes integer-looking inputs in wrapping i32 arithmetic is wrong only
    where a sum leaves the i32 range (wrapping is exact otherwise): a red-team kernel passed
    1 check in 20 when only the distributions' own cases met it. Every check of 300 holds
    a case of integers up to 2^16 in every input whose exact product has sums past 2^31."""
    from roundtable_tui.kernels.checker import Checker

    problem = problems.get("sgemm")
    for seed in range(300):
        rng = np.random.default_rng(seed)
        (case,) = [c for c in Checker()._cases(problem, rng) if c.label.startswith("wide-int")]
        call = inputs.make_call(problem, case.dims, rng, label="t", dists=case.dists)
        m, n, k = case.dims
        a = call.inputs[0][: m * k].astype(np.int64).reshape(m, k)
        b = call.inputs[1][: k * n].astype(np.int64).reshape(k, n)
        assert (np.abs(a) <= 2**16).all() and (np.abs(b) <= 2**16).all()
        assert (np.abs(a @ b) >= 2**31).any(), f"seed {seed}: every sum fits an i32 at {m}x{n}x{k}"


def test_every_check_holds_deep_positive_inputs_that_break_paths_gated_on_the_data():
    """Red-team kernels with a fast path gated on the data passed every check: integers of
    at most 4096 in wrapping i32, integers of at most 100 in saturating i16, all-positive
    inputs over k >= 512 rounded to 12-bit significands (errors that cancel on random
    data). Every check holds a long reduction of each DEEP_DISTRIBUTIONS kind, where each
    such path is wrong: integer sums past 2^15 and 2^31, and values that a 12-bit
    significand rounds all the same way (at most 1024 of them: an honest f32 sum of more
    such values comes near the check's bound, its rounding all one way)."""
    from roundtable_tui.kernels.checker import Checker

    problem = problems.get("sgemm")
    for seed in range(100):
        rng = np.random.default_rng(seed)
        deep = {
            c.dists[0]: c
            for c in Checker()._cases(problem, rng)
            if c.dists and c.dists[0] in inputs.DEEP_DISTRIBUTIONS
        }
        assert set(deep) == set(inputs.DEEP_DISTRIBUTIONS)
        for dist, case in deep.items():
            m, n, k = case.dims
            call = inputs.make_call(problem, case.dims, rng, label="t", dists=case.dists)
            a = call.inputs[0][: m * k].reshape(m, k)
            b = call.inputs[1][: k * n].reshape(k, n)
            assert (a > 0).all() and (b > 0).all()
            assert 512 <= k <= 1024 if dist == "near_one" else k >= 2049
            if dist == "near_one":
                # a 12-bit significand (11 fraction bits) rounds every value down to 1.0
                for x in (a, b):
                    assert (x > 1).all() and (x - 1 < 2.0**-12).all()
            else:
                exact = a.astype(np.int64) @ b.astype(np.int64)
                top = 2**31 if dist == "positive_integers_1024" else 2**15
                assert (a <= 1024).all() and (exact >= top).any(), (seed, dist)
                if dist == "positive_small_integers":
                    assert (a <= 64).all() and (exact >= top).all()
