"""Strassen-like block schemes as kernels: the l-fold scheme, its Rust tables, its accounting.

A scheme (the data of a verified formulation: ``core/formulation.py`` parses and proves it)
has p×q×r blocks, T products ``(Σ α·A_ij)·(Σ β·B_jl)`` and C blocks ``C_il = Σ γ·M_t``. This
module turns it into the ``sgemm/strassen`` template's kernel, with no model involved:

- ``power(scheme, l)``: the scheme applied recursively l times, as one flat scheme on a
  p^l × q^l × r^l block grid (T^l products; coefficients multiply, block indices nest).
- ``render(scheme, levels, cutoff, inner)``: the kernel source. The tables of levels 0..2
  are generated into the template's ``@scheme`` section; ``inner`` is a parameter set of the
  ``sgemm/blis`` family (its tile and cache blocking run the block products).
- ``accounting(scheme, levels)``: the real multiplication count relative to 2·m·n·k and the
  growth of the error bound, for the checker's ``impossible`` verdict and error bound.

The error growth (documented in papers/04-strassen-algorithm.md): one level of a scheme turns
errors of its block products into errors of C blocks weighted by
``g = max over C blocks of Σ_t |γ_t|·‖α_t‖₁·‖β_t‖₁`` (the norms are sums of absolute
coefficients of the product's A and B combinations). For Strassen g = 12 and for Winograd's
variant g = 18, the constants of Higham's bounds (Accuracy and Stability of Numerical
Algorithms, 2nd ed., SIAM 2002, §23.2.2: ‖C − Ĉ‖ ≤ [(n/n₀)^{log₂12}(n₀² + 5n₀) − 5n]·u·‖A‖‖B‖
for Strassen, log₂18 and 6 for Winograd). Against the classical bound (n²·u·‖A‖‖B‖ in the
same max-norm) the leading term grows by (g/q²)^l: 3^l for Strassen, 4.5^l for Winograd.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol

FAMILY = "sgemm/strassen"
INNER = "sgemm/blis"
MAX_LEVELS = 2
"""Levels whose tables are generated (the kernel applies at most this many)."""
INNER_PARAMS = ("mr", "nr", "kc", "mc", "nc", "unroll_k")
MAX_TABLE_TERMS = 60_000
"""Terms in the generated tables at most (2-level tables of a 3x3x3 scheme fit)."""

_SECTION = re.compile(r"// @scheme begin\n.*?// @scheme end\n", re.DOTALL)
_INNER_LINE = re.compile(
    r"^(?P<head>\s*const\s+\w+\s*:\s*usize\s*=\s*)(?P<value>[^;]+)(?P<tail>;\s*//\s*@inner\s+"
    r"(?P<name>\w+)\s*)$",
    re.MULTILINE,
)


class SchemeError(ValueError):
    """A scheme that cannot become a kernel (too large, or not square-free of mixed factors)."""


class ProductLike(Protocol):
    name: str
    a: Mapping[str, Fraction]
    b: Mapping[str, Fraction]


class SchemeLike(Protocol):
    """What this module reads of a formulation (core.formulation.Formulation has it)."""

    blocks: tuple[int, int, int]
    products: Sequence[ProductLike]
    c: Mapping[str, Mapping[str, Fraction]]


Term = tuple[int, int, Fraction]
"""(block row, block column, coefficient), 0-based."""


@dataclass(frozen=True)
class FlatProduct:
    a: tuple[Term, ...]
    b: tuple[Term, ...]
    c: tuple[Term, ...]


@dataclass(frozen=True)
class Flat:
    """A scheme as index terms on a p×q×r block grid."""

    blocks: tuple[int, int, int]
    products: tuple[FlatProduct, ...]


def _index(name: str) -> tuple[int, int]:
    """'A12' -> (0, 1); 'A_10_2' -> (9, 1)."""
    digits = re.findall(r"\d+", name)
    if len(digits) == 1 and len(digits[0]) == 2:
        return int(digits[0][0]) - 1, int(digits[0][1]) - 1
    return int(digits[0]) - 1, int(digits[1]) - 1


def flatten(scheme: SchemeLike) -> Flat:
    """The scheme as index terms (products no C block uses are dropped)."""
    products = []
    for prod in scheme.products:
        c_terms = tuple(
            (*_index(key), combo[prod.name])
            for key, combo in scheme.c.items()
            if prod.name in combo
        )
        if not c_terms:
            continue
        a = tuple((*_index(n), k) for n, k in prod.a.items())
        b = tuple((*_index(n), k) for n, k in prod.b.items())
        if any(not n.upper().startswith("A") for n in prod.a) or any(
            not n.upper().startswith("B") for n in prod.b
        ):
            raise SchemeError(f"product {prod.name} is not (A blocks)·(B blocks)")
        products.append(FlatProduct(a, b, c_terms))
    return Flat(tuple(scheme.blocks), tuple(products))


def _compose(
    outer: Sequence[Term], inner: Sequence[Term], rows: int, cols: int
) -> tuple[Term, ...]:
    """Terms of an outer block's sub-blocks: block (i, j) of the outer grid holds the inner
    grid of rows×cols blocks."""
    return tuple(
        (oi * rows + ii, oj * cols + ij, ok * ik) for oi, oj, ok in outer for ii, ij, ik in inner
    )


def power(scheme: SchemeLike | Flat, levels: int) -> Flat:
    """The scheme applied `levels` times, as one scheme on a p^l × q^l × r^l grid (level 0:
    the plain product of one block)."""
    flat = scheme if isinstance(scheme, Flat) else flatten(scheme)
    one = Fraction(1)
    result = Flat((1, 1, 1), (FlatProduct(((0, 0, one),), ((0, 0, one),), ((0, 0, one),)),))
    p, q, r = flat.blocks
    for _ in range(levels):
        gp, gq, gr = result.blocks  # the inner grid grows below the new top level
        result = Flat(
            (p * gp, q * gq, r * gr),
            tuple(
                FlatProduct(
                    _compose(top.a, sub.a, gp, gq),
                    _compose(top.b, sub.b, gq, gr),
                    _compose(top.c, sub.c, gp, gr),
                )
                for top in flat.products
                for sub in result.products
            ),
        )
    return result


def _terms(flat: Flat) -> int:
    return sum(len(x.a) + len(x.b) + len(x.c) for x in flat.products)


def _f32(k: Fraction) -> str:
    text = repr(float(k))
    return text if ("." in text or "e" in text) else text + ".0"


def tables(scheme: SchemeLike, label: str, max_levels: int = MAX_LEVELS) -> str:
    """The Rust of the template's `@scheme` section: BLOCKS and SCHEMES for levels 0..max."""
    flat = flatten(scheme)
    levels = [power(flat, lvl) for lvl in range(max_levels + 1)]
    total = sum(_terms(x) for x in levels)
    if total > MAX_TABLE_TERMS:
        raise SchemeError(
            f"{max_levels} levels of this scheme need {total} table terms "
            f"(at most {MAX_TABLE_TERMS}); use fewer products or smaller blocks"
        )
    p, q, r = flat.blocks
    out = [
        "// @scheme begin",
        f'// Generated by roundtable from the verified scheme "{label}": {p}x{q}x{r} blocks, '
        f"{len(flat.products)} products.",
        "/// p, q, r of one level of the scheme.",
        f"const BLOCKS: [usize; 3] = [{p}, {q}, {r}];",
        f"/// The scheme applied 0..={max_levels} times (level 0 is the plain product).",
        f"const SCHEMES: [&[Prod]; {max_levels + 1}] = [",
    ]
    for lvl, level in enumerate(levels):
        out.append(f"    // level {lvl}: {len(level.products)} products")
        out.append("    &[")
        touched: set[tuple[int, int]] = set()
        for prod in level.products:
            cs = []
            for i, j, k in prod.c:
                first = (i, j) not in touched
                touched.add((i, j))
                cs.append(f"({i}, {j}, {_f32(k)}, {'true' if first else 'false'})")
            a = ", ".join(f"({i}, {j}, {_f32(k)})" for i, j, k in prod.a)
            b = ", ".join(f"({i}, {j}, {_f32(k)})" for i, j, k in prod.b)
            out.append(f"        Prod {{ a: &[{a}], b: &[{b}], c: &[{', '.join(cs)}] }},")
        out.append("    ],")
    out += ["];", "// @scheme end", ""]
    return "\n".join(out)


def render(
    scheme: SchemeLike,
    label: str,
    params: Mapping[str, Any] | None = None,
    inner: Mapping[str, Any] | None = None,
) -> str:
    """The kernel source of `scheme` under the ``sgemm/strassen`` template.

    params: levels (0..2) and cutoff (smallest block side), validated by the family.
    inner: a ``sgemm/blis`` parameter set (only mr, nr, kc, mc, nc, unroll_k are used; the
    set is validated by that family). Raises templates.ParameterError or SchemeError."""
    from roundtable_tui.kernels import templates  # settings and paths only when rendering

    fam = templates.family(FAMILY)
    body = fam.instantiate(dict(params or {}))
    inner_fam = templates.family(INNER)
    given = dict(inner or {})
    derive = getattr(inner_fam, "derive", None)  # blocking derived for a given tile
    inner_values = inner_fam.validate(derive(given) if derive and given else given)

    def fill(match: re.Match[str]) -> str:
        return match["head"] + str(inner_values[match["name"]]) + match["tail"]

    body = _INNER_LINE.sub(fill, body)
    body = _SECTION.sub(lambda _m: tables(scheme, label), body, count=1)
    settings = ", ".join(f"{k}={inner_values[k]}" for k in INNER_PARAMS)
    return body.replace("\n", f"\n// inner sgemm/blis: {settings}\n", 1)


@dataclass(frozen=True)
class Accounting:
    """What a verified scheme changes in the checker's judgement at one shape.

    mult_fraction: real multiplications / (m·n·k) at the levels applied (7/8 per Strassen
    level); the effective GFLOPS (2·m·n·k / time) may exceed the machine's peak by 1/this.
    error_growth: factor on the classical error bound, max(1, (g/q²)^levels) (see module doc).
    """

    levels: int
    products: int
    mult_fraction: float
    growth_per_level: float
    error_growth: float


def growth(scheme: SchemeLike | Flat) -> Fraction:
    """g = max over C blocks of Σ_t |γ_t|·‖α_t‖₁·‖β_t‖₁ (Strassen 12, Winograd 18)."""
    flat = scheme if isinstance(scheme, Flat) else flatten(scheme)
    per_block: dict[tuple[int, int], Fraction] = {}
    for prod in flat.products:
        weight = sum(abs(k) for *_, k in prod.a) * sum(abs(k) for *_, k in prod.b)
        for i, j, k in prod.c:
            per_block[(i, j)] = per_block.get((i, j), Fraction(0)) + abs(k) * weight
    return max(per_block.values(), default=Fraction(0))


def levels_for(
    blocks: tuple[int, int, int], m: int, n: int, k: int, levels: int, cutoff: int
) -> int:
    """The levels the template applies at m×n×k (mirror of its Rust `levels_for`)."""
    p, q, r = blocks
    lvl = min(levels, MAX_LEVELS)
    while lvl > 0:
        sides = (-(-m // p**lvl), -(-k // q**lvl), -(-n // r**lvl))
        if all(s >= cutoff for s in sides):
            break
        lvl -= 1
    return lvl


def accounting(scheme: SchemeLike, levels: int) -> Accounting:
    """The accounting of `levels` levels of a verified scheme."""
    flat = flatten(scheme)
    p, q, r = flat.blocks
    t = len(flat.products)
    g = growth(flat)
    per_level = float(g) / q**2
    return Accounting(
        levels=levels,
        products=t**levels,
        mult_fraction=(t / (p * q * r)) ** levels,
        growth_per_level=per_level,
        error_growth=max(1.0, per_level**levels),
    )


def check_table(flat: Flat) -> list[str]:
    """Exact re-check of a flat (possibly multi-level) scheme by its Brent equations: for
    every C block (i, l), Σ_t γ_t·α_t·β_t over pairs (A_ij, B_jl) must be 1 and 0 elsewhere.
    Returns the wrong C blocks (empty when right); a defence in depth for generated tables."""
    p, q, r = flat.blocks
    sums: dict[tuple[int, int], dict[tuple[int, int, int, int], Fraction]] = {}
    for prod in flat.products:
        for ci, cj, ck in prod.c:
            acc = sums.setdefault((ci, cj), {})
            for ai, aj, ak in prod.a:
                for bi, bj, bk in prod.b:
                    key = (ai, aj, bi, bj)
                    acc[key] = acc.get(key, Fraction(0)) + ck * ak * bk
    wrong = []
    for i in range(p):
        for j in range(r):
            got = {key: v for key, v in sums.get((i, j), {}).items() if v}
            want = {(i, x, x, j): Fraction(1) for x in range(q)}
            if got != want:
                wrong.append(f"C({i + 1},{j + 1})")
    return wrong
