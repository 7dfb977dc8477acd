"""The small findings of issue 13, each as a test: `replay --headless` refuses a corrupt
meta.json like every other command; a resume after a kill in iteration 0 writes a resume
event, not a second `session_started`; kernels of an interrupted iteration leave the
leaderboard when it is run again; resuming a finished session appends nothing."""

from __future__ import annotations

import json
import shutil
import threading

from roundtable_tui.core.events import Agent, Event, Kind
from roundtable_tui.core.manager import Manager, RunConfig
from roundtable_tui.core.review import AutoPolicy
from roundtable_tui.core.session import Session, read_events
from roundtable_tui.core.state import SessionState
from roundtable_tui.llm.scripted import ScriptedBackend

from .conftest import ROOT
from .scripted import SGEMM, SMALL

EXAMPLE = ROOT / "sessions" / "examples" / "example-sgemm-small"


def test_replay_headless_refuses_a_corrupt_meta(tmp_path, capsys, monkeypatch):
    from roundtable_tui.cli import main

    dest = tmp_path / "broken"
    shutil.copytree(EXAMPLE, dest)
    (dest / "meta.json").write_text('{"problem": "sgemm", ')
    for argv in (["replay", str(dest), "--headless"], ["sessions", "show", str(dest)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "meta.json: not valid JSON" in " ".join(err.split()) and "Traceback" not in err


def _manager(session: Session, iterations: int) -> Manager:
    return Manager(
        session,
        ScriptedBackend([]),
        SGEMM,
        AutoPolicy(),
        RunConfig(iterations=iterations, check=SMALL),
        machine={"cores": 2, "simd": "AVX2"},
    )


def _kinds(session: Session) -> list[Kind]:
    return [e.kind for e in read_events(session.path)]


def test_resume_after_a_kill_in_iteration_0_is_a_resume(tmp_path):
    session = Session.create(tmp_path, {"problem": "sgemm", "model": "scripted"}, "s")
    # what a kill during the seed's check leaves: the start and the seed begun
    session.append(Event(Kind.SESSION_STARTED, dict(session.meta), Agent.MANAGER, 0))
    session.append(Event(Kind.ITERATION_STARTED, {"seed": True}, Agent.MANAGER, 0))
    session.close()
    again = Session.open(session.path)
    _manager(again, iterations=0).run(threading.Event())
    again.close()
    kinds = _kinds(again)
    assert kinds.count(Kind.SESSION_STARTED) == 1
    assert Kind.SESSION_RESUMED in kinds
    assert kinds[-1] is Kind.SESSION_FINISHED


def test_interrupted_iteration_kernels_leave_the_leaderboard():
    def ev(kind, it, **data):
        return Event(kind, data, Agent.TESTER, it)

    events = [
        ev(Kind.SESSION_STARTED, 0, problem="sgemm", model="m"),
        ev(Kind.ITERATION_STARTED, 0, seed=True),
        ev(Kind.CHECK_RESULT, 0, number=0, title="naive", verdict="passed", gflops=1.0),
        ev(Kind.ITERATION_FINISHED, 0),
        ev(Kind.ITERATION_STARTED, 1),
        ev(Kind.CHECK_RESULT, 1, number=1, title="before the kill", verdict="passed", gflops=9.0),
        # killed here; the resume runs iteration 1 again
        ev(Kind.SESSION_RESUMED, 1, after_iteration=1),
        ev(Kind.ITERATION_STARTED, 1),
        ev(Kind.CHECK_RESULT, 1, number=2, title="the rerun", verdict="passed", gflops=5.0),
        ev(Kind.ITERATION_FINISHED, 1, verdict="passed", title="the rerun", gflops=5.0),
    ]
    state = SessionState.of(events)
    titles = [e.title for e in state.leaderboard()]
    assert titles == ["the rerun", "naive"]
    assert state.best is not None and state.best.title == "the rerun"


def test_resuming_a_finished_session_appends_nothing(tmp_path):
    src = EXAMPLE
    dest = tmp_path / "done"
    shutil.copytree(src, dest)
    before = (dest / "events.jsonl").read_bytes()
    state = SessionState.of(read_events(dest))
    assert state.finished
    for _ in range(3):
        session = Session.open(dest)
        reason = _manager(session, iterations=state.finished_iterations).run(threading.Event())
        session.close()
        assert "budget" in reason or "finished" in reason
    assert (dest / "events.jsonl").read_bytes() == before
    assert json.loads(before.splitlines()[-1])["kind"] == "session_finished"
