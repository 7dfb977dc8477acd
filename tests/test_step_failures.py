"""No agent step can take the Manager down (issue 13, item 4), and a veto's feedback lives
in the events (issue 10): an exception inside a step becomes an error event naming the
agent and the step, that iteration ends, the session goes on; parsers of model output have
depth and size limits; a veto reaches the next prompt even across a resume."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from roundtable_tui.core import formulation
from roundtable_tui.core.agents import AgentError, Verifier, parse_proposal
from roundtable_tui.core.events import Agent, Event, Kind, Outcome
from roundtable_tui.core.manager import Manager, RunConfig
from roundtable_tui.core.review import AutoPolicy
from roundtable_tui.core.session import Session, read_events
from roundtable_tui.core.state import SessionState
from roundtable_tui.llm.scripted import ScriptedBackend

from .conftest import ROOT
from .scripted import NAIVE, SGEMM, SMALL, fenced, proposal

CASE_14 = Path(__file__).parent / "cases" / "llm" / "14_fake_server_nested_formulation.py"


def coder(text: str) -> dict:
    return {"tag": "coder", "text": text}


def run(path: Path, backend, iterations: int, session: Session | None = None, **cfg):
    session = session or Session.create(path, {"problem": "sgemm", "model": "scripted"}, "t")
    events: list[Event] = []
    m = Manager(
        session,
        backend,
        SGEMM,
        AutoPolicy(),
        RunConfig(iterations=iterations, check=SMALL, **cfg),
        on_event=events.append,
        machine={"cores": 2, "simd": "AVX2"},
    )
    reason = m.run(threading.Event())
    session.close()
    return m, events, reason


def kinds(events: list[Event], kind: Kind) -> list[Event]:
    return [e for e in events if e.kind is kind]


def wrong_strassen() -> dict:
    scheme = formulation.strassen()
    first = scheme["products"][0]
    first["b"] = first["b"].replace("+", "-", 1)
    return scheme


# ------------------------------------------------------------------ veto feedback
@pytest.mark.slow
def test_a_veto_is_folded_survives_a_resume_and_reaches_the_next_prompt(tmp_path):
    backend = ScriptedBackend(
        [
            proposal("Strassen", kind="formulation", formulation=wrong_strassen()),
            proposal("Rows over threads"),
            coder(fenced(NAIVE)),
        ]
    )
    run(tmp_path, backend, iterations=1)
    # the veto is in the recorded events: the fold alone gives its feedback, and no kernel
    state = SessionState.of(read_events(tmp_path / "t"))
    veto = [e for e in state.entries if e.verdict is Outcome.VETOED]
    assert len(veto) == 1 and veto[0].number is None and veto[0].title == "Strassen"
    assert state.feedback and state.feedback[0].startswith("verifier vetoed 'Strassen'")

    m, events, reason = run(tmp_path, backend, iterations=2, session=Session.open(tmp_path / "t"))
    assert "iteration budget" in reason and kinds(events, Kind.SESSION_RESUMED)
    proposer_prompt = [msgs for tag, msgs in backend.calls if tag == "proposer"][-1][-1].content
    assert "verifier vetoed 'Strassen'" in proposer_prompt
    coder_prompt = [msgs for tag, msgs in backend.calls if tag == "coder"][-1][-1].content
    assert "verifier vetoed 'Strassen'" in coder_prompt
    assert m.state.seeded and [e.number for e in m.state.entries if e.number == 0] == [0]


# ------------------------------------------------------------------ failing steps
@pytest.mark.slow
def test_an_exception_in_a_step_is_an_error_event_and_the_session_goes_on(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = Verifier.check_proposal

    def flaky(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RecursionError("maximum recursion depth exceeded")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Verifier, "check_proposal", flaky)
    backend = ScriptedBackend([proposal("one"), proposal("two"), coder(fenced(NAIVE))])
    m, events, reason = run(tmp_path, backend, iterations=2)
    assert reason == "iteration budget reached (2)"
    error = [e for e in kinds(events, Kind.ERROR) if e.iteration == 1][0]
    assert error.agent is Agent.VERIFIER
    assert error.data["step"] == "verify" and error.data["exception"] == "RecursionError"
    assert "verifier failed (verify): RecursionError" in error.data["message"]
    ends = {e.iteration: e.data.get("verdict") for e in kinds(events, Kind.ITERATION_FINISHED)}
    assert ends == {0: None, 1: "error", 2: "passed"}
    assert kinds(events, Kind.SESSION_FINISHED)[-1].data["reason"] == reason
    # the recorded session says the same (nothing lived only in memory)
    recorded = list(read_events(tmp_path / "t"))
    assert [e.data.get("verdict") for e in kinds(recorded, Kind.ITERATION_FINISHED)] == [
        None,
        "error",
        "passed",
    ]


@pytest.mark.slow
def test_a_step_that_always_fails_stops_the_session_with_the_cause(tmp_path, monkeypatch):
    def broken(self, *args, **kwargs):
        raise ValueError("the knowledge of this step is broken")

    monkeypatch.setattr(Verifier, "check_proposal", broken)
    backend = ScriptedBackend([proposal(str(i)) for i in range(5)])
    m, events, reason = run(tmp_path, backend, iterations=10)
    assert reason.startswith("error: 3 iterations in a row failed")
    assert "the knowledge of this step is broken" in reason
    assert m.state.finished_iterations == 3
    assert kinds(events, Kind.SESSION_FINISHED)[-1].data["reason"] == reason


# ------------------------------------------------------------------ parser limits
def test_the_proposal_parser_refuses_deep_nesting_and_huge_replies():
    nested = "(" * 400 + "A11" + ")" * 400
    text = json.dumps(
        {"title": "t", "kind": "formulation", "idea": "i", "formulation": {"a": nested}}
    )
    with pytest.raises(AgentError, match="parentheses nested 400 deep"):
        parse_proposal(text)
    deep = '{"title": "t", "idea": "i", "x": ' + "[" * 5000 + "]" * 5000 + "}"
    with pytest.raises(AgentError, match="nested 5001 deep"):
        parse_proposal(deep)
    with pytest.raises(AgentError, match="characters"):
        parse_proposal('{"title": "t", "idea": "' + "x" * 50_000 + '"}')
    # a real scheme is well inside the limits
    ok = parse_proposal(
        json.dumps(
            {
                "title": "S",
                "kind": "formulation",
                "idea": "i",
                "formulation": formulation.strassen(),
            }
        )
    )
    assert ok.kind == "formulation"


# ------------------------------------------------------------------ case 14, end to end
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def nested_formulation_server() -> Iterator[str]:
    """The case's fake OpenAI-compatible server: every reply is a formulation proposal whose
    first factor is A11 inside 400 pairs of parentheses. Yields the --model spec."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, str(CASE_14), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        end = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > end or proc.poll() is not None:
                    raise RuntimeError("the fake server did not start") from None
                time.sleep(0.05)
        yield f"openai:http://127.0.0.1:{port}/v1#fake"
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.slow
def test_case_14_a_nested_reply_is_an_error_event_and_the_run_finishes(
    tmp_path, nested_formulation_server
):
    env = {
        **os.environ,
        "ROUNDTABLE_SESSIONS_DIR": str(tmp_path),
        "ROUNDTABLE_TIMEOUT_S": "30",
    }
    args = [
        "run",
        "--auto",
        "--strategy",
        "code",
        "--model",
        nested_formulation_server,
        "--iterations",
        "2",
        "--no-knowledge",
        "--json",
        "--session",
        "c14",
    ]
    r = subprocess.run(
        [sys.executable, "-m", "roundtable_tui.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "unexpectedly" not in r.stdout + r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["reason"] == "iteration budget reached (2)"
    events = list(read_events(tmp_path / "c14"))
    errors = [e for e in kinds(events, Kind.ERROR) if e.agent is Agent.PROPOSER]
    assert errors and all("nested 400 deep" in e.data["message"] for e in errors)
    ends = [e.data.get("verdict") for e in kinds(events, Kind.ITERATION_FINISHED)][1:]
    assert ends == ["no_proposal", "no_proposal"]
    assert kinds(events, Kind.SESSION_FINISHED)[-1].data["reason"] == summary["reason"]
