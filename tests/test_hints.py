"""Hints from a human: typed ones queue from any thread, the session's hints file is read
from where the last read stopped (whole lines only), and a resume skips the lines already
recorded as events."""

from __future__ import annotations

import threading

from roundtable_tui.core.hints import HINTS_FILE, Hint, Hints, file_lines_recorded, prompt_lines


def test_typed_hints_are_cleaned_and_drained_once():
    h = Hints()
    assert h.put("  try 6x16\n tiles ")
    assert not h.put("   ")
    assert h.drain() == [Hint("try 6x16 tiles", "tui")]
    assert h.drain() == []


def test_typed_hints_from_many_threads_all_arrive():
    h = Hints()
    threads = [threading.Thread(target=h.put, args=(f"hint {i}",)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(x.text for x in h.drain()) == sorted(f"hint {i}" for i in range(20))


def test_the_hints_file_is_read_incrementally_by_whole_lines(tmp_path):
    h = Hints(tmp_path)
    assert h.drain() == []  # no file yet
    path = tmp_path / HINTS_FILE
    path.write_text("try 6x16 tiles\n# a comment\n\nstop tuning kc\nhalf a li")
    got = h.drain()
    assert got == [Hint("try 6x16 tiles", "file", 1), Hint("stop tuning kc", "file", 4)]
    assert h.drain() == []
    path.write_text(path.read_text() + "ne\n")
    assert h.drain() == [Hint("half a line", "file", 5)]


def test_a_resume_skips_the_lines_its_events_recorded(tmp_path):
    (tmp_path / HINTS_FILE).write_text("one\ntwo\nthree\n")
    events = [
        {"text": "one", "source": "file", "line": 1},
        {"text": "x", "source": "tui"},
        {"text": "two", "source": "file", "line": 2},
    ]
    assert file_lines_recorded(events) == 2
    assert [x.text for x in Hints(tmp_path, file_lines_recorded(events)).drain()] == ["three"]


def test_long_hints_are_cut_and_the_prompt_shows_the_latest():
    h = Hints()
    h.put("x" * 1000)
    assert len(h.drain()[0].text) == 300
    assert prompt_lines(["a", "b", "", "c", "d"]) == ["b", "c", "d"]


def test_a_hint_that_names_a_kind_narrows_the_next_proposal_to_it():
    """`kind: formulation` in a hint: the Proposer's schema offers only that kind (a small
    model otherwise writes the first kind its grammar offers, whatever the hint says)."""
    from types import SimpleNamespace

    from roundtable_tui.core.agents import Proposer
    from roundtable_tui.core.hints import pinned_kind
    from roundtable_tui.core.prompts import kind_schema
    from roundtable_tui.kernels import problems, templates

    assert pinned_kind(["try 6x16 tiles"]) is None
    assert pinned_kind(["Kind: Formulation, Strassen one level", "go on"]) == "formulation"
    assert pinned_kind(['kind "code": unroll rank1', "kind parameters"]) == "parameters"

    asked = []

    class Talk:
        def __call__(self, history, cancel, max_tokens, json_schema):
            asked.append((max_tokens, json_schema))
            return SimpleNamespace(
                text='{"kind": "formulation", "idea": "Strassen", '
                '"formulation": {"use": "strassen"}}'
            )

        def emit(self, _event):
            pass

    family = templates.family("sgemm/blis")
    proposer = Proposer(None, problems.get("sgemm"), {"cores": 2}, family, "mixed")
    context = dict(best="naive", leaderboard=[], failures=[], feedback=[], knowledge=[])
    p = proposer.propose(Talk(), None, {**context, "kind": "formulation"})
    assert p.kind == "formulation"
    assert asked[-1][1] == kind_schema(proposer.schema, "formulation")
    assert asked[-1][0] == Proposer.MAX_TOKENS_TEMPLATE
    proposer.propose(Talk(), None, {**context, "kind": None})
    assert asked[-1][1] == proposer.schema and "anyOf" in proposer.schema
