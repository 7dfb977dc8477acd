"""Sessions on disk: durable appends, torn-line repair, clear errors for bad files."""

from __future__ import annotations

import json

import pytest

from roundtable_tui.core.events import SCHEMA_VERSION, Agent, Event, Kind
from roundtable_tui.core.record import summarize
from roundtable_tui.core.session import (
    Session,
    SessionError,
    find,
    list_sessions,
    read_events,
)


def make(tmp_path, n=3):
    s = Session.create(tmp_path, {"problem": "sgemm", "model": "small"}, "s1")
    for i in range(n):
        s.append(Event(Kind.MESSAGE, {"text": f"hello {i}"}, Agent.PROPOSER, i))
    return s


def test_events_round_trip_with_sequence_numbers(tmp_path):
    s = make(tmp_path)
    s.close()
    events = Session.open(tmp_path / "s1").events()
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[1].data == {"text": "hello 1"} and events[1].agent is Agent.PROPOSER
    meta = json.loads((tmp_path / "s1" / "meta.json").read_text())
    assert meta["schema_version"] == SCHEMA_VERSION and meta["problem"] == "sgemm"


def test_reopening_continues_the_sequence(tmp_path):
    make(tmp_path).close()
    s = Session.open(tmp_path / "s1")
    assert s.append(Event(Kind.MESSAGE, {"text": "x"})).seq == 4


def test_torn_last_line_is_repaired_and_kept_aside(tmp_path):
    make(tmp_path).close()
    log = tmp_path / "s1" / "events.jsonl"
    with open(log, "ab") as f:
        f.write(b'{"v": 1, "seq": 4, "kind": "mess')  # a write cut by kill -9
    assert len(list(read_events(tmp_path / "s1"))) == 3  # readable without repair
    s = Session.open(tmp_path / "s1")
    assert log.read_bytes().endswith(b"\n")
    assert b'"seq": 4' in (tmp_path / "s1" / "events.jsonl.torn").read_bytes()
    assert s.append(Event(Kind.MESSAGE, {"text": "after"})).seq == 4
    assert [e.seq for e in s.events()] == [1, 2, 3, 4]


def test_corrupt_line_names_file_and_line(tmp_path):
    make(tmp_path).close()
    log = tmp_path / "s1" / "events.jsonl"
    lines = log.read_text().splitlines()
    lines[1] = "this is not json"
    log.write_text("\n".join(lines) + "\n")
    with pytest.raises(SessionError, match=r"events\.jsonl:2: not a valid event"):
        list(read_events(tmp_path / "s1"))


def test_newer_schema_is_refused_clearly(tmp_path):
    make(tmp_path).close()
    meta = tmp_path / "s1" / "meta.json"
    data = json.loads(meta.read_text())
    data["schema_version"] = SCHEMA_VERSION + 1
    meta.write_text(json.dumps(data))
    with pytest.raises(SessionError, match="meta.json: schema version"):
        Session.open(tmp_path / "s1")
    data["schema_version"] = SCHEMA_VERSION
    meta.write_text(json.dumps(data))
    log = tmp_path / "s1" / "events.jsonl"
    log.write_text(log.read_text() + json.dumps({"v": 99, "kind": "message"}) + "\n")
    with pytest.raises(SessionError, match=r"events\.jsonl:4: event schema version 99"):
        list(read_events(tmp_path / "s1"))


def test_unreadable_meta_is_a_clear_error(tmp_path):
    make(tmp_path).close()
    (tmp_path / "s1" / "meta.json").write_text("{broken")
    with pytest.raises(SessionError, match="meta.json: not valid JSON"):
        Session.open(tmp_path / "s1")
    with pytest.raises(SessionError, match="no session"):
        Session.open(tmp_path / "nope")


def test_find_by_id_prefix_and_examples(tmp_path):
    make(tmp_path).close()
    Session.create(tmp_path / "examples", {"problem": "sgemm"}, "demo-1").close()
    assert find(tmp_path, "s1") == tmp_path / "s1"
    assert find(tmp_path, "demo") == tmp_path / "examples" / "demo-1"
    with pytest.raises(SessionError, match="no session"):
        find(tmp_path, "zzz")
    assert [p.name for p in list_sessions(tmp_path)] == ["demo-1", "s1"]


def test_summary_reports_the_best_passed_kernel(tmp_path):
    s = make(tmp_path, 0)
    s.append(Event(Kind.CHECK_RESULT, {"verdict": "passed", "gflops": 10.0, "title": "a"}))
    s.append(Event(Kind.CHECK_RESULT, {"verdict": "impossible", "gflops": 900.0, "title": "b"}))
    s.append(Event(Kind.CHECK_RESULT, {"verdict": "passed", "gflops": 20.0, "title": "c"}))
    s.append(Event(Kind.ITERATION_FINISHED, {}, iteration=2))
    sm = summarize(tmp_path / "s1")
    assert (sm.best_gflops, sm.best_title, sm.iterations) == (20.0, "c", 2)


def test_kernels_are_written_atomically(tmp_path):
    s = make(tmp_path, 0)
    path = s.write_kernel(7, "pub fn sgemm() {}\n")
    assert path.name == "007.rs" and path.read_text() == "pub fn sgemm() {}\n"
    assert not list((tmp_path / "s1" / "kernels").glob(".*"))
