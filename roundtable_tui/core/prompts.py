"""Prompts. Every agent's system prompt starts with the same problem preamble, so the model's
cached prefix is shared; the dynamic parts come last and stay short (prompt processing is
the slow part on a CPU)."""

from __future__ import annotations

import json
from typing import Any

from roundtable_tui.core.events import Proposal
from roundtable_tui.core.scheme_coder import formulation_schema, prompt_text
from roundtable_tui.kernels import machine as machine_model
from roundtable_tui.kernels.problems import Problem
from roundtable_tui.kernels.templates import Family

PROPOSAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        # no length limits: llama.cpp expands them into huge grammars that sample slowly
        "title": {"type": "string"},
        "kind": {"type": "string", "enum": ["code", "parameters", "formulation"]},
        # the region of the best kernel a code change edits (core/edits.py)
        "region": {"type": "string"},
        "idea": {"type": "string"},
        "rationale": {"type": "string"},
        "parameters": {
            "type": "object",
            "additionalProperties": {"type": ["integer", "string", "boolean"]},
        },
    },
    # the region is asked for: left optional, the embedded model named it in its title
    "required": ["title", "kind", "region", "idea", "rationale"],
}

STRATEGIES = ("mixed", "parameters", "code")
"""mixed: the Proposer picks template parameters or free-form code each iteration;
parameters / code: only that path."""


def proposal_schema(family: Family | None, strategy: str = "mixed") -> dict[str, Any]:
    """The Proposer's JSON schema. With a template, `parameters` is that template's exact
    parameter set (suggested values as enums), so a parameter proposal is always
    well-formed; the strategy narrows `kind`."""
    if family is None or strategy == "code":
        free: dict[str, Any] = json.loads(json.dumps(PROPOSAL_SCHEMA))  # a deep copy
        free["properties"]["formulation"] = formulation_schema()
        if family is not None or strategy == "code":
            # no template to fill in: a "parameters" reply would reach the Coder as a whole
            # file to write (the embedded model answered one to a refused code idea)
            free["properties"]["kind"]["enum"] = ["code", "formulation"]
        if strategy == "code":
            # the code path's idea names the change; the embedded model's rationale ran to
            # 40-90 tokens (~5-10 s of generation) that no agent reads
            del free["properties"]["rationale"]
            free["required"].remove("rationale")
        return free
    # one object per kind, each with only its own fields: a small model fills every field a
    # schema offers, and a formulation written beside a parameter change is ambiguous (the
    # embedded model did exactly that); no title: the manager names a set by its change
    variants = [
        # only what changes from the best set: a few tokens instead of the whole set
        _variant("parameters", {"changes": family.schema(complete=False)}),
    ]
    if strategy == "mixed":
        # the region of the best kernel the change edits (core/edits.py)
        variants.append(_variant("code", {"region": {"type": "string"}}))
        if formulations_for(family.problem):
            # a named scheme with levels and cut-off, proved before any code (a written
            # block scheme: --strategy code, whose schema has the whole form)
            formulation = formulation_schema(named_only=True)
            variants.append(_variant("formulation", {"formulation": formulation}))
    # parameters first: a small model writes them before it talks itself into free code
    return variants[0] if len(variants) == 1 else {"anyOf": variants}


def _variant(kind: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The schema of one kind of proposal: its kind, its own fields, an idea."""
    return {
        "type": "object",
        "properties": {
            "kind": {"type": "string", "enum": [kind]},
            **fields,
            "idea": {"type": "string"},
        },
        "required": ["kind", *fields, "idea"],
    }


def pick_schema(schema: dict[str, Any], key: str, choices: list[Any]) -> dict[str, Any]:
    """`schema` with one more way to answer: `{key: CHOICE}`, one of `choices` picked whole.

    On the code path the key is "recipe" and the choices are recipe titles
    (`core.edits.RECIPES`); on the parameter path it is "candidate" and the choices the
    numbers (from 1) of the optimizer's candidates shown. A pick is ~6-10 tokens, where a
    proposal written out was 90-160 on the code path and ~48 on the parameter path (at the
    embedded model's ~9 tokens/s on 2 cores: 5-15 s of each iteration)."""
    if not choices:
        return schema
    kind = "integer" if all(isinstance(c, int) for c in choices) else "string"
    pick = {
        "type": "object",
        "properties": {key: {"type": kind, "enum": list(choices)}},
        "required": [key],
    }
    return {"anyOf": [pick, *schema.get("anyOf", [schema])]}


def kind_schema(schema: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The object schema for proposals of `kind` inside a Proposer schema (one object, or
    one per kind under anyOf); None when the schema offers no such kind."""
    for variant in schema.get("anyOf", [schema]):
        if kind in variant.get("properties", {}).get("kind", {}).get("enum", []):
            return dict(variant)
    return None


def formulations_for(problem: str) -> bool:
    """Whether a formulation proposal becomes a kernel without a model (sgemm/strassen)."""
    return bool(prompt_text(problem))


def preamble(problem: Problem, machine: dict[str, Any]) -> str:
    shape = problem.format_shape(problem.default_shape)
    return (
        "You are part of roundtable, a team that writes fast and correct Rust kernels.\n"
        f"Problem {problem.name}: {problem.summary}\n"
        f"Exact signature: {problem.signature}\n"
        "Rules: one Rust file (edition 2024); safe Rust only (no unsafe); it may use "
        "`use rayon::prelude::*;` and std; no other crates, files, network, processes or env. "
        "All matrices are row-major f32 slices.\n"
        f"Benchmark shape {shape} on {machine.get('cores', '?')} cores with "
        f"{machine.get('simd', 'SIMD')} ({machine_model.prompt_line(machine)}). Every kernel "
        "is also checked on awkward shapes (1, primes, k=1) with fresh random inputs, so "
        "remainders must be handled exactly.\n"
    )


PROPOSER_ROLE = (
    "Your role: Proposer. Propose ONE concrete change that makes the current best kernel "
    "faster, such as: i-k-j loop order; rayon over rows or row blocks; cache blocking "
    "(tiles that fit L1/L2); packing B into contiguous panels; a register-blocked "
    "micro-kernel with fixed-size arrays and f32::mul_add; chunks_exact to remove bounds "
    'checks. Never repeat an idea that failed or was rejected. kind is "code" for a code '
    'change, "parameters" when you only retune block sizes. Answer in JSON; keep the idea '
    "and the rationale to one short sentence each."
)


def template_role(family: Family, strategy: str) -> str:
    """The Proposer's instructions for the parameter path (stable per session, so it stays
    in the cached prefix)."""
    if strategy == "parameters":
        how = 'Always answer kind "parameters".'
    else:
        how = (
            'Prefer kind "parameters": the Coder fills the template in exactly, so it always '
            'compiles and is correct. Use kind "code" only for an idea the template cannot '
            "express; then the parameters are ignored."
        )
    return (
        "Your role: Proposer. Choose the next kernel to measure. A tested kernel template "
        f"exists. {how} In `changes` give only the one or two parameters that differ from "
        "the best set, guided by the results; never repeat a set already measured. Answer in "
        "JSON; the idea is one short sentence on why the change should be faster. Sets are "
        'written as changes from the defaults below. "Optimizer\'s candidates" and '
        '"Unmeasured valid changes" are valid sets not measured yet: pick an optimizer\'s '
        'candidate by its number as {"candidate": N}, or propose another valid change.\n'
        + family.describe()
        + (f"\n{prompt_text(family.problem, written=False)}" if strategy == "mixed" else "")
    )


CODER_ROLE = (
    "Your role: Coder. Write the COMPLETE kernel file that implements the proposal. Keep the "
    "exact signature. Handle every remainder (sizes need not be multiples of your tiles). "
    "Reply with one ```rust code block holding the whole file, nothing else."
)


def proposer_messages(
    problem: Problem,
    machine: dict[str, Any],
    best: str,
    leaderboard: list[str],
    failures: list[str],
    feedback: list[str],
    knowledge: list[str],
    family: Family | None = None,
    strategy: str = "mixed",
    tried: list[str] | None = None,
    candidates: list[str] | None = None,
    hints: list[str] | None = None,
    best_parameters: str = "",
    untried: list[str] | None = None,
    regions: list[str] | None = None,
    recipes: list[str] | None = None,
) -> list[tuple[str, str]]:
    # what changes least comes first: the notes (with a template, the same for the whole
    # session), the regions, the other kernels, the measured sets (they only grow at the
    # end), then the best and what changes every iteration; llama.cpp reuses the prompt
    # prefix it has already processed, and on a 2-core CPU every token it must process again
    # costs ~25-35 ms
    parts = []
    if knowledge:
        parts.append(
            "Notes from papers and past attempts:\n" + "\n".join(f"- {k}" for k in knowledge)
        )
    if regions:
        parts.append(
            "Regions of the best kernel a code change edits, with their lines (name one in "
            "`region`; a small one is easier to get right): " + ", ".join(regions)
        )
    if leaderboard:
        parts.append("Leaderboard:\n" + "\n".join(f"- {line}" for line in leaderboard))
    if tried:
        parts.append(
            "Parameter sets measured, oldest first (unlisted parameters at their defaults):\n"
            + "\n".join(f"- {t}" for t in tried)
        )
    # the best after the measured sets: a new best then costs only the prompt's tail
    # the tail is processed anew every iteration (~30 ms a token on 2 cores): short lines,
    # their explanations in the system prompt (`template_role`)
    parts.append(
        f"Current best: {best}" + (f"; its set: {best_parameters}" if best_parameters else "")
    )
    if failures:
        parts.append("Recent failures (do not repeat):\n" + "\n".join(f"- {f}" for f in failures))
    if feedback:
        parts.append("Reviewer feedback:\n" + "\n".join(f"- {f}" for f in feedback))
    if hints:
        parts.append(
            "Hints from the human supervising this search (follow them):\n"
            + "\n".join(f"- {h}" for h in hints)
        )
    if candidates:
        parts.append(
            'Optimizer\'s candidates (pick one as {"candidate": N}): '
            + "; ".join(f"{n}: {c}" for n, c in enumerate(candidates, 1))
        )
    if untried:
        parts.append("Unmeasured valid changes: " + "; ".join(untried))
    if recipes:
        parts.append(
            "Code changes known to fit this kernel, the least tried first (to pick one, "
            'answer {"recipe": "<its title>"}):\n' + "\n".join(f"- {r}" for r in recipes)
        )
    if family is not None and strategy != "code":
        role = template_role(family, strategy)
        ways = ['kind "parameters" with changes and idea']
        if strategy == "mixed":
            ways.append('kind "code" with region and idea')
            if formulations_for(problem.name):
                ways.append('kind "formulation" with formulation and idea')
        parts.append("Propose the next kernel as JSON: " + "; or ".join(ways) + ".")
    else:
        role = PROPOSER_ROLE
        fields = "title, kind, " + ("region, " if regions else "") + "idea"
        fields += "" if strategy == "code" else ", rationale"
        parts.append(
            (
                'Pick a listed change as {"recipe": "<title>"}, or propose your own'
                if recipes
                else "Propose the next idea"
            )
            + f" as JSON with {fields}."
        )
    return [("system", preamble(problem, machine) + role), ("user", "\n\n".join(parts))]


def coder_messages(
    problem: Problem,
    machine: dict[str, Any],
    proposal: Proposal,
    best_code: str,
    feedback: list[str],
) -> list[tuple[str, str]]:
    """The Coder's request: the proposal, the latest feedback, the current best kernel."""
    params = dict(proposal.parameters)
    lines = [
        f"Proposal: {proposal.title}",
        f"Idea: {proposal.idea}",
    ]
    if params:
        lines.append(f"Parameters: {json.dumps(params)}")
    if feedback:
        lines.append("Reviewer feedback: " + " ".join(feedback[-2:]))
    lines.append(f"Current best kernel:\n```rust\n{best_code.strip()}\n```")
    lines.append(f"Write the new complete file with `{problem.signature}`.")
    return [("system", preamble(problem, machine) + CODER_ROLE), ("user", "\n".join(lines))]


def repair_message(problem: Problem, verdict: str, reason: str, detail: str) -> str:
    detail = detail.strip()
    if len(detail) > 1500:
        detail = detail[:1500] + "\n…"
    return (
        f"That kernel failed ({verdict}): {reason}\n"
        + (f"{detail}\n" if detail else "")
        + f"Fix it. Reply with the whole corrected file in one ```rust block, keeping "
        f"`{problem.signature}`."
    )
