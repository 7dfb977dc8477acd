"""`roundtable report`: one self-contained HTML page per session, model text escaped."""

from __future__ import annotations

import base64
import html
import json
import re

import pytest

from roundtable_tui import cli
from roundtable_tui.core.events import Agent, Event, Kind
from roundtable_tui.core.record import load
from roundtable_tui.core.session import Session
from roundtable_tui.kernels import machine, problems
from roundtable_tui.outputs import report

from .sessions import Attempt, check_data, copy_example, make_session, naive

HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'


def rows(page: str) -> list[tuple[str, list[str]]]:
    """The leaderboard as (row class, cell texts without tags)."""
    board = page.split('<table class="board">', 1)[1].split("</table>", 1)[0]
    found = []
    for cls, body in re.findall(r'<tr class="(\w+)">(.*?)</tr>', board, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)
        texts = [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in cells]
        found.append((cls, texts))
    return found


def images(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


def winner_source(page: str) -> str:
    block = page.split('<div class="source">', 1)[1].split("</pre>", 1)[0]
    return html.unescape(re.sub(r"<[^>]+>", "", block))


def test_report_of_the_example_session(tmp_path):
    path = copy_example(tmp_path)
    out = report.write(path, bandwidth=20.0)
    assert out == path / "report.html"
    page = out.read_text()
    # self-contained: two PNG charts inline, no external resources
    pngs = images(page)
    assert len(pngs) == 2 and all(p.startswith(b"\x89PNG\r\n\x1a\n") for p in pngs)
    assert not re.search(r'(src|href)="(?!data:)', page)
    # header
    for fact in ("1024x1024x1024", "example-sgemm-small", "AMD EPYC", "AVX-512", "rustc 1.95.0"):
        assert fact in page
    assert "2 finished" in page and "4 min 44 s" in page
    # every kernel with its verdict, the winner first and marked
    board = rows(page)
    assert [(cls, cells[2], cells[5]) for cls, cells in board] == [
        ("winner", "2", "passed"),
        ("entry", "0", "passed"),
        ("entry", "1", "rejected_by_reviewer"),
    ]
    winner = board[0][1]
    assert winner[6] == "31.7" and winner[8] == "18%" and winner[9] == "14%"
    assert "must be public" in board[2][1][11]  # after "vs best (95% CI)"
    # the winner's source in full, highlighted by pygments with inline styles
    kernel = (path / "kernels" / "002.rs").read_text()
    assert winner_source(page).strip() == kernel.strip()
    source_block = page.split('<div class="source">', 1)[1]
    assert '<span style="color:' in source_block.split("</pre>", 1)[0]
    # the anchors the chart draws, medians over the checks
    assert "naive 33.0" in page and "OpenBLAS 129.6" in page and "machine peak 230.9" in page
    assert "Memory roof: 20.0 GB/s" in page


def test_model_text_is_escaped_everywhere(tmp_path):
    path = copy_example(tmp_path)
    log = path / "events.jsonl"
    events = [json.loads(line) for line in log.read_text().splitlines()]
    for ev in events:
        if ev["kind"] in ("proposal", "check_result", "kernel") and ev["iteration"] == 2:
            ev["data"]["title"] = HOSTILE
        if ev["kind"] == "kernel" and ev["iteration"] == 2:
            ev["data"]["code"] = "// </pre><script>steal()</script>\n" + ev["data"]["code"]
        if ev["kind"] == "review" and ev["data"].get("action") == "reject":
            ev["data"]["reason"] = HOSTILE
    log.write_text("".join(json.dumps(ev) + "\n" for ev in events))
    page = report.build(load(path), 20.0)
    assert "<script" not in page and "<img src=x" not in page
    assert html.escape(HOSTILE) in page  # the title, shown as text
    board = rows(page)
    assert board[0][1][3] == HOSTILE and board[2][1][11] == HOSTILE
    assert winner_source(page).startswith("// </pre><script>steal()</script>\n")


def test_failures_caught_confabulations_and_templates(tmp_path):
    attempts = [
        Attempt("naive (starting point)", naive("sgemm"), gflops=10.0),
        Attempt("pack B", "fn x() {}", verdict="wrong_result", reason="C[3,5] is 0.0"),
        Attempt(
            "retune the blocks",
            naive("sgemm"),
            gflops=42.0,
            kind="parameters",
            parameters={"MC": 64, "KC": 256, "<x>": "y"},
            template="blis",
        ),
        Attempt("cheat", "fn y() {}", verdict="impossible", reason="above the peak"),
        Attempt("typo", "fn z( {}", verdict="build_failed", reason="expected `)`"),
        # an older session: only the proposal names the parameters
        Attempt(
            "smaller tiles", naive("sgemm"), gflops=30.0, kind="parameters", parameters={"MC": 32}
        ),
    ]
    page = report.build(load(make_session(tmp_path, "sgemm", attempts)), 15.0)
    board = {cells[2]: (cls, cells) for cls, cells in rows(page)}
    assert board["2"][0] == "winner"
    assert board["2"][1][4] == "template blis MC=64, KC=256, <x>=y"
    assert board["5"][1][4] == "template MC=32"
    assert board["0"][1][4] == "naive start" and board["1"][1][4] == "free-form"
    assert {n: cells[5] for n, (_, cells) in board.items()} == {
        "0": "passed",
        "1": "wrong_result",
        "2": "passed",
        "3": "impossible",
        "4": "build_failed",
        "5": "passed",
    }
    assert board["1"][1][11] == "C[3,5] is 0.0" and board["1"][1][6] == "—"
    assert page.count('class="v-caught"') == 2 + 2  # the two rows, and the legend's two names
    assert "1 wrong_result" in page and "3 passed" in page
    assert "naive 10.0 · rayon 18.0 · OpenBLAS 100.0 · machine peak 200.0" in page


def test_a_session_where_nothing_passed_still_reports(tmp_path):
    attempts = [
        Attempt("naive (starting point)", naive("binary_gemm"), verdict="timeout"),
        Attempt("pack", "fn x() {}", verdict="crashed", reason="index out of bounds"),
    ]
    page = report.build(load(make_session(tmp_path, "binary_gemm", attempts)), None)
    assert len(images(page)) == 2
    assert "No kernel passed" in page and "winner" not in {cls for cls, _ in rows(page)}
    assert "no memory roof" in page and "no compute roof" in page
    assert "none recorded" in page


def test_arithmetic_intensity_per_problem():
    p = problems.get
    assert report.intensity(p("sgemm"), {"m": 1024, "n": 1024, "k": 1024}) == pytest.approx(
        2 * 1024**3 / (4 * 3 * 1024**2)
    )
    # B is one bit per entry: k rows of ceil(n/64) words
    binary = report.intensity(p("binary_gemm"), {"m": 32, "n": 100, "k": 10})
    assert binary == pytest.approx(2 * 32 * 100 * 10 / (4 * 32 * 10 + 8 * 10 * 2 + 4 * 32 * 100))
    fwd = report.intensity(p("matmul_forward"), {"b": 2, "t": 3, "c": 4, "oc": 5})
    assert fwd == pytest.approx(2 * 6 * 4 * 5 / (4 * (6 * 4 + 5 * 4 + 5 + 6 * 5)))
    # backward: accumulated gradients are read and written
    bwd = report.intensity(p("matmul_backward"), {"b": 2, "t": 3, "c": 4, "oc": 5})
    flops = 4 * 6 * 4 * 5 + 6 * 5
    assert bwd == pytest.approx(flops / (4 * (6 * 5 + 6 * 4 + 5 * 4) + 8 * (6 * 4 + 5 * 4 + 5)))


def test_wall_time_leaves_out_the_pause_before_a_resume(tmp_path):
    s = Session.create(tmp_path, {"problem": "sgemm", "model": "small"}, "s1")
    for kind, ts in (
        (Kind.SESSION_STARTED, 1000.0),
        (Kind.ITERATION_STARTED, 1100.0),
        (Kind.SESSION_RESUMED, 9000.0),  # the next day, say
        (Kind.ITERATION_STARTED, 9030.0),
        (Kind.SESSION_FINISHED, 9050.0),
    ):
        s.append(Event(kind, {}, Agent.MANAGER, 0, ts=ts))
    s.close()
    assert report.wall_time(load(s.path)) == pytest.approx(100.0 + 50.0)


def test_memory_bandwidth_is_measured_once_and_cached(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(machine, "_bandwidth_file", lambda: tmp_path / "bandwidth.json")
    monkeypatch.setattr(machine, "measure_bandwidth", lambda: calls.append(1) or 12.5)
    assert machine.memory_bandwidth(measure=False) is None
    assert machine.memory_bandwidth() == 12.5
    assert machine.memory_bandwidth() == 12.5 and len(calls) == 1
    assert json.loads((tmp_path / "bandwidth.json").read_text()) == {machine.cpu_model(): 12.5}


def test_memory_bandwidth_measurement_is_plausible():
    # a plausibility range, not a speed target (how long it takes is a benchmark's business)
    gbs = machine.measure_bandwidth()
    assert 0.5 < gbs < 2000


def test_cli_report_writes_the_file_and_fails_clearly(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(machine, "_bandwidth_file", lambda: tmp_path / "bandwidth.json")
    monkeypatch.setattr(machine, "measure_bandwidth", lambda: 12.5)
    path = copy_example(tmp_path)
    target = tmp_path / "out" / "r.html"
    assert cli.main(["report", str(path), "-o", str(target)]) == 0
    assert "Memory roof: 12.5 GB/s" in target.read_text()
    assert str(target) in "".join(capsys.readouterr().out.split())

    assert cli.main(["report", "no-such-session"]) == 2
    assert "no session 'no-such-session'" in capsys.readouterr().err

    with open(path / "events.jsonl", "a") as f:
        f.write("this is not an event\n")
    assert cli.main(["report", str(path)]) == 2
    message = " ".join(capsys.readouterr().err.split())
    assert "events.jsonl:48: not a valid event" in message


def test_check_data_helper_matches_a_real_check(tmp_path):
    """The made-up sessions carry the fields real check_result events have."""
    real = next(
        json.loads(line)["data"]
        for line in (copy_example(tmp_path) / "events.jsonl").read_text().splitlines()
        if json.loads(line)["kind"] == "check_result"
    )
    made = check_data("sgemm", Attempt("t", "", gflops=1.0), 0)
    assert set(made) - {"baselines"} <= set(real)


def test_help_names_report_and_export(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "one self-contained HTML report" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["sessions", "--help"])
    assert (
        "export ID: its best passed kernel as a standalone Cargo crate" in capsys.readouterr().out
    )
