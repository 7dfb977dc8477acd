"""The agents around the table. Proposer and Coder talk to the model; the Verifier checks
(sympy for formulations, the static gate for code); the Tester is `roundtable check`."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from roundtable_tui.core import prompts
from roundtable_tui.core.events import (
    Agent,
    AgentStarted,
    ErrorRaised,
    Event,
    Proposal,
    Stage,
    Token,
    Verification,
)
from roundtable_tui.core.events import Message as MessagePayload
from roundtable_tui.kernels import policy
from roundtable_tui.kernels.checker import Checker, Options
from roundtable_tui.kernels.problems import Problem
from roundtable_tui.kernels.templates import Family
from roundtable_tui.kernels.verdict import CheckResult
from roundtable_tui.llm.backend import Backend, Completion, Message

Emit = Callable[[Event], object]


class AgentError(Exception):
    """An agent could not produce usable output (after its retries)."""


@dataclass
class Talk:
    """One exchange with the model, streamed to viewers as it is written."""

    backend: Backend
    emit: Emit
    agent: Agent
    iteration: int

    def __call__(
        self,
        messages: list[Message],
        cancel: threading.Event,
        max_tokens: int,
        json_schema: dict[str, Any] | None = None,
        temperature: float = 0.3,
        grammar: str | None = None,
    ) -> Completion:
        self.emit(Event.of(AgentStarted(), self.agent, self.iteration))

        def token(piece: str) -> None:
            self.emit(Event.of(Token(piece), self.agent, self.iteration))

        # only when set: not every backend takes a grammar
        extra: dict[str, Any] = {"grammar": grammar} if grammar else {}
        done = self.backend.complete(
            messages,
            max_tokens=max_tokens,
            temperature=temperature,
            json_schema=json_schema,
            on_token=token,
            cancel=cancel,
            tag=str(self.agent),
            **extra,
        )
        self.emit(
            Event.of(
                MessagePayload(
                    done.text,
                    prompt_tokens=done.prompt_tokens,
                    completion_tokens=done.completion_tokens,
                    prompt_s=round(done.prompt_s, 3),
                    generate_s=round(done.generate_s, 3),
                    tokens_per_s=round(done.tokens_per_s, 1),
                    finish_reason=done.finish_reason,
                ),
                self.agent,
                self.iteration,
            )
        )
        return done


def _msgs(pairs: list[tuple[str, str]]) -> list[Message]:
    return [Message(role, content) for role, content in pairs]


# --------------------------------------------------------------------------- Proposer
MAX_REPLY_CHARS = 20_000
"""Longest model reply a parser reads (a proposal is a few hundred characters)."""
MAX_JSON_DEPTH = 8
"""Deepest nesting of objects/arrays in a proposal (a formulation needs 4)."""
MAX_PAREN_DEPTH = 16
"""Deepest parentheses in a proposal's strings (a block expression needs 2 or 3)."""


def _scan_json(text: str) -> tuple[int, bool, list[int]]:
    """One pass over JSON text without recursion: the deepest nesting of [] and {} outside
    strings, whether the text ends inside an open object, array or string (a reply cut
    off), and the positions of the commas between top-level members."""
    depth = deepest = 0
    in_string = escaped = False
    commas: list[int] = []
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 1:
            commas.append(i)
    return deepest, depth > 0 or in_string, commas


def _json_depth(text: str) -> int:
    """Nesting depth of [] and {} outside strings, without recursion."""
    return _scan_json(text)[0]


def _paren_depth(value: Any) -> int:
    """Deepest parentheses in any string inside `value` (a parsed JSON value)."""
    deepest = 0
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, str) and "(" in v:
            depth = 0
            for ch in v:
                if ch == "(":
                    depth += 1
                    deepest = max(deepest, depth)
                elif ch == ")":
                    depth -= 1
    return deepest


PROPOSAL_KINDS = ("code", "parameters", "formulation")
"""The kinds a model may name; anything else is read as "code"."""


def _complete_members(body: str, *, top: bool = True) -> dict[str, Any] | None:
    """The top-level members of a JSON object that was cut off (a reply that reached the
    token limit inside its last member), or None when the object is closed (malformed, not
    cut off) or not even one member is whole. At the top level a cut string member (an
    idea) is kept as far as it went and a cut object member (a set) by its whole members;
    inside that object a cut value is dropped (`"parallel": "spl` is no setting)."""
    _, cut_off, commas = _scan_json(body)
    if not cut_off:
        return None
    for cut in reversed(commas):
        try:
            obj = json.loads(body[:cut] + "}")
        except json.JSONDecodeError:
            continue
        if not isinstance(obj, dict) or not obj:
            return None
        # the member the limit cut, when it is a string (a rambling idea): its text so far
        tail = _CUT_STRING.match(body[cut + 1 :]) if top else None
        if tail and tail["key"] not in obj:
            with contextlib.suppress(json.JSONDecodeError):
                obj[tail["key"]] = json.loads(f'"{tail["text"]}"').rstrip() + "…"
        # an object the limit cut (a whole parameter set written out): its whole members
        inner = _CUT_OBJECT.match(body[cut + 1 :]) if top else None
        if inner and inner["key"] not in obj:
            members = _complete_members(inner["body"], top=False)
            if members:
                obj[inner["key"]] = members
        return obj
    return None


_CUT_STRING = re.compile(
    r'\s*"(?P<key>\w+)"\s*:\s*"(?P<text>(?:[^"\\]|\\[^u]|\\u[0-9a-fA-F]{4})*)\\?\Z', re.S
)
"""A last member `"key": "text…` whose string the token limit cut (escapes kept whole)."""
_CUT_OBJECT = re.compile(r'\s*"(?P<key>changes|parameters)"\s*:\s*(?P<body>\{.*)\Z', re.S)
"""A last parameter set `"changes": {…` the token limit cut (each of its members stands on
its own, unlike a cut formulation's)."""


def parse_proposal(text: str) -> Proposal:
    """The model's JSON proposal, as it is (not completed); raises AgentError with what is
    wrong. Replies longer than MAX_REPLY_CHARS, nested deeper than MAX_JSON_DEPTH or with
    parentheses deeper than MAX_PAREN_DEPTH are refused before any parser recurses into them."""
    if len(text) > MAX_REPLY_CHARS:
        raise AgentError(f"the proposal is {len(text)} characters (limit {MAX_REPLY_CHARS})")
    start, end = text.find("{"), text.rfind("}")
    if start < 0:
        raise AgentError("the proposal is not JSON")
    if end <= start:
        # cut before any `}`: only a parameter set cut while written out stands on its own
        cut = _complete_members(text[start:])
        if cut is None or not (cut.get("changes") or cut.get("parameters")):
            raise AgentError("the proposal JSON is truncated (no closing brace)")
    body = text[start : end + 1] if end > start else text[start:]
    depth = _json_depth(body)
    if depth > MAX_JSON_DEPTH:
        raise AgentError(f"the proposal JSON is nested {depth} deep (limit {MAX_JSON_DEPTH})")
    try:
        obj = json.loads(body)
    except json.JSONDecodeError as exc:
        # a reply cut at the token limit: keep the members that were written whole
        obj = _complete_members(text[start:])
        if obj is None:
            raise AgentError(f"the proposal is malformed JSON ({exc.msg})") from None
    if not isinstance(obj, dict):
        raise AgentError("the proposal is not a JSON object")
    parens = _paren_depth(obj)
    if parens > MAX_PAREN_DEPTH:
        raise AgentError(
            f"the proposal has parentheses nested {parens} deep (limit {MAX_PAREN_DEPTH})"
        )
    recipe = obj.get("recipe")
    if isinstance(recipe, str) and recipe.strip() and not obj.get("idea"):
        # a recipe picked by its title (`prompts.pick_schema`): the Manager fills in its
        # part and idea (`Manager._as_recipe`)
        title = recipe.strip()[:80]
        return Proposal(title=title, kind="code", idea=title)
    pick = obj.get("candidate")
    if isinstance(pick, int) and not isinstance(pick, bool) and not obj.get("changes"):
        # an optimizer's candidate picked by its number (`prompts.pick_schema`): the Manager
        # puts in its set (`Manager._picked`)
        return Proposal(
            title=f"optimizer's candidate {pick}", kind="parameters", idea="", candidate=pick
        )
    raw_params, raw_changes = obj.get("parameters"), obj.get("changes")
    raw_kind = obj.get("kind")
    kind = raw_kind if isinstance(raw_kind, str) and raw_kind in PROPOSAL_KINDS else "code"
    formulation = obj.get("formulation") if isinstance(obj.get("formulation"), dict) else None
    if formulation and kind != "formulation":
        # a scheme under another kind (the embedded model wrote `"kind": "parameters"` with a
        # whole set beside `"formulation": {"use": "strassen"}`): a formulation when the idea
        # names a scheme or nothing else was proposed; the Manager says when it drops one
        from roundtable_tui.core.scheme_coder import named_in_text

        nothing_else = not (isinstance(raw_params, dict) and raw_params) and not (
            isinstance(raw_changes, dict) and raw_changes
        )
        if nothing_else or named_in_text(str(obj.get("idea") or "")):
            kind = "formulation"
    params: dict[str, Any] = raw_params if isinstance(raw_params, dict) else {}
    changes: dict[str, Any] | None = raw_changes if isinstance(raw_changes, dict) else None
    idea = str(obj.get("idea") or "").strip()
    if not idea and kind == "parameters" and (params or changes):
        # the reply reached its token limit before the idea (a whole set written out): the
        # set stands on its own, as a cut idea does (asking again would cost a generation)
        idea = "(the reply ended before its idea)"
    # a parameter set is named by the manager after what it changes
    named = {"parameters": "parameters", "formulation": "formulation"}.get(kind, "")
    # the template schema (mixed strategy) asks no title: a code change is named by its idea
    title = str(obj.get("title") or named or idea.split(".")[0]).strip()
    if not title or not idea:
        raise AgentError("the proposal lacks a title or an idea")
    raw_region = obj.get("region")
    region = raw_region if isinstance(raw_region, str) else ""
    return Proposal(
        title=title[:80],
        kind=kind,
        idea=idea,
        rationale=str(obj.get("rationale") or "").strip(),
        parameters=params,
        changes=changes,
        formulation=formulation,
        region=region.strip()[:60] or None,
    )


class Proposer:
    """Asks the model for the next proposal (JSON, constrained by `prompts.proposal_schema`).

    `propose` starts a conversation for one iteration; `again` continues it with a reason
    the last proposal cannot be used (an invalid or already measured parameter set)."""

    ATTEMPTS = 2
    """Replies asked for per call before giving up on unparseable output."""
    MAX_TOKENS = 400
    """A reply's limit on the free-form path (a written block scheme can be long)."""
    MAX_TOKENS_TEMPLATE = 48
    """With a template: a kind, a few changes (or a region, or a named scheme) and a
    one-sentence idea. The part before the idea is ~15–30 tokens for the usual one to three
    changes, so 48 leaves the idea ~20–30, a phrase; the embedded model's idea runs on to any
    limit (400 tokens once, 78 s; at 160, 128, 96 and 64 most replies reached it), at ~7
    tokens/s under the grammar on 2 cores (64 tokens: 8.4 s of a ~21 s iteration). A reply
    cut inside its idea keeps the idea so far, one cut inside a whole set written out keeps
    the set's whole members, and one cut before its idea keeps the set
    (`_complete_members`, `parse_proposal`)."""

    def __init__(
        self,
        backend: Backend,
        problem: Problem,
        machine: dict[str, Any],
        family: Family | None = None,
        strategy: str = "mixed",
    ) -> None:
        self.backend, self.problem, self.machine = backend, problem, machine
        self.family, self.strategy = family, strategy
        self.schema = prompts.proposal_schema(family, strategy)
        self._schema = self.schema
        """This iteration's schema: `schema`, or one kind of it a hint asked for."""
        self.history: list[Message] = []
        self.attempts_left = 0
        """Replies still allowed in this iteration (`propose` resets it to ATTEMPTS)."""

    def propose(self, talk: Talk, cancel: threading.Event, context: dict[str, Any]) -> Proposal:
        """A well-formed proposal for the `context` (`prompts.proposer_messages` keywords);
        raises AgentError after ATTEMPTS unusable replies, LLMError from the backend."""
        context = dict(context)
        kind = context.pop("kind", None)
        # a human's hint named the kind: only that kind's schema (when it is offered)
        self._schema = (prompts.kind_schema(self.schema, kind) if kind else None) or self.schema
        # the code path's recipes: picked by title, or a proposal written out
        self._schema = prompts.pick_schema(self._schema, "recipe", context.pop("recipe_titles", []))
        if prompts.kind_schema(self._schema, "parameters"):
            # the optimizer's candidates: picked by number, or a set written out
            numbers = list(range(1, len(context.get("candidates") or []) + 1))
            self._schema = prompts.pick_schema(self._schema, "candidate", numbers)
        self.history = _msgs(
            prompts.proposer_messages(
                self.problem, self.machine, family=self.family, strategy=self.strategy, **context
            )
        )
        self.attempts_left = self.ATTEMPTS
        return self._ask(talk, cancel)

    def again(self, talk: Talk, cancel: threading.Event, refusal: str) -> Proposal:
        """One more proposal after the last was refused for `refusal` (within the attempts
        `propose` started with; raises AgentError when none are left)."""
        self.history.append(Message("user", f"Refused: {refusal}. Propose a different change."))
        return self._ask(talk, cancel)

    def _ask(self, talk: Talk, cancel: threading.Event) -> Proposal:
        last_error = "no attempts left"
        while self.attempts_left > 0:
            self.attempts_left -= 1
            limit = self.MAX_TOKENS_TEMPLATE if self.family is not None else self.MAX_TOKENS
            done = talk(self.history, cancel, max_tokens=limit, json_schema=self._schema)
            try:
                proposal = parse_proposal(done.text)
            except AgentError as exc:
                last_error = str(exc)
            else:
                self.history = [*self.history, Message("assistant", done.text)]
                return proposal
            talk.emit(
                Event.of(
                    ErrorRaised(last_error, recoverable=True, step="propose"),
                    Agent.PROPOSER,
                    talk.iteration,
                )
            )
        raise AgentError(f"no usable proposal after {self.ATTEMPTS} attempts: {last_error}")


# --------------------------------------------------------------------------- Verifier
class Verifier:
    """Checks a proposal before any code (sympy for a formulation) and a kernel's source
    before any build (the static gate)."""

    def check_proposal(
        self,
        proposal: Proposal | Mapping[str, Any],
        refusal: str | None = None,
        family: Family | None = None,
    ) -> Verification:
        """Vetoes a proposal the Manager could not complete (`refusal`: an invalid or already
        measured parameter set) and an algebraic formulation that is not the block matrix
        product; passes everything else (its code meets the static gate later). A wire dict
        is accepted for `proposal` too."""
        if not isinstance(proposal, Proposal):
            proposal = Proposal.from_data(proposal)
        if refusal:
            return Verification(
                ok=False,
                stage=Stage.PROPOSAL,
                kind=proposal.kind,
                detail=refusal,
                template=family.id if family and proposal.kind == "parameters" else None,
                title=proposal.title,
            )
        if proposal.kind == "parameters" and family is not None:
            return Verification(
                ok=True,
                stage=Stage.PROPOSAL,
                kind="parameters",
                template=family.id,
                parameters=dict(proposal.parameters),
                detail=f"valid parameters for template {family.id}",
            )
        if proposal.kind != "formulation":
            return Verification(
                ok=True,
                stage=Stage.PROPOSAL,
                kind=proposal.kind,
                detail="no algebraic formulation to verify; the static gate will check the code",
            )
        from roundtable_tui.core import scheme_coder

        # bounded parsing, a proof with non-commuting blocks, or a one-line veto naming the
        # C block that differs and what it computes instead
        proof = scheme_coder.prove(proposal.formulation, proposal.parameters, proposal.idea)
        return Verification(
            ok=proof.ok,
            stage=Stage.PROPOSAL,
            kind="formulation",
            detail=proof.detail,
            parameters=proof.parameters if proof.ok else None,
            failing_entry=proof.failing_entry,
            title=None if proof.ok else proposal.title,
            scheme=proof.scheme,
            equations=proof.equations or None,
        )

    def check_code(
        self,
        code: str,
        problem: Problem,
        allow_unsafe: bool,
        best: str | None = None,
        region: str | None = None,
    ) -> policy.GateResult:
        """The static gate's result for `code` (never raises on bad source). For an edit of
        `best` confined to `region`, a change outside that region is a violation too."""
        gate = policy.gate(code, problem, allow_unsafe)
        if best is not None and region is not None:
            from roundtable_tui.core import edits

            try:
                outside = edits.outside_change(best, code, edits.find_region(best, region))
            except edits.EditError as exc:
                outside = str(exc)
            if outside:
                gate.violations.insert(
                    0, policy.Finding(0, "region", f"the edit leaves region {region!r}: {outside}")
                )
        return gate


# --------------------------------------------------------------------------- Coders
_FENCE = re.compile(r"```[ \t]*(?:rust|rs)?[^\n]*\n(.*?)(?:```|\Z)", re.S)


def extract_code(text: str, fn_name: str) -> str | None:
    """The kernel file inside a reply: the fenced block that defines `fn_name` (an unclosed
    fence from a truncated reply counts), else the reply from its first item on. None when
    the reply holds no such function or is longer than 20 × MAX_REPLY_CHARS."""
    if len(text) > 20 * MAX_REPLY_CHARS:
        return None
    blocks = [b.strip() for b in _FENCE.findall(text)]
    with_fn = [str(b) for b in blocks if re.search(rf"\bfn\s+{re.escape(fn_name)}\b", b)]
    if with_fn:
        return max(with_fn, key=len) + "\n"
    if re.search(rf"\bfn\s+{re.escape(fn_name)}\b", text):
        m = re.search(r"^(use |pub |fn |const |#|//|struct |impl |static )", text, re.M)
        if m:
            return text[m.start() :].strip() + "\n"
    return None


@dataclass(frozen=True)
class Draft:
    """A kernel a writer produced: its source (None when the reply had none) and, for a
    template instance, where it came from."""

    code: str | None
    template: str | None = None
    parameters: Mapping[str, Any] | None = None
    region: str | None = None
    """For an edit of the best kernel (`core.edits.EditWriter`): the region it changes."""

    @property
    def origin(self) -> dict[str, Any]:
        """The template and parameter set, or the edited region, as event fields ({} for
        free-form code)."""
        if self.region is not None:
            return {"region": self.region}
        if self.template is None:
            return {}
        return {"template": self.template, "parameters": dict(self.parameters or {})}


@dataclass
class Job:
    """What a writer works from in one iteration."""

    talk: Talk
    cancel: threading.Event
    proposal: Proposal
    verification: Verification
    best_code: str
    """The current best kernel's source (the naive kernel before any passed)."""
    feedback: list[str]
    """The latest vetoes and reviewer rejections."""


class Writer(Protocol):
    """Turns a verified proposal into a kernel. The Manager picks one per proposal kind
    (`Manager.writers`); add a kind by adding a writer."""

    repairable: bool
    """Whether a failed kernel goes back to this writer (up to the run's `repairs`)."""

    def write(self, job: Job) -> Draft: ...

    def repair(self, job: Job, message: str) -> str | None: ...


class Coder:
    """The model writes (and repairs) free-form code: kinds code and formulation."""

    repairable = True

    def __init__(self, backend: Backend, problem: Problem, machine: dict[str, Any]) -> None:
        self.backend, self.problem, self.machine = backend, problem, machine
        self.history: list[Message] = []

    def write(self, job: Job) -> Draft:
        self.history = _msgs(
            prompts.coder_messages(
                self.problem, self.machine, job.proposal, job.best_code, job.feedback
            )
        )
        return Draft(self._ask(job.talk, job.cancel))

    def repair(self, job: Job, message: str) -> str | None:
        self.history.append(Message("user", message))
        # a little more temperature, so a repair is not the same reply again
        return self._ask(job.talk, job.cancel, temperature=0.6)

    def _ask(self, talk: Talk, cancel: threading.Event, temperature: float = 0.2) -> str | None:
        done = talk(self.history, cancel, max_tokens=1500, temperature=temperature)
        self.history.append(Message("assistant", done.text))
        # keep the conversation short: the first request and the latest exchange
        if len(self.history) > 4:
            self.history = self.history[:2] + self.history[-2:]
        code = extract_code(done.text, self.problem.name)
        return make_public(code, self.problem.name) if code else None


class TemplateCoder:
    """The parameter path: the template filled in with the verified set, deterministically,
    without the model; nothing for a model to repair."""

    repairable = False

    def __init__(self, family: Family) -> None:
        self.family = family

    def write(self, job: Job) -> Draft:
        parameters = dict(job.verification.parameters or job.proposal.parameters)
        code = self.family.instantiate(parameters)
        talk = job.talk
        talk.emit(Event.of(AgentStarted(), Agent.CODER, talk.iteration))
        settings = ", ".join(f"{k}={v}" for k, v in parameters.items())
        talk.emit(
            Event.of(
                MessagePayload(
                    f"Filled in template {self.family.id} ({settings}); no model needed."
                ),
                Agent.CODER,
                talk.iteration,
            )
        )
        return Draft(code, self.family.id, parameters)

    def repair(self, job: Job, message: str) -> str | None:
        return None


def make_public(code: str, fn_name: str) -> str:
    """Small models often forget `pub`: a top-level `fn <name>(` becomes `pub fn <name>(`."""
    return re.sub(
        rf"^(\s*)fn\s+{re.escape(fn_name)}\s*\(", rf"\1pub fn {fn_name}(", code, count=1, flags=re.M
    )


# --------------------------------------------------------------------------- Tester
class Tester:
    def __init__(self, checker: Checker, options: Options) -> None:
        self.checker, self.options = checker, options

    def test(
        self,
        code: str,
        problem: Problem,
        cancel: threading.Event,
        progress: Callable[[str], None],
        scheme: Mapping[str, Any] | None = None,
    ) -> CheckResult:
        """`scheme`: the accounting of a kernel roundtable built from a verified formulation
        (Options.scheme, mult_fraction, error_growth; see core.scheme_coder.check_options),
        given by the Manager, never taken from the kernel."""
        options = dataclasses.replace(self.options, **scheme) if scheme else self.options
        return self.checker.check(code, problem, options, cancel, progress)
