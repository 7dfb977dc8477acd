"""The shipped sessions (sessions/examples/, written by schema version 1) still load, fold,
replay and re-export through the one read model."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from roundtable_tui.cli.headless import print_transcript
from roundtable_tui.core.events import Kind, Outcome, SessionFinished
from roundtable_tui.core.record import load
from roundtable_tui.outputs.export import export

from .conftest import ROOT

SHIPPED = sorted(
    p for p in (ROOT / "sessions" / "examples").iterdir() if (p / "meta.json").exists()
)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_a_shipped_session_loads_replays_and_re_exports(path, tmp_path):
    record = load(path)
    assert all(ev.payload is not None for ev in record.events)  # every payload is typed
    state = record.state
    assert state.seeded and state.finished_iterations > 0
    # the fold agrees with what the writer recorded at the end
    finished = [ev.payload for ev in record.events if ev.kind is Kind.SESSION_FINISHED]
    last = finished[-1]
    assert isinstance(last, SessionFinished)
    best = state.best
    assert best is not None and best.gflops == pytest.approx(last.best_gflops)
    assert all(
        isinstance(e.verdict, Outcome) and e.verdict is not Outcome.UNKNOWN for e in state.entries
    )

    out = io.StringIO()
    print_transcript(Console(file=out, width=120), record.events)
    assert "leaderboard" in out.getvalue() and "proposer" in out.getvalue()

    winner = record.winner
    assert winner is not None and winner.passed
    crate = export(path, tmp_path / "crate").path
    lib = (crate / "src" / "lib.rs").read_text()
    assert record.source_of(winner).strip() in lib


def test_the_formulation_example_has_a_proposal_the_verifier_proved():
    """sessions/examples/formulation-sgemm-embedded (the embedded model, a human's hint
    `kind: formulation …`): the Proposer's scheme is proved, built without a model and
    passes the checker."""
    record = load(ROOT / "sessions" / "examples" / "formulation-sgemm-embedded")
    proved = [
        ev
        for ev in record.events
        if ev.kind is Kind.VERIFICATION and ev.data.get("kind") == "formulation" and ev.data["ok"]
    ]
    assert proved and "verified symbolically" in proved[0].data["detail"]
    it = proved[0].iteration
    (entry,) = [e for e in record.state.entries if e.iteration == it]
    assert entry.kind == "formulation" and entry.passed
    assert "template sgemm/strassen" in entry.code.splitlines()[0]
