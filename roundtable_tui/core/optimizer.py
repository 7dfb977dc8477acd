"""The optimizer beside the model: an Optuna study over a template family's parameters.

Every measured parameter set of the family (the model's, the optimizer's or a human's) is an
observation; `suggest` returns the best few valid sets not measured yet, each with a short
reason, for the Proposer's prompt and for the iterations whose proposal is a repeat or
invalid.

The study is not a second record beside the session: it is rebuilt from the session's
measured sets (its events) for every suggestion, with a sampler seeded from the session's
seed and the number of observations, so a resumed session and a replay suggest exactly what
the live session did.

How it searches (a budget of ~10 measurements leaves no room for random start-up trials):

1. the template's defaults (derived for this machine) when nothing is measured, then the
   untried MR x NR register tiles the template lists for the machine (`Family.tile_shapes`),
   each with its blocking re-derived, until three tile shapes are measured;
2. then Optuna's TPE sampler (multivariate, constant liar so a batch of asks spreads out)
   over every parameter, told each measured set's score; a candidate takes TPE's value for
   one parameter of the best set (`MAX_CHANGES`): TPE picks the direction, the step stays
   local, which is what a budget of ten measurements can afford;
3. then the one-parameter moves from the best set (`Family.neighbours`), when TPE only finds
   sets measured already.

The score of a set is its fraction of OpenBLAS in the same check (robust to the machine's
load changing between checks); when some passed set has no such figure (baselines off), the
raw GFLOPS for all. A set that did not pass is a failed trial: never suggested again, and
ignored by TPE's density model.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    IntDistribution,
)
from optuna.trial import TrialState, create_trial

from roundtable_tui.kernels.templates import Family, ParameterError

optuna.logging.set_verbosity(optuna.logging.WARNING)

Values = dict[str, int | str]

TILE_FIRST = 3
"""How many register tile shapes are measured before TPE leads."""
MAX_CHANGES = 1
"""A TPE candidate changes at most this many parameters of the best set (0: any number):
with ~10 measurements a step from the best beats a jump across the whole space (on a test
surface, 10 steps from the defaults over 8 seeds: 0.945 of the peak with one change, 0.915
with two, 0.894 with any number)."""
ASKS = 48
"""TPE asks per suggestion (each is cheap: a few milliseconds)."""


@dataclass(frozen=True)
class Observation:
    """One measured parameter set: its complete values and its score (None: did not pass)."""

    parameters: dict[str, Any]
    score: float | None


@dataclass(frozen=True)
class Candidate:
    """A set the optimizer would measure next."""

    parameters: Values
    """The complete, validated set."""
    changes: Values
    """What it changes from the best set (the set the suggestion started from)."""
    reason: str
    """One short line: why this set (shown to the Proposer and in the Proposer pane)."""
    source: str
    """tile | tpe | neighbour."""

    def describe(self) -> str:
        change = " ".join(f"{k}={v}" for k, v in self.changes.items()) or "the best set"
        return f"{change} ({self.reason})"


@dataclass
class ParameterOptimizer:
    """Optuna-backed search over one family's parameter sets.

    ``seed`` fixes the sampler (a session keeps one); observations are added with `tell` in
    the order they were measured."""

    family: Family
    seed: int = 0
    tile_shapes: Sequence[tuple[int, int]] | None = None
    """Register-fitting (MR, NR) shapes, best first; None: derived from the template."""
    observations: list[Observation] = field(default_factory=list)

    # ------------------------------------------------------------------ observations
    @classmethod
    def from_entries(
        cls, family: Family, entries: Iterable[Any], seed: int = 0, **kw: Any
    ) -> ParameterOptimizer:
        """An optimizer told every measured set of `family` among a session's leaderboard
        entries (objects with template, parameters, verdict, gflops, fraction_of_openblas,
        as in `core.state.Entry`), in their order."""
        mine = [e for e in entries if e.template == family.id and e.parameters]
        passed = [e for e in mine if e.verdict == "passed" and e.gflops]
        use_fraction = bool(passed) and all(e.fraction_of_openblas for e in passed)
        opt = cls(family, seed, **kw)
        for e in mine:
            score = None
            if e.verdict == "passed" and e.gflops:
                score = float(e.fraction_of_openblas if use_fraction else e.gflops)
            opt.tell(e.parameters, score)
        return opt

    def tell(self, parameters: dict[str, Any], score: float | None) -> None:
        """Records one measured set (score None when it did not pass); a parameter the
        kernel ignores under the others is recorded at its default (`Family.canonical`)."""
        self.observations.append(Observation(self.family.canonical(parameters), score))

    def measured(self, values: dict[str, Any]) -> bool:
        """Whether this complete set was measured already."""
        return any(o.parameters == values for o in self.observations)

    def best(self) -> Observation | None:
        scored = [o for o in self.observations if o.score is not None]
        return max(scored, key=lambda o: o.score or 0.0) if scored else None

    # ------------------------------------------------------------------ suggestions
    def suggest(self, base: dict[str, Any] | None = None, k: int = 3) -> list[Candidate]:
        """Up to `k` valid, unmeasured sets, best first, each with its reason; before any
        set is measured, the family's defaults alone. `base` is the set changes are named
        against (the session's best set; the family's defaults when None)."""
        base_values = self._valid(base or {}) or self.family.defaults
        out: list[Candidate] = []
        seen: list[Values] = []

        def add(values: Values, reason: str, source: str) -> bool:
            if values in seen or self.measured(values):
                return False
            seen.append(values)
            changes = {n: v for n, v in values.items() if base_values.get(n) != v}
            out.append(Candidate(values, changes, reason, source))
            return len(out) >= k

        if not self.observations:
            # the machine's defaults alone: every mode's search starts from them (the model,
            # shown three, picked a 2x32 tile first, and its lucky check held the defaults off)
            add(dict(self.family.defaults), "the template's defaults for this machine", "tile")
            return out
        tiles_measured = {
            (o.parameters.get("mr"), o.parameters.get("nr")) for o in self.observations
        }
        if len(tiles_measured) < TILE_FIRST:
            for values, reason in self._tiles(base_values):
                if add(values, reason, "tile"):
                    return out
        for values, reason in self._tpe(k * 2, base_values):
            if add(values, reason, "tpe"):
                return out
        measured = [o.parameters for o in self.observations]
        for change in self.family.neighbours(base_values, measured):
            values = self._valid({**base_values, **change})
            if values and add(values, "one step from the best set", "neighbour"):
                return out
        return out

    def _valid(self, given: dict[str, Any]) -> Values | None:
        try:
            return self.family.validate(given)
        except ParameterError:
            return None

    # register tile shapes -------------------------------------------------------
    def _tiles(self, base: Values) -> list[tuple[Values, str]]:
        """Untried register tiles as complete sets: the blocking re-derived for each tile
        when the template can (`Family.derive`), the best set's choices kept."""
        specs = {p.name: p for p in self.family.params}
        if "mr" not in specs or "nr" not in specs:
            return []
        choices = {n: v for n, v in base.items() if specs[n].type == "choice"}
        out = []
        for mr, nr in self.tiles():
            tile = {"mr": mr, "nr": nr}
            derive = getattr(self.family, "derive", None)
            values = None
            if derive is not None:
                try:
                    values = self._valid({**derive({**tile, **choices})})
                except (ValueError, KeyError):
                    values = None
            values = values or self._valid({**base, **tile})
            if values is None:
                continue
            out.append((values, f"register tile {mr}x{nr}, not measured yet"))
        return out

    def tiles(self) -> list[tuple[int, int]]:
        """The register tiles to try first, best first: as given, else the template's own
        list for its machine (`Family.tile_shapes`), else derived from its rules."""
        if self.tile_shapes is not None:
            return list(self.tile_shapes)
        listed = getattr(self.family, "tile_shapes", None)
        if callable(listed):
            return [tuple(s) for s in listed()]  # type: ignore[misc]
        return self._derive_tiles()

    def _derive_tiles(self) -> list[tuple[int, int]]:
        """Every (MR, NR) on the template's ladders (or ranges) that its rules accept on the
        defaults, most FMAs per loaded value first: per k step a tile does MR·NR/L FMAs
        (L lanes per vector) for MR broadcasts and NR/L vector loads."""
        specs = {p.name: p for p in self.family.params}
        mr, nr = specs["mr"], specs["nr"]
        lanes = nr.multiple_of or 8

        def span(p: Any) -> list[int]:
            lo, step = int(p.min or 1), int(p.multiple_of or 1)
            hi = int(p.max if p.max is not None else lo)
            return list(range(lo + (-lo) % step, hi + 1, step))

        shapes = []
        for r in span(mr):
            for c in span(nr):
                if self._valid({**self.family.defaults, "mr": r, "nr": c}) is not None:
                    shapes.append((r, c))
        return sorted(shapes, key=lambda s: (-(s[0] * s[1] / lanes) / (s[0] + s[1] / lanes), s))

    # TPE --------------------------------------------------------------------------
    def _space(self) -> tuple[dict[str, BaseDistribution], dict[str, list[int]]]:
        """Optuna distributions per parameter, and the value ladders ints are snapped to.

        An int with suggested values searches the span of its ladder (the suggested values,
        its default and every value measured) on a log scale and is snapped to the nearest
        rung: the template's ladder is where its author expects the optimum, and a measured
        value must stay inside the space to be told."""
        dists: dict[str, BaseDistribution] = {}
        ladders: dict[str, list[int]] = {}
        for p in self.family.params:
            seen = [o.parameters[p.name] for o in self.observations if p.name in o.parameters]
            if p.type == "choice":
                names = [c for c, _ in p.choices]
                dists[p.name] = CategoricalDistribution(names)
                continue
            if p.suggest:
                ladder = sorted({*p.suggest, int(p.default), *(int(v) for v in seen)})
                ladders[p.name] = ladder
                lo, hi = ladder[0], ladder[-1]
                dists[p.name] = IntDistribution(lo, max(hi, lo + 1), log=lo > 0)
            else:
                step = int(p.multiple_of or 1)
                lo = int(p.min if p.min is not None else 0)
                lo += (-lo) % step
                hi = int(p.max if p.max is not None else lo + 64 * step)
                hi = max(lo, hi - (hi - lo) % step)
                dists[p.name] = IntDistribution(lo, hi, step=step)
        return dists, ladders

    def study(self) -> tuple[optuna.Study, dict[str, BaseDistribution], dict[str, list[int]]]:
        """The Optuna study of the observations so far (in memory, deterministic)."""
        dists, ladders = self._space()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.TPESampler(
                seed=(self.seed * 1_000_003 + len(self.observations)) % 2**32,
                n_startup_trials=2,
                multivariate=True,
                constant_liar=True,
            )
        study = optuna.create_study(direction="maximize", sampler=sampler)
        for o in self.observations:
            params = {n: o.parameters[n] for n in dists if n in o.parameters}
            if len(params) != len(dists) or not all(
                _inside(dists[n], v) for n, v in params.items()
            ):
                continue  # a set from an older version of the template
            if o.score is None:
                trial = create_trial(params=params, distributions=dists, state=TrialState.FAIL)
            else:
                trial = create_trial(params=params, distributions=dists, value=o.score)
            study.add_trial(trial)
        return study, dists, ladders

    def _tpe(self, wanted: int, base: Values | None = None) -> list[tuple[Values, str]]:
        study, dists, ladders = self.study()
        pick = np.random.default_rng((self.seed * 7919 + len(self.observations)) % 2**32)
        done = sum(1 for o in self.observations if o.score is not None)
        reason = (
            f"TPE over {done} measured sets" if done >= 2 else "TPE exploring (few sets measured)"
        )
        out: list[tuple[Values, str]] = []
        for _ in range(ASKS):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                trial = study.ask(dists)
            raw = dict(trial.params)
            for name, ladder in ladders.items():
                raw[name] = _snap(int(raw[name]), ladder)
            if base is not None and MAX_CHANGES:
                # a move from the best set: TPE's values for a few of the parameters
                differ = [n for n in raw if raw[n] != base.get(n)]
                keep = set(pick.permutation(differ)[:MAX_CHANGES]) if differ else set()
                raw = {n: (raw[n] if n in keep else base.get(n, raw[n])) for n in raw}
            values = self._valid(raw)
            if values is None:
                study.tell(trial, state=TrialState.FAIL)  # invalid: pruned, never suggested
                continue
            if values not in [v for v, _ in out] and not self.measured(values):
                out.append((values, reason))
                if len(out) >= wanted:
                    break
        return out


def _inside(dist: BaseDistribution, value: Any) -> bool:
    """Whether a measured value lies in a distribution (so it can be told to the study)."""
    if isinstance(dist, CategoricalDistribution):
        return value in dist.choices
    if isinstance(dist, IntDistribution):
        if isinstance(value, bool) or not isinstance(value, int):
            return False
        return dist.low <= value <= dist.high and (value - dist.low) % dist.step == 0
    return False


def _snap(x: int, ladder: list[int]) -> int:
    """The rung of `ladder` nearest to x (on a log scale when both are positive)."""
    if x > 0 and ladder[0] > 0:
        return min(ladder, key=lambda r: (abs(math.log(r) - math.log(x)), r))
    return min(ladder, key=lambda r: (abs(r - x), r))
