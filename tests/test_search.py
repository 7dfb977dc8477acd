"""The search in the loop: the optimizer fills an iteration whose model proposal repeats a
measured set (no veto, no second generation), an optimizer-only run asks no model, the
Proposer is shown the optimizer's candidates and the human's hints, who proposed each set is
recorded, and the best changes only by a confirmation. Real checks at a small shape."""

from __future__ import annotations

import json
import threading

import pytest

from roundtable_tui.core.events import (
    PICKED,
    CheckFinished,
    Confirmed,
    Event,
    HintGiven,
    Kind,
    Proposal,
)
from roundtable_tui.core.hints import HINTS_FILE, Hints
from roundtable_tui.core.manager import Manager, RunConfig
from roundtable_tui.core.review import AutoPolicy
from roundtable_tui.core.session import Session
from roundtable_tui.core.state import SessionState
from roundtable_tui.llm.scripted import ScriptedBackend

from .scripted import SGEMM, SMALL


def said(changes: dict) -> dict:
    return {
        "tag": "proposer",
        "text": json.dumps({"kind": "parameters", "changes": changes, "idea": "retune"}),
    }


def run(
    tmp_path, replies, iterations=1, session=None, hints=None, backend=None, prepare=None, **cfg
):
    """A scripted session; `prepare(manager)` runs before it starts."""
    backend = backend or ScriptedBackend(replies)
    session = session or Session.create(tmp_path, {"problem": "sgemm", "model": "scripted"}, "t")
    events: list[Event] = []
    m = Manager(
        session,
        backend,
        SGEMM,
        AutoPolicy(),
        RunConfig(**{"iterations": iterations, "check": SMALL, "strategy": "parameters", **cfg}),
        on_event=events.append,
        machine={"cores": 2, "simd": "AVX2"},
        hints=hints,
    )
    if prepare is not None:
        prepare(m)
    reason = m.run(threading.Event())
    session.close()
    return m, events, reason, backend


def of(events, kind, iteration=None):
    return [e for e in events if e.kind is kind and (iteration is None or e.iteration == iteration)]


@pytest.mark.slow
def test_a_repeated_set_is_filled_by_the_optimizer_not_vetoed(tmp_path):
    m, events, reason, backend = run(
        tmp_path, [said({"kc": 128}), said({"kc": 128})], iterations=2, confirm_rounds=0
    )
    assert "iteration budget" in reason
    # one generation per iteration: the refusal does not go back to the model
    assert [tag for tag, _ in backend.calls] == ["proposer", "proposer"]
    first, second = (of(events, Kind.PROPOSAL, i)[0].payload for i in (1, 2))
    assert first.proposed_by == "model" and second.proposed_by == "optimizer"
    assert "refused" in second.rationale and "measured in iteration 1" in second.rationale
    assert not [v for v in of(events, Kind.VERIFICATION) if not v.data["ok"]]
    checks = [e.payload for e in of(events, Kind.CHECK_RESULT) if e.iteration]
    assert len(checks) == 2 and checks[0].parameters != checks[1].parameters
    assert [e.proposed_by for e in m.state.entries if e.template] == ["model", "optimizer"]
    # the first prompt showed the optimizer's one candidate then, the defaults; the second
    # asked for a set of the model's own (search both takes turns)
    assert "Optimizer's candidates (pick one as" in backend.calls[0][1][-1].content
    assert "defaults for this machine" in backend.calls[0][1][-1].content
    assert "pick one as" not in backend.calls[1][1][-1].content


@pytest.mark.slow
def test_the_model_picks_a_candidate_and_writes_its_own_set_in_turn(tmp_path):
    """Search both: odd iterations show the optimizer's candidates to pick by number, even
    ones ask for a set of the model's own (shown candidates, the embedded model always
    picked, so its own sets were never tried)."""
    pick = {"tag": "proposer", "text": json.dumps({"candidate": 2})}
    seen: list[dict] = []

    class Watching(ScriptedBackend):
        def complete(self, messages, *args, **kwargs):
            seen.append(kwargs.get("json_schema") or {})
            return super().complete(messages, *args, **kwargs)

    nine = {"tag": "proposer", "text": '{"candidate": 9}'}
    replies = [said({"kc": 128}), said({"mc": 48}), pick, nine]
    shown = []

    def prepare(m):
        real = m._context

        def context(*args, **kwargs):
            got = real(*args, **kwargs)
            shown.append(list(m._shown))
            return got

        m._context = context

    m, events, _, backend = run(
        tmp_path,
        replies,
        iterations=4,
        backend=Watching(replies),
        prepare=prepare,
        confirm_rounds=0,
    )

    def picks(schema):
        return [v for v in schema.get("anyOf", []) if "candidate" in v.get("properties", {})]

    # iteration 2, the model's own turn: no candidate to pick, none in the prompt
    assert shown[1] == [] and picks(seen[1]) == []
    assert "pick one as" not in backend.calls[1][1][-1].content
    assert of(events, Kind.PROPOSAL, 2)[0].payload.proposed_by == "model"
    # iteration 3: the second candidate shown, as the optimizer made it, marked as picked
    third = of(events, Kind.PROPOSAL, 3)[0].payload
    assert third.candidate == 2 and third.proposed_by == PICKED
    assert dict(third.parameters) == dict(shown[2][1].parameters)
    check = [e.payload for e in of(events, Kind.CHECK_RESULT, 3)][0]
    assert dict(check.parameters) == dict(shown[2][1].parameters)
    # the numbers shown are the numbers the schema allows, and the prompt numbers them
    assert picks(seen[2])[0]["properties"]["candidate"]["enum"] == [1, 2, 3]
    assert "2: " in backend.calls[2][1][-1].content
    # a number with no candidate shown (a backend without the grammar) is refused, not
    # guessed: the optimizer's first candidate fills the iteration (search both)
    fourth = of(events, Kind.PROPOSAL, 4)[0].payload
    assert fourth.proposed_by == "optimizer" and "no optimizer's candidate 9" in fourth.rationale
    by = [e.proposed_by for e in m.state.entries if e.template]
    assert by == ["model", "model", PICKED, "optimizer"]


class GrowingMemory:
    """A knowledge base whose answer changes with every attempt recorded (as past attempts
    join the notes)."""

    def __init__(self) -> None:
        self.attempts = 0

    def context(self, problem, query, budget_tokens):
        return [{"id": "p", "text": "pack B into panels"}] + [
            {"id": f"a{i}", "text": f"past attempt {i}"} for i in range(self.attempts)
        ]

    def record(self, attempt):
        self.attempts += 1


@pytest.mark.slow
def test_the_prompt_prefix_holds_while_the_knowledge_base_grows(tmp_path):
    backend = ScriptedBackend([said({"kc": 128}), said({"mc": 48})])
    session = Session.create(tmp_path, {"problem": "sgemm", "model": "scripted"}, "t")
    memory = GrowingMemory()
    m = Manager(
        session,
        backend,
        SGEMM,
        AutoPolicy(),
        RunConfig(iterations=2, check=SMALL, strategy="parameters", confirm_rounds=0),
        machine={"cores": 2, "simd": "AVX2"},
        knowledge=memory,
    )
    m.run(threading.Event())
    session.close()
    assert memory.attempts >= 2  # the base grew between the two prompts
    first, second = (call[1][-1].content for call in backend.calls)
    # the same notes both times, and the second prompt extends the first up to its sets
    notes = first.split("\n\n")[0]
    assert "pack B into panels" in notes and notes == second.split("\n\n")[0]
    head = first[: first.index("Current best")]
    assert second.startswith(head) and "Parameter sets measured" in second[len(head) :]


@pytest.mark.slow
def test_a_model_only_set_given_on_the_second_try_is_still_the_models(tmp_path):
    m, events, _, backend = run(
        tmp_path,
        [said({"kc": 128}), said({"kc": 128}), said({"mc": 48})],
        iterations=2,
        search="model",
        confirm_rounds=0,
    )
    # iteration 2 repeated iteration 1's set, went back once and got a new one
    assert [tag for tag, _ in backend.calls] == ["proposer"] * 3
    second = of(events, Kind.PROPOSAL, 2)[0].payload
    assert second.changes == {"mc": 48} and second.proposed_by == "model"
    assert [e.proposed_by for e in m.state.entries if e.template] == ["model", "model"]


@pytest.mark.slow
def test_an_optimizer_only_run_asks_no_model(tmp_path):
    m, events, reason, backend = run(
        tmp_path, [], iterations=2, search="optimizer", confirm_rounds=0
    )
    assert "iteration budget" in reason and backend.calls == []
    proposals = [e.payload for e in of(events, Kind.PROPOSAL) if e.iteration]
    assert [p.proposed_by for p in proposals] == ["optimizer", "optimizer"]
    assert all(p.idea for p in proposals)  # the optimizer's reason
    params = [e.payload.parameters for e in of(events, Kind.CHECK_RESULT) if e.iteration]
    assert len(params) == 2 and params[0] != params[1]


@pytest.mark.slow
def test_hints_from_the_file_reach_the_prompt_once_and_survive_a_resume(tmp_path):
    session = Session.create(tmp_path, {"problem": "sgemm", "model": "scripted"}, "t")
    (session.path / HINTS_FILE).write_text("try 4x24 tiles\n")
    typed = Hints()
    typed.put("stop tuning kc")
    m, events, _, backend = run(
        tmp_path, [said({"mc": 48})], session=session, hints=typed, confirm_rounds=0
    )
    got = [e.payload for e in of(events, Kind.HINT)]
    assert got == [HintGiven("stop tuning kc", "tui", 0), HintGiven("try 4x24 tiles", "file", 1)]
    prompt = backend.calls[0][1][-1].content
    assert "Hints from the human" in prompt and "try 4x24 tiles" in prompt
    # a resume does not record the file's line again, but the prompt still shows it
    reopened = Session.open(session.path)
    m2, events2, _, backend2 = run(
        tmp_path, [said({"mc": 64})], iterations=2, session=reopened, confirm_rounds=0
    )
    assert of(events2, Kind.HINT) == []
    assert "try 4x24 tiles" in backend2.calls[0][1][-1].content
    assert m2.state.hints == ["stop tuning kc", "try 4x24 tiles"]


@pytest.mark.slow
def test_the_best_changes_only_by_confirmation(tmp_path, monkeypatch):
    from roundtable_tui.core import manager
    from roundtable_tui.kernels import confirm

    # every kernel is compared in rounds (whatever the machine's speeds are today)
    monkeypatch.setattr(manager, "CLEAR_MARGIN", float("inf"))
    monkeypatch.setattr(confirm, "WORTH_MARGIN", 1.0)
    m, events, _, _ = run(
        tmp_path, [said({"kc": 128}), said({"kc": 136})], iterations=2, confirm_rounds=2
    )
    confirmations = [e.payload for e in of(events, Kind.CONFIRMATION)]
    assert [c.number for c in confirmations] == [0, 1, 2]
    # the seed is the first best, with nothing to compare it with
    assert confirmations[0].faster and confirmations[0].against is None
    best = 0
    for c in confirmations[1:]:
        assert c.against == best and len(c.ratios) == c.rounds
        # one round is enough when the candidate was not faster in it (two would not do)
        assert c.rounds == 2 or (c.rounds == 1 and c.ratios[0] <= 1.0)
        assert c.outcome in ("faster", "within noise", "slower")
        assert c.low is None or c.low <= c.ratio <= c.high
        if c.faster:
            assert c.low > 1.0
            best = c.number
    assert m.state.best.number == best
    improved = [e.payload.improved for e in of(events, Kind.ITERATION_FINISHED) if e.iteration]
    assert improved == [c.faster for c in confirmations[1:]]


@pytest.mark.slow
def test_a_best_known_by_one_check_is_compared_in_rounds(tmp_path, monkeypatch):
    """A best whose figure is its first check alone is no bar to turn a candidate away
    unseen (a lucky check did that to the defaults); once rounds timed it beside OpenBLAS,
    a candidate clearly slower than that confirmed figure gets no rounds."""
    from dataclasses import replace

    from roundtable_tui.core import manager
    from roundtable_tui.kernels import confirm

    monkeypatch.setattr(manager, "CLEAR_MARGIN", float("inf"))
    monkeypatch.setattr(confirm, "worth_confirming", lambda mine, best: False)
    m, events, _, _ = run(
        tmp_path,
        [said({"kc": 128}), said({"kc": 136})],
        iterations=2,
        confirm_rounds=2,
        check=replace(SMALL, anchor=True),
    )
    first, second = [e.payload for e in of(events, Kind.CONFIRMATION) if e.iteration]
    assert first.rounds >= 1 and first.best_fraction is not None
    assert m.state.confirmed_fraction(first.against) is not None
    assert second.rounds == 0 and second.outcome == "slower"
    assert "confirmed" in second.detail


def test_the_fold_takes_the_confirmed_best_not_the_highest_figure():
    def check(number, gflops):
        return Event.of(
            CheckFinished(
                number=number,
                verdict="passed",
                gflops=gflops,
                template="sgemm/blis",
                parameters={"kc": number},
            ),
            iteration=number,
        )

    events = [
        Event.of(Proposal("a", "parameters", proposed_by="optimizer"), iteration=1),
        check(1, 40.0),
        Event.of(Confirmed(1, None, "faster"), iteration=1),
        check(2, 44.0),  # a higher single figure...
        Event.of(
            Confirmed(2, 1, "within noise", ratio=1.04, low=0.9, high=1.2, rounds=4), iteration=2
        ),  # ...that did not survive the comparison
    ]
    s = SessionState.of(events)
    assert s.best.number == 1
    assert s.confirmed_fraction(1) is None  # no rounds beside OpenBLAS yet
    assert s.entries[0].proposed_by == "optimizer"
    assert s.entries[1].confirmation.interval() == "1.04x [0.90, 1.20]"
    # a session recorded before confirmations keeps the old rule
    assert SessionState.of([check(1, 40.0), check(2, 44.0)]).best.number == 2
    # every confirmation that timed OpenBLAS adds to both kernels' confirmed figures
    rounds = dict(ratio=1.0, low=0.9, high=1.1, rounds=4)
    more = [
        Event.of(
            Confirmed(2, 1, "within noise", candidate_fraction=0.8, best_fraction=0.7, **rounds),
            iteration=2,
        ),
        Event.of(
            Confirmed(3, 1, "slower", candidate_fraction=0.5, best_fraction=0.74, **rounds),
            iteration=3,
        ),
    ]
    s = SessionState.of(events[:3] + more)
    assert s.confirmed_fraction(1) == pytest.approx(0.72)
    assert s.confirmed_fraction(2) == pytest.approx(0.8)
