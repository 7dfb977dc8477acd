"""Strassen-like bilinear schemes for block matrix multiplication: parse them and check them.

A formulation splits A into p x q blocks, B into q x r blocks and C into p x r blocks, forms
products of a linear combination of A blocks with a linear combination of B blocks, and writes
each block of C as a linear combination of those products. Proposals come from small language
models as JSON, so the parser is tolerant of spelling (unicode minus, lowercase names, dict and
list forms, "2*(A11 - A12)") but strict about meaning, and every error is one line naming the
problem. Model text is never evaluated: linear combinations go through a small parser of their
own grammar.

Input shape::

    {"blocks": [2, 2, 2],
     "products": [{"name": "M1", "a": "A11 + A22", "b": "B11 + B22"}, ...],
     "sums": {"S1": "A21 + A22", "U1": "M1 + M6"},        # optional named intermediates
     "c": {"C11": "M1 + M4 - M5 + M7", ...}}

`sums` lets a scheme share additions (as Winograd's variant does); a sum combines A blocks, B
blocks or products (never a mix) and may refer to other sums. Additions are counted as written:
an expression referring to n distinct names costs n - 1 additions; scalings are free.

`verify` expands every C block with non-commutative sympy symbols (blocks are matrices, so
A11*B12 is not B12*A11) and compares it with sum_k A_ik*B_kj.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import sympy

__all__ = [
    "BUILTIN",
    "Formulation",
    "FormulationError",
    "Product",
    "VerifyResult",
    "builtin",
    "crossover_note",
    "describe",
    "equations",
    "format_combination",
    "naive",
    "parse_formulation",
    "strassen",
    "verify",
    "winograd",
]

Combination = dict[str, Fraction]
"""A linear combination: name -> non-zero exact coefficient."""

MAX_BLOCKS = 9  # block names use one digit per index (A12), so at most 9 blocks per dimension
DEFAULT_BLOCKS = (2, 2, 2)
# Limits on what a model may send (a degenerate reply must give a one-line veto, never a
# RecursionError or minutes of sympy): the naive 9x9x9 scheme has 729 products.
MAX_PRODUCTS = 729
MAX_SUMS = 729
MAX_TEXT = 200_000  # characters of a whole formulation as JSON
MAX_EXPRESSION = 4_000  # characters of one linear combination
MAX_DEPTH = 16  # nested parentheses (or unary signs) in one combination
MAX_SUM_DEPTH = 32  # sums defined through sums defined through sums ...
MAX_PROOF_TERMS = 100_000  # bilinear terms the proof expands (naive 9x9x9: 6,561; ~1 s)
_SHOW_LIMIT = 300  # characters of an expression shown in a verification detail


class FormulationError(ValueError):
    """A malformed formulation; the message is a single line naming the problem."""


# ----------------------------------------------------------------------------------------------
# The result types


@dataclass(frozen=True)
class Product:
    """One multiplication: (combination `a`) times (combination `b`), both over block names.

    The parser accepts a factor of A blocks or of B blocks (never a mix); `verify` fails any
    product that is not (A blocks) x (B blocks) in that order."""

    name: str
    a: Mapping[str, Fraction]
    b: Mapping[str, Fraction]

    @property
    def kind(self) -> str:
        """The matrices of the two factors in order: "AB" for a well-formed product."""
        return _matrix_of(self.a) + _matrix_of(self.b)


@dataclass(frozen=True)
class Formulation:
    """A parsed scheme, with intermediate sums expanded away.

    `c` maps every C block name (row-major order) to a combination of product names;
    `additions` is counted from the scheme as written (shared sums counted once)."""

    blocks: tuple[int, int, int]
    products: tuple[Product, ...]
    c: Mapping[str, Mapping[str, Fraction]]
    additions: int
    sums: Mapping[str, Mapping[str, Fraction]] = field(default_factory=dict)

    @property
    def unused(self) -> tuple[str, ...]:
        """Products that no C block uses."""
        used = {name for combo in self.c.values() for name in combo}
        return tuple(p.name for p in self.products if p.name not in used)

    def to_dict(self) -> dict[str, Any]:
        """The scheme in the flat JSON input form (intermediate sums written out, so the
        flat form may count more additions than the original)."""
        return {
            "blocks": list(self.blocks),
            "products": [
                {"name": p.name, "a": format_combination(p.a), "b": format_combination(p.b)}
                for p in self.products
            ],
            "c": {key: format_combination(combo) for key, combo in self.c.items()},
        }


@dataclass(frozen=True)
class VerifyResult:
    """The verdict on a formulation. `failing_entry` is the first wrong C block (row-major),
    or None when the scheme is right or fails for a reason not tied to one block."""

    ok: bool
    failing_entry: str | None
    detail: str
    products: int
    additions: int
    unused: tuple[str, ...] = ()


# ----------------------------------------------------------------------------------------------
# Names


_BLOCK_RE = re.compile(r"([A-Ca-c])_?(\d)_?(\d)|([A-Ca-c])_(\d+)_(\d+)")
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A_{12}, A_{1,2}, A_{1}{2}, A[1][2], A[1,2]  ->  A_1_2
_BRACED_RE = re.compile(r"\b([A-Ca-c])_?\{\s*(\d+)\s*(?:,|\}\s*\{)?\s*(\d+)\s*\}")
_BRACKET_RE = re.compile(r"\b([A-Ca-c])\[\s*(\d+)\s*(?:,|\]\s*\[)\s*(\d+)\s*\]")
_MINUS = "\u2212\u2010\u2011\u2012\u2013\u2014\ufe63\uff0d"
_TIMES = "\u00d7\u00b7\u22c5\u2217\u2022"
_PLUS = "\uff0b"


def _block_name(raw: str) -> tuple[str, int, int] | None:
    """('A', i, j) for a block-shaped name (A12, a12, A_12, A_1_2), else None."""
    m = _BLOCK_RE.fullmatch(raw.strip())
    if not m:
        return None
    if m.group(1):
        return m.group(1).upper(), int(m.group(2)), int(m.group(3))
    return m.group(4).upper(), int(m.group(5)), int(m.group(6))


def _block_names(letter: str, rows: int, cols: int) -> list[str]:
    return [f"{letter}{i}{j}" for i in range(1, rows + 1) for j in range(1, cols + 1)]


def _loose(name: str) -> str:
    """The key under which names are matched when the exact spelling is not found."""
    return name.lower().replace("_", "")


def _matrix_of(combo: Mapping[str, Fraction]) -> str:
    letters = {name[0] for name in combo}
    return letters.pop() if len(letters) == 1 else "?"


def _clip(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ----------------------------------------------------------------------------------------------
# Linear combinations: tokenizer and recursive-descent parser
#
#   expr   := term (('+' | '-') term)*
#   term   := factor (('*' | '/' | <juxtaposition>) factor)*
#   factor := ('+' | '-') factor | NUMBER | NAME | '(' expr ')'
#
# Values are (constant, combination); multiplying two values that both contain names, dividing
# by anything but a non-zero number, and a leftover constant term are errors.

_TOKEN_RE = re.compile(r"\s*(?:(\d+\.?\d*|\.\d+)|([A-Za-z_][A-Za-z0-9_]*)|([-+*/()])|(\S))")

_Value = tuple[Fraction, Combination]


def _normalize_text(text: str) -> str:
    for ch in _MINUS:
        text = text.replace(ch, "-")
    for ch in _TIMES:
        text = text.replace(ch, "*")
    text = text.replace(_PLUS, "+")
    text = _BRACED_RE.sub(r"\1_\2_\3", text)
    return _BRACKET_RE.sub(r"\1_\2_\3", text)


def _add(x: _Value, y: _Value, sign: int) -> _Value:
    combo = dict(x[1])
    for name, coef in y[1].items():
        total = combo.get(name, Fraction(0)) + sign * coef
        if total:
            combo[name] = total
        else:
            combo.pop(name, None)
    return x[0] + sign * y[0], combo


def _scale(x: _Value, k: Fraction) -> _Value:
    if not k:
        return Fraction(0), {}
    return x[0] * k, {name: coef * k for name, coef in x[1].items()}


class _ExprParser:
    def __init__(self, text: str, where: str, resolve: Callable[[str], str]) -> None:
        self.text = text
        self.where = where
        self.resolve = resolve
        if len(text) > MAX_EXPRESSION:
            raise FormulationError(
                f"{where}: expression of {len(text)} characters (at most {MAX_EXPRESSION})"
            )
        self.tokens: list[tuple[str, str]] = []  # (kind, text): kind in num/name/op
        for m in _TOKEN_RE.finditer(_normalize_text(text)):
            num, name, op, other = m.groups()
            if other is not None:
                raise self.error(f"unexpected character {other!r}")
            if num is not None:
                self.tokens.append(("num", num))
            elif name is not None:
                self.tokens.append(("name", name))
            elif op is not None:
                self.tokens.append(("op", op))
        self.pos = 0
        self.depth = 0

    def error(self, message: str) -> FormulationError:
        return FormulationError(f"{self.where}: {message} in {_clip(self.text)!r}")

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def parse(self) -> Combination:
        if not self.tokens:
            raise FormulationError(f"{self.where}: empty expression")
        value = self.expr()
        tok = self.peek()
        if tok is not None:
            if tok[1] == ")":
                raise self.error("unbalanced parentheses (a ')' without its '(')")
            raise self.error(f"unexpected {tok[1]!r}")
        const, combo = value
        if const and combo:
            raise self.error(f"a plain number ({const}) added to blocks")
        if const:
            raise self.error("a plain number, not a combination of names")
        return combo

    def expr(self) -> _Value:
        value = self.term()
        while (tok := self.peek()) is not None and tok[1] in ("+", "-"):
            self.pos += 1
            value = _add(value, self.term(), 1 if tok[1] == "+" else -1)
        return value

    def term(self) -> _Value:
        value = self.factor()
        while (tok := self.peek()) is not None:
            if tok[1] == "*":
                self.pos += 1
                value = self.multiply(value, self.factor())
            elif tok[1] == "/":
                self.pos += 1
                divisor = self.factor()
                if divisor[1] or not divisor[0]:
                    raise self.error("division by something other than a non-zero number")
                value = _scale(value, 1 / divisor[0])
            elif tok[0] in ("num", "name") or tok[1] == "(":
                value = self.multiply(value, self.factor())  # juxtaposition: "2A11", "2(A11)"
            else:
                break
        return value

    def multiply(self, x: _Value, y: _Value) -> _Value:
        if x[1] and y[1]:
            names = " and ".join(sorted({*x[1], *y[1]})[:2])
            raise self.error(f"multiplies {names} (a combination must be linear)")
        if x[1]:
            return _scale(x, y[0])
        return _scale(y, x[0])

    def factor(self) -> _Value:
        tok = self.peek()
        if tok is None:
            prev = self.tokens[-1][1] if self.tokens else ""
            raise self.error(f"expression ends after {prev!r}")
        kind, text = tok
        self.pos += 1
        if text in ("+", "-", "("):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise FormulationError(
                    f"{self.where}: nested more than {MAX_DEPTH} deep "
                    f"(parentheses or signs) in {_clip(self.text, 40)!r}"
                )
            try:
                return self.nested(text)
            finally:
                self.depth -= 1
        if text == ")":
            raise self.error("unbalanced parentheses (a ')' without its '(')")
        if kind == "num":
            return Fraction(text), {}
        if kind == "name":
            return Fraction(0), {self.resolve(text): Fraction(1)}
        raise self.error(f"unexpected {text!r}")

    def nested(self, text: str) -> _Value:
        """The factor after a unary sign or an opening parenthesis."""
        if text in ("+", "-"):
            inner = self.factor()
            return inner if text == "+" else _scale(inner, Fraction(-1))
        nxt = self.peek()
        if nxt is not None and nxt[1] == ")":
            raise self.error("empty parentheses")
        inner = self.expr()
        nxt = self.peek()
        if nxt is None or nxt[1] != ")":
            raise self.error("unbalanced parentheses (a '(' without its ')')")
        self.pos += 1
        return inner


def _coefficient(value: Any, where: str, name: str) -> Fraction:
    if isinstance(value, bool):
        raise FormulationError(f"{where}: non-numeric coefficient {value!r} for {name}")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FormulationError(f"{where}: coefficient {value!r} for {name} is not finite")
        return Fraction(repr(value))  # 0.1 -> 1/10, not the binary float
    if isinstance(value, str):
        text = _normalize_text(value).replace(" ", "")
        if text.startswith("(") and text.endswith(")"):
            text = text[1:-1]
        try:
            return Fraction(text)
        except (ValueError, ZeroDivisionError):
            pass
    raise FormulationError(f"{where}: non-numeric coefficient {_clip(str(value), 40)!r} for {name}")


def _strip_assignment(text: str) -> str:
    """'C11 = M1 + M4' -> 'M1 + M4' (models often repeat the name)."""
    return text.rsplit("=", 1)[1] if "=" in text else text


def _parse_combination(
    value: Any, where: str, resolve: Callable[[str], str], assignment: bool = False
) -> Combination:
    """A combination as written: a string, a dict {name: coefficient}, or a list of terms
    (strings, dicts, or [name, coefficient] pairs). Returns names as `resolve` canonicalizes
    them, with like terms combined and zeros dropped."""
    if isinstance(value, str):
        text = _strip_assignment(value) if assignment else value
        return _ExprParser(text, where, resolve).parse()
    total: _Value = (Fraction(0), {})
    if isinstance(value, Mapping):
        if not value:
            raise FormulationError(f"{where}: empty expression")
        for key, coef in value.items():
            if not isinstance(key, str) or not key.strip():
                raise FormulationError(f"{where}: a dict term needs a name, got {key!r}")
            name = resolve(_normalize_text(key).strip())
            total = _add(total, (Fraction(0), {name: _coefficient(coef, where, name)}), 1)
        return total[1]
    if isinstance(value, list | tuple):
        if not value:
            raise FormulationError(f"{where}: empty expression")
        for item in value:
            if isinstance(item, str | Mapping):
                part = _parse_combination(item, where, resolve)
            elif isinstance(item, list | tuple) and len(item) == 2:
                first, second = item
                name_raw, coef_raw = (first, second) if isinstance(first, str) else (second, first)
                if not isinstance(name_raw, str):
                    raise FormulationError(f"{where}: term {item!r} has no name")
                name = resolve(_normalize_text(name_raw).strip())
                part = {name: _coefficient(coef_raw, where, name)}
            else:
                raise FormulationError(f"{where}: cannot read term {_clip(repr(item), 40)}")
            total = _add(total, (Fraction(0), part), 1)
        return total[1]
    if value is None:
        raise FormulationError(f"{where}: empty expression")
    raise FormulationError(
        f"{where}: expected a string like 'A11 + A22', got {type(value).__name__}"
    )


def format_combination(combo: Mapping[str, Fraction]) -> str:
    """'A11 - 2*A12 + 1/2*A22' (the parser reads this back); '0' when empty."""
    parts: list[str] = []
    for name, coef in combo.items():
        sign = "-" if coef < 0 else "+"
        mag = abs(coef)
        term = name if mag == 1 else f"{mag}*{name}"
        parts.append(f"{sign} {term}")
    if not parts:
        return "0"
    text = " ".join(parts)
    return text[2:] if text.startswith("+ ") else "-" + text[2:]


# ----------------------------------------------------------------------------------------------
# The whole formulation


def _load_json(text: str | bytes) -> Any:
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    stripped = text.strip()
    fence = re.search(r"```(?:json|JSON)?\s*(.*?)```", stripped, re.DOTALL)
    if fence:
        stripped = fence.group(1).strip()
    try:
        return json.loads(stripped)
    except json.JSONDecodeError as exc:
        start, end = stripped.find("{"), stripped.rfind("}")
        if 0 <= start < end:
            try:
                return json.loads(stripped[start : end + 1])
            except json.JSONDecodeError:
                pass
        raise FormulationError(f"not valid JSON: {exc.msg} (line {exc.lineno})") from None


def _parse_blocks(value: Any) -> tuple[int, int, int]:
    if value is None:
        return DEFAULT_BLOCKS
    dims: list[Any]
    if isinstance(value, int) and not isinstance(value, bool):
        dims = [value] * 3
    elif isinstance(value, str):
        dims = re.split(r"\s*[x×*,]\s*", value.strip().strip("[]()"))
    elif isinstance(value, list | tuple):
        dims = list(value)
    else:
        raise FormulationError(f"blocks must be [p, q, r], got {_clip(repr(value), 40)}")
    out: list[int] = []
    for d in dims:
        if isinstance(d, str) and d.strip().isdigit():
            d = int(d)
        if isinstance(d, bool) or not isinstance(d, int):
            raise FormulationError(f"blocks must be three integers [p, q, r], got {value!r}")
        out.append(d)
    if len(out) != 3:
        raise FormulationError(f"blocks must be three integers [p, q, r], got {value!r}")
    if not all(1 <= d <= MAX_BLOCKS for d in out):
        raise FormulationError(f"blocks must each be between 1 and {MAX_BLOCKS}, got {out}")
    return out[0], out[1], out[2]


def _entries(value: Any, what: str, value_keys: tuple[str, ...]) -> list[tuple[Any, Any]]:
    """(name, body) pairs from {name: body}, [{"name": .., <body key>: ..}] or ["name = body"]."""
    if isinstance(value, Mapping):
        return list(value.items())
    if not isinstance(value, list | tuple):
        raise FormulationError(f"{what} must be an object or a list, got {type(value).__name__}")
    out: list[tuple[Any, Any]] = []
    for item in value:
        if isinstance(item, str) and "=" in item:
            left, right = item.split("=", 1)
            out.append((left.strip(), right))
        elif isinstance(item, Mapping):
            low = {str(k).strip().lower(): v for k, v in item.items()}
            name = low.get("name", low.get("entry", low.get("id")))
            body = next((low[k] for k in value_keys if k in low), None)
            if name is None and len(item) == 1:
                name, body = next(iter(item.items()))
            out.append((name, body))
        else:
            raise FormulationError(f"{what}: cannot read entry {_clip(repr(item), 40)}")
    return out


def _product_entries(value: Any) -> list[tuple[Any, Any, Any]]:
    """(name, a, b) from [{"name", "a", "b"}, ...], {name: {"a", "b"}} or {name: [a, b]}."""

    def sides(body: Any, label: str) -> tuple[Any, Any]:
        if isinstance(body, Mapping):
            low = {str(k).strip().lower(): v for k, v in body.items()}
            return low.get("a"), low.get("b")
        if isinstance(body, list | tuple) and len(body) == 2:
            return body[0], body[1]
        raise FormulationError(f"product {label}: expected {{'a': ..., 'b': ...}}")

    if isinstance(value, Mapping):
        return [(name, *sides(body, str(name))) for name, body in value.items()]
    if not isinstance(value, list | tuple):
        raise FormulationError(f"products must be a list, got {type(value).__name__}")
    out: list[tuple[Any, Any, Any]] = []
    for index, item in enumerate(value):
        name = None
        if isinstance(item, Mapping):
            low = {str(k).strip().lower(): v for k, v in item.items()}
            name = low.get("name", low.get("id"))
        out.append((name, *sides(item, str(name or f"#{index + 1}"))))
    return out


def _identifier(raw: Any, what: str) -> str:
    if not isinstance(raw, str) or not _IDENT_RE.fullmatch(raw.strip()):
        raise FormulationError(f"{what} name {raw!r} is not an identifier like M1")
    name = raw.strip()
    if _block_name(name) is not None:
        raise FormulationError(f"{what} name {name!r} clashes with a block name")
    return name


class _Builder:
    """Holds the names of one formulation and resolves references between its parts."""

    def __init__(self, blocks: tuple[int, int, int]) -> None:
        self.blocks = blocks
        p, q, r = blocks
        self.valid = {
            "A": set(_block_names("A", p, q)),
            "B": set(_block_names("B", q, r)),
            "C": set(_block_names("C", p, r)),
        }
        self.shape = {"A": (p, q), "B": (q, r), "C": (p, r)}
        self.products: dict[str, tuple[Any, Any]] = {}  # name -> raw a, raw b
        self.sums: dict[str, Any] = {}  # name -> raw expression
        self.loose: dict[str, str] = {}  # loose key -> exact name (products and sums)
        self.written: dict[str, Combination] = {}  # sum name -> combination as written
        self.expanded: dict[str, tuple[str, Combination]] = {}  # sum -> (kind, over atoms)
        self.expanding: list[str] = []

    def add_name(self, name: str, what: str) -> None:
        key = _loose(name)
        if key in self.loose:
            other = self.loose[key]
            same = "" if other == name else f" (same as {other!r})"
            raise FormulationError(f"duplicate {what} name {name!r}{same}")
        self.loose[key] = name

    def block(self, raw: str) -> str | None:
        shaped = _block_name(raw)
        if shaped is None:
            return None
        letter, i, j = shaped
        name = f"{letter}{i}{j}" if i <= 9 and j <= 9 else f"{letter}_{i}_{j}"
        if name in self.valid[letter]:
            return name
        rows, cols = self.shape[letter]
        last = f"{letter}{rows}{cols}"
        raise FormulationError(
            f"unknown block {name}: with blocks {list(self.blocks)}, "
            f"{letter} has {rows}x{cols} blocks {letter}11..{last}"
        )

    def resolver(self, where: str, context: str) -> Callable[[str], str]:
        """Canonical name for a reference in `context` ("factor", "c" or "sum")."""

        def resolve(raw: str) -> str:
            try:
                block = self.block(raw)
            except FormulationError as exc:
                raise FormulationError(f"{where}: {exc}") from None
            if block is not None:
                if block[0] == "C":
                    raise FormulationError(f"{where}: {block} is a block of the result C")
                return block
            if raw in self.products or raw in self.sums:
                return raw
            exact = self.loose.get(_loose(raw))
            if exact is not None:
                return exact
            if context == "c":
                known = ", ".join(self.products)
                raise FormulationError(
                    f"{where}: unknown product {raw!r} (products are {_clip(known, 60)})"
                )
            if context == "factor":
                raise FormulationError(
                    f"{where}: unknown name {raw!r} (expected blocks like A11, B12 or numbers)"
                )
            raise FormulationError(f"{where}: unknown name {raw!r}")

        return resolve

    def kind_of_atom(self, atom: str) -> str:
        return atom[0] if atom[0] in "AB" and atom not in self.products else "P"

    def expand(self, written: Combination, where: str) -> tuple[str, Combination]:
        """Substitute sums; returns (kind, combination over blocks or products) where kind is
        "A", "B", "P" (products) or "" for zero. Mixed kinds are an error."""
        total: _Value = (Fraction(0), {})
        kinds: dict[str, str] = {}  # kind -> an example name
        for name, coef in written.items():
            if name in self.sums:
                kind, combo = self.expand_sum(name)
            else:
                kind, combo = self.kind_of_atom(name), {name: Fraction(1)}
            if kind:
                kinds.setdefault(kind, name)
            total = _add(total, _scale((Fraction(0), combo), coef), 1)
        if len(kinds) > 1:
            if "P" in kinds:
                blocks = kinds.get("A", kinds.get("B"))
                raise FormulationError(
                    f"{where}: mixes products ({kinds['P']}) with blocks ({blocks})"
                )
            raise FormulationError(
                f"{where}: mixes A blocks ({kinds['A']}) and B blocks ({kinds['B']})"
            )
        kind = next(iter(kinds), "") if total[1] else ""
        return kind, total[1]

    def expand_sum(self, name: str) -> tuple[str, Combination]:
        if name in self.expanded:
            return self.expanded[name]
        if name in self.expanding:
            cycle = " -> ".join([*self.expanding[self.expanding.index(name) :], name])
            raise FormulationError(f"sum {name} refers to itself ({cycle})")
        if len(self.expanding) >= MAX_SUM_DEPTH:
            raise FormulationError(
                f"sum {name}: sums nested more than {MAX_SUM_DEPTH} deep "
                f"({' -> '.join(self.expanding[:3])} -> ...)"
            )
        self.expanding.append(name)
        where = f"sum {name}"
        written = _parse_combination(
            self.sums[name], where, self.resolver(where, "sum"), assignment=True
        )
        self.written[name] = written
        result = self.expand(written, where)
        self.expanding.pop()
        self.expanded[name] = result
        return result


def _additions(combos: Iterable[Mapping[str, Fraction]]) -> int:
    return sum(max(len(combo) - 1, 0) for combo in combos)


def parse_formulation(obj: Mapping[str, Any] | str | bytes) -> Formulation:
    """Read a formulation from a dict or JSON text; raise FormulationError if malformed.

    Bounded: text size, expression size, nesting depth and the numbers of products and sums
    are limited (MAX_* above), and exceeding one is a one-line FormulationError."""
    try:
        return _parse_formulation(obj)
    except RecursionError:  # deeply nested JSON lists/objects given as a dict
        raise FormulationError("formulation nested too deeply to read") from None


def _parse_formulation(obj: Mapping[str, Any] | str | bytes) -> Formulation:
    if isinstance(obj, str | bytes):
        if len(obj) > MAX_TEXT:
            raise FormulationError(f"formulation of {len(obj)} characters (at most {MAX_TEXT})")
        obj = _load_json(obj)
    if not isinstance(obj, Mapping):
        raise FormulationError(
            f"a formulation must be a JSON object with 'products' and 'c', got {type(obj).__name__}"
        )
    top = {str(k).strip().lower(): v for k, v in obj.items()}
    builder = _Builder(_parse_blocks(top.get("blocks")))
    raw_products = top.get("products")
    if not raw_products:
        raise FormulationError("missing 'products' (a list of {name, a, b})")
    if "c" not in top or not top["c"]:
        raise FormulationError("missing 'c' (an object mapping C11, C12, ... to products)")

    # Names first, so that any part may refer to any other.
    entries = _product_entries(raw_products)
    if len(entries) > MAX_PRODUCTS:
        raise FormulationError(f"{len(entries)} products (at most {MAX_PRODUCTS})")
    order: list[str] = []
    for index, (raw_name, raw_a, raw_b) in enumerate(entries):
        name = _identifier(raw_name if raw_name is not None else f"M{index + 1}", "product")
        builder.add_name(name, "product")
        for side, raw in (("a", raw_a), ("b", raw_b)):
            if raw is None:
                raise FormulationError(f"product {name}: missing {side!r}")
        builder.products[name] = (raw_a, raw_b)
        order.append(name)
    raw_sums = top.get("sums", top.get("let"))
    if raw_sums:
        sum_entries = _entries(raw_sums, "sums", ("expr", "value", "sum"))
        if len(sum_entries) > MAX_SUMS:
            raise FormulationError(f"{len(sum_entries)} sums (at most {MAX_SUMS})")
        for raw_name, body in sum_entries:
            name = _identifier(raw_name, "sum")
            builder.add_name(name, "sum")
            builder.sums[name] = body

    products: list[Product] = []
    written_sides: list[Combination] = []
    for name in order:
        expanded_sides: list[Combination] = []
        for side, raw in zip(("a", "b"), builder.products[name], strict=True):
            where = f"product {name}, {side}"
            written = _parse_combination(raw, where, builder.resolver(where, "factor"))
            kind, combo = builder.expand(written, where)
            if kind == "P":
                example = next(iter(written))
                raise FormulationError(
                    f"{where}: refers to a product ({example}); "
                    f"a and b must combine blocks of A and of B"
                )
            if not combo:
                raise FormulationError(f"{where}: is zero (its terms cancel)")
            written_sides.append(written)
            expanded_sides.append(combo)
        a, b = (dict(sorted(side.items())) for side in expanded_sides)
        products.append(Product(name, a, b))

    c_written: dict[str, Combination] = {}
    c: dict[str, Combination] = {}
    for raw_key, body in _entries(top["c"], "c", ("expr", "value", "sum", "formula")):
        shaped = _block_name(str(raw_key)) if raw_key is not None else None
        if shaped is None or shaped[0] != "C":
            raise FormulationError(f"c: {raw_key!r} is not a C block name like C11")
        key = f"C{shaped[1]}{shaped[2]}"
        if key not in builder.valid["C"]:
            p, _, r = builder.blocks
            raise FormulationError(
                f"c: unknown entry {key}: with blocks {list(builder.blocks)}, "
                f"C has {p}x{r} blocks C11..C{p}{r}"
            )
        if key in c_written:
            raise FormulationError(f"c: {key} is given twice")
        written = _parse_combination(body, key, builder.resolver(key, "c"), assignment=True)
        kind, combo = builder.expand(written, key)
        if kind in ("A", "B"):
            example = next(n for n in written if n not in builder.products)
            raise FormulationError(
                f"{key}: refers to blocks ({example}); C entries must combine products"
            )
        c_written[key] = written
        c[key] = {name: combo[name] for name in order if name in combo}
    needed = _block_names("C", builder.blocks[0], builder.blocks[2])
    missing = [key for key in needed if key not in c]
    if missing:
        raise FormulationError(f"c: missing {', '.join(missing)} (need {', '.join(needed)})")

    for name in builder.sums:  # parse sums nothing refers to, so errors in them surface too
        builder.expand_sum(name)
    additions = (
        _additions(builder.written.values())
        + _additions(written_sides)
        + _additions(c_written.values())
    )
    return Formulation(
        blocks=builder.blocks,
        products=tuple(products),
        c={key: c[key] for key in needed},
        additions=additions,
        sums={name: builder.expanded[name][1] for name in builder.sums},
    )


# ----------------------------------------------------------------------------------------------
# Verification


def _show(expr: Any) -> str:
    text = str(expr)
    return text if len(text) <= _SHOW_LIMIT else text[: _SHOW_LIMIT - 4] + " ..."


def verify(f: Formulation) -> VerifyResult:
    """Check symbolically, with non-commutative blocks, that every C block of the scheme equals
    sum_k A_ik*B_kj. The first wrong block (row-major) is reported."""
    p, q, r = f.blocks
    users = {prod.name: sum(prod.name in combo for combo in f.c.values()) for prod in f.products}
    cost = sum(len(prod.a) * len(prod.b) * max(users[prod.name], 1) for prod in f.products)
    if cost > MAX_PROOF_TERMS:
        return VerifyResult(
            False,
            None,
            f"too large to prove here: {cost} bilinear terms to expand (at most {MAX_PROOF_TERMS})",
            len(f.products),
            f.additions,
            f.unused,
        )
    names = _block_names("A", p, q) + _block_names("B", q, r)
    sym = {name: sympy.Symbol(name, commutative=False) for name in names}

    def combination(combo: Mapping[str, Fraction]) -> Any:
        return sympy.Add(
            *(sympy.Rational(k.numerator, k.denominator) * sym[n] for n, k in combo.items())
        )

    values = {
        prod.name: sympy.expand(combination(prod.a) * combination(prod.b)) for prod in f.products
    }
    wrong = {prod.name: prod.kind for prod in f.products if prod.kind != "AB"}

    def result(ok: bool, entry: str | None, detail: str) -> VerifyResult:
        return VerifyResult(ok, entry, detail, len(f.products), f.additions, f.unused)

    for i in range(1, p + 1):
        for j in range(1, r + 1):
            key = f"C{i}{j}"
            combo = f.c.get(key)
            if combo is None:
                return result(False, key, f"{key}: the scheme does not define it")
            unknown = [name for name in combo if name not in values]
            if unknown:
                return result(False, key, f"{key}: refers to unknown product {unknown[0]}")
            scheme = sympy.expand(
                sympy.Add(
                    *(
                        sympy.Rational(k.numerator, k.denominator) * values[name]
                        for name, k in combo.items()
                    )
                )
            )
            expected = sympy.Add(*(sym[f"A{i}{k}"] * sym[f"B{k}{j}"] for k in range(1, q + 1)))
            difference = sympy.expand(scheme - expected)
            if difference != 0:
                detail = (
                    f"{key}: scheme gives {_show(scheme)}, expected {_show(expected)} "
                    f"(difference {_show(difference)})"
                )
                culprits = [name for name in combo if name in wrong]
                if culprits:
                    detail += "; " + _kind_note(culprits[0], wrong[culprits[0]])
                return result(False, key, detail)
    if wrong:
        name = next(iter(wrong))
        return result(False, None, _kind_note(name, wrong[name]))
    detail = f"all {p * r} C blocks match: {describe(f)}"
    return result(True, None, detail)


def _kind_note(name: str, kind: str) -> str:
    if kind == "BA":
        return (
            f"product {name} multiplies B blocks by A blocks; blocks are matrices, "
            f"B*A is not A*B (a must combine A blocks, b B blocks)"
        )
    return f"product {name} multiplies {kind[0]} blocks by {kind[1]} blocks, not A by B"


def describe(f: Formulation) -> str:
    """'7 products, 18 additions, 2x2x2 blocks'."""
    p, q, r = f.blocks
    n = len(f.products)
    text = (
        f"{n} product{'s' if n != 1 else ''}, {f.additions} addition"
        f"{'s' if f.additions != 1 else ''}, {p}x{q}x{r} blocks"
    )
    if f.unused:
        text += f" ({', '.join(f.unused)} unused)"
    return text


# ----------------------------------------------------------------------------------------------
# Reference schemes


def strassen() -> dict[str, Any]:
    """Strassen (1969): 2x2 blocks, 7 products, 18 additions."""
    return {
        "blocks": [2, 2, 2],
        "products": [
            {"name": "M1", "a": "A11 + A22", "b": "B11 + B22"},
            {"name": "M2", "a": "A21 + A22", "b": "B11"},
            {"name": "M3", "a": "A11", "b": "B12 - B22"},
            {"name": "M4", "a": "A22", "b": "B21 - B11"},
            {"name": "M5", "a": "A11 + A12", "b": "B22"},
            {"name": "M6", "a": "A21 - A11", "b": "B11 + B12"},
            {"name": "M7", "a": "A12 - A22", "b": "B21 + B22"},
        ],
        "c": {
            "C11": "M1 + M4 - M5 + M7",
            "C12": "M3 + M5",
            "C21": "M2 + M4",
            "C22": "M1 - M2 + M3 + M6",
        },
    }


def winograd() -> dict[str, Any]:
    """Winograd's variant of Strassen: 2x2 blocks, 7 products, 15 additions thanks to shared
    sums (8 before the products, 7 after). Written flat it would need 24 additions."""
    return {
        "blocks": [2, 2, 2],
        "sums": {
            "S1": "A21 + A22",
            "S2": "S1 - A11",
            "S3": "A11 - A21",
            "S4": "A12 - S2",
            "T1": "B12 - B11",
            "T2": "B22 - T1",
            "T3": "B22 - B12",
            "T4": "T2 - B21",
            "U2": "M1 + M6",
            "U3": "U2 + M7",
            "U4": "U2 + M5",
        },
        "products": [
            {"name": "M1", "a": "A11", "b": "B11"},
            {"name": "M2", "a": "A12", "b": "B21"},
            {"name": "M3", "a": "S4", "b": "B22"},
            {"name": "M4", "a": "A22", "b": "T4"},
            {"name": "M5", "a": "S1", "b": "T1"},
            {"name": "M6", "a": "S2", "b": "T2"},
            {"name": "M7", "a": "S3", "b": "T3"},
        ],
        "c": {
            "C11": "M1 + M2",
            "C12": "U4 + M3",
            "C21": "U3 - M4",
            "C22": "U3 + M5",
        },
    }


def naive(blocks: Iterable[int] = DEFAULT_BLOCKS) -> dict[str, Any]:
    """The schoolbook scheme: one product A_ik*B_kj per (i, k, j), p*q*r products."""
    p, q, r = _parse_blocks(list(blocks))
    products: list[dict[str, str]] = []
    c: dict[str, str] = {}
    for i in range(1, p + 1):
        for j in range(1, r + 1):
            terms = []
            for k in range(1, q + 1):
                name = f"M{len(products) + 1}"
                products.append({"name": name, "a": f"A{i}{k}", "b": f"B{k}{j}"})
                terms.append(name)
            c[f"C{i}{j}"] = " + ".join(terms)
    return {"blocks": [p, q, r], "products": products, "c": c}


BUILTIN: dict[str, Callable[[], dict[str, Any]]] = {"strassen": strassen, "winograd": winograd}
"""Schemes known by name (a proposal may apply one by name instead of writing it out)."""


def builtin(name: str) -> dict[str, Any] | None:
    """The scheme called `name` ("strassen", "Winograd's variant", ...), or None."""
    key = re.sub(r"[^a-z]", "", name.lower())
    for known, make in BUILTIN.items():
        if key.startswith(known):
            return make()
    return None


def equations(f: Formulation) -> list[str]:
    """The scheme as equations, one a line: shared sums, products, then C blocks.
    Products show their factors expanded over blocks: 'M1 = (A11 + A22)·(B11 + B22)'."""

    def factor(combo: Mapping[str, Fraction]) -> str:
        text = format_combination(combo)
        return f"({text})" if len(combo) > 1 or text.startswith("-") else text

    lines = [f"{name} = {format_combination(combo)}" for name, combo in f.sums.items()]
    lines += [f"{p.name} = {factor(p.a)}·{factor(p.b)}" for p in f.products]
    lines += [f"{key} = {format_combination(combo)}" for key, combo in f.c.items()]
    return lines


WIN_RATIO = 1.10
"""Effective speed over the plain kernel (same run) that counts as a formulation paying."""
CROSSOVER_FILE = "bench/formulation_sweep.json"
"""Where bench/formulation_sweep.py records its side-by-side figures (repository-relative)."""


def crossover_note(path: str | None = None) -> str:
    """One paragraph for the Proposer: where a Strassen-like level paid on this machine, from
    the last formulation sweep (bench/formulation_sweep.py); '' when none was recorded.

    The file holds {"machine": str, "date": str, "rows": [{"shape": int, "variant": str,
    "levels": int, "gflops": float, "ratio": float}, ...]} with ratio = GFLOPS over the inner
    kernel alone in the same run."""
    from roundtable_tui.config import PROJECT_ROOT

    target = PROJECT_ROOT / (path or CROSSOVER_FILE)
    try:
        data = json.loads(target.read_text())
        rows = [r for r in data["rows"] if r["levels"] > 0]
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    # a win must clear the noise of a shared host: 10% over the plain kernel in the same run
    wins = sorted(
        {(r["shape"], r["variant"], r["levels"]) for r in rows if float(r["ratio"]) >= WIN_RATIO}
    )
    best = max(rows, key=lambda r: float(r["ratio"]), default=None)
    if best is None:
        return ""
    # compact (it goes into every Proposer prompt): one group per variant and level count
    shapes = sorted({r["shape"] for r in rows})
    groups: dict[tuple[str, int], dict[int, float]] = {}
    for r in rows:
        groups.setdefault((r["variant"], r["levels"]), {})[r["shape"]] = float(r["ratio"])
    at = "/".join(f"{x}³" for x in shapes)
    measured = (
        "; ".join(
            f"{variant} x{levels}: "
            + "/".join(f"{ratios[x]:.2f}x" if x in ratios else "-" for x in shapes)
            for (variant, levels), ratios in sorted(
                groups.items(), key=lambda g: (g[0][1], g[0][0])
            )
        )
        + f" (at {at})"
    )
    if wins:
        smallest = wins[0][0]
        verdict = (
            f"A formulation paid from {smallest}³ up (the template sgemm/strassen applies it "
            f"above a cut-off); below that the plain kernel is faster."
        )
    else:
        verdict = (
            "No formulation beat the plain kernel at the measured sizes; propose one only "
            "for larger shapes, with a cut-off at or above the largest measured size."
        )
    return (
        f"Measured on {data.get('machine', 'this machine')} ({data.get('date', '?')}), "
        f"effective speed over the inner kernel alone: {measured}. {verdict}"
    )
