"""The headless entry points over the engine: run --auto, replay, sessions; a run killed
with kill -9 resumes; the real small model end to end; a core free of Textual."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from roundtable_tui.core.events import Agent, Kind
from roundtable_tui.core.session import Session, read_events

from .conftest import ROOT

DATA = Path(__file__).parent / "data"
EXAMPLE = "example-sgemm-small"


def cli(*args: str, env: dict | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "roundtable_tui.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_core_and_services_do_not_import_textual():
    code = (
        "import sys, roundtable_tui.core.manager, roundtable_tui.core.agents, "
        "roundtable_tui.llm.factory, roundtable_tui.kernels.checker, roundtable_tui.cli, "
        "roundtable_tui.cli.headless; print('textual' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "False", out.stderr


def test_replay_headless_shows_every_agent_and_the_leaderboard():
    r = cli("replay", EXAMPLE, "--headless")
    assert r.returncode == 0, r.stderr
    for word in (
        "proposer",
        "verifier",
        "coder",
        "tester",
        "manager",
        "leaderboard",
        "naive (starting point)",
        "iteration 2",
    ):
        assert word in r.stdout, word


def test_sessions_list_and_show():
    listed = cli("sessions", "list", "--json")
    ids = [s["id"] for s in json.loads(listed.stdout)]
    assert EXAMPLE in ids
    shown = cli("sessions", "show", EXAMPLE)
    assert shown.returncode == 0 and "sgemm" in shown.stdout and "passed" in shown.stdout


def test_replay_of_a_corrupt_session_names_the_file_and_line(tmp_path):
    src = ROOT / "sessions" / "examples" / EXAMPLE
    dest = tmp_path / "broken"
    dest.mkdir()
    (dest / "meta.json").write_text((src / "meta.json").read_text())
    lines = (src / "events.jsonl").read_text().splitlines()
    lines[3] = "{not json"
    (dest / "events.jsonl").write_text("\n".join(lines) + "\n")
    r = cli("replay", str(dest), "--headless")
    assert r.returncode == 2
    assert "events.jsonl:4" in r.stderr and "Traceback" not in r.stderr


def _wait_for(path: Path, predicate, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists() and predicate(path.read_text(errors="replace")):
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting on {path}")


@pytest.mark.slow
@pytest.mark.parametrize(
    "kill_at",
    [
        '"kind": "check_started", "agent": "tester", "iteration": 1',
        '"kind": "agent_started", "agent": "coder", "iteration": 2',
    ],
)
def test_kill_9_mid_run_then_resume_and_replay(tmp_path, kill_at):
    script = DATA / "recorded_small_sgemm.jsonl"
    env = {"ROUNDTABLE_SESSIONS_DIR": str(tmp_path), "ROUNDTABLE_TIMEOUT_S": "20"}
    args = ["run", "--auto", "--model", f"scripted:{script}", "--iterations", "2", "--no-knowledge"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "roundtable_tui.cli", *args, "--session", "k9"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    log = tmp_path / "k9" / "events.jsonl"
    try:
        _wait_for(log, lambda text: kill_at in text)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = log.read_text()
    # a torn last line, as a kill in the middle of a write leaves it
    with open(log, "a") as f:
        f.write('{"v": 1, "seq": 999, "kind": "mess')
    resumed = cli(
        "run",
        "--auto",
        "--resume",
        "k9",
        "--model",
        f"scripted:{script}",
        "--iterations",
        "2",
        "--json",
        "--no-knowledge",
        env=env,
    )
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert summary["iterations"] == 2
    events = list(read_events(tmp_path / "k9"))
    assert log.read_text().startswith(before), "nothing recorded before the kill was lost"
    assert [e for e in events if e.kind is Kind.SESSION_RESUMED]
    assert sum(1 for e in events if e.kind is Kind.CHECK_RESULT and e.data["number"] == 0) == 1
    assert events[-1].kind is Kind.SESSION_FINISHED
    replay = cli("replay", str(tmp_path / "k9"), "--headless", env=env)
    assert replay.returncode == 0 and "session finished" in replay.stdout


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_real_small_model_end_to_end(tmp_path):
    from roundtable_tui.llm import models

    models.fetch("small")
    env = {"ROUNDTABLE_SESSIONS_DIR": str(tmp_path), "ROUNDTABLE_TIMEOUT_S": "30"}
    # the run indexes papers/ in the background; indexed once here, it is ready at once
    assert cli("papers", "index", env=env, timeout=1200).returncode == 0
    r = cli(
        "run",
        "--auto",
        "--problem",
        "sgemm",
        "--iterations",
        "2",
        "--model",
        "small",
        "--repairs",
        "1",
        "--json",
        env=env,
        timeout=2300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    session = Session.open(Path(summary["path"]))
    events = session.events()
    roles = {e.agent for e in events if e.kind in (Kind.AGENT_STARTED, Kind.MESSAGE)}
    assert roles == {Agent.PROPOSER, Agent.VERIFIER, Agent.CODER, Agent.TESTER, Agent.MANAGER}
    proposals = [e for e in events if e.kind is Kind.PROPOSAL and e.agent is Agent.PROPOSER]
    # proposals record their chunks, except while the knowledge base was still being indexed
    # (then the iteration says so in an error event)
    waiting = {
        e.iteration
        for e in events
        if e.kind is Kind.ERROR and "knowledge is still being indexed" in e.data["message"]
    }
    assert proposals and all(p.data["chunks"] or p.iteration in waiting for p in proposals)
    assert any(
        c["kind"] == "paper" and c["source"].endswith(".md")
        for p in proposals
        for c in p.data["chunks"]
    )
    model_kernels = [e for e in events if e.kind is Kind.KERNEL and e.data["number"] >= 1]
    assert model_kernels and all(
        (Path(summary["path"]) / "kernels" / f"{e.data['number']:03d}.rs").exists()
        for e in model_kernels
    )
    reviews = [e for e in events if e.kind is Kind.REVIEW]
    assert len(reviews) == len(model_kernels)
    assert summary["iterations"] == 2 and summary["leaderboard"]


@pytest.mark.slow
def test_rebench_rechecks_every_recorded_kernel():
    r = cli("replay", EXAMPLE, "--rebench", env={"ROUNDTABLE_TIMEOUT_S": "30"})
    assert r.returncode == 0, r.stderr
    assert "re-checked on this machine" in r.stdout
    assert r.stdout.count("passed") >= 2  # the naive seed and the model's passing kernel


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_the_session_is_resumable(tmp_path):
    script = DATA / "recorded_small_sgemm.jsonl"
    env = {**os.environ, "ROUNDTABLE_SESSIONS_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "roundtable_tui.cli",
            "run",
            "--auto",
            "--model",
            f"scripted:{script}",
            "--iterations",
            "2",
            "--session",
            "cc",
            "--no-knowledge",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as a terminal's Ctrl-C finds it, even when this suite runs in the background of a
        # non-interactive shell (which starts it with SIGINT ignored, and Python keeps that)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    _wait_for(
        tmp_path / "cc" / "events.jsonl",
        lambda t: '"kind": "check_started", "agent": "tester", "iteration": 1' in t,
    )
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "resume with" in out + err
    events = list(read_events(tmp_path / "cc"))
    assert events[-1].kind is Kind.SESSION_FINISHED
    assert events[-1].data["reason"] == "cancelled"
