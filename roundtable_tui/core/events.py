"""Events: the only thing that crosses from the engine to its viewers (TUI, --auto, replay).

Every event is one JSON object on one line of a session's events.jsonl::

    {"v": 2, "seq": 7, "ts": 1764450000.123, "kind": "check_result", "agent": "tester",
     "iteration": 3, "data": {...the kind's payload...}}

Each kind has one frozen payload type (below, registered in `PAYLOADS`); the engine emits
only typed payloads (`Event.of`) and the fold in `core/state.py` reads only `Event.payload`.
`Event.data` stays the wire form (a plain dict), so a payload serialises exactly as the
keys it names, and keys a payload does not know (from a newer writer, or a check result's
long tail of figures) are kept in its `extra` and written back unchanged.

Token and check-progress events are live-only (``persist=False``): the finished message is
recorded as one ``message`` event.

Schema versions: 1 (up to commit 84941ac) and 2 (this). Version 2 adds ``stage`` to
``verification`` (proposal or code: version 1 told them apart by ``kind == "code"``, which a
vetoed code proposal would confuse), ``title`` to a proposal's veto, and ``step`` to
``error``. `upgrade` turns a version-1 object into a version-2 one when it is read.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

SCHEMA_VERSION = 2
"""The version this code writes; it reads every version from 1 up to this one."""


class Kind(StrEnum):
    """What happened; each kind's payload type is `PAYLOADS[kind]`."""

    SESSION_STARTED = "session_started"
    SESSION_RESUMED = "session_resumed"
    ITERATION_STARTED = "iteration_started"
    AGENT_STARTED = "agent_started"
    TOKEN = "token"  # live only
    MESSAGE = "message"
    PROPOSAL = "proposal"
    VERIFICATION = "verification"
    KERNEL = "kernel"
    REVIEW_REQUESTED = "review_requested"
    REVIEW = "review"
    CHECK_STARTED = "check_started"
    CHECK_PROGRESS = "check_progress"  # live only
    CHECK_RESULT = "check_result"
    ITERATION_FINISHED = "iteration_finished"
    ERROR = "error"
    SESSION_FINISHED = "session_finished"
    HINT = "hint"
    CONFIRMATION = "confirmation"


LIVE_ONLY = frozenset({Kind.TOKEN, Kind.CHECK_PROGRESS})
"""Kinds shown to live viewers but never written to events.jsonl."""


class Agent(StrEnum):
    """Who speaks: the four agents around the table and the Manager that runs it."""

    PROPOSER = "proposer"
    VERIFIER = "verifier"
    CODER = "coder"
    TESTER = "tester"
    MANAGER = "manager"


class Outcome(StrEnum):
    """Everything an iteration (or one kernel of it) can end in: the checker's verdicts
    (`kernels.verdict.Verdict`, same strings) and the ends that come before a check."""

    PASSED = "passed"
    REJECTED = "rejected"
    BUILD_FAILED = "build_failed"
    WRONG_RESULT = "wrong_result"
    CRASHED = "crashed"
    TIMEOUT = "timeout"
    OUT_OF_MEMORY = "out_of_memory"
    IMPOSSIBLE = "impossible"
    VETOED = "vetoed"
    """The Verifier refused the proposal (an invalid formulation or parameter set)."""
    REJECTED_BY_REVIEWER = "rejected_by_reviewer"
    NO_PROPOSAL = "no_proposal"
    """The Proposer gave nothing usable after its retries."""
    NO_CODE = "no_code"
    """The Coder's replies held no kernel."""
    ERROR = "error"
    """A step raised; the error event before it names the agent and the cause."""
    UNKNOWN = "?"
    """A value this version does not know (read from a newer or damaged session)."""

    @classmethod
    def parse(cls, value: object) -> Outcome:
        """`value` (a Verdict, an Outcome or their string) as an Outcome; UNKNOWN if neither."""
        try:
            return cls(str(value))
        except ValueError:
            return cls.UNKNOWN

    @property
    def passed(self) -> bool:
        return self is Outcome.PASSED


class Stage(StrEnum):
    """What a verification looked at."""

    PROPOSAL = "proposal"
    """The proposal itself (a formulation's algebra, a parameter set), before any code."""
    CODE = "code"
    """A kernel's source, through the static gate."""


# --------------------------------------------------------------------------- payloads
P = TypeVar("P", bound="Payload")


@dataclass(frozen=True)
class Payload:
    """Base of every event payload: frozen, built from and written to the wire dict.

    `extra` holds keys the payload type does not name; they are written back unchanged,
    so reading and rewriting an event never loses a field."""

    KIND: ClassVar[Kind]
    OMIT_NONE: ClassVar[frozenset[str]] = frozenset()
    """Fields left out of the wire dict when they are None (as version 1 wrote them)."""

    extra: Mapping[str, Any] = field(default_factory=dict, kw_only=True)

    def to_data(self) -> dict[str, Any]:
        """The wire form: the payload's fields (enums as strings), then `extra`."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if value is None and f.name in self.OMIT_NONE:
                continue
            out[f.name] = _plain(value)
        for k, v in self.extra.items():
            out.setdefault(k, v)
        return out

    @classmethod
    def from_data(cls: type[P], data: Mapping[str, Any]) -> P:
        """The payload of a wire dict; missing keys take their defaults, unknown ones go to
        `extra`. Raises TypeError/ValueError for a value of the wrong shape."""
        names = {f.name: f for f in dataclasses.fields(cls) if f.name != "extra"}
        known = {k: v for k, v in data.items() if k in names}
        extra = {k: v for k, v in data.items() if k not in names}
        return cls(**known, extra=extra)


def _plain(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


PAYLOADS: dict[Kind, type[Payload]] = {}
"""The payload type of each kind."""


def payload(kind: Kind) -> Callable[[type[P]], type[P]]:
    """Class decorator: `cls` is the payload of `kind`."""

    def register(cls: type[P]) -> type[P]:
        cls.KIND = kind
        PAYLOADS[kind] = cls
        return cls

    return register


@payload(Kind.SESSION_STARTED)
@dataclass(frozen=True)
class SessionStarted(Payload):
    """The session's meta.json as it was when the session began (problem, model, machine,
    shape, id, created; whatever else the writer put there is in `extra`)."""

    problem: str = ""
    model: str = ""


@payload(Kind.SESSION_RESUMED)
@dataclass(frozen=True)
class SessionResumed(Payload):
    after_iteration: int = 0
    """The last iteration started before the resume (it is run again if it did not finish)."""


@payload(Kind.ITERATION_STARTED)
@dataclass(frozen=True)
class IterationStarted(Payload):
    OMIT_NONE = frozenset({"seed"})
    seed: bool | None = None
    """True for iteration 0, the measurement of the naive starting point."""


@payload(Kind.AGENT_STARTED)
@dataclass(frozen=True)
class AgentStarted(Payload):
    pass


@payload(Kind.TOKEN)
@dataclass(frozen=True)
class Token(Payload):
    text: str = ""


@payload(Kind.MESSAGE)
@dataclass(frozen=True)
class Message(Payload):
    """One finished message of an agent (a model reply with its token counts and speeds) or
    of the Manager (a note, no counts)."""

    OMIT_NONE = frozenset(
        {
            "prompt_tokens",
            "completion_tokens",
            "prompt_s",
            "generate_s",
            "tokens_per_s",
            "finish_reason",
        }
    )
    text: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    prompt_s: float | None = None
    """Seconds spent processing the prompt."""
    generate_s: float | None = None
    """Seconds spent generating the reply."""
    tokens_per_s: float | None = None
    """Generated tokens per second."""
    finish_reason: str | None = None

    @property
    def tokens(self) -> int:
        return int(self.prompt_tokens or 0) + int(self.completion_tokens or 0)


PICKED = "optimizer, picked by the model"
"""`Proposal.proposed_by` of an optimizer's candidate the Proposer picked."""


@payload(Kind.PROPOSAL)
@dataclass(frozen=True)
class Proposal(Payload):
    """What to try next, as the Proposer made it and the Manager completed it (once).

    `kind` picks the path a proposal takes to a kernel (the Manager's writer for that kind):
    "code" (the model writes free-form code), "parameters" (a template filled in with
    `parameters`, the complete validated set: the best set with `changes` applied),
    "formulation" (an algebraic scheme in `formulation`, verified symbolically before any
    code). `chunks` are the knowledge chunks the Proposer was shown (id, source, score, kind,
    page). Kinds this version does not know keep their fields in `extra`."""

    OMIT_NONE = frozenset({"changes", "formulation", "region", "proposed_by", "candidate"})
    title: str = ""
    kind: str = "code"
    idea: str = ""
    rationale: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)
    changes: Mapping[str, Any] | None = None
    formulation: Mapping[str, Any] | None = None
    region: str | None = None
    """The region of the best kernel a code proposal edits (`core.edits`), as named."""
    chunks: tuple[Mapping[str, Any], ...] = ()
    proposed_by: str | None = None
    """Who chose a parameter set: "model" (the Proposer), "optimizer" (`core.optimizer`,
    when the model's set was a repeat or invalid, or in an optimizer-only run) or
    `PICKED` (one of the optimizer's candidates, picked by the Proposer)."""
    candidate: int | None = None
    """The number (from 1, as shown to the Proposer) of the optimizer's candidate the
    Proposer picked (`prompts.pick_schema`); None when it wrote its own proposal."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "chunks", tuple(self.chunks))


@payload(Kind.VERIFICATION)
@dataclass(frozen=True)
class Verification(Payload):
    """The Verifier's answer on a proposal (stage PROPOSAL) or a kernel's source (CODE)."""

    OMIT_NONE = frozenset(
        {"template", "parameters", "failing_entry", "gate", "title", "scheme", "equations"}
    )
    ok: bool = True
    stage: Stage = Stage.PROPOSAL
    kind: str | None = None
    """The proposal's kind (stage PROPOSAL) or "code" (stage CODE)."""
    detail: str = ""
    template: str | None = None
    parameters: Mapping[str, Any] | None = None
    """The validated, complete parameter set of a parameter proposal."""
    failing_entry: str | None = None
    gate: Mapping[str, Any] | None = None
    """The static gate's report (stage CODE): ok, violations, notes."""
    title: str | None = None
    """The proposal's title (a veto of a proposal)."""
    scheme: Mapping[str, Any] | None = None
    """A formulation as the Verifier proved it (flat JSON with its `name`): what the
    template writer builds from and the Tester's accounting comes from, never the proposal."""
    equations: tuple[str, ...] | None = None
    """A formulation as equations, one a line (proved or vetoed), for the review."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "stage", Stage(self.stage))
        if self.equations is not None:
            object.__setattr__(self, "equations", tuple(self.equations))

    @property
    def feedback(self) -> str:
        """What a veto tells the next Proposer and Coder."""
        return f"verifier vetoed '{self.title or '?'}': {self.detail[:200]}"


@payload(Kind.KERNEL)
@dataclass(frozen=True)
class KernelWritten(Payload):
    """A kernel that reached review (kernels/NNN.rs, NNN = `number`)."""

    OMIT_NONE = frozenset({"gate", "template", "parameters", "region"})
    number: int = 0
    attempt: int = 1
    code: str = ""
    title: str = ""
    gate: Mapping[str, Any] | None = None
    template: str | None = None
    parameters: Mapping[str, Any] | None = None
    region: str | None = None
    """For an edit of the best kernel: the one region it changed."""


@payload(Kind.REVIEW_REQUESTED)
@dataclass(frozen=True)
class ReviewRequested(Payload):
    number: int = 0


@payload(Kind.REVIEW)
@dataclass(frozen=True)
class Reviewed(Payload):
    """The review gate's decision on kernel `number`; `code` is the edited source (EDIT)."""

    OMIT_NONE = frozenset({"code"})
    number: int = 0
    action: str = "approve"
    """approve, edit or reject (`core.review.Action`)."""
    reason: str = ""
    edited: bool = False
    code: str | None = None


@payload(Kind.CHECK_STARTED)
@dataclass(frozen=True)
class CheckStarted(Payload):
    number: int = 0


@payload(Kind.CHECK_PROGRESS)
@dataclass(frozen=True)
class CheckProgress(Payload):
    phase: str = ""


@payload(Kind.CHECK_RESULT)
@dataclass(frozen=True)
class CheckFinished(Payload):
    """The checker's result (`CheckResult.to_dict()`: figures in GFLOPS and seconds; checks,
    timings, flags and the rest are in `extra`) with the kernel it was for."""

    OMIT_NONE = frozenset({"template", "parameters", "region", "author"})
    number: int = 0
    title: str = ""
    kind: str = ""
    attempt: int = 1
    problem: str = ""
    verdict: Outcome = Outcome.UNKNOWN
    reason: str = ""
    gflops: float | None = None
    speedup_vs_naive: float | None = None
    fraction_of_openblas: float | None = None
    fraction_of_peak: float | None = None
    baselines: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Per baseline name: {"gflops": …, "median_s": …, …}."""
    flags: Mapping[str, Any] = field(default_factory=dict)
    template: str | None = None
    parameters: Mapping[str, Any] | None = None
    region: str | None = None
    """For the model's edit of the best kernel: the region it changed."""
    author: str | None = None
    """"human" when the reviewer changed the kernel before it was checked."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "verdict", Outcome.parse(self.verdict))


@payload(Kind.ITERATION_FINISHED)
@dataclass(frozen=True)
class IterationFinished(Payload):
    """How an iteration ended: its outcome (on the wire as "verdict", as in version 1), the
    proposal's title, the kernel's GFLOPS, and the count of iterations without improvement."""

    OMIT_NONE = frozenset({"verdict", "title", "gflops", "improved", "best_gflops"})
    verdict: Outcome | None = None
    title: str | None = None
    gflops: float | None = None
    improved: bool | None = None
    best_gflops: float | None = None
    since_improvement: int = 0

    def __post_init__(self) -> None:
        if self.verdict is not None:
            object.__setattr__(self, "verdict", Outcome.parse(self.verdict))


@payload(Kind.ERROR)
@dataclass(frozen=True)
class ErrorRaised(Payload):
    """Something went wrong; the event's agent says whose step it was."""

    OMIT_NONE = frozenset({"step", "exception"})
    message: str = ""
    recoverable: bool = True
    """False when the session stops because of it."""
    step: str | None = None
    """The Manager's step that failed (propose, verify, code, review, test, record)."""
    exception: str | None = None
    """The exception's type, for an unexpected failure."""


@payload(Kind.SESSION_FINISHED)
@dataclass(frozen=True)
class SessionFinished(Payload):
    reason: str = "finished"
    iterations: int = 0
    best_gflops: float | None = None
    best_title: str = ""
    tokens: int = 0


@payload(Kind.HINT)
@dataclass(frozen=True)
class HintGiven(Payload):
    """A human's hint for the next proposals (`core.hints`): typed in the TUI or read from
    the session's hints file (then `line` is its line number there)."""

    text: str = ""
    source: str = "tui"
    line: int = 0


@payload(Kind.CONFIRMATION)
@dataclass(frozen=True)
class Confirmed(Payload):
    """Whether kernel `number` beat the best (kernel `against`) beyond noise
    (`kernels.confirm`): `outcome` faster, within noise, slower or failed; `ratio` its speed
    over the best's with the 95% interval [`low`, `high`] from `rounds` interleaved rounds
    (0 rounds: decided from one check, the first kernel or a margin no noise explains). Only
    a "faster" confirmation makes a kernel the session's best."""

    OMIT_NONE = frozenset({"same_code"})
    number: int = 0
    against: int | None = None
    outcome: str = "within noise"
    ratio: float | None = None
    low: float | None = None
    high: float | None = None
    rounds: int = 0
    candidate_gflops: float | None = None
    best_gflops: float | None = None
    candidate_fraction: float | None = None
    """Median fraction of OpenBLAS of kernel `number` over the rounds (None: not timed)."""
    best_fraction: float | None = None
    """The same for kernel `against`."""
    detail: str = ""
    seconds: float = 0.0
    ratios: tuple[float, ...] = ()
    same_code: bool | None = None
    """True when kernel `number` runs the best's code (the same source, or the same
    compiled instructions): "within noise" without rounds."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "ratios", tuple(self.ratios))

    @property
    def faster(self) -> bool:
        return self.outcome == "faster"

    def interval(self) -> str:
        """`1.12x [1.05, 1.19]`, `1.12x` without an interval, '' without a ratio."""
        if self.ratio is None:
            return ""
        if self.low is None or self.high is None:
            return f"{self.ratio:.2f}x"
        return f"{self.ratio:.2f}x [{self.low:.2f}, {self.high:.2f}]"


# --------------------------------------------------------------------------- the event
@dataclass
class Event:
    """One event: a kind, its payload (as the wire dict `data`), who and when.

    Build events with `Event.of(payload, agent, iteration)`; read them with `.payload`.
    `seq` is set by the session when the event is recorded."""

    kind: Kind
    data: dict[str, Any] = field(default_factory=dict)
    agent: Agent | None = None
    iteration: int = 0
    ts: float = field(default_factory=time.time)
    seq: int = 0
    v: int = SCHEMA_VERSION
    _payload: Payload | None = field(default=None, repr=False, compare=False)

    @classmethod
    def of(cls, payload: Payload, agent: Agent | None = None, iteration: int = 0) -> Event:
        """The event of a typed payload."""
        return cls(payload.KIND, payload.to_data(), agent, iteration, _payload=payload)

    @property
    def payload(self) -> Payload:
        """The typed payload (parsed from `data` once). Raises SessionError-worthy
        TypeError/ValueError when `data` does not fit the kind's payload type."""
        if self._payload is None:
            self._payload = PAYLOADS[self.kind].from_data(self.data)
        return self._payload

    @property
    def persist(self) -> bool:
        return self.kind not in LIVE_ONLY

    def to_json(self) -> str:
        return json.dumps(
            {
                "v": self.v,
                "seq": self.seq,
                "ts": round(self.ts, 3),
                "kind": str(self.kind),
                "agent": str(self.agent) if self.agent else None,
                "iteration": self.iteration,
                "data": self.data,
            },
            ensure_ascii=False,
            allow_nan=False,
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Event:
        """An event from its JSON object, upgraded to the current schema (see `upgrade`).
        Raises KeyError/ValueError/TypeError for an object that is not an event."""
        d = upgrade(d)
        ev = cls(
            kind=Kind(d["kind"]),
            data=dict(d.get("data") or {}),
            agent=Agent(d["agent"]) if d.get("agent") else None,
            iteration=int(d.get("iteration", 0)),
            ts=float(d.get("ts", 0.0)),
            seq=int(d.get("seq", 0)),
            v=int(d.get("v", SCHEMA_VERSION)),
        )
        ev.payload  # noqa: B018 - validate the payload's shape now, where the line is known
        return ev


def upgrade(d: dict[str, Any]) -> dict[str, Any]:
    """A version-1 event object as version 2 (a new dict; others are returned as they are).

    - verification: `stage` is "code" when the version-1 writer meant the static gate
      (kind "code" with a gate report), else "proposal".
    """
    if int(d.get("v", SCHEMA_VERSION)) >= 2:
        return d
    data = dict(d.get("data") or {})
    if d.get("kind") == Kind.VERIFICATION and "stage" not in data:
        code = data.get("kind") == "code" and "gate" in data
        data["stage"] = str(Stage.CODE if code else Stage.PROPOSAL)
    return {**d, "data": data, "v": 2}
