"""A prompt too long for the model's context is handled deliberately: the Proposer's prompt
is tried once more with the knowledge notes shortened, and a second overflow stops the run
with the server's own words as the reason (in the session's events too). End to end against
case 11's fake llama-server: its message reaches `run --auto`'s output and the events."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from roundtable_tui.core import formulation
from roundtable_tui.core.events import Kind
from roundtable_tui.core.manager import Manager, RunConfig
from roundtable_tui.core.review import AutoPolicy
from roundtable_tui.core.session import Session
from roundtable_tui.llm.backend import ContextOverflow
from roundtable_tui.llm.scripted import ScriptedBackend

from .scripted import SGEMM, SMALL, proposal
from .test_backend_errors import LLAMA_MESSAGE, llama_server  # noqa: F401  (a fixture)

NOTE = "Pack B into KC by NC panels that stay in L2 " * 20


class Notes:
    """Knowledge that always gives ten long notes."""

    def context(self, problem, query, budget_tokens):
        return [{"id": f"n{i}", "source": "note.md", "text": f"{i}: {NOTE}"} for i in range(10)]

    def record(self, attempt):
        return None


class Overflowing(ScriptedBackend):
    """Answers from its script, but refuses a Proposer prompt longer than `limit` characters
    the way a server does (ContextOverflow with its figures)."""

    def __init__(self, replies, limit: int) -> None:
        super().__init__(replies)
        self.limit = limit
        self.prompts: list[int] = []

    def complete(self, messages, **kwargs):
        size = sum(len(m.content) for m in messages)
        if kwargs.get("tag") == "proposer":
            self.prompts.append(size)
            if size > self.limit:
                raise ContextOverflow(
                    f"the prompt does not fit the model's context: server said “{LLAMA_MESSAGE}”",
                    prompt_tokens=size // 4,
                    n_ctx=self.limit // 4,
                    detail=LLAMA_MESSAGE,
                )
        return super().complete(messages, **kwargs)


def _vetoed_formulation() -> dict:
    scheme = formulation.strassen()
    scheme["products"][0]["b"] = scheme["products"][0]["b"].replace("+", "-", 1)
    return proposal("Strassen", kind="formulation", formulation=scheme)


def _run(tmp_path: Path, backend) -> tuple[str, list]:
    session = Session.create(tmp_path, {"problem": "sgemm", "model": "scripted"}, "t")
    events: list = []
    m = Manager(
        session,
        backend,
        SGEMM,
        AutoPolicy(),
        RunConfig(iterations=1, check=SMALL),
        on_event=events.append,
        knowledge=Notes(),
        machine={"cores": 2, "simd": "AVX2"},
    )
    reason = m.run(threading.Event())
    session.close()
    return reason, events


def test_overflow_retries_once_with_fewer_notes(tmp_path):
    backend = Overflowing([_vetoed_formulation()], limit=9000)
    reason, events = _run(tmp_path, backend)
    assert len(backend.prompts) == 2 and backend.prompts[1] < backend.prompts[0]
    assert backend.prompts[1] <= 9000
    errors = [e for e in events if e.kind is Kind.ERROR]
    assert any(
        LLAMA_MESSAGE in e.data["message"] and "once more" in e.data["message"] for e in errors
    )
    assert [e.data.get("verdict") for e in events if e.kind is Kind.ITERATION_FINISHED][-1] == (
        "vetoed"
    )
    assert "iteration budget" in reason


def test_second_overflow_stops_the_run_with_the_servers_words(tmp_path):
    backend = Overflowing([_vetoed_formulation()], limit=100)  # not even without notes
    reason, events = _run(tmp_path, backend)
    assert len(backend.prompts) == 2
    assert reason.startswith("error: ") and LLAMA_MESSAGE in reason
    finished = [e for e in events if e.kind is Kind.SESSION_FINISHED][-1]
    assert LLAMA_MESSAGE in finished.data["reason"]


@pytest.mark.parametrize("mode", ["sse-data-error", "sse-error-field"])
def test_case_11_end_to_end(tmp_path, llama_server, mode, monkeypatch, capsys):  # noqa: F811
    """`run --auto` against case 11's server: the server's message is in the output and in
    the session's events, and the run stops with it as the reason (not "not JSON")."""
    from roundtable_tui.cli import main
    from roundtable_tui.config import settings

    monkeypatch.setenv("ROUNDTABLE_SESSIONS_DIR", str(tmp_path / "sessions"))
    settings.cache_clear()
    try:
        code = main(
            [
                "run",
                "--auto",
                "--model",
                llama_server(mode),
                "--iterations",
                "1",
                "--no-knowledge",
                "--json",
            ]
        )
    finally:
        settings.cache_clear()
    out = capsys.readouterr().out
    summary = json.loads(out.strip().splitlines()[-1])
    assert code == 3
    assert LLAMA_MESSAGE in summary["reason"] and "not JSON" not in summary["reason"]
    events = [json.loads(line) for line in (Path(summary["path"]) / "events.jsonl").open()]
    errors = [e for e in events if e["kind"] == "error"]
    assert errors and LLAMA_MESSAGE in errors[-1]["data"]["message"]
    assert events[-1]["kind"] == "session_finished"
