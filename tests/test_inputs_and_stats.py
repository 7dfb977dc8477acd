"""The parent's own generator and bound, and the timing statistics."""

import json
import math

import numpy as np

from roundtable_tui.kernels import inputs, problems
from roundtable_tui.kernels.verdict import CheckResult, Stats, Verdict


def test_values_are_signed_fractions_on_the_f32_grid():
    v = inputs.values(inputs.derive(123, 0), 10_000)
    assert v.dtype == np.float32
    assert v.min() >= -1.0 and v.max() < 1.0
    assert (v < 0).mean() > 0.4 and (v > 0).mean() > 0.4
    assert np.mean(v == np.round(v)) < 0.01
    assert np.all(v * 2**23 == np.round(v * 2**23))


def test_streams_differ_and_are_reproducible():
    a = inputs.values(inputs.derive(5, 0), 100)
    assert np.array_equal(a, inputs.values(inputs.derive(5, 0), 100))
    assert not np.array_equal(a, inputs.values(inputs.derive(5, 1), 100))
    assert not np.array_equal(a, inputs.values(inputs.derive(6, 0), 100))


def test_recheck_accepts_the_exact_product_and_rejects_a_wrong_element():
    p = problems.get("sgemm")
    dims, seed = (9, 11, 13), inputs.derive(77, 3)
    (prod,) = inputs.instance_products(p, dims, seed, True)
    exact = prod.init + prod.p @ prod.q
    probes = [(0, idx, float(np.float32(exact.flat[idx]))) for idx in (0, 50, 98)]
    assert inputs.recheck(p, dims, seed, True, probes) == []
    bad = [(0, 50, float(exact.flat[50]) + 1e-3)]
    assert "c[4,6]" in inputs.recheck(p, dims, seed, True, bad)[0]
    assert inputs.recheck(p, dims, seed, True, [(0, 0, math.nan)])


def test_recheck_of_backward_uses_accumulation():
    p = problems.get("matmul_backward")
    dims, seed = (1, 3, 4, 5), inputs.derive(1, 1)
    prods = inputs.instance_products(p, dims, seed, True)
    assert [pr.name for pr in prods] == ["dinp", "dweight", "dbias"]
    dinp = prods[0]
    assert np.any(dinp.init != 0), "gradients start nonzero"
    good = float(dinp.init[0, 0] + dinp.p[0] @ dinp.q[:, 0])
    assert inputs.recheck(p, dims, seed, True, [(0, 0, good)]) == []
    overwritten = float(dinp.p[0] @ dinp.q[:, 0])
    assert inputs.recheck(p, dims, seed, True, [(0, 0, overwritten)])


def test_binary_bits_unpack_lsb_first():
    p = problems.get("binary_gemm")
    (prod,) = inputs.instance_products(p, (1, 70, 2), 99, False)
    words = inputs.words(inputs.derive(99, inputs.STREAM_BITS), 2 * 2).reshape(2, 2)
    assert prod.q[0, 0] == (1.0 if words[0, 0] & np.uint64(1) else -1.0)
    assert prod.q[1, 65] == (1.0 if (words[1, 1] >> np.uint64(1)) & np.uint64(1) else -1.0)


def test_bound_admits_f32_rounding_and_refuses_bf16():
    p = problems.get("sgemm")
    dims, seed = (64, 64, 256), 5
    (prod,) = inputs.instance_products(p, dims, seed, True)
    a32, b32 = prod.p.astype(np.float32), prod.q.astype(np.float32)
    c32 = (a32 @ b32).astype(np.float64)  # f32 accumulation in BLAS order

    def to_bf16(x):
        return (x.astype(np.float32).view(np.uint32) & 0xFFFF0000).view(np.float32)

    cbf = to_bf16(a32).astype(np.float64) @ to_bf16(b32).astype(np.float64)
    idx = list(range(0, 64 * 64, 97))
    ok = [(0, i, float(c32.flat[i])) for i in idx]
    assert inputs.recheck(p, dims, seed, True, ok) == []
    low = [(0, i, float(cbf.flat[i])) for i in idx]
    assert len(inputs.recheck(p, dims, seed, True, low)) > len(idx) // 2


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
