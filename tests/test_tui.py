"""The TUI driven with Pilot: approve, edit, reject, cancel, resume and replay, with a
scripted model and real checks; snapshots of the main, review and replay screens."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from roundtable_tui.config import settings
from roundtable_tui.core.events import Kind
from roundtable_tui.core.review import ReviewRequest
from roundtable_tui.core.run import RunSpec
from roundtable_tui.core.session import read_events
from roundtable_tui.llm.scripted import ScriptedBackend
from roundtable_tui.tui.app import Plan, RoundtableApp
from roundtable_tui.tui.review import EditScreen, ReasonScreen, ReviewScreen

from .conftest import ROOT
from .scripted import NAIVE, SMALL, proposal

EXAMPLE = ROOT / "sessions" / "examples" / "example-sgemm-small"
SIZE = (160, 48)


def coder(code=NAIVE):
    return {"tag": "coder", "text": f"```rust\n{code}```"}


def make_app(tmp_path, replies, **plan) -> tuple[RoundtableApp, ScriptedBackend]:
    backend = ScriptedBackend(replies)
    cfg = settings().model_copy(update={"sessions_dir": tmp_path})
    app = RoundtableApp(
        Plan(RunSpec(model="scripted", **plan), start=True),
        cfg,
        backend_factory=lambda _m: backend,
        check_options=SMALL,
    )
    return app, backend


async def until(pilot, predicate, timeout=90.0):
    for _ in range(int(timeout / 0.1)):
        if predicate():
            return
        await pilot.pause(0.1)
    raise AssertionError("timed out waiting for the app")


def session_events(tmp_path):
    (path,) = [p for p in tmp_path.iterdir() if (p / "meta.json").exists()]
    return path, list(read_events(path))


@pytest.mark.slow
async def test_approve_runs_the_tester_and_fills_the_leaderboard(tmp_path):
    app, _ = make_app(tmp_path, [proposal(), coder()], iterations=1)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ReviewScreen))
        await pilot.press("a")
        await until(pilot, lambda: app.state.finished)
        table = app.query_one("#leaderboard")
        assert table.row_count == 2  # the naive start and the approved kernel
    _, events = session_events(tmp_path)
    assert [e.data["action"] for e in events if e.kind is Kind.REVIEW] == ["approve"]


@pytest.mark.slow
async def test_edit_inline_is_what_gets_checked(tmp_path):
    app, _ = make_app(tmp_path, [proposal(), coder()], iterations=1)
    edited = NAIVE + "\n// the reviewer was here\n"
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ReviewScreen))
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, EditScreen))
        app.screen.query_one("#editor").text = edited
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.state.finished)
    path, events = session_events(tmp_path)
    result = [e for e in events if e.kind is Kind.CHECK_RESULT][-1].data
    assert result["kernel_sha256"] == hashlib.sha256(edited.encode()).hexdigest()
    assert (path / "kernels" / "001.rs").read_text() == edited


@pytest.mark.slow
async def test_reject_reason_goes_back_to_the_agents(tmp_path):
    replies = [proposal("Transpose"), coder(), proposal("Rayon"), coder()]
    app, backend = make_app(tmp_path, replies, iterations=2)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ReviewScreen))
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ReasonScreen))
        await pilot.press(*"pack B first")
        await pilot.press("enter")
        await until(
            pilot,
            lambda: isinstance(app.screen, ReviewScreen) and app.screen.request.iteration == 2,
        )
        await pilot.press("a")
        await until(pilot, lambda: app.state.finished)
    prompts = [m[-1].content for tag, m in backend.calls if tag == "proposer"]
    assert "pack B first" in prompts[1]


@pytest.mark.slow
async def test_cancel_during_review_stops_the_session(tmp_path):
    app, _ = make_app(tmp_path, [proposal(), coder()], iterations=3)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ReviewScreen))
        app.action_cancel()
        await until(pilot, lambda: app.state.finished)
        assert app.state.finished == "cancelled"
        assert not isinstance(app.screen, ReviewScreen)
    _, events = session_events(tmp_path)
    assert not [e for e in events if e.kind is Kind.CHECK_RESULT and e.data["number"] >= 1]


@pytest.mark.slow
async def test_resume_continues_a_saved_session(tmp_path):
    app, _ = make_app(tmp_path, [proposal("one"), coder()], iterations=1)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ReviewScreen))
        await pilot.press("t")  # approve, and auto-approve from now on
        await until(pilot, lambda: app.state.finished)
    path, _ = session_events(tmp_path)
    backend = ScriptedBackend([proposal("two"), coder()])
    cfg = settings().model_copy(update={"sessions_dir": tmp_path})
    again = RoundtableApp(
        # resume means what it means on the command line: iterations is the session's total
        Plan(RunSpec(model="scripted", resume=str(path), iterations=2)),
        cfg,
        backend_factory=lambda _m: backend,
        check_options=SMALL,
    )
    async with again.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(again.screen, ReviewScreen))
        await pilot.press("a")
        await until(pilot, lambda: again.state.finished)
        assert again.state.finished_iterations == 2
    events = list(read_events(path))
    assert [e for e in events if e.kind is Kind.SESSION_RESUMED]


async def test_replay_rebuilds_every_pane_from_the_log():
    app = RoundtableApp(Plan(replay=EXAMPLE))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("space")  # pause
        for _ in range(len(app._replay)):
            await pilot.press("right")
        await pilot.pause()
        assert app._replay_at == len(app._replay)
        assert app.state.finished
        for agent in ("proposer", "verifier", "coder", "tester", "manager"):
            assert app.query_one(f"#pane-{agent}").children, agent
        assert app.query_one("#leaderboard").row_count >= 2


async def test_leaderboard_columns_fit_their_rows_as_soon_as_they_are_filled():
    from roundtable_tui.tui.widgets import Leaderboard

    app = RoundtableApp(Plan(replay=EXAMPLE))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("space")
        for _ in range(len(app._replay)):
            app.action_replay_step()
        board = app.query_one(Leaderboard)
        board.refresh_from(app.state)  # no idle in between: the widths are already right
        best = app.state.best
        shown = [("★ " if e is best else "") + e.title[:40] for e in app.state.leaderboard()]
        widest = max(len(t) for t in shown)
        assert board.columns["title"].get_render_width(board) == widest + 2 * board.cell_padding
        assert board.columns["verdict"].width == max(
            len("verdict"), *(len(e.verdict) for e in app.state.leaderboard())
        )
        # a title holding markup is shown as written, not interpreted
        app.state.leaderboard()[0].title = "[red]x[/red]"
        board.refresh_from(app.state)
        assert "[red]x[/red]" in str(board.get_row_at(0)[2]) + str(board.get_row_at(1)[2])


def _request() -> ReviewRequest:
    code = NAIVE.replace("for i in 0..m", "for i in 0..m /* rows */")
    return ReviewRequest(
        iteration=3,
        number=7,
        attempt=1,
        problem="sgemm",
        proposal={
            "title": "Label the row loop",
            "kind": "code",
            "idea": "comment the loop",
            "rationale": "clarity",
        },
        code=code,
        best_code=NAIVE,
        gate={
            "ok": True,
            "violations": [],
            "notes": [{"line": 3, "rule": "threads", "message": "runs on several threads (rayon)"}],
        },
        verification={"ok": True, "detail": "no formulation to verify"},
        chunks=[{"id": "c1", "source": "01-goto-blis-blocking.md"}],
    )


async def settled(pilot) -> None:
    """Waits until the leaderboard has laid out its rows (a DataTable does so on idle; its
    column widths are set from the rows as they are added, so the snapshot does not depend
    on when the table measures them)."""
    from roundtable_tui.tui.widgets import Leaderboard

    board = pilot.app.query_one(Leaderboard)
    for _ in range(100):
        await pilot.pause(0.02)
        if not board._require_update_dimensions:
            break
    await pilot.pause()


def test_snapshot_main_screen(snap_compare):
    async def run_before(pilot):
        await pilot.press("space")
        for _ in range(len(pilot.app._replay)):
            pilot.app.action_replay_step()
        await settled(pilot)

    assert snap_compare(
        RoundtableApp(Plan(replay=EXAMPLE)), terminal_size=SIZE, run_before=run_before
    )


def test_snapshot_review_screen(snap_compare):
    async def run_before(pilot):
        await pilot.pause(0.3)  # the main screen (and its footer) drawn first, as in use
        pilot.app.push_screen(ReviewScreen(_request()))
        await pilot.pause(0.3)

    assert snap_compare(RoundtableApp(Plan()), terminal_size=SIZE, run_before=run_before)


def test_snapshot_replay_midway(snap_compare):
    async def run_before(pilot):
        await pilot.press("space")
        for _ in range(12):
            pilot.app.action_replay_step()
        await settled(pilot)

    assert snap_compare(
        RoundtableApp(Plan(replay=EXAMPLE)), terminal_size=SIZE, run_before=run_before
    )


def test_small_terminal_does_not_crash():
    async def go():
        app = RoundtableApp(Plan(replay=EXAMPLE))
        async with app.run_test(size=(60, 20)) as pilot:
            for _ in range(20):
                app.action_replay_step()
            await pilot.pause()
            assert app.query_one("#status")

    asyncio.run(go())


@pytest.mark.slow
def test_make_run_opens_the_app_in_a_real_terminal():
    import contextlib
    import os
    import shutil
    import subprocess
    import time

    if not shutil.which("tmux"):
        pytest.skip("tmux is not installed (make setup installs it)")
    name = f"roundtable-test-{os.getpid()}"
    subprocess.run(
        [
            "tmux",
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "160",
            "-y",
            "48",
            f"cd {ROOT} && env -u COLUMNS -u LINES make run",
        ],
        check=True,
    )
    pane_pid = int(
        subprocess.run(
            ["tmux", "display", "-p", "-t", name, "#{pane_pid}"], capture_output=True, text=True
        ).stdout.strip()
    )
    try:
        screen = ""
        for _ in range(900):  # make run may first (re)install the package
            screen = subprocess.run(
                ["tmux", "capture-pane", "-p", "-t", name], capture_output=True, text=True
            ).stdout
            if "Welcome" in screen and "new session" in screen:
                break
            time.sleep(0.2)
        assert "Proposer" in screen and "Coder" in screen and "Tester" in screen, screen
        assert "Welcome" in screen
        subprocess.run(["tmux", "send-keys", "-t", name, "?"], check=True)
        time.sleep(1.0)
        helped = subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", name], capture_output=True, text=True
        ).stdout
        assert "approve" in helped
        subprocess.run(["tmux", "send-keys", "-t", name, "Escape"], check=True)
        time.sleep(0.5)
        subprocess.run(["tmux", "send-keys", "-t", name, "q"], check=True)
        for _ in range(50):
            alive = (
                subprocess.run(["tmux", "has-session", "-t", name], capture_output=True).returncode
                == 0
            )
            if not alive:
                break
            time.sleep(0.2)
        assert not alive, "the app should quit on q (and the tmux session with it)"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
        with contextlib.suppress(ProcessLookupError):  # make and the app: one group
            os.killpg(pane_pid, 9)


async def test_a_save_from_any_editor_is_picked_up_by_the_review(tmp_path):
    from roundtable_tui.core.review import Action

    kernel = tmp_path / "007.rs"
    request = _request()
    kernel.write_text(request.code)
    decisions = []
    app = RoundtableApp(Plan())
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(ReviewScreen(request, kernel), decisions.append)
        await pilot.pause(0.5)
        saved = request.code + "\n// saved from another editor\n"
        kernel.write_text(saved)
        await until(pilot, lambda: app.screen.code == saved, timeout=10)
        await pilot.press("a")
        await pilot.pause()
    assert decisions[0].action is Action.EDIT and decisions[0].code == saved


async def test_external_editor_runs_with_the_app_suspended(tmp_path, monkeypatch):
    from roundtable_tui.core.review import Action

    kernel = tmp_path / "007.rs"
    request = _request()
    script = tmp_path / "editor.sh"
    script.write_text("#!/bin/sh\necho '// edited in $EDITOR' >> \"$1\"\n")
    script.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(script))
    monkeypatch.delenv("VISUAL", raising=False)
    decisions = []
    app = RoundtableApp(Plan())
    async with app.run_test(size=SIZE) as pilot:
        screen = ReviewScreen(request, kernel)
        app.push_screen(screen, decisions.append)
        await pilot.pause()
        screen.app.suspend = _no_suspend  # the test driver has no real terminal to give up
        await pilot.press("x")
        await pilot.pause()
    assert decisions[0].action is Action.EDIT
    assert decisions[0].code.endswith("// edited in $EDITOR\n")


class _no_suspend:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.slow
async def test_quit_stops_the_manager(tmp_path):
    app, _ = make_app(tmp_path, [proposal(), coder()], iterations=3)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ReviewScreen))
        await app.action_quit()
    for _ in range(300):  # the manager's thread notices the cancel and records the end
        _, events = session_events(tmp_path)
        if events and events[-1].kind is Kind.SESSION_FINISHED:
            break
        await asyncio.sleep(0.1)
    _, events = session_events(tmp_path)
    assert events[-1].kind is Kind.SESSION_FINISHED and events[-1].data["reason"] == "cancelled"


async def test_a_worker_finishing_as_the_app_closes_is_no_error(tmp_path):
    """The manager's worker reported success while the app was closing (a clean-clone CI
    run): the status line was gone and the handler raised NoMatches."""
    app, _ = make_app(tmp_path, [])
    app.plan.start = False
    async with app.run_test(size=SIZE):
        pass
    app._set_phase("finished")  # after the screens are gone: nothing to update, no error
    assert app.phase == "finished"


@pytest.mark.slow
async def test_new_session_form_runs_the_parameter_path(tmp_path):
    import json

    from textual.widgets import Input, Select

    reply = {"kind": "parameters", "changes": {"kc": 128}, "idea": "a shallower panel"}
    app, backend = make_app(tmp_path, [{"tag": "proposer", "text": json.dumps(reply)}])
    app.plan.start = False
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        await until(pilot, lambda: app.screen.query("#strategy"))
        app.screen.query_one("#strategy", Select).value = "parameters"
        app.screen.query_one("#model", Input).value = "scripted"
        app.screen.query_one("#iterations", Input).value = "1"
        await pilot.click("#start")
        await until(pilot, lambda: isinstance(app.screen, ReviewScreen))
        review = app.screen
        assert isinstance(review, ReviewScreen)
        assert review.request.proposal["title"] == "blis: kc 128"
        assert "template parameters (filled in without a model)" in " ".join(
            str(w.render()) for w in review.query("Static")
        )
        await pilot.press("a")
        await until(pilot, lambda: app.state.finished)
    assert app.plan.spec.strategy == "parameters"
    assert [tag for tag, _ in backend.calls] == ["proposer"]
    _, events = session_events(tmp_path)
    result = [e for e in events if e.kind is Kind.CHECK_RESULT][-1].data
    assert result["template"] == "sgemm/blis" and result["parameters"]["kc"] == 128
