"""Formulation proposals end to end: read one, prove it, make it a kernel without a model.

A proposal of kind "formulation" carries either a whole block scheme (see core/formulation.py
for the format) or the name of a built-in one, with how to apply it::

    {"blocks": [2, 2, 2], "products": [...], "c": {...}, "levels": 1, "cutoff": 512}
    {"use": "winograd", "levels": 2, "cutoff": 1024}    # "apply formulation F for L levels
                                                         #  above size S"

`prove` is the Verifier's part: the scheme is parsed (bounded: a degenerate reply is a
one-line veto) and proved with non-commuting symbols; a wrong scheme is vetoed naming the C
block that differs and what it computes instead. `SchemeWriter` is the Coder's part for sgemm:
the verified scheme (as the Verifier recorded it, never as the kernel claims) is rendered into
the `sgemm/strassen` template over the current best `sgemm/blis` parameter set.
`check_options` gives the Tester the scheme's accounting for the benchmark shape.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from roundtable_tui.core.formulation import (
    BUILTIN,
    FormulationError,
    builtin,
    crossover_note,
    describe,
    equations,
    parse_formulation,
    verify,
)
from roundtable_tui.kernels import schemes

FAMILY = schemes.FAMILY
DEFAULT_LEVELS = 1
DEFAULT_CUTOFF = 512
_APPLY_KEYS = ("use", "apply", "name", "scheme")


@dataclass(frozen=True)
class Proof:
    """The Verifier's verdict on a formulation proposal, with what the Coder and the review
    need: the scheme as verified (flat JSON), its equations and how to apply it."""

    ok: bool
    detail: str
    label: str = ""
    failing_entry: str | None = None
    scheme: Mapping[str, Any] | None = None
    equations: tuple[str, ...] = ()
    levels: int = DEFAULT_LEVELS
    cutoff: int = DEFAULT_CUTOFF
    products: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def parameters(self) -> dict[str, int]:
        return {"levels": self.levels, "cutoff": self.cutoff}


def _int(value: Any, default: int, low: int, high: int, what: str) -> int:
    if value is None:
        return default
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise FormulationError(f"{what} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise FormulationError(f"{what} must be between {low} and {high}, got {value}")
    return value


def named_in_text(text: str) -> dict[str, Any] | None:
    """A named built-in scheme applied as the prose of a proposal says ("Apply Strassen's
    2x2x2 scheme for 1 level above size 1024"): {"use", "levels"?, "cutoff"?}, or None when
    the text names no built-in scheme. Small models often write the proposal this way instead
    of filling the `formulation` field; only the name, levels and cut-off are read."""
    words = text[:2000].lower()
    name = next((k for k in BUILTIN if k in words), None)
    if name is None:
        return None
    found: dict[str, Any] = {"use": name}
    levels = re.search(r"(\d+)\s*(?:recursion\s+)?levels?\b", words)
    cutoff = re.search(r"(?:above|over|cut-?off(?:\s+of)?|>=?)\s*(?:size\s*)?(\d+)", words)
    if levels:
        found["levels"] = int(levels.group(1))
    if cutoff:
        found["cutoff"] = int(cutoff.group(1))
    return found


def prove(
    formulation: Mapping[str, Any] | None,
    parameters: Mapping[str, Any] | None = None,
    idea: str = "",
) -> Proof:
    """Read and prove a proposal's `formulation` (never raises: a problem is a veto whose
    detail is one line). `parameters` may carry levels and cutoff too; without a
    formulation, a built-in scheme the `idea` names is applied (see `named_in_text`)."""
    if not isinstance(formulation, Mapping) or not formulation:
        formulation = named_in_text(idea)
    if not formulation:
        return Proof(False, 'no formulation: give a block scheme or {"use": "strassen"}')
    given = {str(k).strip().lower(): v for k, v in formulation.items()}
    extra = {str(k).strip().lower(): v for k, v in (parameters or {}).items()}
    try:
        levels = _int(
            given.get("levels", extra.get("levels")),
            DEFAULT_LEVELS,
            0,
            schemes.MAX_LEVELS,
            "levels",
        )
        cutoff = _int(given.get("cutoff", extra.get("cutoff")), DEFAULT_CUTOFF, 1, 8192, "cutoff")
        named = next((given[k] for k in _APPLY_KEYS if isinstance(given.get(k), str)), None)
        if named is not None and "products" not in given:
            body = builtin(named)
            if body is None:
                known = ", ".join(BUILTIN)
                raise FormulationError(f"no built-in scheme {named!r} (known: {known})")
            label = next(k for k in BUILTIN if named.lower().replace(" ", "").startswith(k))
        else:
            body = {
                k: v for k, v in formulation.items() if str(k).lower() not in ("levels", "cutoff")
            }
            label = str(given.get("name") or given.get("title") or "proposed scheme")[:40]
        scheme = parse_formulation(body)
    except FormulationError as exc:
        return Proof(False, f"unreadable scheme: {exc}")
    result = verify(scheme)
    eqs = tuple(equations(scheme))
    if not result.ok:
        return Proof(
            False,
            f"the scheme is not the block product: {result.detail}",
            label,
            result.failing_entry,
            None,
            eqs,
            levels,
            cutoff,
            result.products,
        )
    p, q, r = scheme.blocks
    classical = p * q * r
    saving = (
        f"{result.products} products instead of {classical}"
        if result.products < classical
        else f"{result.products} products (the schoolbook count is {classical}: no saving)"
    )
    acc = schemes.accounting(scheme, levels)
    return Proof(
        True,
        f"verified symbolically (non-commuting blocks): {describe(scheme)}; {saving}; "
        f"{levels} level(s): {acc.mult_fraction:.3g} of the multiplications, error bound "
        f"x{acc.error_growth:.3g} (Higham)",
        label,
        None,
        {**scheme.to_dict(), "name": label},
        eqs,
        levels,
        cutoff,
        result.products,
    )


def _scheme_of(proof_scheme: Mapping[str, Any]):  # -> Formulation
    return parse_formulation(dict(proof_scheme))


def render(
    scheme: Mapping[str, Any], label: str, parameters: Mapping[str, Any], inner: Mapping[str, Any]
) -> str:
    """The kernel for a verified scheme (its flat JSON, as `prove` recorded it)."""
    return schemes.render(_scheme_of(scheme), label, dict(parameters), dict(inner))


def check_options(
    scheme: Mapping[str, Any],
    label: str,
    parameters: Mapping[str, Any],
    shape: Mapping[str, int],
) -> dict[str, Any]:
    """What the Tester passes to the checker for this scheme's kernel at `shape` (sgemm m, n,
    k): the levels the template applies there, their real multiplication fraction and their
    error growth. Computed from the verified scheme on the trusted side."""
    f = _scheme_of(scheme)
    levels = schemes.levels_for(
        f.blocks,
        int(shape["m"]),
        int(shape["n"]),
        int(shape["k"]),
        int(parameters.get("levels", DEFAULT_LEVELS)),
        int(parameters.get("cutoff", DEFAULT_CUTOFF)),
    )
    # the correctness cases are small: every level may run there (cut-off permitting), so
    # the bound allows for all configured levels; the speed is judged at the shape's levels
    growth = schemes.accounting(f, int(parameters.get("levels", DEFAULT_LEVELS))).error_growth
    acc = schemes.accounting(f, levels)
    return {
        "scheme": f"{label} x{levels} at {shape['m']}x{shape['n']}x{shape['k']}",
        "mult_fraction": acc.mult_fraction,
        "error_growth": growth,
    }


class SchemeWriter:
    """The Coder for formulation proposals on sgemm: renders the verified scheme into the
    `sgemm/strassen` template (no model). `inner` returns the sgemm/blis parameter set of the
    current best kernel (or {} for the family's defaults)."""

    repairable = False

    def __init__(self, inner: Callable[[], Mapping[str, Any]] | None = None) -> None:
        self.inner = inner or (lambda: {})

    def source(self, proof: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """(kernel source, template parameters incl. the inner set) for a verification's
        fields (scheme, label, parameters); raises ValueError when it cannot be rendered."""
        scheme = proof.get("scheme")
        if not isinstance(scheme, Mapping):
            raise ValueError("the verification holds no verified scheme")
        params = dict(proof.get("parameters") or {})
        inner = dict(self.inner())
        code = render(scheme, str(proof.get("label") or "scheme"), params, inner)
        return code, {**params, "inner": inner}


def prompt_text(problem: str, written: bool = True) -> str:
    """What the Proposer is told about formulations (sgemm only has the template); without
    `written`, only the named form its schema allows (see `formulation_schema`)."""
    if problem != "sgemm":
        return ""
    note = crossover_note()
    own = (
        ', or write one: "formulation": {"blocks": [2, 2, 2], "products": [{"name": "M1", '
        '"a": "A11 + A22", "b": "B11 + B22"}, ...], "c": {"C11": "M1 + M4 - M5 + M7", ...}, '
        '"levels": 1, "cutoff": 512}'
        if written
        else ""
    )
    return (
        'A proposal of kind "formulation" applies a Strassen-like block scheme; roundtable '
        "proves it (blocks do not commute) and builds the kernel itself from the template "
        f"{FAMILY} over the best packed kernel, so write no code. Name a known scheme: "
        '"formulation": {"use": "strassen" or "winograd", "levels": 1 or 2, "cutoff": the '
        f"smallest block side, e.g. 512}}{own}. A product multiplies a combination of A "
        "blocks by a combination of "
        "B blocks; each C block combines products. Strassen and Winograd use 7 products for "
        "2x2x2 blocks (the schoolbook needs 8): each level does 7/8 of the multiplications "
        "and multiplies the error bound by 3 (Strassen) or 4.5 (Winograd). Known counts: "
        "3x3x3 in 23 (Laderman), 4x4x4 in 49 (Strassen twice)." + (f" {note}" if note else "")
    )


class SchemeCoder:
    """The Writer (see core.agents) of formulation proposals on sgemm: the scheme the Verifier
    proved, read back from its verification event, rendered into `sgemm/strassen`; no model
    and nothing to repair."""

    repairable = False

    def __init__(self, inner: Callable[[], Mapping[str, Any]] | None = None) -> None:
        self.writer = SchemeWriter(inner)

    def write(self, job: Any) -> Any:
        from roundtable_tui.core.agents import Draft
        from roundtable_tui.core.events import Agent, AgentStarted, Event
        from roundtable_tui.core.events import Message as MessagePayload

        v = job.verification
        scheme = getattr(v, "scheme", None)
        talk = job.talk
        talk.emit(Event.of(AgentStarted(), Agent.CODER, talk.iteration))
        try:
            code, params = self.writer.source(
                {
                    "scheme": scheme,
                    "label": (scheme or {}).get("name", "scheme"),
                    "parameters": v.parameters,
                }
            )
        except ValueError as exc:  # ParameterError and SchemeError are ValueErrors
            talk.emit(
                Event.of(
                    MessagePayload(f"Cannot build the verified scheme: {exc}"),
                    Agent.CODER,
                    talk.iteration,
                )
            )
            return Draft(None)
        inner = ", ".join(f"{k}={x}" for k, x in params["inner"].items()) or "defaults"
        talk.emit(
            Event.of(
                MessagePayload(
                    f"Rendered the verified scheme into template {FAMILY} (levels="
                    f"{params.get('levels')}, cutoff={params.get('cutoff')}) over the sgemm/blis "
                    f"set {inner}; no model needed."
                ),
                Agent.CODER,
                talk.iteration,
            )
        )
        return Draft(code, FAMILY, params)

    def repair(self, job: Any, message: str) -> str | None:
        return None


def formulation_schema(named_only: bool = False) -> dict[str, Any]:
    """JSON schema of a proposal's `formulation` (a named scheme with levels and cut-off, or a
    written one), for the Proposer's constrained reply. `named_only` keeps just the named
    form: the template schema of the mixed strategy uses it, because a written scheme under
    a grammar samples slowly and a small model's attempt outgrows the reply's token limit."""
    # no length or item limits: llama.cpp expands them into huge grammars that sample slowly
    # (the parser bounds what it reads instead)
    named: dict[str, Any] = {
        "use": {"type": "string", "enum": sorted(BUILTIN)},
        "levels": {"type": "integer", "enum": [1, 2]},
        "cutoff": {"type": "integer", "enum": [256, 512, 1024, 2048]},
    }
    if named_only:
        return {"type": "object", "properties": named}
    combo = {"type": "string"}
    return {
        "type": "object",
        "properties": {
            **named,
            "blocks": {"type": "array", "items": {"type": "integer"}},
            "products": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "a": combo, "b": combo},
                    "required": ["name", "a", "b"],
                },
            },
            "c": {"type": "object", "additionalProperties": combo},
        },
    }
