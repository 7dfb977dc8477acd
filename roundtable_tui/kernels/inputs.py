"""The parent's inputs and the parent's verification: nothing here trusts the kernel's process.

Every call's arguments are made here, in the trusted parent, from a secret generator that
never leaves this process; the parent keeps a private copy of every input, writes the call's
buffers into the memory it shares with the kernel's process just before the call, and checks
the outputs itself afterwards (sandbox.Server does the calls, checker.py decides what to
check). Shapes, units and the bound:

- A problem's outputs are products ``O = init + P·Q`` (P: rows×K, Q: K×cols) of the call's
  inputs (`Product`), compared in float64 with the per-element bound
  ``u·λ(K)·(|init| + ‖P_i‖·‖Q_j‖) + (K+2)·2⁻¹⁴⁷``, u = 2⁻²⁴, λ(K) = 4·√K + 16; the last
  term covers rounding in the subnormal range. ‖P_i‖·‖Q_j‖ ≥ Σ|p·q| (Cauchy–Schwarz), so
  any summation order, FMA or wider accumulation stays inside, and each element is held to
  its own row and column: a quiet row next to loud ones keeps its accuracy. A verified block
  scheme gets `growth` times it plus the norm-wise term g·u·λ(K)·max‖P_i‖·max‖Q_j‖
  (Higham §23.2.2).
- Non-finite values (KERNELS.md): a NaN or ±Inf in row i of P, column j of Q or in init(i, j)
  feeds output (i, j), which must then be non-finite; when a call has any non-finite input,
  other outputs may be non-finite too, and finite ones must be within the bound.
- Slices are longer than needed on most calls: input tails hold NaN/±Inf/huge values (a
  kernel must not depend on them), output tails hold random finite canaries compared bit for
  bit after the call (a kernel must not write them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from roundtable_tui.kernels.problems import Problem

UNIT_ROUNDOFF = 2.0**-24
ETA = 2.0**-147
"""Twice the smallest f32 subnormal: the absolute error of one rounding in that range."""
ALIGN = 64
"""Every buffer starts on a 64-byte boundary of the shared memory."""

# distributions of finite inputs; each matrix of a call draws one
TIMED_DISTRIBUTIONS = ("uniform", "normal", "positive", "integers", "scaled", "mixed", "away")
"""For timed calls: no subnormal products, nothing that changes the speed of honest code."""
CASE_DISTRIBUTIONS = (*TIMED_DISTRIBUTIONS, "tiny", "large", "wide_integers", "sparse")
"""For correctness cases: also tiny (2⁻⁶⁰…2⁻⁴⁰) and large (2²⁰…2⁴⁰) magnitudes, integers
whose products overflow 32-bit integer arithmetic (±2¹⁰…2¹⁶), and a matrix nine tenths
zeros (a kernel that skips zeros, or takes a sparse path, meets it)."""
DEEP_DISTRIBUTIONS = {
    "near_one": (512, 1024),
    "positive_small_integers": (2049, 6144),
    "positive_integers_1024": (4096, 6144),
}
"""Distribution -> the reduction (fewest, most terms) of its case. For long-reduction cases
only (at most 1024 terms for values near one: beyond, an honest f32 sum's rounding, all one
way on them, nears the bound; 4096 for integer sums past 2³¹), all positive, where a fast
path gated on the data goes wrong by a sum over many terms: values 1 + 2⁻ᵉ…1 + 2¹⁻ᵉ (e 13…15
per matrix), which any format of 11 fraction bits or fewer (bf16, f16, tf32, a 12-bit
significand) rounds down to 1, all the same way (a rounding that cancels on random data
shows here); integers 2ʲ⁻¹…2ʲ (j 3…6), whose sums pass 2¹⁵ (a narrow integer accumulator);
integers 512…1024, whose sums pass 2³¹ at a reduction of 4096 or more (wrapping i32).
Red-team kernels of each kind passed every check before these cases."""
VISIBLE = "away"
"""The distribution under which a single wrong product term shows in every element: every
|a·b| ≥ 1/4 relative to the operands' scale, above the per-element bound up to K ≈ 4096.
Every other fresh timed call draws all its operands from it (checker._benchmark)."""
SPECIALS = (
    "nan",
    "inf",
    "zero_times_nan",
    "zero_times_inf",
    "subnormal",
    "signed_zero",
    "scaled_rows",
)
"""Special-value kinds a correctness case can carry."""
NONFINITE_SPECIALS = ("nan", "inf", "zero_times_nan", "zero_times_inf")
"""Those that put a NaN or an Inf into the inputs."""


# ----------------------------------------------------------------------------- generator
def draw(rng: np.random.Generator, dist: str, n: int) -> np.ndarray:
    """`n` finite f32 values from distribution `dist` (one of CASE_DISTRIBUTIONS or
    DEEP_DISTRIBUTIONS)."""
    f32 = np.float32
    if dist == "uniform":
        return rng.random(n, dtype=f32) * f32(2) - f32(1)
    if dist == "normal":
        return rng.standard_normal(n, dtype=f32)
    if dist == "positive":
        return rng.random(n, dtype=f32)
    if dist == "integers":
        return rng.integers(-8, 9, n, dtype=np.int8).astype(f32)
    if dist == "wide_integers":  # products up to 2^32: wrong in wrapping i32 arithmetic
        v = rng.integers(2**10, 2**16, n).astype(f32)
        return v * rng.choice(np.array([-1, 1], dtype=f32), n)
    if dist == "near_one":
        e = int(rng.integers(13, 16))
        return (1.0 + 2.0**-e * (1.0 + 0.999 * rng.random(n))).astype(f32)
    if dist == "positive_small_integers":
        top = 2 ** int(rng.integers(3, 7))
        return rng.integers(top // 2, top + 1, n).astype(f32)
    if dist == "positive_integers_1024":
        return rng.integers(512, 1025, n).astype(f32)
    if dist == "sparse":  # nine tenths exact zeros, the rest normal
        return np.where(rng.random(n) < 0.9, f32(0), rng.standard_normal(n, dtype=f32))
    if dist == "away":  # magnitudes in [0.5, 2), random signs: no product is near zero
        v = rng.random(n, dtype=f32) * f32(3.0) - f32(1.5)
        v += np.copysign(f32(0.5), v)
        return v
    if dist == "scaled":  # one power of two for the whole matrix, 2^-30 … 2^30
        return rng.standard_normal(n, dtype=f32) * f32(2.0 ** int(rng.integers(-30, 31)))
    if dist == "mixed":  # every element its own power of two, 2^-24 … 2^24
        v = rng.random(n, dtype=f32) + f32(1.0)  # [1, 2): exponent field exactly 127
        bits = v.view(np.uint32)
        bits += (rng.integers(-24, 25, n, dtype=np.int32) << 23).view(np.uint32)
        bits |= rng.integers(0, 2, n, dtype=np.uint32) << np.uint32(31)
        return v
    if dist == "tiny":
        return rng.standard_normal(n, dtype=f32) * f32(2.0 ** -int(rng.integers(40, 61)))
    if dist == "large":
        return rng.standard_normal(n, dtype=f32) * f32(2.0 ** int(rng.integers(20, 41)))
    if dist == "huge":  # 2^66 … 2^96: squares overflow f32; only against "tiny" operands
        return rng.standard_normal(n, dtype=f32) * f32(2.0 ** int(rng.integers(66, 97)))
    raise ValueError(f"unknown distribution {dist!r}")


class Pool:
    """Values drawn once per check from each distribution, of which every timed call takes a
    window at a random offset, scaled by a random power of two (exact) and a random sign:
    different values on every call for a fraction of the cost of fresh draws. The pool lives
    in the parent only; a kernel sees one window per call, when it is called."""

    def __init__(self, rng: np.random.Generator, size: int) -> None:
        self.rng = rng
        self.size = max(size, 1) * 2
        self.values: dict[str, np.ndarray] = {}

    def take(self, dist: str, n: int, out: np.ndarray) -> None:
        """Writes `n` values of `dist` into `out[:n]`."""
        vals = self.values.get(dist)
        if vals is None:
            vals = self.values[dist] = draw(self.rng, dist, self.size)
        start = int(self.rng.integers(0, self.size - n + 1))
        factor = np.float32(2.0 ** int(self.rng.integers(-3, 4)) * self.rng.choice([-1, 1]))
        np.multiply(vals[start : start + n], factor, out=out[:n])


def canaries(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random finite f32 bit patterns (never NaN or Inf) for the guard zone after an output."""
    bits = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
    exponent_all_ones = (bits & np.uint32(0x7F800000)) == np.uint32(0x7F800000)
    bits[exponent_all_ones] ^= np.uint32(0x40000000)
    return bits.view(np.float32)


def poison_tail(rng: np.random.Generator, n: int) -> np.ndarray:
    """What lies after an input's leading elements: NaN, ±Inf and huge values."""
    choices = np.array([np.nan, np.inf, -np.inf, 3.0e38, -3.0e38], dtype=np.float32)
    return choices[rng.integers(0, len(choices), n)]


# ----------------------------------------------------------------------------- layouts
@dataclass(frozen=True)
class Slot:
    name: str
    length: int
    optional: bool = False
    """Present only when the call has a bias (bias / dbias)."""
    accumulate: bool = False
    """Accumulated into (starts with finite values) rather than overwritten."""


def layout(problem: Problem, dims: Sequence[int]) -> tuple[list[Slot], list[Slot], int]:
    """(inputs, outputs, words of packed bits) of a call, in the signature's order."""
    if problem.name == "sgemm":
        m, n, k = dims
        return [Slot("a", m * k), Slot("b", k * n)], [Slot("c", m * n)], 0
    if problem.name == "binary_gemm":
        m, n, k = dims
        return [Slot("a", m * k)], [Slot("c", m * n)], k * (-(-n // 64))
    b, t, c, oc = dims
    if problem.name == "matmul_forward":
        ins = [Slot("inp", b * t * c), Slot("weight", oc * c), Slot("bias", oc, optional=True)]
        return ins, [Slot("out", b * t * oc)], 0
    if problem.name == "matmul_backward":
        ins = [Slot("dout", b * t * oc), Slot("inp", b * t * c), Slot("weight", oc * c)]
        outs = [
            Slot("dinp", b * t * c, accumulate=True),
            Slot("dweight", oc * c, accumulate=True),
            Slot("dbias", oc, optional=True, accumulate=True),
        ]
        return ins, outs, 0
    raise ValueError(f"no input model for problem {problem.name!r}")


@dataclass
class Call:
    """One call's arguments as the parent made them (its private copy)."""

    problem: Problem
    dims: tuple[int, ...]
    has_bias: bool
    label: str
    inputs: list[np.ndarray | None]
    """Full slices (leading elements + tail), f32; None for an absent optional input."""
    used_in: list[int]
    outputs: list[np.ndarray | None]
    """Full output slices as they are before the call (poison or prior + canaries)."""
    used_out: list[int]
    bits: np.ndarray | None = None
    """binary_gemm's packed B (u64), exactly k·⌈n/64⌉ words plus tail."""
    used_bits: int = 0
    specials: list[str] = field(default_factory=list)
    dists: list[str] = field(default_factory=list)
    shift: int = 0
    """Bytes past a 64-byte boundary at which every buffer starts (a multiple of 8, below
    ALIGN): callers pass sub-slices that start anywhere (KERNELS.md)."""
    alias: bool = False
    """The second input is the first one's buffer (sgemm(a, a): legal for two shared
    slices): a kernel must not assume its inputs are distinct."""

    @property
    def has_nonfinite(self) -> bool:
        return any(s in NONFINITE_SPECIALS for s in self.specials)

    def describe(self) -> str:
        """The case in words, for a wrong_result reason."""
        what = "/".join(self.dists)
        if self.specials:
            what += " with " + ", ".join(self.specials)
        shape = "x".join(map(str, self.dims))
        return f"{self.label} (shape {shape}, inputs {what})"

    def nbytes(self) -> int:
        arrays = [*self.inputs, *self.outputs, self.bits]
        return sum(_aligned(a.nbytes) + ALIGN for a in arrays if a is not None)


def call_nbytes(problem: Problem, dims: Sequence[int], has_bias: bool, slack: int) -> int:
    """Bytes of shared memory one call's buffers take (each aligned to ALIGN, with room for
    a `Call.shift`)."""
    ins, outs, n_bits = layout(problem, tuple(dims))
    total = sum(_aligned(4 * (s.length + slack)) + ALIGN for s in (*ins, *outs))
    return total + (_aligned(8 * (n_bits + slack)) + ALIGN if n_bits else 0)


def _aligned(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def make_call(
    problem: Problem,
    dims: Sequence[int],
    rng: np.random.Generator,
    *,
    label: str,
    has_bias: bool = True,
    slack: int = 0,
    dists: Sequence[str] | None = None,
    specials: Sequence[str] = (),
    garbage_outputs: str = "",
    pool: Pool | None = None,
    shift: int = 0,
    alias: bool = False,
) -> Call:
    """Fresh arguments for one call. `dists` gives one distribution per input (and per
    accumulated output's prior), drawn from TIMED_DISTRIBUTIONS when None; `slack` extra
    elements follow every buffer (poisoned inputs, canaries after outputs); values come
    from `pool` when given (timed calls), else are drawn afresh. `garbage_outputs`: what
    overwritten outputs hold before the call instead of NaN ("large" finite values, or
    "zeros": +0.0 but for a few large ones; a kernel must not read them); `shift` and
    `alias` as in Call (`alias` needs the first two inputs of one length)."""

    def fill(dist: str, out: np.ndarray, n: int) -> None:
        if pool is not None:
            pool.take(dist, n, out)
        else:
            out[:n] = draw(rng, dist, n)

    dims = tuple(int(d) for d in dims)
    ins, outs, n_bits = layout(problem, dims)
    has_bias = has_bias and problem.has_bias
    n_dists = len(ins) + sum(o.accumulate for o in outs)
    if dists is None:
        dists = [str(rng.choice(TIMED_DISTRIBUTIONS)) for _ in range(n_dists)]
    dists = list(dists) + [dists[-1]] * max(0, n_dists - len(dists))
    if "subnormal" in specials:
        # subnormal rows of the first input only show against a large second input
        dists[1 % n_dists] = "large"
    inputs: list[np.ndarray | None] = []
    for n, s in enumerate(ins):
        if s.optional and not has_bias:
            inputs.append(None)
            continue
        v = np.empty(s.length + slack, dtype=np.float32)
        fill(dists[n], v, s.length)
        v[s.length :] = poison_tail(rng, slack)
        inputs.append(v)
    outputs: list[np.ndarray | None] = []
    d = len(ins)
    for s in outs:
        if s.optional and not has_bias:
            outputs.append(None)
            continue
        v = np.empty(s.length + slack, dtype=np.float32)
        if s.accumulate:
            fill(dists[d], v, s.length)
            d += 1
        elif garbage_outputs == "large":  # finite garbage: C must not be read before written
            v[: s.length] = draw(rng, "large", s.length)
        elif garbage_outputs == "zeros":  # looks cleared: a kernel sampling C to decide
            v[: s.length] = 0.0  # whether to clear it adds into the few that are not
            few = rng.integers(0, s.length, min(s.length, int(rng.integers(1, 4))))
            v[few] = draw(rng, "large", len(few))
        else:
            v[: s.length] = np.nan
        v[s.length :] = canaries(rng, slack)
        outputs.append(v)
    bits = None
    if n_bits:
        m, n, k = dims
        w = -(-n // 64)
        bits = rng.integers(0, 2**64, n_bits + slack, dtype=np.uint64)
        if n % 64:
            rows = bits[:n_bits].reshape(k, w)
            rows[:, -1] &= np.uint64((1 << (n % 64)) - 1)
    if alias:
        if len(inputs) < 2 or inputs[0] is None or inputs[1] is None:
            raise ValueError("alias needs two inputs")
        if ins[0].length != ins[1].length:
            raise ValueError(
                f"alias needs inputs of one length, not {ins[0].length}, {ins[1].length}"
            )
        inputs[1] = inputs[0]
        dists[1] = dists[0]
    call = Call(
        problem,
        dims,
        has_bias,
        label,
        inputs,
        [s.length for s in ins],
        outputs,
        [s.length for s in outs],
        bits,
        n_bits,
        dists=dists,
        shift=shift,
        alias=alias,
    )
    balance_init(call, rng, bias=True)
    for kind in specials:
        _insert_special(call, rng, kind)
    return call


def is_visible(call: Call) -> bool:
    """Whether every operand of `call` was drawn from VISIBLE (an error of one product term
    exceeds the bound in any element of its outputs)."""
    return bool(call.dists) and all(d == VISIBLE for d in call.dists)


NUDGE_BITS = (8, 13)
"""The mantissa bits a nudge flips, lowest and highest (one for all elements of a call): a
change of 2^8 … 2^13 units in the last place, relative 2⁻¹⁶…2⁻¹⁰, that keeps at least the
leading 18 bits of the value. A correctness case takes the lowest bit whose change shows
against the check's bound (`visible_update`): a cache keyed on the leading 20 bits passed 4
checks in 5 when the bit was drawn, since the larger changes were the ones that showed."""

UPDATES = ("swap", "run", "few", "one", "nudge")
"""How an update changes the inputs: in every input, two elements of different values swapped
(the same values, so an order-blind digest of them is unchanged), a run of √n elements
redrawn, one to three elements redrawn, or ("nudge") one to three elements moved by one
mantissa bit (NUDGE_BITS), a relative 2⁻¹⁶…2⁻¹⁰ (a cache that reuses a result for inputs
within a tolerance, or keyed on up to the leading 18 bits of each value, is stale); or
("one") a single element of a single input (or a bit of a packed B), the rest untouched:
a cache keyed on values sampled from every input (a small bias's samples are hit by most
changes of every input) is stale there. Any mode can be given one input to change alone
(`updated_call(only=...)`): a cache keyed exactly on one input and loosely on another is
stale only when the other changes alone."""


def updated_call(
    prev: Call,
    rng: np.random.Generator,
    label: str,
    how: str = "",
    only: int | None = None,
    within: str = "",
    nudge_bit: int | None = None,
) -> Call:
    """The previous call's inputs, every one with a small part changed (a run of elements or
    a few scattered ones; a few bits of a packed B), as a training loop's next step looks: a
    kernel that caches a packed operand or a result by pointer, shape or sampled values
    returns a stale product here, whichever input it keys on. Outputs start afresh (new
    poison, new priors and canaries). `how` (one of UPDATES) is the change for every input;
    drawn at random when empty, the same for all inputs of the call. `only` (an input's
    index, -1 for a packed B) changes that input alone; "one" picks one at random. `within`
    ("row" or "column" of the matrix a buffer holds) keeps a swap's two elements there;
    anywhere, in a row or in a column at random when empty. `nudge_bit` is the mantissa bit
    a nudge flips (drawn from NUDGE_BITS when None)."""
    mode = how or str(rng.choice(UPDATES))
    ins = [None if a is None else a.copy() for a in prev.inputs]
    present = [n for n, a in enumerate(ins) if a is not None]
    targets = [*present, -1] if prev.bits is not None else present  # -1: the packed bits
    if only is None and mode == "one" and targets:
        only = int(rng.choice(targets))
    rows = _row_lengths(prev) if mode == "swap" else {}
    for n, arr in enumerate(ins):  # every input changes: a cache keyed on any one is stale
        if arr is None or (only is not None and n != only):
            continue
        used = prev.used_in[n]
        dist = prev.dists[n] if n < len(prev.dists) else "normal"
        if mode == "swap" and used > 1:
            # two elements of different values swapped: the same multiset of values, so a
            # cache keyed on a sum, a sorted sample or any order-blind digest is stale
            # (j among the elements that differ from i's: an equal pair, changed to make
            # the swap show, would change the multiset and miss such a cache)
            # the partner anywhere, in i's row or in i's column (of the matrix this buffer
            # holds): a digest per row or per column, order-blind, is stale only then
            i = int(rng.integers(used))
            width = rows.get(n, used)
            where = within or ("", "row", "column")[int(rng.integers(3))]
            if not 1 < width < used:
                where = ""
            if where == "row":
                pool = np.arange(i - i % width, min(i - i % width + width, used))
            elif where == "column":
                pool = np.arange(i % width, used, width)
            else:
                pool = np.arange(used)
            others = pool[arr[pool] != arr[i]]
            if not others.size:
                others = np.flatnonzero(arr[:used] != arr[i])
            if others.size:
                j = int(others[rng.integers(others.size)])
            else:  # every element equal: no swap can show; change one instead
                j = (i + 1) % used
                arr[j] = -arr[j] - np.float32(1)
            arr[i], arr[j] = arr[j], arr[i]
            continue
        if mode == "nudge":
            # one to three elements, each by one bit of its mantissa (NUDGE_BITS, the same
            # for the call): a relative change within 2^-16 … 2^-10, and the leading 18 bits
            # (sign, exponent and 9 of the mantissa) kept, so a cache keyed on the leading
            # bits of every value is stale whatever their number up to 18 (a change by a
            # drawn factor moved them about 1 time in 16 per element: a CI run passed one
            # keyed on 16 bits so); zeros and non-finite values stay as they are
            idx = np.unique(rng.integers(0, used, int(rng.integers(1, 4))))
            idx = idx[np.isfinite(arr[idx]) & (arr[idx] != 0)]
            if nudge_bit is None:
                nudge_bit = int(rng.integers(NUDGE_BITS[0], NUDGE_BITS[1] + 1))
            bit = np.uint32(1) << np.uint32(nudge_bit)
            arr[idx] = (arr[idx].view(np.uint32) ^ bit).view(np.float32)
            continue
        if mode == "one":
            i = int(rng.integers(used))
            new1 = draw(rng, dist, 1)[0]
            arr[i] = new1 if new1 != arr[i] else -arr[i] - np.float32(1)
            continue
        if mode == "run" and used > 1:
            width = max(1, int(np.sqrt(used)))
            start = int(rng.integers(0, max(1, used - width)))
            idx = np.arange(start, min(start + width, used))
        else:  # one to three elements: rarely where a cache samples its key
            idx = np.unique(rng.integers(0, used, int(rng.integers(1, 4))))
        new = draw(rng, dist, len(idx))
        arr[idx] = np.where(new == arr[idx], -arr[idx] - np.float32(1), new)  # really changed
    outs: list[np.ndarray | None] = []
    slots = layout(prev.problem, prev.dims)[1]
    for s, old in zip(slots, prev.outputs, strict=True):
        if old is None:
            outs.append(None)
            continue
        v = old.copy()
        used_out = s.length
        v[:used_out] = draw(rng, "normal", used_out) if s.accumulate else np.nan
        v[used_out:] = canaries(rng, len(v) - used_out)
        outs.append(v)
    bits = prev.bits
    if bits is not None:
        bits = bits.copy()
        if prev.used_bits and only in (None, -1):  # and a few bits of B (one for "one")
            idx = rng.integers(0, prev.used_bits, 1 if only == -1 else min(prev.used_bits, 4))
            n_ = prev.dims[1]
            w = -(-n_ // 64)
            for i in idx:  # a bit inside the matrix (not the last word's padding)
                top = n_ % 64 if n_ % 64 and int(i) % w == w - 1 else 64
                bits[i] ^= np.uint64(1) << np.uint64(int(rng.integers(top)))
    call = Call(
        prev.problem,
        prev.dims,
        prev.has_bias,
        label,
        ins,
        list(prev.used_in),
        outs,
        list(prev.used_out),
        bits,
        prev.used_bits,
        specials=list(prev.specials),
        dists=list(prev.dists),
        shift=prev.shift,
    )
    balance_init(call, rng, bias=False)
    return call


def stale_caught(prev: Call, call: Call, growth: float = 1.0, margin: float = 3.0) -> bool:
    """Whether `call`'s check fails the outputs a cache keyed on anything but `call`'s exact
    inputs would return: `prev`'s products (added to `call`'s priors for an accumulated
    output; with `prev`'s bias for a forward one), against the check's bound (`growth` as in
    check_full) widened `margin` times (the cached result carries its own rounding). An
    update can change only elements too small to show against the others (a `mixed` matrix
    holds 2⁻²⁴ next to 2²⁴): then a stale result passes, and the update tests nothing."""
    outs = layout(call.problem, call.dims)[1]
    for pn, po in zip(products(call), products(prev), strict=True):
        new, old = Prepared.of(pn, growth), Prepared.of(po)
        new.scale *= margin
        stale = old.p @ old.q
        init = new.init if outs[pn.slot].accumulate else old.init
        if init is not None:
            stale = stale + init
        reference = new.p @ new.q + (0.0 if new.init is None else new.init)
        rows, cols = np.arange(pn.rows), np.arange(pn.cols)
        if _compare(call, new, stale.astype(np.float32), reference, rows, cols)[0]:
            return True
    return False


def visible_update(
    prev: Call,
    rng: np.random.Generator,
    label: str,
    how: str,
    growth: float = 1.0,
    only: int | None = None,
    within: str = "",
    tries: int = 32,
) -> Call:
    """updated_call, redrawn until a stale result fails its check (stale_caught), at most
    `tries` times (the last draw is returned then: inputs with no visible change left).
    Costs two float64 products per draw: for correctness cases, not timed calls."""
    # a nudge: the lowest bit that shows first, so the most leading bits are kept
    bits = range(NUDGE_BITS[0], NUDGE_BITS[1] + 1) if how == "nudge" else [None]
    for bit in bits:
        for _ in range(max(1, tries // len(bits))):
            call = updated_call(prev, rng, label, how, only, within, bit)
            if stale_caught(prev, call, growth):
                return call
    return call


def _row_lengths(call: Call) -> dict[int, int]:
    """Input index -> the row length of the matrix its buffer holds (row-major), as the
    problem's products read it."""
    out: dict[int, int] = {}
    for pr in products(call):
        for src in (pr.p_src, pr.q_src):
            if src is None:
                continue
            arr, rs, cs = src
            for n, buf in enumerate(call.inputs):
                if buf is arr:
                    out[n] = rs if cs == 1 else cs
    return out


def _rms(values: np.ndarray | None) -> float:
    """Root mean square of the finite values (1.0 for None: all ones or ±1 bits)."""
    if values is None:
        return 1.0
    finite = values[np.isfinite(values)]
    return float(np.sqrt(np.mean(np.square(finite, dtype=np.float64)))) if finite.size else 0.0


def balance_init(call: Call, rng: np.random.Generator, *, bias: bool) -> None:
    """Scales every output's starting value (an accumulated prior; with `bias`, also a
    forward bias) in place by an exact power of two, so that its root mean square lies
    between 2⁻¹ and 2² times the product's estimate rms(P)·rms(Q)·√K. The bound is about
    u·λ(K)·√K times smaller than the product, so a kernel that drops, overwrites or
    half-applies the starting value is then wrong by far more than the bound on almost every
    element, whatever scales the inputs were drawn at (a prior drawn 2⁻³ small once hid
    `dweight = ...` for `dweight += ...` at K = 4096)."""
    for pr in products(call):
        if pr.init is None:
            continue
        if pr.name == "out":  # matmul_forward's bias: an input
            if not bias:
                continue
            buf, used = call.inputs[2], pr.cols
        else:
            buf, used = call.outputs[pr.slot], call.used_out[pr.slot]
        assert buf is not None
        p = None if pr.p_src is None else pr.p_src[0][: pr.rows * pr.k]
        q = None if pr.q_src is None else pr.q_src[0][: pr.k * pr.cols]
        target = _rms(p) * _rms(q) * np.sqrt(max(pr.k, 1))
        current = _rms(buf[:used])
        if not (target > 0 and current > 0 and np.isfinite(target)):
            continue
        e = int(np.round(np.log2(target / current))) + int(rng.integers(-1, 3))
        top = float(np.max(np.abs(buf[:used][np.isfinite(buf[:used])]), initial=0.0))
        if top > 0:
            e = min(e, 120 - int(np.ceil(np.log2(top))))
        # in float64: the factor itself may lie outside f32 (a tiny prior against a huge
        # product: 2^161 is Inf in f32); the scaled values fit (the cap above), exactly
        buf[:used] = (buf[:used].astype(np.float64) * 2.0 ** max(e, -126)).astype(np.float32)


def _insert_special(call: Call, rng: np.random.Generator, kind: str) -> None:
    """Puts special values into the call's inputs (and priors), as KERNELS.md allows."""
    prods = products(call)
    pr = prods[int(rng.integers(len(prods)))]
    call.specials.append(kind)
    rows, cols, k = pr.rows, pr.cols, pr.k

    def put(which: str, i: int, j: int, value: float) -> None:
        view = pr.p_src if which == "p" else pr.q_src
        if view is None:
            return
        arr, rs, cs = view
        arr[i * rs + j * cs] = value

    if kind in ("nan", "inf"):
        value = np.nan if kind == "nan" else float(rng.choice([np.inf, -np.inf]))
        if pr.p_src is not None and rng.random() < 0.5:
            put("p", int(rng.integers(rows)), int(rng.integers(k)), value)
        elif pr.q_src is not None:
            put("q", int(rng.integers(k)), int(rng.integers(cols)), value)
        else:
            put("p", int(rng.integers(rows)), int(rng.integers(k)), value)
    elif kind in ("zero_times_nan", "zero_times_inf"):
        # P[i, r] = 0 where Q[r, j] = NaN (or ±Inf): 0·NaN and 0·Inf are NaN, so skipping
        # zeros is wrong; both, since a sparse path that tests for NaN alone forgets Inf (a
        # red-team kernel did, and passed every check)
        if pr.p_src is None or pr.q_src is None:
            return
        i, r, j = int(rng.integers(rows)), int(rng.integers(k)), int(rng.integers(cols))
        put("p", i, r, 0.0)
        put("q", r, j, np.nan if kind == "zero_times_nan" else float(rng.choice([np.inf, -np.inf])))
    elif kind == "subnormal":
        # all of P subnormal (against a large Q): flushing them to zero loses every product;
        # all of it, because the bound's norm-wise term follows the largest rows
        if pr.p_src is None:
            return
        arr, rs, cs = pr.p_src
        idx = (np.arange(rows)[:, None] * rs + np.arange(k)[None, :] * cs).ravel()
        mant = rng.integers(1, 2**23, idx.size).astype(np.uint32)
        sign = rng.integers(0, 2, idx.size).astype(np.uint32) << np.uint32(31)
        arr[idx] = (mant | sign).view(np.float32)
    elif kind == "scaled_rows":
        # every row of P and every column of Q its own power of two (2^-20 … 2^20, exact):
        # an outlier row or a quiet token next to loud ones; a kernel that scales a whole
        # matrix by one exponent (block floating point) loses the quiet rows
        if pr.p_src is not None:
            arr, rs, cs = pr.p_src
            for i in range(rows):
                idx = i * rs + np.arange(k) * cs
                arr[idx] *= np.float32(2.0 ** int(rng.integers(-20, 21)))
        if pr.q_src is not None:
            arr, rs, cs = pr.q_src
            for j in range(cols):
                idx = np.arange(k) * rs + j * cs
                arr[idx] *= np.float32(2.0 ** int(rng.integers(-20, 21)))
    elif kind == "signed_zero":
        if pr.p_src is None:
            return
        i = int(rng.integers(rows))
        for r in range(k):
            put("p", i, r, float(rng.choice([0.0, -0.0])))


# ----------------------------------------------------------------------------- products
@dataclass
class Product:
    """One output as `init + P·Q` over float64 views of the call's inputs."""

    name: str
    slot: int
    rows: int
    cols: int
    k: int
    init: np.ndarray | None
    """rows×cols (broadcast for a bias), or None for zero."""
    p_src: tuple[np.ndarray, int, int] | None
    """(f32 buffer, row stride, column stride) of P; None for all ones (dbias)."""
    q_src: tuple[np.ndarray, int, int] | None
    """(f32 buffer, row stride, column stride) of Q; None when Q is packed bits."""
    q_bits: np.ndarray | None = None

    def p(self) -> np.ndarray:
        if self.p_src is None:
            return np.ones((self.rows, self.k))
        return _matrix(self.p_src, self.rows, self.k)

    def q(self) -> np.ndarray:
        if self.q_src is None:
            assert self.q_bits is not None
            return self.q_bits
        return _matrix(self.q_src, self.k, self.cols)


def _matrix(src: tuple[np.ndarray, int, int], rows: int, cols: int) -> np.ndarray:
    arr, rs, cs = src
    lead = arr[: rows * cols]
    m = lead.reshape(rows, cols) if cs == 1 else lead.reshape(cols, rows).T
    return m.astype(np.float64)


def _unpack_bits(words: np.ndarray, k: int, n: int) -> np.ndarray:
    w = -(-n // 64)
    packed = words[: k * w].reshape(k, w)
    cols = np.arange(n)
    bits = (packed[:, cols // 64] >> (cols % 64).astype(np.uint64)) & np.uint64(1)
    return np.where(bits == 1, 1.0, -1.0)


def products(call: Call) -> list[Product]:
    """Every output of the call as a product, from the problem's definition (KERNELS.md)."""
    d, i, o = call.dims, call.inputs, call.outputs

    def prior(slot: int, rows: int, cols: int) -> np.ndarray:
        out = o[slot]
        assert out is not None
        return out[: rows * cols].reshape(rows, cols).astype(np.float64)

    name = call.problem.name
    if name == "sgemm":
        m, n, k = d
        return [Product("c", 0, m, n, k, None, (i[0], k, 1), (i[1], n, 1))]
    if name == "binary_gemm":
        m, n, k = d
        assert call.bits is not None
        return [Product("c", 0, m, n, k, None, (i[0], k, 1), None, _unpack_bits(call.bits, k, n))]
    b, t, c, oc = d
    bt = b * t
    if name == "matmul_forward":
        init = None
        if call.has_bias and i[2] is not None:
            init = np.broadcast_to(i[2][:oc].astype(np.float64), (bt, oc))
        # out = inp · weightᵀ: Q[l, j] = weight[j, l]
        return [Product("out", 0, bt, oc, c, init, (i[0], c, 1), (i[1], 1, c))]
    prods = [
        Product("dinp", 0, bt, c, oc, prior(0, bt, c), (i[0], oc, 1), (i[2], c, 1)),
        # dweight = doutᵀ · inp: P[o, r] = dout[r, o]
        Product("dweight", 1, oc, c, bt, prior(1, oc, c), (i[0], 1, oc), (i[1], c, 1)),
    ]
    if call.has_bias and o[2] is not None:
        prods.append(Product("dbias", 2, 1, oc, bt, prior(2, 1, oc), None, (i[0], oc, 1)))
    return prods


# ----------------------------------------------------------------------------- checks
def lam(k: int) -> float:
    return 4.0 * float(np.sqrt(k)) + 16.0


@dataclass
class Prepared:
    """A product's float64 operands (non-finite entries zeroed) and its norms."""

    pr: Product
    p: np.ndarray
    q: np.ndarray
    init: np.ndarray | None
    pn: np.ndarray
    qn: np.ndarray
    rho: float
    scale: float
    fed_rows: np.ndarray
    fed_cols: np.ndarray
    fed_init: np.ndarray | None

    @classmethod
    def of(cls, pr: Product, growth: float = 1.0) -> Prepared:
        """`growth` widens the bound for a verified block scheme (Higham's factor, see
        kernels/schemes.py) and makes its norm-wise term use the largest row and column
        norms; 1 for every other kernel."""
        p, q = pr.p(), pr.q()
        fed_rows = ~np.isfinite(p).all(axis=1)
        fed_cols = ~np.isfinite(q).all(axis=0)
        if fed_rows.any():
            p = np.where(np.isfinite(p), p, 0.0)
        if fed_cols.any():
            q = np.where(np.isfinite(q), q, 0.0)
        init, fed_init = pr.init, None
        if init is not None and not np.isfinite(init).all():
            fed_init = ~np.isfinite(init)
            init = np.where(fed_init, 0.0, init)
        pn = np.sqrt(np.einsum("ij,ij->i", p, p))
        qn = np.sqrt(np.einsum("ij,ij->j", q, q))
        rho = 0.0  # a classical product: each element's error follows its own row and column
        if growth > 1.0 and pn.size and qn.size:
            # a block scheme mixes rows of different A blocks (and columns of B blocks) into
            # each C element: its bound is norm-wise (Higham §23.2.2, max row and column norms)
            rho = float(pn.max() * qn.max())
        scale = UNIT_ROUNDOFF * lam(pr.k) * growth
        return cls(pr, p, q, init, pn, qn, rho, scale, fed_rows, fed_cols, fed_init)

    def bound(self, rows: np.ndarray | slice, cols: np.ndarray | slice) -> np.ndarray:
        init = 0.0 if self.init is None else np.abs(self.init[rows][:, cols])
        return (
            self.scale * (init + np.outer(self.pn[rows], self.qn[cols]) + self.rho)
            + (self.pr.k + 2) * ETA
        )

    def fed(self, rows: np.ndarray | slice, cols: np.ndarray | slice) -> np.ndarray:
        f = np.logical_or.outer(self.fed_rows[rows], self.fed_cols[cols])
        if self.fed_init is not None:
            f |= self.fed_init[rows][:, cols]
        return f


def _out_matrix(call: Call, after: list[np.ndarray | None], pr: Product) -> np.ndarray:
    out = after[pr.slot]
    assert out is not None
    return out[: pr.rows * pr.cols].reshape(pr.rows, pr.cols)


def _compare(
    call: Call,
    prep: Prepared,
    got: np.ndarray,
    reference: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
) -> tuple[str | None, float, float, float]:
    """(failure message or None, worst error, its bound, worst error/bound) of a block."""
    got64 = got.astype(np.float64)
    bound = prep.bound(rows, cols)
    fed = prep.fed(rows, cols)
    finite = np.isfinite(got64)
    err = np.where(finite, np.abs(got64 - reference), np.inf)
    bad = fed & finite  # a NaN/Inf that entered the product must reach the output
    if call.has_nonfinite:
        bad |= ~fed & finite & (err > bound)
    else:
        bad |= ~finite | (err > bound)
    name = prep.pr.name
    if bad.any():
        r, c = np.argwhere(bad)[0]
        i, j = int(rows[r]), int(cols[c])
        g = got[r, c]
        if fed[r, c]:
            why = "a NaN or Inf input feeds it, so it must be non-finite"
        elif not finite[r, c]:
            why = f"should be {reference[r, c]:.7e} (never written, or not a number)"
        else:
            why = (
                f"should be {reference[r, c]:.7e} (error {err[r, c]:.3e} > bound {bound[r, c]:.3e})"
            )
        return (f"{call.describe()}: {name}[{i},{j}] = {g} but {why}", 0.0, 0.0, 0.0)
    ok = finite & ~fed
    if not ok.any():
        return None, 0.0, 0.0, 0.0
    ratio = np.where(ok, err / bound, 0.0)
    w = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
    return None, float(err[w]), float(bound[w]), float(ratio[w])


@dataclass
class Worst:
    abs_err: float = 0.0
    bound: float = 0.0
    ratio: float = 0.0

    def merge(self, err: float, bound: float, ratio: float) -> None:
        if ratio >= self.ratio:
            self.ratio, self.bound = ratio, bound
        self.abs_err = max(self.abs_err, err)


def check_guards(
    call: Call, after_in: list[np.ndarray | None], after_out, after_bits
) -> str | None:
    """Inputs unchanged (bit for bit, tails included) and output canaries intact."""
    for n, (mine, theirs) in enumerate(zip(call.inputs, after_in, strict=True)):
        if mine is not None and not np.array_equal(mine.view(np.uint32), theirs.view(np.uint32)):
            where = int(np.argmax(mine.view(np.uint32) != theirs.view(np.uint32)))
            name = layout(call.problem, call.dims)[0][n].name
            return (
                f"{call.describe()}: the kernel modified input `{name}` at element {where} "
                "(inputs are read-only)"
            )
    if call.bits is not None and not np.array_equal(call.bits, after_bits):
        return f"{call.describe()}: the kernel modified the packed matrix `b`"
    for n, (mine, theirs) in enumerate(zip(call.outputs, after_out, strict=True)):
        if mine is None:
            continue
        used = call.used_out[n]
        if not np.array_equal(mine[used:].view(np.uint32), theirs[used:].view(np.uint32)):
            where = used + int(
                np.argmax(mine[used:].view(np.uint32) != theirs[used:].view(np.uint32))
            )
            name = layout(call.problem, call.dims)[1][n].name
            return (
                f"{call.describe()}: the kernel wrote element {where} of `{name}`, past the "
                f"{used} it owns (the slice is longer; its tail belongs to the caller)"
            )
    return None


def check_full(
    call: Call, after_out: list[np.ndarray | None], growth: float = 1.0
) -> tuple[str | None, Worst]:
    """Every output element against a float64 reference and its own bound (times `growth`
    for a verified block scheme)."""
    worst = Worst()
    for pr in products(call):
        prep = Prepared.of(pr, growth)
        reference = prep.p @ prep.q
        if prep.init is not None:
            reference = reference + prep.init
        got = _out_matrix(call, after_out, pr)
        msg, err, bound, ratio = _compare(
            call, prep, got, reference, np.arange(pr.rows), np.arange(pr.cols)
        )
        if msg:
            return msg, worst
        worst.merge(err, bound, ratio)
    return None, worst


def check_sampled(
    call: Call,
    after_out: list[np.ndarray | None],
    rng: np.random.Generator,
    lines: int,
    sketches: int,
    growth: float = 1.0,
) -> tuple[str | None, Worst]:
    """Every element finite; `lines` random whole rows and columns of every output against
    float64 references; `sketches` random-vector (Freivalds) checks of every row. The rows,
    columns and vectors come from `rng`, the parent's, drawn now (after the call)."""
    worst = Worst()
    for pr in products(call):
        prep = Prepared.of(pr, growth)
        got = _out_matrix(call, after_out, pr)
        if not call.has_nonfinite and not np.isfinite(got).all():
            i, j = (int(x) for x in np.argwhere(~np.isfinite(got))[0])
            return (
                f"{call.describe()}: {pr.name}[{i},{j}] = {got[i, j]} (never written, "
                "or not a number)",
                worst,
            )
        rows = np.unique(rng.integers(0, pr.rows, min(lines, pr.rows)))
        cols = np.unique(rng.integers(0, pr.cols, min(lines, pr.cols)))
        all_rows, all_cols = np.arange(pr.rows), np.arange(pr.cols)
        ref_rows = prep.p[rows] @ prep.q
        ref_cols = prep.p @ prep.q[:, cols]
        if prep.init is not None:
            ref_rows = ref_rows + prep.init[rows]
            ref_cols = ref_cols + prep.init[:, cols]
        for r, c, ref in ((rows, all_cols, ref_rows), (all_rows, cols, ref_cols)):
            msg, err, bound, ratio = _compare(call, prep, got[r][:, c], ref, r, c)
            if msg:
                return msg, worst
            worst.merge(err, bound, ratio)
        if sketches and not call.has_nonfinite:
            msg = _sketch(call, prep, got, rng, sketches)
            if msg:
                return msg, worst
    return None, worst


def _sketch(
    call: Call, prep: Prepared, got: np.ndarray, rng: np.random.Generator, count: int
) -> str | None:
    """out·X against init·X + P·(Q·X), row by row within the summed element bounds."""
    pr = prep.pr
    x = rng.random((pr.cols, count)) * 2.0 - 1.0
    ax = np.abs(x)
    expected = prep.p @ (prep.q @ x)
    init_x = 0.0
    if prep.init is not None:
        expected += prep.init @ x
        init_x = np.abs(prep.init) @ ax
    have = got.astype(np.float64) @ x
    tol = (
        prep.scale * (init_x + np.outer(prep.pn, prep.qn @ ax) + prep.rho * ax.sum(axis=0))
        + (pr.k + 2) * ETA * ax.sum(axis=0)
        + 1e-12 * np.abs(expected)
    )
    bad = np.abs(have - expected) > tol
    if bad.any():
        i, v = (int(x) for x in np.argwhere(bad)[0])
        return (
            f"{call.describe()}: row {i} of {pr.name} is wrong (random-vector check {v}: "
            f"{have[i, v]:.6e} vs {expected[i, v]:.6e}, tolerance {tol[i, v]:.3e})"
        )
    return None
