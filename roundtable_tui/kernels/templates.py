"""Kernel templates: parameterised, safe-Rust kernel families (the parameter path).

A family is two files in ``rust_workspace/templates/<problem>/``: ``<name>.rs``, a complete
kernel whose tunable constants are marked ``// @param <name>``, and ``<name>.json``, which
declares each parameter (range or choices, default, what it means) and the rules a set must
obey, each with the reason shown when it is refused. The template compiles as it stands (its
defaults); instantiating it only rewrites the marked constants, so the result is
deterministic and the Coder needs no model for it.

A family is written in the machine's terms: its bounds, suggested values, defaults and rules
are expressions over the machine facts of `kernels.machine` (``lanes``, ``vregs``,
``acc_budget``, ``l1d``, ``l2``, ``l3``, ``cores``, ``threads``…, and ``fits(mr, nr)``,
``tile_rows(vectors)``, ``tile_cols(rows)``, ``tile_regs(mr, nr)``), so one json serves an
AVX2 laptop, an AVX-512 server and an Apple core. `families()` binds them to the machine the
current settings build for; `Family.on(machine)` to any other (tests use documented ones).
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from roundtable_tui.config import PROJECT_ROOT
from roundtable_tui.kernels import machine as machine_model
from roundtable_tui.kernels.machine import Machine

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
    when: str = ""
    """An expression over the other parameters under which this one matters (say
    ``parallel == 'split'``); elsewhere the kernel ignores it and a set keeps its default."""

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
        only = f"; only when {self.when}" if self.when else ""
        return f"{self.name} ({span}, default {self.default}{only}): {self.help}"


@dataclass(frozen=True)
class Rule:
    expr: str
    why: str
    """The reason, in the machine's terms (its ``{…}`` already filled in with machine facts)."""
    detail: str = ""
    """What the refused set needs, ``{…}`` expressions over its values and the facts."""
    machine: Machine | None = None

    def holds(self, values: dict[str, int | str]) -> bool:
        return bool(_evaluate(ast.parse(self.expr, mode="eval").body, _names(values, self.machine)))

    def refusal(self, values: dict[str, int | str]) -> str:
        """Why `values` breaks this rule, with the numbers of this set on this machine."""
        detail = _fill(self.detail, _names(values, self.machine)) if self.detail else ""
        return f"{self.why}{': ' + detail if detail else ''} ({self.expr} is false)"


@dataclass(frozen=True)
class Family:
    problem: str
    name: str
    summary: str
    source: str
    params: tuple[ParamSpec, ...]
    rules: tuple[Rule, ...]
    machine: Machine | None = None
    """The machine the bounds, defaults and rules were evaluated for."""
    spec: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    """The json as written (expressions unevaluated), to bind to another machine."""
    path: Path | None = field(default=None, compare=False, repr=False)

    @property
    def id(self) -> str:
        return f"{self.problem}/{self.name}"

    def on(self, machine: Machine) -> Family:
        """This family bound to `machine` (its bounds, defaults and rules evaluated there)."""
        if self.spec is None or self.path is None:
            raise TemplateError(f"{self.id} has no json to bind to another machine")
        return _parse(self.path, self.spec, self.source, machine)

    def tile_shapes(self) -> list[tuple[int, int]]:
        """The register tiles (mr, nr) worth measuring first on this family's machine: for
        each width of 1–4 vectors the tallest tile that fits the register file and that the
        family's rules accept (with the blocking re-derived for it), widest first. Empty
        for a family without mr and nr."""
        names = {p.name for p in self.params}
        if not {"mr", "nr"} <= names or self.machine is None:
            return []
        shapes = []
        for vectors in range(4, 0, -1):
            for mr in range(self.machine.tile_rows(vectors), 0, -1):
                nr = vectors * self.machine.lanes
                try:
                    self.validate(self.derive({"mr": mr, "nr": nr}))
                except (ParameterError, ValueError):
                    continue
                shapes.append((mr, nr))
                break
        return shapes

    def start_sets(self) -> list[dict[str, int | str]]:
        """Complete parameter sets for `tile_shapes`, each with the blocking (kc, mc, nc…)
        derived for that tile: a first sweep on a machine with no measurements yet."""
        return [self.validate(self.derive({"mr": mr, "nr": nr})) for mr, nr in self.tile_shapes()]

    def derive(self, fixed: dict[str, Any]) -> dict[str, int | str]:
        """The defaults derived with the parameters in `fixed` held at their values (say, a
        tile: kc, mc and nc are then derived for that tile), before validation."""
        if self.spec is None:
            return {**self.defaults, **fixed}
        return _derive_defaults(self.spec["params"], self.machine, fixed)

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
            reasons = [r.refusal(values) for r in self.rules if not r.holds(values)]
        if reasons:
            raise ParameterError(self.id, reasons)
        return self.canonical(values)

    def canonical(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """`values` with every parameter that does not matter under the others (its `when`
        is false) at its default: two sets that build the same kernel compare equal, so a
        change the kernel ignores (split_tasks under parallel blocks) is a repeat, not a new
        measurement. Returns a new dict; `values` is left as it is."""
        out = dict(values)
        for p in self.params:
            if p.when and p.name in out and out[p.name] != p.default:
                try:
                    active = _evaluate(
                        ast.parse(p.when, mode="eval").body, _names(out, self.machine)
                    )
                except (ValueError, SyntaxError, TypeError):
                    active = True
                if not active:
                    out[p.name] = p.default
        return out

    def ignored(self, values: Mapping[str, Any]) -> list[str]:
        """The parameters of `values` that the kernel ignores under the others, each as
        `name (only when …)`."""
        full = {**self.defaults, **values}
        same = self.canonical(full)
        specs = {p.name: p for p in self.params}
        return [
            f"{k} (only when {specs[k].when})" for k in values if k in specs and same[k] != full[k]
        ]

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
        # a move that builds the same kernel as `values` (an ignored parameter) is no move
        seen = [self.canonical({**self.defaults, **values})]
        seen += [self.canonical(e) for e in exclude or []]
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
        if self.machine is not None:
            lines.append(f"Machine: {self.machine.summary()}")
            tiles = ", ".join(f"{mr}x{nr}" for mr, nr in self.tile_shapes())
            if tiles:
                lines.append(f"Register tiles (mr x nr) that fit this machine: {tiles}")
        lines += [f"- {p.describe()}" for p in self.params]
        lines += [f"- rule: {r.why}" for r in self.rules]
        return "\n".join(lines)


_FUNCTIONS = {"min": min, "max": max}
_MACHINE_FUNCTIONS = ("fits", "tile_rows", "tile_cols", "tile_regs")


def _names(values: dict[str, Any], machine: Machine | None) -> dict[str, Any]:
    """What an expression may name: the parameters, then the machine's facts and functions."""
    names: dict[str, Any] = dict(_FUNCTIONS)
    if machine is not None:
        names.update(machine.facts())
        names.update({f: getattr(machine, f) for f in _MACHINE_FUNCTIONS})
    names.update(values)
    return names


def _fill(text: str, names: dict[str, Any]) -> str:
    """`text` with each ``{expression}`` replaced by its value (unknown names left as they are)."""

    def one(match: re.Match[str]) -> str:
        try:
            return str(_evaluate(ast.parse(match[1], mode="eval").body, names))
        except (ValueError, SyntaxError, TypeError):
            return match[0]

    return re.sub(r"\{([^{}]+)\}", one, text)


def _evaluate(node: ast.AST, values: dict[str, Any]) -> Any:
    """A tiny evaluator for rule and default expressions: names (parameters, machine facts),
    integers, + - * // %, comparisons, and/or/not, ``a if c else b`` and calls of min, max
    and the machine's tile functions. Nothing else is accepted (rules are data, not code)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | str):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in values or callable(values[node.id]):
            raise ValueError(f"rule names unknown parameter {node.id!r}")
        return values[node.id]
    if isinstance(node, ast.Call):
        fn = values.get(node.func.id) if isinstance(node.func, ast.Name) else None
        if not callable(fn) or node.keywords:
            raise ValueError(f"call {ast.unparse(node)} is not allowed in rules")
        return fn(*(_evaluate(a, values) for a in node.args))
    if isinstance(node, ast.IfExp):
        branch = node.body if _evaluate(node.test, values) else node.orelse
        return _evaluate(branch, values)
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


def _load(path: Path, machine: Machine | None) -> Family:
    try:
        spec = json.loads(path.with_suffix(".json").read_text())
        source = path.read_text()
    except (OSError, ValueError) as exc:
        raise TemplateError(f"template {path}: {exc}") from None
    try:
        return _parse(path, spec, source, machine)
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        raise TemplateError(f"template {path.with_suffix('.json')}: {exc}") from None


def _value(raw: Any, names: dict[str, Any]) -> Any:
    """A json value: an int or choice as written, or an expression (a string naming machine
    facts, earlier parameters, functions) evaluated."""
    if isinstance(raw, str):
        try:
            tree = ast.parse(raw, mode="eval").body
        except SyntaxError:
            return raw
        if isinstance(tree, ast.Name) and tree.id not in names:
            return raw  # a choice's name, not an expression
        return _evaluate(tree, names)
    return raw


def _derive_defaults(
    params: dict[str, Any], machine: Machine | None, fixed: dict[str, Any] | None = None
) -> dict[str, int | str]:
    """Each parameter's default in declaration order (a default may name earlier
    parameters and the machine's facts), with the parameters in `fixed` held."""
    fixed = fixed or {}
    values: dict[str, int | str] = {}
    for name, p in params.items():
        if name in fixed:
            values[name] = fixed[name]
            continue
        if p["type"] != "int":
            values[name] = p["default"]
            continue
        value = _value(p["default"], _names(values, machine))
        lo = _value(p.get("min"), _names({}, machine))
        step = _value(p.get("multiple_of"), _names({}, machine))
        hi = _value(p.get("max"), _names({}, machine))
        value = int(value)
        if step:
            value -= value % step
        if lo is not None:
            value = max(value, lo + (-lo) % (step or 1))
        if hi is not None:
            value = min(value, hi - hi % (step or 1))
        values[name] = value
    return values


def _parse(path: Path, spec: dict[str, Any], source: str, machine: Machine | None = None) -> Family:
    facts = _names({}, machine)
    defaults = _derive_defaults(spec["params"], machine)
    params = []
    for name, p in spec["params"].items():
        low, high = _value(p.get("min"), facts), _value(p.get("max"), facts)
        step = _value(p.get("multiple_of"), facts)
        param = ParamSpec(
            name=name,
            type=p["type"],
            default=defaults[name],
            help=_fill(p.get("help", ""), facts),
            min=low,
            max=high,
            multiple_of=step,
            choices=tuple(p.get("choices", {}).items()),
            when=str(p.get("when", "")),
        )
        if p["type"] == "int":
            ladder = {int(_value(v, facts)) for v in p.get("suggest", ())} | {int(defaults[name])}
            suggest = tuple(sorted(v for v in ladder if param.check(v) is None))
            param = dataclasses.replace(param, suggest=suggest if p.get("suggest") else ())
        params.append(param)
    marked = {m["name"] for m in _PARAM_LINE.finditer(source)}
    declared = {p.name for p in params}
    if marked != declared:
        raise ValueError(
            f"{path}: `// @param` lines {sorted(marked)} do not match the parameters "
            f"declared in {path.with_suffix('.json').name} {sorted(declared)}"
        )
    rules = tuple(
        Rule(r["rule"], _fill(r["why"], facts), r.get("detail", ""), machine)
        for r in spec.get("rules", ())
    )
    return Family(
        problem=path.parent.name,
        name=path.stem,
        summary=_fill(spec.get("summary", ""), facts),
        source=source,
        params=tuple(params),
        rules=rules,
        machine=machine,
        spec=spec,
        path=path,
    )


def families(problem: str | None = None, machine: Machine | None = None) -> tuple[Family, ...]:
    """Every template family (of one problem), sorted by id, bound to `machine` (by default
    the one the current settings build for)."""
    return _families(problem, machine or machine_model.current())


@cache
def _families(problem: str | None, machine: Machine) -> tuple[Family, ...]:
    # a family is a pair; a lone .rs (say, one being written) is not one yet
    found = sorted(p for p in TEMPLATES_DIR.glob("*/*.rs") if p.with_suffix(".json").exists())
    fams = tuple(_load(p, machine) for p in found)
    return tuple(f for f in fams if problem is None or f.problem == problem)


families.cache_clear = _families.cache_clear  # type: ignore[attr-defined]


def family(ident: str, machine: Machine | None = None) -> Family:
    """A family by id (``sgemm/blis``); for a problem with one family the problem name alone."""
    for f in families(None, machine):
        if f.id == ident:
            return f
    mine = families(ident, machine)
    if len(mine) == 1:
        return mine[0]
    known = ", ".join(f.id for f in families()) or "none"
    raise KeyError(f"no template {ident!r} (known: {known})")
