"""The manager with a scripted model: the order of the table, the review gate, repairs,
malformed model output, budgets, cancellation and resume. Real checks, real builds."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from roundtable_tui.core import formulation
from roundtable_tui.core.events import Agent, Event, Kind
from roundtable_tui.core.manager import Manager, RunConfig
from roundtable_tui.core.review import Action, AutoPolicy, ReviewDecision
from roundtable_tui.core.session import Session
from roundtable_tui.llm.scripted import ScriptedBackend

from .scripted import NAIVE, SGEMM, SMALL, fenced, proposal

DATA = Path(__file__).parent / "data"
RECORDED = DATA / "recorded_small_sgemm.jsonl"


def coder(text):
    return {"tag": "coder", "text": text}


class Gate:
    """A scripted reviewer: answers from a list, approving once the list is spent."""

    def __init__(self, *answers: ReviewDecision) -> None:
        self.answers = list(answers)
        self.requests = []

    def review(self, request, cancel):
        self.requests.append(request)
        return self.answers.pop(0) if self.answers else ReviewDecision(Action.APPROVE)


def run(tmp_path, replies, gate=None, iterations=1, on_event=None, session=None, **cfg):
    backend = replies if isinstance(replies, ScriptedBackend) else ScriptedBackend(replies)
    session = session or Session.create(tmp_path, {"problem": "sgemm", "model": "scripted"}, "t")
    events: list[Event] = []

    def sink(ev: Event) -> None:
        events.append(ev)
        if on_event:
            on_event(ev)

    m = Manager(
        session,
        backend,
        SGEMM,
        gate or AutoPolicy(),
        RunConfig(iterations=iterations, check=SMALL, **cfg),
        on_event=sink,
        machine={"cores": 2, "simd": "AVX-512"},
    )
    cancel = threading.Event()
    m._cancel = cancel  # for tests that cancel from an event
    reason = m.run(cancel)
    session.close()
    return m, events, reason, backend


def kinds(events, kind):
    return [e for e in events if e.kind is kind]


@pytest.mark.slow
def test_recorded_model_run_keeps_the_order_of_the_table(tmp_path):
    backend = ScriptedBackend.from_file(RECORDED)
    m, events, reason, _ = run(tmp_path, backend, iterations=2)
    assert "iteration budget" in reason
    for it in (1, 2):
        order = [e.agent for e in events if e.iteration == it and e.kind is Kind.AGENT_STARTED]
        firsts = list(dict.fromkeys(order))
        assert firsts[:3] == [Agent.PROPOSER, Agent.VERIFIER, Agent.CODER], firsts
        reviews = [e for e in events if e.iteration == it and e.kind is Kind.REVIEW]
        assert reviews, "every kernel goes to review"
        for check in (e for e in events if e.iteration == it and e.kind is Kind.CHECK_RESULT):
            approved = [
                r
                for r in reviews
                if r.data["number"] == check.data["number"]
                and r.data["action"] in ("approve", "edit")
            ]
            assert approved and events.index(approved[0]) < events.index(check)
    numbers = {e.data["number"] for e in kinds(events, Kind.KERNEL)}
    for n in numbers:
        assert (tmp_path / "t" / "kernels" / f"{n:03d}.rs").exists()
    assert {e.agent for e in kinds(events, Kind.MESSAGE)} >= {
        Agent.PROPOSER,
        Agent.CODER,
        Agent.MANAGER,
    }
    recorded = [e for e in Session.open(tmp_path / "t").events()]
    assert not any(e.kind is Kind.TOKEN for e in recorded), "tokens are live-only"
    assert recorded[-1].kind is Kind.SESSION_FINISHED


@pytest.mark.slow
def test_reject_reason_reaches_the_next_proposal(tmp_path):
    gate = Gate(ReviewDecision(Action.REJECT, reason="split the rows with par_chunks_mut instead"))
    replies = [
        proposal("Transpose B"),
        coder(fenced(NAIVE)),
        proposal("Rayon rows"),
        coder(fenced(NAIVE)),
    ]
    m, events, reason, backend = run(tmp_path, replies, gate, iterations=2)
    prompts = [msgs[-1].content for tag, msgs in backend.calls if tag == "proposer"]
    assert "par_chunks_mut instead" not in prompts[0]
    assert "par_chunks_mut instead" in prompts[1]
    coder_prompts = [msgs[-1].content for tag, msgs in backend.calls if tag == "coder"]
    assert "par_chunks_mut instead" in coder_prompts[1]
    assert [e.data["action"] for e in kinds(events, Kind.REVIEW)] == ["reject", "approve"]
    assert len(kinds(events, Kind.CHECK_RESULT)) == 2  # the seed and the approved kernel


@pytest.mark.slow
def test_the_edited_kernel_is_the_one_checked(tmp_path):
    edited = NAIVE + "\n// edited by the reviewer\n"
    gate = Gate(ReviewDecision(Action.EDIT, code=edited))
    m, events, _, _ = run(tmp_path, [proposal(), coder(fenced(NAIVE))], gate)
    result = kinds(events, Kind.CHECK_RESULT)[-1].data
    assert result["kernel_sha256"] == hashlib.sha256(edited.encode()).hexdigest()
    assert (tmp_path / "t" / "kernels" / "001.rs").read_text() == edited
    assert result["verdict"] == "passed"


@pytest.mark.slow
def test_malformed_proposals_are_retried_then_reported(tmp_path):
    replies = [
        {"tag": "proposer", "text": "I think we should tile the loops for the cache."},
        {"tag": "proposer", "text": '{"title": "Tile", "kind": "code", "idea": "tile the lo'},
        proposal("Rayon rows"),
        coder(fenced(NAIVE)),
    ]
    m, events, reason, _ = run(tmp_path, replies, iterations=2)
    finished = kinds(events, Kind.ITERATION_FINISHED)
    assert finished[1].data["verdict"] == "no_proposal"
    assert finished[2].data["verdict"] == "passed"
    errors = [e.data["message"] for e in kinds(events, Kind.ERROR) if e.agent is Agent.PROPOSER]
    assert any("not JSON" in msg for msg in errors)
    assert any("truncated" in msg for msg in errors)


@pytest.mark.slow
def test_missing_code_and_wrong_signature_go_back_to_the_coder(tmp_path):
    wrong = "pub fn sgemm(a: &[f32], b: &[f32], c: &mut [f32]) { c[0] = a[0] * b[0]; }\n"
    replies = [
        proposal(),
        coder("You should use rayon. It is fast."),
        coder(fenced(wrong)),
        coder(fenced(NAIVE)),
    ]
    # the whole-file Coder's messages (the edit path's own are in test_edit_path.py)
    m, events, reason, backend = run(tmp_path, replies, repairs=2, edits=False)
    repairs = [msgs[-1].content for tag, msgs in backend.calls if tag == "coder"][1:]
    assert "no ```rust block" in repairs[0]
    assert "wrong signature" in repairs[1]
    assert kinds(events, Kind.ITERATION_FINISHED)[-1].data["verdict"] == "passed"


@pytest.mark.slow
def test_build_errors_go_back_with_the_compiler_message(tmp_path):
    broken = NAIVE.replace("c_row.fill(0.0);", "c_row.fill(0);")
    replies = [proposal(), coder(fenced(broken)), coder(fenced(NAIVE))]
    m, events, reason, backend = run(tmp_path, replies)
    verdicts = [e.data["verdict"] for e in kinds(events, Kind.CHECK_RESULT)]
    assert verdicts == ["passed", "build_failed", "passed"]
    repair = [msgs[-1].content for tag, msgs in backend.calls if tag == "coder"][1]
    assert "build_failed" in repair and "error[E" in repair


@pytest.mark.slow
def test_repairs_are_bounded(tmp_path):
    broken = NAIVE.replace("c_row.fill(0.0);", "c_row.fill(0);")
    replies = [proposal()] + [coder(fenced(broken))] * 2
    m, events, reason, _ = run(tmp_path, replies, repairs=1)
    assert len(kinds(events, Kind.CHECK_RESULT)) == 1 + 2
    assert kinds(events, Kind.ITERATION_FINISHED)[-1].data["verdict"] == "build_failed"


@pytest.mark.slow
def test_a_wrong_formulation_is_vetoed_before_any_code(tmp_path):
    scheme = formulation.strassen()
    first = scheme["products"][0]
    first["b"] = first["b"].replace("+", "-", 1)
    replies = [proposal("Strassen", kind="formulation", formulation=scheme)]
    m, events, reason, backend = run(tmp_path, replies)
    veto = kinds(events, Kind.VERIFICATION)[-1].data
    assert veto["ok"] is False and veto["failing_entry"]
    assert not [c for c in backend.calls if c[0] == "coder"]
    assert kinds(events, Kind.ITERATION_FINISHED)[-1].data["verdict"] == "vetoed"


def test_a_correct_formulation_passes_the_verifier():
    from roundtable_tui.core.agents import Verifier

    ok = Verifier().check_proposal({"kind": "formulation", "formulation": formulation.winograd()})
    assert ok.ok, ok


@pytest.mark.slow
def test_patience_stops_a_search_that_does_not_improve(tmp_path):
    broken = NAIVE.replace("c_row.fill(0.0);", "c_row.fill(0);")
    replies = [proposal(), coder(fenced(broken)), proposal("again"), coder(fenced(broken))]
    m, events, reason, _ = run(tmp_path, replies, iterations=5, patience=2, repairs=0)
    assert reason == "no improvement in 2 iterations"
    assert m.state.finished_iterations == 2


@pytest.mark.slow
def test_token_budget(tmp_path):
    replies = [dict(proposal(), prompt_tokens=5000, completion_tokens=100), coder(fenced(NAIVE))]
    m, events, reason, _ = run(tmp_path, replies, iterations=5, max_tokens=1000)
    assert "token budget" in reason


def test_cancel_during_generation_stops_cleanly(tmp_path):
    holder = {}

    def on_event(ev):
        if ev.kind is Kind.TOKEN and ev.agent is Agent.CODER:
            holder["m"]._cancel.set()

    replies = [proposal(), coder(fenced(NAIVE))]
    backend = ScriptedBackend(replies)
    session = Session.create(tmp_path, {"problem": "sgemm"}, "t")
    events = []
    m = Manager(
        session,
        backend,
        SGEMM,
        AutoPolicy(),
        RunConfig(iterations=3, check=SMALL),
        on_event=lambda e: (events.append(e), on_event(e)),
        machine={"cores": 2, "simd": "AVX-512"},
    )
    holder["m"] = m
    m._cancel = threading.Event()
    assert m.run(m._cancel) == "cancelled"
    session.close()
    recorded = Session.open(tmp_path / "t").events()
    assert recorded[-1].kind is Kind.SESSION_FINISHED
    assert recorded[-1].data["reason"] == "cancelled"
    assert not kinds(recorded, Kind.KERNEL)[1:], "no kernel after the cancel"


@pytest.mark.slow
def test_resume_continues_where_it_stopped(tmp_path):
    replies = [proposal("one"), coder(fenced(NAIVE)), proposal("two"), coder(fenced(NAIVE))]
    backend = ScriptedBackend(replies)
    run(tmp_path, backend, iterations=1)
    session = Session.open(tmp_path / "t")
    m, events, reason, _ = run(tmp_path, backend, iterations=2, session=session)
    assert kinds(events, Kind.SESSION_RESUMED)
    assert [e.iteration for e in kinds(events, Kind.ITERATION_STARTED)] == [2]
    assert m.state.finished_iterations == 2
    assert len([e for e in m.state.entries if e.number == 0]) == 1, "the seed is not re-run"


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("Sure! I propose tiling.", "not JSON"),
        ('{"title": "Tile", "idea": "tile the lo', "truncated"),
        ('{"title": "Tile", "idea": }', "malformed JSON"),
        ('{"title": "", "idea": " "}', "lacks a title"),
        ("[1, 2]", "not JSON"),
    ],
)
def test_parse_proposal_errors(text, fragment):
    from roundtable_tui.core.agents import AgentError, parse_proposal

    with pytest.raises(AgentError, match=fragment):
        parse_proposal(text)


def test_a_code_proposal_in_the_template_schema_is_named_by_its_idea():
    # the mixed strategy's template schema asks no title (fewer tokens), also for kind code
    from roundtable_tui.core.agents import parse_proposal
    from roundtable_tui.core.prompts import proposal_schema
    from roundtable_tui.kernels import templates

    family = templates.family("sgemm/blis")
    assert all("title" not in v["properties"] for v in proposal_schema(family, "mixed")["anyOf"])
    reply = '{"kind": "code", "changes": {}, "region": "micro_kernel", '
    reply += '"idea": "Unroll k by 4 with two accumulator sets. It hides FMA latency."}'
    p = parse_proposal(reply)
    assert p.kind == "code" and p.title == "Unroll k by 4 with two accumulator sets"


def test_a_candidate_is_picked_only_by_a_whole_number():
    # {"candidate": N} names the optimizer's candidate N; true, a string or a set written out
    # beside it are not picks (a bool is an int in Python)
    from roundtable_tui.core.agents import AgentError, parse_proposal

    assert parse_proposal('{"candidate": 3}').candidate == 3
    with pytest.raises(AgentError):
        parse_proposal('{"candidate": true}')
    with pytest.raises(AgentError):
        parse_proposal('{"candidate": "2"}')
    own = parse_proposal(
        '{"kind": "parameters", "candidate": 1, "changes": {"kc": 128}, "idea": "x"}'
    )
    assert own.candidate is None and own.changes == {"kc": 128}


def test_a_proposal_cut_at_the_token_limit_keeps_its_whole_members():
    # the small model's reply in a real run: a long formulation cut off at the token limit
    from roundtable_tui.core.agents import AgentError, parse_proposal

    reply = (
        '{"kind": "parameters", "changes": {"mr": 6, "nr": 16}, "idea": "a 6x16 tile, '
        'then \\"pack\\", {B}", "formulation": {"blocks": [2, 2, 2], "products": '
        '[{"name": "M1", "a": "A11 + A22", "b": "B1'
    )
    p = parse_proposal(reply)
    assert (p.kind, p.changes, p.formulation) == ("parameters", {"mr": 6, "nr": 16}, None)
    assert p.idea == 'a 6x16 tile, then "pack", {B}'
    # the embedded model's idea ran on to the token limit (a real reply, shortened): the
    # set stands, the idea is kept as far as it went
    rambling = (
        '{"kind": "parameters", "changes": {"kc": 256, "mc": 96}, "idea": "Increasing the '
        'register tile size to 2x32 (mr=2, nr=32) and the \\"packed\\" A block to 64 can '
        "improve the performance by reducing the number of ymm registers needed for the pa"
    )
    p = parse_proposal(rambling)
    assert (p.kind, p.changes) == ("parameters", {"kc": 256, "mc": 96})
    assert p.idea.startswith("Increasing the register tile") and p.idea.endswith("for the pa…")
    assert '"packed"' in p.idea
    # cut right after an escape's backslash: the lone backslash is dropped
    assert parse_proposal(rambling[:-3] + "\\").idea.endswith("for the…")
    # a whole set written out, cut before the idea or inside the set: its whole members
    # stand (a cut value is no setting)
    whole = '{"kind": "parameters", "changes": {"mr": 2, "nr": 32, "kc": 256}, "ide'
    p = parse_proposal(whole)
    assert p.changes == {"mr": 2, "nr": 32, "kc": 256} and "before its idea" in p.idea
    inside = '{"kind": "parameters", "changes": {"mr": 2, "nr": 32, "parallel": "spl'
    assert parse_proposal(inside).changes == {"mr": 2, "nr": 32}
    with pytest.raises(AgentError):  # a code proposal is its idea: none, no proposal
        parse_proposal('{"kind": "code", "region": "threading", "ide')


def test_a_formulation_under_another_kind_is_a_formulation():
    """The embedded model wrote `"kind": "parameters"` beside `{"use": "strassen"}`: the
    scheme was silently dropped and its blis set measured instead."""
    from roundtable_tui.core.agents import parse_proposal

    scheme = '"formulation": {"use": "strassen", "levels": 1, "cutoff": 1024}'
    p = parse_proposal(
        '{"kind": "parameters", "idea": "Strassen one level above 1024", "changes": {"mc": 64},'
        f" {scheme}}}"
    )
    assert p.kind == "formulation" and p.title == "formulation"
    assert p.formulation == {"use": "strassen", "levels": 1, "cutoff": 1024}
    # nothing but the scheme: a formulation too
    assert parse_proposal(f'{{"kind": "parameters", "idea": "faster", {scheme}}}').kind == (
        "formulation"
    )
    # a tile change with a scheme attached (the embedded model fills every field it is
    # offered): the parameters the idea speaks of; the Manager says the scheme is unused
    tiles = parse_proposal(
        '{"kind": "parameters", "idea": "a 2x32 tile fits 16 registers",'
        f' "changes": {{"mr": 2, "nr": 32}}, {scheme}}}'
    )
    assert tiles.kind == "parameters" and tiles.changes == {"mr": 2, "nr": 32}
    assert parse_proposal('{"kind": "parameters", "idea": "x", "formulation": {}}').kind == (
        "parameters"
    )


def test_parse_proposal_tolerates_prose_around_json_and_unknown_kinds():
    from roundtable_tui.core.agents import parse_proposal

    p = parse_proposal('Here: {"title": "Tile", "idea": "tile by 64", "kind": "magic"} done')
    assert p.title == "Tile" and p.kind == "code" and p.parameters == {}


@pytest.mark.parametrize(
    "text,expect",
    [
        ("```rust\npub fn sgemm(m: usize) {}\n```", "pub fn sgemm(m: usize) {}\n"),
        (
            "Text\n```\nfn helper() {}\n```\n```rs\nuse x;\npub fn sgemm() {}\n```",
            "use x;\npub fn sgemm() {}\n",
        ),
        (
            "```rust\nuse rayon::prelude::*;\npub fn sgemm() {\n    let x = 1;",
            "use rayon::prelude::*;\npub fn sgemm() {\n    let x = 1;\n",
        ),
        (
            "Here it is:\nuse std::cmp;\npub fn sgemm() {}\nHope it helps",
            "use std::cmp;\npub fn sgemm() {}\nHope it helps\n",
        ),
        ("No code at all.", None),
        ("```rust\nfn other() {}\n```", None),
    ],
)
def test_extract_code(text, expect):
    from roundtable_tui.core.agents import extract_code

    assert extract_code(text, "sgemm") == expect


def test_the_proposer_prompt_keeps_its_prefix_while_the_best_stands():
    """llama.cpp reuses the prompt prefix it has processed: the next iteration's prompt
    repeats the last one up to the end of its measured sets, even when the best changed,
    and only what follows (the best, candidates, hints, the closing line) is new."""
    from roundtable_tui.core.prompts import proposer_messages
    from roundtable_tui.kernels import problems, templates

    family = templates.family("sgemm/blis")
    base = dict(
        best="'blis: kc 256' at 80.0 GFLOPS",
        leaderboard=[],
        failures=[],
        feedback=[],
        knowledge=["pack B into KC x NC panels", "a 6x16 tile fits 16 ymm registers"],
        family=family,
        best_parameters="mr=6 nr=16 kc=256",
        regions=["threading (12)", "micro_kernel.rank1 (5)"],
    )
    first = proposer_messages(
        problems.get("sgemm"), {}, **base, tried=["kc=256 -> 80.0 GFLOPS"], candidates=["mc=64"]
    )[1][1]
    base["best"] = "'blis: mc 64' at 90.1 GFLOPS"
    second = proposer_messages(
        problems.get("sgemm"),
        {},
        **base,
        tried=["kc=256 -> 80.0 GFLOPS", "mc=64 -> 90.1 GFLOPS"],
        candidates=["nc=2048"],
        hints=["try 4x24 tiles"],
    )[1][1]
    kept = first[: first.index("kc=256 -> 80.0 GFLOPS") + len("kc=256 -> 80.0 GFLOPS")]
    assert second.startswith(kept)
    assert kept.startswith("Notes from papers") and "Current best" not in kept
    assert second.index("mc=64 -> 90.1") < second.index("Current best") < second.index("try 4x")
