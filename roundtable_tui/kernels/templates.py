"""Kernel templates: parameterised, safe-Rust kernel families (the parameter path).

A family is two files in ``rust_workspace/templates/<problem>/``: ``<name>.rs``, a complete
kernel whose tunable constants are marked ``// @param <name>``, and ``<name>.json``, which
declares each parameter (range or choices, default, what it means) and the rules a set must
obey, each with the reason shown when it is refused. The template compiles as it stands (its
defaults); instantiating it only rewrites the marked constants, so the result is
deterministic and the Coder needs no model for it.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from roundtable_tui.config import PROJECT_ROOT

TEMPLATES_DIR = PROJECT_ROOT / "rust_workspace" / "templates"

_PARAM_LINE = re.compile(
    r"^(?P<head>\s*const\s+\w+\s*:\s*[\w:]+\s*=\s*)(?P<value>[^;]+)(?P<tail>;\s*//\s*@param\s+"
    r"(?P<name>\w+)\s*)$",
    re.MULTILINE,
)


class ParameterError(ValueError):
    """A parameter set that a template refuses; ``reasons`` says why, one line each."""

    def __init__(self, family: str, reasons: list[str]):
        self.family = family
        self.reasons = reasons
        super().__init__(f"{family}: " + "; ".join(reasons))


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: str  # "int" | "choice"
    default: int | str
    help: str
    min: int | None = None
    max: int | None = None
    multiple_of: int | None = None
    suggest: tuple[int, ...] = ()
    choices: tuple[tuple[str, str], ...] = ()
    """(value the Proposer writes, the Rust expression it becomes)."""

    def check(self, value: Any) -> str | None:
        """Why ``value`` is not acceptable, or None."""
        if self.type == "choice":
            names = [c for c, _ in self.choices]
            if value not in names:
                return f"{self.name} must be one of {', '.join(names)} (got {value!r})"
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{self.name} must be an integer (got {value!r})"
        if self.min is not None and value < self.min:
            return f"{self.name} must be at least {self.min} (got {value})"
        if self.max is not None and value > self.max:
            return f"{self.name} must be at most {self.max} (got {value})"
        if self.multiple_of and value % self.multiple_of:
            return f"{self.name} must be a multiple of {self.multiple_of} (got {value})"
        return None

    def rust(self, value: int | str) -> str:
        if self.type == "choice":
            return dict(self.choices)[str(value)]
        return str(value)

    def describe(self) -> str:
        if self.type == "choice":
            span = "|".join(c for c, _ in self.choices)
        else:
            span = f"{self.min}..{self.max}"
            if self.multiple_of:
                span += f" step {self.multiple_of}"
        return f"{self.name} ({span}, default {self.default}): {self.help}"


@dataclass(frozen=True)
class Rule:
    expr: str
    why: str

    def holds(self, values: dict[str, int | str]) -> bool:
        return bool(_evaluate(ast.parse(self.expr, mode="eval").body, values))


@dataclass(frozen=True)
class Family:
    problem: str
    name: str
    summary: str
    source: str
    params: tuple[ParamSpec, ...]
    rules: tuple[Rule, ...]

    @property
    def id(self) -> str:
        return f"{self.problem}/{self.name}"

    @property
    def defaults(self) -> dict[str, int | str]:
        return {p.name: p.default for p in self.params}

    def validate(self, given: dict[str, Any]) -> dict[str, int | str]:
        """The complete parameter set (defaults filled in), or ParameterError with every
        reason it is refused."""
        specs = {p.name: p for p in self.params}
        reasons = [
            f"unknown parameter {k!r} (this template takes {', '.join(specs)})"
            for k in given
            if k not in specs
        ]
        values: dict[str, int | str] = self.defaults
        for name, value in given.items():
            spec = specs.get(name)
            if spec is None:
                continue
            if spec.type == "int" and isinstance(value, str) and value.strip().isdigit():
                value = int(value)  # models sometimes quote numbers
            problem = spec.check(value)
            if problem:
                reasons.append(problem)
            else:
                values[name] = value
        if not reasons:
            reasons = [f"{r.why} ({r.expr} is false)" for r in self.rules if not r.holds(values)]
        if reasons:
            raise ParameterError(self.id, reasons)
        return values

    def instantiate(self, given: dict[str, Any]) -> str:
        """The kernel source for a parameter set (validated first)."""
        values = self.validate(given)
        specs = {p.name: p for p in self.params}

        def fill(match: re.Match[str]) -> str:
            name = match["name"]
            return match["head"] + specs[name].rust(values[name]) + match["tail"]

        body = _PARAM_LINE.sub(fill, self.source)
        settings = ", ".join(f"{k}={v}" for k, v in values.items())
        return f"// roundtable template {self.id}: {settings}\n{body}"

    def neighbours(
        self, values: dict[str, Any], exclude: list[dict[str, Any]] | None = None
    ) -> list[dict[str, int | str]]:
        """Valid one-parameter changes of a set: each parameter moved to the next suggested
        value (or choice) on either side, minus the sets in `exclude`. A map of where the
        search can go next, for a small model that otherwise repeats itself."""
        seen = [dict(e) for e in exclude or []]
        out: list[dict[str, int | str]] = []
        for p in self.params:
            current = values.get(p.name, p.default)
            if p.type == "choice":
                options: list[int | str] = [c for c, _ in p.choices if c != current]
            else:
                ladder = sorted(set(p.suggest) | {int(current)})
                i = ladder.index(int(current))
                options = [ladder[j] for j in (i - 1, i + 1) if 0 <= j < len(ladder)]
            for option in options:
                change = {p.name: option}
                try:
                    full = self.validate({**values, **change})
                except ParameterError:
                    continue
                if full not in seen:
                    seen.append(full)
                    out.append(change)
        return out

    def schema(self, complete: bool = True) -> dict[str, Any]:
        """JSON schema of a parameter set (``complete=False``: of a change to one, every
        parameter optional), for the Proposer's grammar: suggested values as enums keep a
        small model on rails (a human may type any valid value)."""
        props: dict[str, Any] = {}
        for p in self.params:
            if p.type == "choice":
                props[p.name] = {"type": "string", "enum": [c for c, _ in p.choices]}
            elif p.suggest:
                props[p.name] = {"type": "integer", "enum": list(p.suggest)}
            else:
                props[p.name] = {"type": "integer"}
        return {
            "type": "object",
            "properties": props,
            "required": [p.name for p in self.params] if complete else [],
            "additionalProperties": False,
        }

    def describe(self) -> str:
        lines = [f"Template {self.id}: {self.summary}"]
        lines += [f"- {p.describe()}" for p in self.params]
        lines += [f"- rule: {r.why}" for r in self.rules]
        return "\n".join(lines)


def _evaluate(node: ast.AST, values: dict[str, int | str]) -> Any:
    """A tiny evaluator for rule expressions: names, integers, + - * // %, comparisons,
    and/or/not. Nothing else is accepted (rules are data, not code)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | str):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in values:
            raise ValueError(f"rule names unknown parameter {node.id!r}")
        return values[node.id]
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left, values), _evaluate(node.right, values)
        ops = {ast.Add: int.__add__, ast.Sub: int.__sub__, ast.Mult: int.__mul__}
        if isinstance(node.op, ast.FloorDiv | ast.Mod) and right == 0:
            return 0
        ops.update({ast.FloorDiv: int.__floordiv__, ast.Mod: int.__mod__})
        fn = ops.get(type(node.op))
        if fn is None:
            raise ValueError(f"operator {type(node.op).__name__} is not allowed in rules")
        return fn(left, right)
    if isinstance(node, ast.Compare):
        left = _evaluate(node.left, values)
        for op, comp in zip(node.ops, node.comparators, strict=True):
            right = _evaluate(comp, values)
            ok = {
                ast.Eq: left == right,
                ast.NotEq: left != right,
                ast.Lt: left < right,
                ast.LtE: left <= right,
                ast.Gt: left > right,
                ast.GtE: left >= right,
            }.get(type(op))
            if ok is None:
                raise ValueError(f"comparison {type(op).__name__} is not allowed in rules")
            if not ok:
                return False
            left = right
        return True
    if isinstance(node, ast.BoolOp):
        results = [_evaluate(v, values) for v in node.values]
        return all(results) if isinstance(node.op, ast.And) else any(results)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not _evaluate(node.operand, values)
    raise ValueError(f"{ast.dump(node)} is not allowed in rules")


class TemplateError(ValueError):
    """A template family whose files are unreadable or inconsistent."""


def _load(path: Path) -> Family:
    try:
        spec = json.loads(path.with_suffix(".json").read_text())
        source = path.read_text()
    except (OSError, ValueError) as exc:
        raise TemplateError(f"template {path}: {exc}") from None
    try:
        return _parse(path, spec, source)
    except (KeyError, TypeError, ValueError) as exc:
        raise TemplateError(f"template {path.with_suffix('.json')}: {exc}") from None


def _parse(path: Path, spec: dict[str, Any], source: str) -> Family:
    params = []
    for name, p in spec["params"].items():
        params.append(
            ParamSpec(
                name=name,
                type=p["type"],
                default=p["default"],
                help=p.get("help", ""),
                min=p.get("min"),
                max=p.get("max"),
                multiple_of=p.get("multiple_of"),
                suggest=tuple(p.get("suggest", ())),
                choices=tuple(p.get("choices", {}).items()),
            )
        )
    marked = {m["name"] for m in _PARAM_LINE.finditer(source)}
    declared = {p.name for p in params}
    if marked != declared:
        raise ValueError(
            f"{path}: `// @param` lines {sorted(marked)} do not match the parameters "
            f"declared in {path.with_suffix('.json').name} {sorted(declared)}"
        )
    rules = tuple(Rule(r["rule"], r["why"]) for r in spec.get("rules", ()))
    return Family(
        problem=path.parent.name,
        name=path.stem,
        summary=spec.get("summary", ""),
        source=source,
        params=tuple(params),
        rules=rules,
    )


@cache
def families(problem: str | None = None) -> tuple[Family, ...]:
    """Every template family (of one problem), sorted by id."""
    # a family is a pair; a lone .rs (say, one being written) is not one yet
    found = sorted(p for p in TEMPLATES_DIR.glob("*/*.rs") if p.with_suffix(".json").exists())
    fams = tuple(_load(p) for p in found)
    return tuple(f for f in fams if problem is None or f.problem == problem)


def family(ident: str) -> Family:
    """A family by id (``sgemm/blis``); for a problem with one family the problem name alone."""
    for f in families():
        if f.id == ident:
            return f
    mine = families(ident)
    if len(mine) == 1:
        return mine[0]
    known = ", ".join(f.id for f in families()) or "none"
    raise KeyError(f"no template {ident!r} (known: {known})")
