"""The agents around the table. Proposer and Coder talk to the model; the Verifier checks
(sympy for formulations, the static gate for code); the Tester is `roundtable check`."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from roundtable_tui.core import prompts
from roundtable_tui.core.events import Agent, Event, Kind
from roundtable_tui.kernels import policy
from roundtable_tui.kernels.checker import Checker, Options
from roundtable_tui.kernels.problems import Problem
from roundtable_tui.kernels.templates import Family, ParameterError
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
    ) -> Completion:
        self.emit(Event(Kind.AGENT_STARTED, {}, self.agent, self.iteration))

        def token(piece: str) -> None:
            self.emit(Event(Kind.TOKEN, {"text": piece}, self.agent, self.iteration))

        done = self.backend.complete(
            messages,
            max_tokens=max_tokens,
            temperature=temperature,
            json_schema=json_schema,
            on_token=token,
            cancel=cancel,
            tag=str(self.agent),
        )
        self.emit(
            Event(
                Kind.MESSAGE,
                {
                    "text": done.text,
                    "prompt_tokens": done.prompt_tokens,
                    "completion_tokens": done.completion_tokens,
                    "prompt_s": round(done.prompt_s, 3),
                    "generate_s": round(done.generate_s, 3),
                    "tokens_per_s": round(done.tokens_per_s, 1),
                    "finish_reason": done.finish_reason,
                },
                self.agent,
                self.iteration,
            )
        )
        return done


def _msgs(pairs: list[tuple[str, str]]) -> list[Message]:
    return [Message(role, content) for role, content in pairs]


# --------------------------------------------------------------------------- Proposer
def parse_proposal(text: str) -> dict[str, Any]:
    """The model's JSON proposal, validated; raises AgentError with what is wrong."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0:
        raise AgentError("the proposal is not JSON")
    if end <= start:
        raise AgentError("the proposal JSON is truncated (no closing brace)")
    try:
        obj = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise AgentError(f"the proposal is malformed JSON ({exc.msg})") from None
    if not isinstance(obj, dict):
        raise AgentError("the proposal is not a JSON object")
    kind = obj.get("kind") if obj.get("kind") in ("code", "parameters", "formulation") else "code"
    params = obj.get("parameters") if isinstance(obj.get("parameters"), dict) else {}
    changes = obj.get("changes") if isinstance(obj.get("changes"), dict) else None
    idea = str(obj.get("idea") or "").strip()
    # a parameter set is named by the manager after what it changes
    title = str(obj.get("title") or ("parameters" if kind == "parameters" else "")).strip()
    if not title or not idea:
        raise AgentError("the proposal lacks a title or an idea")
    out = {
        "title": title[:80],
        "kind": kind,
        "idea": idea,
        "rationale": str(obj.get("rationale") or "").strip(),
        "parameters": params,
    }
    if changes is not None:
        out["changes"] = changes
    if isinstance(obj.get("formulation"), dict):
        out["formulation"] = obj["formulation"]
    return out


class Proposer:
    ATTEMPTS = 2

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

    def propose(
        self,
        talk: Talk,
        cancel: threading.Event,
        context: dict[str, Any],
        refuse: Callable[[dict[str, Any]], str | None] = lambda _p: None,
    ) -> dict[str, Any]:
        """A usable proposal. `refuse` says why a well-formed proposal cannot be used (an
        invalid or already measured parameter set); the model gets one more try with that
        reason, then the proposal goes on as it is (the Verifier vetoes it)."""
        messages = _msgs(
            prompts.proposer_messages(
                self.problem, self.machine, family=self.family, strategy=self.strategy, **context
            )
        )
        last_error = ""
        proposal: dict[str, Any] | None = None
        for attempt in range(self.ATTEMPTS):
            done = talk(messages, cancel, max_tokens=400, json_schema=self.schema)
            try:
                proposal = parse_proposal(done.text)
            except AgentError as exc:
                last_error = str(exc)
            else:
                why = refuse(proposal)
                if why is None or attempt == self.ATTEMPTS - 1:
                    return proposal
                last_error = why
                messages += [
                    Message("assistant", done.text),
                    Message("user", f"Refused: {why}. Propose a different set."),
                ]
            talk.emit(
                Event(
                    Kind.ERROR,
                    {"message": last_error, "recoverable": True},
                    Agent.PROPOSER,
                    talk.iteration,
                )
            )
        if proposal is not None:
            return proposal
        raise AgentError(f"no usable proposal after {self.ATTEMPTS} attempts: {last_error}")


# --------------------------------------------------------------------------- Verifier
class Verifier:
    def check_proposal(
        self, proposal: dict[str, Any], family: Family | None = None
    ) -> dict[str, Any]:
        """Vetoes an algebraic formulation that is not the block matrix product, and a
        parameter set the template refuses (with every reason)."""
        if proposal.get("kind") == "parameters" and family is not None:
            try:
                values = family.validate(proposal.get("parameters") or {})
            except ParameterError as exc:
                return {
                    "ok": False,
                    "kind": "parameters",
                    "template": family.id,
                    "detail": "refused parameters: " + "; ".join(exc.reasons),
                }
            return {
                "ok": True,
                "kind": "parameters",
                "template": family.id,
                "parameters": values,
                "detail": f"valid parameters for template {family.id}",
            }
        if proposal.get("kind") != "formulation" or "formulation" not in proposal:
            return {
                "ok": True,
                "kind": proposal.get("kind"),
                "detail": "no algebraic formulation to verify; the static gate will check the code",
            }
        from roundtable_tui.core.formulation import FormulationError, describe, parse_formulation
        from roundtable_tui.core.formulation import verify as verify_scheme

        try:
            scheme = parse_formulation(proposal["formulation"])
        except FormulationError as exc:
            return {"ok": False, "kind": "formulation", "detail": f"unreadable scheme: {exc}"}
        result = verify_scheme(scheme)
        if result.ok:
            return {
                "ok": True,
                "kind": "formulation",
                "detail": f"verified symbolically: {describe(scheme)}",
            }
        return {
            "ok": False,
            "kind": "formulation",
            "failing_entry": result.failing_entry,
            "detail": f"the scheme is not the block product: {result.detail}",
        }

    def check_code(self, code: str, problem: Problem, allow_unsafe: bool) -> policy.GateResult:
        return policy.gate(code, problem, allow_unsafe)


# --------------------------------------------------------------------------- Coder
_FENCE = re.compile(r"```[ \t]*(?:rust|rs)?[^\n]*\n(.*?)(?:```|\Z)", re.S)


def extract_code(text: str, fn_name: str) -> str | None:
    """The kernel file inside a reply: the fenced block that defines `fn_name` (an unclosed
    fence from a truncated reply counts), else the reply from its first item on."""
    blocks = [b.strip() for b in _FENCE.findall(text)]
    with_fn = [b for b in blocks if re.search(rf"\bfn\s+{re.escape(fn_name)}\b", b)]
    if with_fn:
        return max(with_fn, key=len) + "\n"
    if re.search(rf"\bfn\s+{re.escape(fn_name)}\b", text):
        m = re.search(r"^(use |pub |fn |const |#|//|struct |impl |static )", text, re.M)
        if m:
            return text[m.start() :].strip() + "\n"
    return None


class Coder:
    def __init__(self, backend: Backend, problem: Problem, machine: dict[str, Any]) -> None:
        self.backend, self.problem, self.machine = backend, problem, machine
        self.history: list[Message] = []

    def write(
        self,
        talk: Talk,
        cancel: threading.Event,
        proposal: dict[str, Any],
        best_code: str,
        feedback: list[str],
    ) -> str | None:
        self.history = _msgs(
            prompts.coder_messages(self.problem, self.machine, proposal, best_code, feedback)
        )
        return self._ask(talk, cancel)

    def instantiate(self, talk: Talk, family: Family, parameters: dict[str, Any]) -> str:
        """The parameter path: the template filled in, deterministically, without the model."""
        code = family.instantiate(parameters)
        talk.emit(Event(Kind.AGENT_STARTED, {}, Agent.CODER, talk.iteration))
        settings = ", ".join(f"{k}={v}" for k, v in parameters.items())
        talk.emit(
            Event(
                Kind.MESSAGE,
                {"text": f"Filled in template {family.id} ({settings}); no model needed."},
                Agent.CODER,
                talk.iteration,
            )
        )
        return code

    def repair(self, talk: Talk, cancel: threading.Event, message: str) -> str | None:
        self.history.append(Message("user", message))
        # a little more temperature, so a repair is not the same reply again
        return self._ask(talk, cancel, temperature=0.6)

    def _ask(self, talk: Talk, cancel: threading.Event, temperature: float = 0.2) -> str | None:
        done = talk(self.history, cancel, max_tokens=1500, temperature=temperature)
        self.history.append(Message("assistant", done.text))
        # keep the conversation short: the first request and the latest exchange
        if len(self.history) > 4:
            self.history = self.history[:2] + self.history[-2:]
        code = extract_code(done.text, self.problem.name)
        return make_public(code, self.problem.name) if code else None


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
        self, code: str, problem: Problem, cancel: threading.Event, progress: Callable[[str], None]
    ) -> CheckResult:
        return self.checker.check(code, problem, self.options, cancel, progress)
