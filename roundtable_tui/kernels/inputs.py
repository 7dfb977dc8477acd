"""The parent's own copy of the harness's inputs, for an independent re-check.

The harness makes every instance from a seed the parent chose (harness/src/rng.rs and
problems.rs). This module regenerates the same values with numpy, bit for bit, and computes
the f64 value and error bound of any output element it probed, without trusting the Rust
process's reference, its checks or anything it says about them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from roundtable_tui.kernels.problems import Problem

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
UNIT_ROUNDOFF = 2.0**-24
STREAM_INPUT, STREAM_BITS, STREAM_PRIOR = 0, 10, 20


def splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64, copy=True)
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def _one(x: int) -> int:
    return int(splitmix64(np.array([x & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))[0])


def derive(seed: int, index: int) -> int:
    mixed = _one(((index + 1) * int(GOLDEN)) & 0xFFFFFFFFFFFFFFFF)
    return _one(seed ^ mixed)


def words(stream: int, count: int) -> np.ndarray:
    idx = np.arange(1, count + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return splitmix64(np.uint64(stream) + idx * GOLDEN)


def values(stream: int, count: int) -> np.ndarray:
    """f32 values in [-1, 1) on the grid 2⁻²³, as the harness makes them."""
    top = (words(stream, count) >> np.uint64(40)).astype(np.float32)
    return top * np.float32(1.0 / 8388608.0) - np.float32(1.0)


def lam(k: int) -> float:
    return 4.0 * np.sqrt(k) + 16.0


@dataclass
class Product:
    """out (rows×cols) = init + P·Q, as float64 arrays."""

    name: str
    slot: int
    init: np.ndarray
    p: np.ndarray
    q: np.ndarray

    def expected(self, i: int, j: int) -> tuple[float, float]:
        """(f64 value, error bound) of element (i, j), with the harness's bound formula."""
        k = self.p.shape[1]
        pn = np.sqrt((self.p**2).sum(axis=1))
        qn = np.sqrt((self.q**2).sum(axis=0))
        rho = np.sqrt((pn**2).mean()) * np.sqrt((qn**2).mean())
        value = self.init[i, j] + float(self.p[i] @ self.q[:, j])
        bound = UNIT_ROUNDOFF * lam(k) * (abs(self.init[i, j]) + pn[i] * qn[j] + rho)
        return value, bound


def instance_products(
    problem: Problem, dims: tuple[int, ...], seed: int, has_bias: bool
) -> list[Product]:
    """Every output of one instance as a product, from the problem's definition."""

    def inp(slot: int, shape: tuple[int, ...]) -> np.ndarray:
        n = int(np.prod(shape))
        return values(derive(seed, STREAM_INPUT + slot), n).astype(np.float64).reshape(shape)

    def prior(slot: int, shape: tuple[int, ...]) -> np.ndarray:
        n = int(np.prod(shape))
        return values(derive(seed, STREAM_PRIOR + slot), n).astype(np.float64).reshape(shape)

    if problem.name == "sgemm":
        m, n, k = dims
        return [Product("c", 0, np.zeros((m, n)), inp(0, (m, k)), inp(1, (k, n)))]
    if problem.name == "matmul_forward":
        b, t, c, oc = dims
        bias = inp(2, (oc,)) if has_bias else np.zeros(oc)
        return [
            Product(
                "out", 0, np.broadcast_to(bias, (b * t, oc)), inp(0, (b * t, c)), inp(1, (oc, c)).T
            )
        ]
    if problem.name == "matmul_backward":
        b, t, c, oc = dims
        dout, x, w = inp(0, (b * t, oc)), inp(1, (b * t, c)), inp(2, (oc, c))
        prods = [
            Product("dinp", 0, prior(0, (b * t, c)), dout, w),
            Product("dweight", 1, prior(1, (oc, c)), dout.T, x),
        ]
        if has_bias:
            prods.append(Product("dbias", 2, prior(2, (1, oc)), np.ones((1, b * t)), dout))
        return prods
    if problem.name == "binary_gemm":
        m, n, k = dims
        per_row = -(-n // 64)
        packed = words(derive(seed, STREAM_BITS), k * per_row).reshape(k, per_row)
        cols = np.arange(n)
        bits = (packed[:, cols // 64] >> (cols % 64).astype(np.uint64)) & np.uint64(1)
        return [Product("c", 0, np.zeros((m, n)), inp(0, (m, k)), np.where(bits == 1, 1.0, -1.0))]
    raise ValueError(f"no input model for problem {problem.name!r}")


def output_shapes(
    problem: Problem, dims: tuple[int, ...], has_bias: bool
) -> list[tuple[int, int, int]]:
    """(slot, rows, cols) of every output of an instance."""
    if problem.name in ("sgemm", "binary_gemm"):
        m, n, _ = dims
        return [(0, m, n)]
    b, t, c, oc = dims
    if problem.name == "matmul_forward":
        return [(0, b * t, oc)]
    return [(0, b * t, c), (1, oc, c)] + ([(2, 1, oc)] if has_bias else [])


def probe_indices(
    problem: Problem, dims: tuple[int, ...], has_bias: bool, seed: int, count: int
) -> list[tuple[int, int]]:
    """(output slot, flat index) pairs to probe, chosen from the parent's own seed."""
    rng = np.random.default_rng(seed)
    shapes = output_shapes(problem, dims, has_bias)
    picks = []
    for n in range(count):
        slot, rows, cols = shapes[n % len(shapes)]
        picks.append((slot, int(rng.integers(rows)) * cols + int(rng.integers(cols))))
    return picks


def recheck(
    problem: Problem,
    dims: tuple[int, ...],
    seed: int,
    has_bias: bool,
    probes: list[tuple[int, int, float]],
) -> list[str]:
    """Re-checks probed (slot, flat index, value) elements; returns one message per error."""
    if not probes:
        return []
    prods = {p.slot: p for p in instance_products(problem, dims, seed, has_bias)}
    errors = []
    for slot, idx, got in probes:
        pr = prods.get(slot)
        if pr is None:
            errors.append(f"probe of unknown output {slot}")
            continue
        cols = pr.init.shape[1]
        i, j = divmod(idx, cols)
        want, bound = pr.expected(i, j)
        if not np.isfinite(got) or abs(got - want) > bound:
            errors.append(
                f"{pr.name}[{i},{j}] = {got!r}, independently computed {want:.7e} "
                f"(bound {bound:.2e})"
            )
    return errors
