"""Knowledge never takes the run down: every paper is indexed or reported on its own (one
line: file, reason), a damaged or incompatible store gives one line naming the store and the
fix, `papers index --rebuild` rebuilds it, and a run goes on without knowledge, saying so.
Cases 08 and 10 (tests/cases/knowledge/) are used as they were reported.

The embedding model here is a small deterministic stand-in (hashed word counts): these
tests are about failures, not about retrieval quality (test_knowledge.py covers that with
the real model). Chroma is real, embedded and as a server started by the test."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

pytest.importorskip("chromadb")
pytest.importorskip("pypdf")

from roundtable_tui.knowledge import (
    KnowledgeUnavailable,  # noqa: E402
    cli_papers,  # noqa: E402
)
from roundtable_tui.knowledge.memory import KnowledgeMemory, start_knowledge  # noqa: E402
from roundtable_tui.knowledge.rebuild import attempts_of, rebuild  # noqa: E402
from roundtable_tui.knowledge.settings import KnowledgeSettings  # noqa: E402
from roundtable_tui.knowledge.store import (  # noqa: E402
    ATTEMPTS,
    PAPERS,
    REBUILD,
    KnowledgeStore,
    StoreError,
)

CASES = Path(__file__).parent / "cases" / "knowledge"
NOTE = "# Blocking\n\nPack B into KC by NC panels that stay in L2; the micro-kernel streams them.\n"


class HashEmbedder:
    """Deterministic bag-of-words vectors: enough for Chroma, no model to load."""

    def __init__(self, dim: int = 64, name: str = "hash-embedder") -> None:
        self.name = name
        self.slug = name
        self._dim = dim
        self.calls = 0

    @property
    def dim(self) -> int:
        return self._dim

    def load(self) -> HashEmbedder:
        return self

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % self._dim] += 1.0
            out[i] /= np.linalg.norm(out[i]) or 1.0
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


def config(tmp_path: Path, papers: Path | None = None, **kw) -> KnowledgeSettings:
    if papers is None:
        papers = tmp_path / "papers"
        papers.mkdir(exist_ok=True)
    base = dict(
        path=tmp_path / "db",
        papers_dir=papers,
        chroma_host=None,
        chunk_min_chars=40,
        chunk_max_chars=400,
    )
    base.update(kw)
    return KnowledgeSettings(**base)


def make_store(tmp_path: Path, papers: Path | None = None, **kw) -> KnowledgeStore:
    return KnowledgeStore(config(tmp_path, papers, **kw), embedder=HashEmbedder())  # type: ignore[arg-type]


def note(tmp_path: Path, text: str = NOTE) -> None:
    (tmp_path / "papers").mkdir(exist_ok=True)
    (tmp_path / "papers" / "note.md").write_text(text)


def run_cli(fn, *args, **kw) -> tuple[int, str]:
    console = Console(record=True, width=400, force_terminal=False)
    code = fn(*args, console=console, **kw)
    return code, console.export_text()


# ---------------------------------------------------------------------------------------------
# one bad paper never stops the others


def test_case_08_deeply_nested_pdf_is_skipped_in_one_line(tmp_path):
    papers = tmp_path / "papers"
    shutil.copytree(CASES / "08_papers", papers)
    store = make_store(tmp_path, papers)
    code, text = run_cli(cli_papers.cmd_index, None, store=store)
    assert code == 0
    assert "Traceback" not in text and "RecursionError" not in text.replace("nested", "")
    skipped = [ln.strip() for ln in text.splitlines() if "skipped:" in ln]
    assert skipped == [
        "skipped: b_deep_nested_array.pdf: unreadable PDF (nested too deeply for pypdf)"
    ]
    assert set(store.indexed()) == {"a_blocking.md", "c_threading.md"}


def _encrypted_pdf(path: Path) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    with path.open("wb") as f:
        writer.write(f)


def test_each_kind_of_bad_file_is_reported_on_its_own(tmp_path):
    papers = tmp_path / "papers"
    papers.mkdir()
    (papers / "good.md").write_text(NOTE)
    (papers / "empty.pdf").write_bytes(b"")
    (papers / "empty.md").write_text("  \n\n")
    (papers / "html.pdf").write_text("<html><body>404 not found</body></html>")
    (papers / "binary.txt").write_bytes(b"\x00\x01\x02" * 100)
    (papers / "truncated.pdf").write_bytes(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog")
    _encrypted_pdf(papers / "locked.pdf")
    store = make_store(tmp_path, papers)
    report = store.index()
    reasons = dict(line.split(": ", 1) for line in report.errors)
    assert set(reasons) == {
        "empty.pdf",
        "empty.md",
        "html.pdf",
        "binary.txt",
        "truncated.pdf",
        "locked.pdf",
    }
    assert reasons["empty.pdf"] == "empty file" == reasons["empty.md"]
    assert reasons["html.pdf"].startswith("not a PDF (it starts with '<html>")
    assert reasons["binary.txt"] == "not a text file (it holds NUL bytes)"
    assert reasons["locked.pdf"] == "encrypted with a password: save an unencrypted copy"
    assert reasons["truncated.pdf"].startswith("unreadable PDF (")
    assert all("\n" not in r for r in reasons.values())
    assert set(store.indexed()) == {"good.md"}


def test_a_parser_bug_stays_with_its_file(tmp_path, monkeypatch):
    papers = tmp_path / "papers"
    papers.mkdir()
    (papers / "a.md").write_text(NOTE)
    (papers / "b.md").write_text(NOTE.replace("Blocking", "Threads"))
    store = make_store(tmp_path, papers)
    real = store.chunker.split

    def split(doc):
        if doc.source == "a.md":
            raise IndexError("list index out of range")
        return real(doc)

    monkeypatch.setattr(store.chunker, "split", split)
    report = store.index()
    assert report.errors == ["a.md: cannot be read (IndexError: list index out of range)"]
    assert set(store.indexed()) == {"b.md"}


# ---------------------------------------------------------------------------------------------
# damaged and incompatible stores


@pytest.mark.parametrize("case", ["10_chroma_truncated.sqlite3", "10_chroma_zeroed_pages.sqlite3"])
def test_case_10_damaged_store_one_line_then_rebuild(tmp_path, case):
    db = tmp_path / "db"
    db.mkdir()
    shutil.copy(CASES / case, db / "chroma.sqlite3")
    note(tmp_path)

    for command, args in (
        (cli_papers.cmd_stats, ()),
        (cli_papers.cmd_search, ("pack B", 3)),
        (cli_papers.cmd_index, (None,)),
    ):
        code, text = run_cli(command, *args, store=make_store(tmp_path))
        lines = [ln for ln in text.splitlines() if ln.strip()]
        assert code == 1, text
        assert len(lines) == 1, text
        assert str(db) in lines[0] and REBUILD in lines[0] and "damaged" in lines[0]

    # a run goes on without knowledge and says so, once
    memory = start_knowledge(store=make_store(tmp_path), background=False)
    assert memory.unavailable is not None and str(db) in memory.unavailable
    with pytest.raises(KnowledgeUnavailable, match="goes on without knowledge"):
        memory.context("sgemm", "pack B", 200)
    assert memory.context("sgemm", "pack B", 200) == []
    memory.record({"proposal": {"title": "t"}, "code": "", "result": {"verdict": "passed"}})

    # the fix the line names
    store = make_store(tmp_path)
    code, text = run_cli(cli_papers.cmd_index, None, store=store, rebuild=True, sessions_dir=None)
    assert code == 0, text
    assert set(store.indexed()) == {"note.md"}
    old = [p for p in tmp_path.iterdir() if p.name.startswith("db.old-")]
    assert len(old) == 1 and (old[0] / "chroma.sqlite3").is_file()
    assert str(old[0]) in text.replace("\n", "")


def test_zeroed_store_file(tmp_path):
    db = tmp_path / "db"
    db.mkdir()
    (db / "chroma.sqlite3").write_bytes(bytes(8192))
    with pytest.raises(StoreError) as info:
        make_store(tmp_path).stats()
    assert str(db) in str(info.value) and REBUILD in str(info.value)


def test_store_of_a_newer_chromadb_version(tmp_path):
    import sqlite3

    store = make_store(tmp_path)
    note(tmp_path)
    store.index()
    store.close()
    # a migration applied with other contents than this chromadb's: another version's store
    with sqlite3.connect(tmp_path / "db" / "chroma.sqlite3") as db:
        db.execute(
            "UPDATE migrations SET hash = ? WHERE version = (SELECT MAX(version) FROM migrations)",
            ("0" * 32,),
        )
    with pytest.raises(StoreError) as info:
        make_store(tmp_path).stats()
    assert "another chromadb version" in str(info.value) and REBUILD in str(info.value)


def test_damaged_vector_index_answers_or_gives_one_line(tmp_path):
    """Zeroed HNSW segment files: chromadb either copes or fails as one StoreError."""
    note(tmp_path, NOTE * 40)
    store = make_store(tmp_path)
    store.index()
    store.close()
    for p in (tmp_path / "db").glob("*/*.bin"):
        p.write_bytes(b"\x00" * 7)
    try:
        make_store(tmp_path).search("pack B", 3)
    except StoreError as exc:
        assert str(tmp_path / "db") in str(exc) and REBUILD in str(exc)
        assert "\n" not in str(exc)


def test_a_chromadb_panic_is_one_line(tmp_path):
    """chromadb's Rust side panics (pyo3's PanicException, a BaseException) on some damaged
    stores: the guard turns it into one StoreError too."""
    note(tmp_path)
    store = make_store(tmp_path)
    store.index()
    # pyo3 registers its class only once a panic happened: the same shape otherwise
    panic = getattr(sys.modules.get("pyo3_runtime"), "PanicException", None) or type(
        "PanicException", (BaseException,), {}
    )
    inner = store.client._obj

    class Panicking:
        def __getattr__(self, name):
            def call(*args, **kw):
                raise panic("called `Option::unwrap()` on a `None` value")

            return call if name == "list_collections" else getattr(inner, name)

    store.client._obj = Panicking()
    with pytest.raises(StoreError) as info:
        store.stats()
    assert "chromadb panicked: called `Option::unwrap()`" in str(info.value)
    assert REBUILD in str(info.value)


def test_store_made_by_another_embedding_model(tmp_path):
    note(tmp_path)
    make_store(tmp_path).index()
    other = KnowledgeStore(config(tmp_path), embedder=HashEmbedder(dim=32))  # same name, dim 32
    with pytest.raises(StoreError) as info:
        other.index()
    message = str(info.value)
    assert "64-dimensional" in message and "32-dimensional" in message
    assert "another embedding model" in message and REBUILD in message


def test_store_directory_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    store = make_store(tmp_path, path=blocker / "db")
    with pytest.raises(
        StoreError, match="cannot create the knowledge store .*ROUNDTABLE_KNOWLEDGE_PATH"
    ):
        store.stats()


# ---------------------------------------------------------------------------------------------
# the run's side: background indexing, notices


def test_background_indexing_then_knowledge_joins(tmp_path, monkeypatch):
    note(tmp_path)
    store = make_store(tmp_path)
    gate = threading.Event()
    real = store.index

    def slow_index(*args, **kw):
        gate.wait(10)
        return real(*args, **kw)

    monkeypatch.setattr(store, "index", slow_index)
    memory = KnowledgeMemory(store)
    thread = memory.index_in_background()
    with pytest.raises(KnowledgeUnavailable, match="still being indexed"):
        memory.context("sgemm", "pack B into panels", 300)
    assert memory.context("sgemm", "pack B into panels", 300) == []  # said once
    gate.set()
    thread.join(10)
    assert memory.ready.is_set() and memory.unavailable is None
    assert memory.context("sgemm", "pack B into panels", 300)
    assert any(n.startswith("knowledge joined the run: 1 files") for n in memory.drain_notices())


def test_store_failing_mid_run_turns_knowledge_off_once(tmp_path, monkeypatch):
    note(tmp_path)
    store = make_store(tmp_path)
    store.index()
    memory = KnowledgeMemory(store)
    assert memory.context("sgemm", "pack B", 300)

    def broken(*args, **kw):
        raise StoreError(f"the knowledge store {tmp_path / 'db'} cannot be used (boom)")

    monkeypatch.setattr(store, "search", broken)
    with pytest.raises(KnowledgeUnavailable, match="boom"):
        memory.context("sgemm", "pack B", 300)
    assert memory.context("sgemm", "pack B", 300) == []
    assert memory.unavailable is not None


# ---------------------------------------------------------------------------------------------
# rebuild from the sessions' attempts


def _session(root: Path, name: str) -> Path:
    path = root / name
    (path / "kernels").mkdir(parents=True)
    (path / "kernels" / "001.rs").write_text("pub fn sgemm() { /* one */ }")
    lines = [
        {"kind": "proposal", "iteration": 1, "data": {"title": "pack B", "idea": "panels"}},
        {"kind": "kernel", "iteration": 1, "data": {"number": 1, "code": "pub fn sgemm() {}"}},
        {
            "kind": "check_result",
            "iteration": 1,
            "data": {"number": 1, "verdict": "passed", "gflops": 12.5, "problem": "sgemm"},
        },
        {"kind": "proposal", "iteration": 2, "data": {"title": "unroll", "idea": "by 4"}},
        {
            "kind": "check_result",
            "iteration": 2,
            "data": {"number": 2, "verdict": "wrong_result", "problem": "sgemm"},
        },
    ]
    text = "\n".join(json.dumps(x) for x in lines) + "\n{torn"
    (path / "events.jsonl").write_text(text)
    return path


def test_rebuild_records_the_sessions_attempts_again(tmp_path):
    note(tmp_path)
    sessions = tmp_path / "sessions"
    _session(sessions, "s1")
    _session(sessions / "examples", "e1")
    skipped: list[str] = []
    attempts = list(attempts_of(sessions / "s1", skipped))
    assert [a["proposal"]["title"] for a in attempts] == ["pack B", "unroll"]
    assert attempts[0]["code"] == "pub fn sgemm() {}"
    assert skipped == [f"{sessions / 's1' / 'events.jsonl'}:6: not a valid event"]

    store = make_store(tmp_path)
    report = rebuild(store, sessions)
    assert (report.sessions, report.attempts) == (2, 4)
    assert len(report.skipped) == 2
    assert store.collection(ATTEMPTS).count() == 2  # the same two attempts in both sessions
    assert store.collection(PAPERS).count() > 0


# ---------------------------------------------------------------------------------------------
# the Chroma server path, against a real server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def chroma_server(tmp_path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    chroma = Path(sys.executable).with_name("chroma")
    if not chroma.exists():
        pytest.skip("the chroma command is not installed")
    port = _free_port()
    proc = subprocess.Popen(
        [str(chroma), "run", "--path", str(tmp_path / "server-db"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"chroma run exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("chroma run did not start")
    yield port, proc
    if proc.poll() is None:
        proc.terminate()
        proc.wait(10)


def test_chroma_server_path(tmp_path, chroma_server):
    port, proc = chroma_server
    note(tmp_path)
    (tmp_path / "papers" / "bad.pdf").write_text("not a pdf")
    store = make_store(tmp_path, chroma_host="127.0.0.1", chroma_port=port)
    report = store.index()
    assert report.added == 1 and report.errors[0].startswith("bad.pdf: not a PDF")
    hits = store.search("pack B into panels", 2)
    assert hits and hits[0].source == "note.md"
    assert store.stats()["path"] == f"http://127.0.0.1:{port}"

    # the rebuild empties this model's collections on the server, then fills them again
    again = rebuild(make_store(tmp_path, chroma_host="127.0.0.1", chroma_port=port), None)
    assert again.moved_to is None and again.papers.added == 1

    # the server goes away mid-run: one line naming it, and the run goes on without it
    memory = KnowledgeMemory(store)
    proc.terminate()
    proc.wait(10)
    with pytest.raises(KnowledgeUnavailable) as info:
        memory.context("sgemm", "pack B", 300)
    assert f"http://127.0.0.1:{port}" in str(info.value) and "\n" not in str(info.value)
    code, text = run_cli(
        cli_papers.cmd_stats, store=make_store(tmp_path, chroma_host="127.0.0.1", chroma_port=port)
    )
    assert code == 1 and len(text.strip().splitlines()) == 1
    assert f"http://127.0.0.1:{port}" in text
