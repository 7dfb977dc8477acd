"""The parameter path's bookkeeping: a template family's measured sets, the best set, the
moves not measured yet, and the completion of a parameter proposal (its `changes` applied
to the best set, validated once, named by what it changes).

Everything here is read from a `SessionState`, so it is the same live, on resume and in
replay."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

from roundtable_tui.core.events import Proposal
from roundtable_tui.core.state import SessionState
from roundtable_tui.kernels.templates import Family, ParameterError

TRIED_SHOWN = 12
"""Measured sets the Proposer's prompt lists at most."""


class ParameterSpace:
    """The sets of one template family (`kernels.templates.Family`) in one session."""

    def __init__(self, family: Family) -> None:
        self.family = family

    def base(self, state: SessionState) -> dict[str, Any]:
        """The family's best measured set so far: the session's best when it is one of the
        family's sets, else the fastest (its defaults before any passed)."""
        best = state.best
        if best is not None and best.template == self.family.id and best.parameters:
            return dict(best.parameters)
        mine = [
            e for e in state.leaderboard() if e.template == self.family.id and e.passed and e.gflops
        ]
        return dict(mine[0].parameters) if mine else dict(self.family.defaults)

    def name(self, state: SessionState, values: dict[str, Any]) -> str:
        """A set's title: what it changes from the best set."""
        base = self.base(state)
        diff = [f"{k} {v}" for k, v in values.items() if base.get(k) != v]
        return f"{self.family.name}: " + (", ".join(diff) if diff else "the best set again")

    def tried(self, state: SessionState, limit: int = TRIED_SHOWN) -> list[str]:
        """The sets measured so far in the order they were measured, as changes from the
        defaults (compact: every prompt token costs time on a CPU), each with its GFLOPS or
        outcome; beyond `limit`, the `limit` fastest, still in that order. Oldest first, so
        the list only grows at its end and the model's prompt cache keeps what it had."""
        mine = [e for e in state.entries if e.template == self.family.id]
        if len(mine) > limit:
            ranked = sorted(mine, key=lambda e: (not e.passed, -(e.gflops or 0.0)))[:limit]
            keep = {id(e) for e in ranked}
            mine = [e for e in mine if id(e) in keep]
        lines = []
        for e in mine:
            diff = self.changes_from_defaults(e.parameters, "")
            result = (
                f"{e.gflops:.1f} GFLOPS"
                + (f" ({e.fraction_of_openblas:.0%} of OpenBLAS)" if e.fraction_of_openblas else "")
                if e.passed and e.gflops
                else str(e.verdict)
            )
            lines.append(f"{diff or 'defaults'} -> {result}")
        return lines

    def changes_from_defaults(self, values: dict[str, Any], none: str = "defaults") -> str:
        """`values` as its changes from the family's defaults (`kc=256 mc=48`), or `none`
        when it is the defaults (compact: the defaults are in the Proposer's system prompt)."""
        defaults = self.family.defaults
        return " ".join(f"{k}={v}" for k, v in values.items() if defaults.get(k) != v) or none

    def untried(self, state: SessionState, limit: int = 6) -> list[str]:
        """Valid one-parameter moves from the best set that were not measured, in an order
        that changes per iteration (so the first listed is not always the one chosen)."""
        measured = [e.parameters for e in state.entries if e.template == self.family.id]
        moves = self.family.neighbours(self.base(state), measured)
        random.Random(state.iteration).shuffle(moves)
        return [" ".join(f"{k}={v}" for k, v in m.items()) for m in moves[:limit]]

    def complete(self, state: SessionState, proposal: Proposal) -> tuple[Proposal, str | None]:
        """A parameter proposal completed once: `parameters` the best set with `changes`
        applied and validated, `title` named by the change. Returns it with None, or with the
        reason it cannot be measured (invalid, empty change, measured already). Proposals of
        other kinds are returned as they are."""
        if proposal.kind != "parameters":
            return proposal, None
        if proposal.changes is not None:
            values = {**self.base(state), **proposal.changes}
        else:
            values = dict(proposal.parameters)
        refused = dataclasses.replace(proposal, title=f"{self.family.name}: refused parameters")
        if proposal.changes is not None and not proposal.changes:
            return refused, "`changes` is empty: change at least one parameter of the best set"
        try:
            values = self.family.validate(values)
        except ParameterError as exc:
            return dataclasses.replace(refused, parameters=values), "; ".join(exc.reasons)
        done = dataclasses.replace(proposal, parameters=values, title=self.name(state, values))
        ignored = self.family.ignored(proposal.changes or proposal.parameters or {})
        for e in state.entries:
            if e.template == self.family.id and self.family.canonical(e.parameters) == values:
                got = f"{e.gflops:.1f} GFLOPS" if e.gflops else str(e.verdict)
                why = f"that exact set was measured in iteration {e.iteration} ({got})"
                if ignored:
                    why += "; the kernel ignores " + ", ".join(ignored)
                return done, why
        return done, None
