"""The vector store: chunks of papers and notes, and past attempts, in Chroma.

One collection per embedding model and kind (`papers__<model>`, `attempts__<model>`), so
vectors of different models never mix. Papers are indexed incrementally by content hash:
unchanged files are skipped, changed files' chunks replaced, deleted files' chunks removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from roundtable_tui.knowledge.chunking import Chunk, SemanticChunker
from roundtable_tui.knowledge.embedding import Embedder, EmbeddingError
from roundtable_tui.knowledge.ingest import (
    Document,
    IngestError,
    file_sha256,
    iter_files,
    load,
    source_name,
)
from roundtable_tui.knowledge.settings import KnowledgeSettings, knowledge_settings

# progress(done, total, what): after each file (and once with done=0 before the first)
Progress = Callable[[int, int, str], None]

PAPERS, ATTEMPTS = "papers", "attempts"
_PAGE = 2000  # records per `get` when reading a whole collection


class StoreError(RuntimeError):
    """The store cannot be used as configured (server unreachable, dimension mismatch, a
    damaged or incompatible database). The message is one line naming the store and the fix."""


REBUILD = "roundtable papers index --rebuild"
# exceptions that are never a store's fault: let them through as they are
_PASS = (KeyboardInterrupt, SystemExit, GeneratorExit, StoreError, MemoryError)


def store_failure(location: str, remote: bool, exc: BaseException) -> StoreError:
    """One line for a Chroma failure: which store, what chromadb said, and what to do."""
    cause = " ".join(str(exc).split())[:300] or type(exc).__name__
    if type(exc).__name__ == "PanicException":
        cause = f"chromadb panicked: {cause}"
    if remote:
        return StoreError(
            f"the Chroma server {location} failed ({cause}): check that it is running and "
            f"reachable, or unset ROUNDTABLE_KNOWLEDGE_CHROMA_HOST to use the embedded store"
        )
    return StoreError(
        f"the knowledge store {location} cannot be used ({cause}): it is damaged or was "
        f"made by another chromadb version; rebuild it with `{REBUILD}`"
    )


class _Guarded:
    """A Chroma client or collection whose every call turns a failure (an exception of any
    kind, a Rust panic included) into one StoreError; results that are Chroma objects with
    methods of their own (collections) are guarded too."""

    __slots__ = ("_obj", "_fail")

    def __init__(self, obj: Any, fail: Callable[[BaseException], StoreError]) -> None:
        self._obj = obj
        self._fail = fail

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._obj, name)
        if not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                result = value(*args, **kwargs)
            except _PASS:
                raise
            except BaseException as exc:  # chromadb's Rust bindings panic as BaseException
                raise self._fail(exc) from exc
            if hasattr(result, "upsert") and hasattr(result, "query"):
                return _Guarded(result, self._fail)
            if isinstance(result, list) and result and hasattr(result[0], "count"):
                return [c if isinstance(c, str) else _Guarded(c, self._fail) for c in result]
            return result

        return call


@dataclass
class IndexReport:
    added: int = 0
    updated: int = 0
    removed: int = 0
    skipped: int = 0
    chunks: int = 0  # chunks written by this run
    seconds: float = 0.0
    changed: list[str] = field(default_factory=list)  # sources added, updated or removed
    errors: list[str] = field(default_factory=list)

    @property
    def files(self) -> int:
        """Files read and chunked by this run."""
        return self.added + self.updated

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Hit:
    source: str
    page: int
    score: float  # cosine similarity, 1 is identical
    text: str
    id: str
    title: str = ""
    chunk: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _FileState:
    versions: dict[str, int] = field(default_factory=dict)  # version -> records
    declared: int = 0  # chunks the file had when written

    def complete(self, version: str) -> bool:
        return set(self.versions) == {version} and self.versions[version] == self.declared


def collection_name(kind: str, slug: str) -> str:
    return f"{kind}__{slug}"[:120].rstrip("-._")


class KnowledgeStore:
    """Papers and attempts for one embedding model. Indexing runs are serialised by a lock, so
    the watcher's thread and callers can share one store; searches never wait for them."""

    def __init__(
        self,
        config: KnowledgeSettings | None = None,
        *,
        embedder: Embedder | None = None,
        client: Any = None,
    ) -> None:
        self.config = config or knowledge_settings()
        self.embedder = embedder or Embedder.from_settings(self.config)
        self.papers_dir = self.config.papers_root
        self.chunker = SemanticChunker(
            self.embedder.embed,
            percentile=self.config.percentile,
            min_chars=self.config.chunk_min_chars,
            max_chars=self.config.chunk_max_chars,
            window=self.config.window,
        )
        self._client = _Guarded(client, self._fail) if client is not None else None
        self._collections: dict[str, Any] = {}
        self.current: IndexReport | None = None
        """The report of the `index` run under way (chunks written so far), else None."""
        self._lock = threading.RLock()  # writers (index, remove) one at a time
        self._open_lock = threading.RLock()  # opening the client and collections

    # ---- Chroma -------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._open_lock:
                if self._client is None:
                    self._client = self._connect()
        return self._client

    def _fail(self, exc: BaseException) -> StoreError:
        return store_failure(self.config.location, bool(self.config.chroma_host), exc)

    def _connect(self) -> Any:
        cfg = self.config
        try:
            import chromadb
            from chromadb.config import Settings as ChromaSettings
        except ImportError as exc:
            raise StoreError(f"chromadb is not installed ({exc}): run `make setup`") from exc

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        if cfg.chroma_host:
            try:
                client = chromadb.HttpClient(
                    host=cfg.chroma_host,
                    port=cfg.chroma_port,
                    ssl=cfg.chroma_ssl,
                    settings=chroma_settings,
                )
            except _PASS:
                raise
            except BaseException as exc:  # chromadb raises several kinds on a failed handshake
                raise StoreError(
                    f"cannot reach the Chroma server {cfg.location} ({' '.join(str(exc).split())}"
                    "): start it (`chroma run --path DIR --port PORT`) or unset "
                    "ROUNDTABLE_KNOWLEDGE_CHROMA_HOST to use the embedded store"
                ) from exc
            return _Guarded(client, self._fail)
        try:
            cfg.db_path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the knowledge store {cfg.db_path} ({exc.strerror or exc}): "
                "set ROUNDTABLE_KNOWLEDGE_PATH to a writable directory"
            ) from exc
        sqlite = cfg.db_path / "chroma.sqlite3"
        if sqlite.is_file():
            _check_sqlite(sqlite, self._fail)
        try:
            client = chromadb.PersistentClient(path=str(cfg.db_path), settings=chroma_settings)
        except _PASS:
            raise
        except BaseException as exc:
            raise self._fail(exc) from exc
        return _Guarded(client, self._fail)

    def close(self) -> None:
        """Lets go of the database: the next call opens it again, as found on disk then."""
        with self._open_lock:
            self._collections.clear()
            self._client = None
            if not self.config.chroma_host:
                with contextlib.suppress(Exception):  # chromadb keeps one system per path
                    from chromadb.api.client import SharedSystemClient

                    SharedSystemClient.clear_system_cache()

    def reset(self) -> Path | None:
        """Starts this store afresh, for a rebuild. The embedded database is moved aside to
        `<dir>.old-<time>` (returned: delete it once the rebuild is good); on a Chroma server
        this model's two collections are deleted (None is returned). Works on a store that
        cannot be opened at all."""
        with self._lock, self._open_lock:
            self._collections.clear()
            if self.config.chroma_host:
                for kind in (PAPERS, ATTEMPTS):
                    name = self.collection_name(kind)
                    names = {
                        c if isinstance(c, str) else c.name
                        for c in self.client.list_collections()
                    }
                    if name in names:
                        self.client.delete_collection(name)
                return None
            self.close()
            path = self.config.db_path
            if not path.exists():
                return None
            aside = path.with_name(f"{path.name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
            try:
                path.rename(aside)
            except OSError as exc:
                raise StoreError(
                    f"cannot move the knowledge store {path} aside ({exc.strerror or exc}); "
                    f"delete it by hand and run `{REBUILD}` again"
                ) from exc
            return aside

    def collection_name(self, kind: str) -> str:
        return collection_name(kind, self.embedder.slug)

    def collection(self, kind: str) -> Any:
        """The collection of `kind` for this model, created on first use."""
        name = self.collection_name(kind)
        if name in self._collections:  # never waits for an indexing run
            return self._collections[name]
        with self._open_lock:
            if name in self._collections:
                return self._collections[name]
            dim = self.embedder.dim
            col = self.client.get_or_create_collection(
                name,
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"kind": kind, "model": self.embedder.name, "dim": dim},
            )
            have = (col.metadata or {}).get("dim")
            if have is not None and int(have) != dim:
                raise StoreError(
                    f"the knowledge store {self.config.location}: collection {name} holds "
                    f"{have}-dimensional vectors but the model {self.embedder.name} makes "
                    f"{dim}-dimensional ones (made by another embedding model); rebuild it "
                    f"with `{REBUILD}`"
                )
            self._collections[name] = col
            return col

    def _existing(self, kind: str) -> Any | None:
        """The collection if it exists, without creating it (or loading the model)."""
        name = self.collection_name(kind)
        if name in self._collections:
            return self._collections[name]
        names = {c if isinstance(c, str) else c.name for c in self.client.list_collections()}
        if name not in names:
            return None
        return self.client.get_collection(name, embedding_function=None)

    @staticmethod
    def _metadatas(col: Any, where: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        offset = 0
        while True:
            got = col.get(where=where, include=["metadatas"], limit=_PAGE, offset=offset)
            metas = got.get("metadatas") or []
            out.extend(dict(m or {}) for m in metas)
            if len(metas) < _PAGE:
                return out
            offset += _PAGE

    def _batch_size(self) -> int:
        try:
            return max(1, min(1000, int(self.client.get_max_batch_size())))
        except Exception:
            return 500

    # ---- papers -------------------------------------------------------------------------

    def _version(self, sha256: str) -> str:
        """Names a file's content as chunked with the current chunker settings."""
        key = f"{sha256}|{self.config.chunker_signature()}"
        return hashlib.sha256(key.encode()).hexdigest()[:12]

    def _file_states(self, col: Any) -> dict[str, _FileState]:
        states: dict[str, _FileState] = {}
        for meta in self._metadatas(col):
            source = str(meta.get("source", ""))
            state = states.setdefault(source, _FileState())
            version = str(meta.get("version", ""))
            state.versions[version] = state.versions.get(version, 0) + 1
            state.declared = int(meta.get("chunks", 0) or 0)
        return states

    def indexed(self) -> dict[str, str]:
        """Indexed sources and their files' sha256."""
        col = self._existing(PAPERS)
        if col is None:
            return {}
        return {str(m.get("source")): str(m.get("sha256")) for m in self._metadatas(col)}

    def _in_scope(self, source: str, target: Path) -> bool:
        """Whether an indexed source lies under `target` (so its absence means deletion)."""
        if target == self.papers_dir:
            return not source.startswith("/")
        prefix = source_name(target, self.papers_dir)
        return source == prefix or source.startswith(prefix.rstrip("/") + "/")

    def index(
        self, path: str | Path | None = None, progress: Progress | None = None
    ) -> IndexReport:
        """Brings the index up to date for `path` (a file or a directory; default the papers
        directory): new files added, changed ones replaced, missing ones removed."""
        started = time.perf_counter()
        target = Path(path).expanduser().resolve() if path is not None else self.papers_dir
        if target == self.papers_dir and not target.is_dir():
            raise FileNotFoundError(f"papers directory {target} does not exist")
        report = IndexReport()
        with self._lock, self._running(report):
            col = self.collection(PAPERS)
            states = self._file_states(col)
            files = list(iter_files(target)) if target.exists() else []
            if progress:
                progress(0, len(files), "")
            seen: set[str] = set()
            for done, file in enumerate(files, 1):
                source = source_name(file, self.papers_dir)
                seen.add(source)
                try:
                    self._index_file(col, file, states.get(source), report)
                except (IngestError, OSError) as exc:
                    report.errors.append(f"{source}: {exc}")
                if progress:
                    progress(done, len(files), source)
            for source in sorted(states):
                if source not in seen and self._in_scope(source, target):
                    col.delete(where={"source": source})
                    report.removed += 1
                    report.changed.append(source)
        report.seconds = time.perf_counter() - started
        return report

    @contextlib.contextmanager
    def _running(self, report: IndexReport) -> Iterator[None]:
        self.current = report
        try:
            yield
        finally:
            self.current = None

    def _index_file(
        self, col: Any, file: Path, state: _FileState | None, report: IndexReport
    ) -> None:
        sha = file_sha256(file)
        version = self._version(sha)
        if state is not None and state.complete(version):
            report.skipped += 1
            return
        doc, pieces = self._read(file, sha)
        chunks = [c for c, _ in pieces]
        if not chunks or not any(c.text.strip() for c in chunks):
            report.errors.append(f"{doc.source}: no text found (a scanned PDF?)")
            return
        self._write(col, doc, chunks, version, self._vectors(doc, pieces))
        if state is None or not state.versions:
            report.added += 1
        else:
            report.updated += 1
        report.chunks += len(chunks)
        report.changed.append(doc.source)

    def _read(self, file: Path, sha: str) -> tuple[Document, list[tuple[Chunk, np.ndarray]]]:
        """The file as a document and its chunks. Whatever goes wrong in reading one file
        (a parser's RecursionError or bug included) is an IngestError for that file alone;
        the embedding model's own errors go through."""
        try:
            doc = load(file, self.papers_dir, sha)
            return doc, self.chunker.split(doc)
        except (IngestError, EmbeddingError):
            raise
        except RecursionError as exc:
            raise IngestError("nested too deeply to read") from exc
        except Exception as exc:
            detail = " ".join(str(exc).split())[:200]
            raise IngestError(f"cannot be read ({type(exc).__name__}: {detail})") from exc

    def _vectors(self, doc: Document, pieces: list[tuple[Chunk, np.ndarray]]) -> np.ndarray:
        """One vector per chunk (with the document's title when `embed_titles`)."""
        titled = self.config.embed_titles and bool(doc.title)
        if self.config.chunk_vectors == "embed":
            prefix = f"{doc.title}\n" if titled else ""
            return self.embedder.embed([prefix + c.text for c, _ in pieces])
        title = self.embedder.embed([doc.title])[0] if titled else None
        out = []
        for _, vectors in pieces:
            v = vectors.mean(axis=0) if title is None else np.vstack([vectors, title]).mean(axis=0)
            out.append(v / (np.linalg.norm(v) or 1.0))
        return np.asarray(out, dtype=np.float32)

    def _write(
        self, col: Any, doc: Document, chunks: list[Chunk], version: str, vectors: np.ndarray
    ) -> None:
        ids = [f"{doc.source}#{version}#{c.index}" for c in chunks]
        metas = [
            {
                "source": doc.source,
                "page": c.page,
                "sha256": doc.sha256,
                "chunk": c.index,
                "chunks": len(chunks),
                "start": c.start,
                "title": doc.title,
                "version": version,
                "model": self.embedder.name,
            }
            for c in chunks
        ]
        step = self._batch_size()
        for i in range(0, len(chunks), step):
            col.upsert(
                ids=ids[i : i + step],
                embeddings=vectors[i : i + step].tolist(),
                documents=[c.text for c in chunks[i : i + step]],
                metadatas=metas[i : i + step],  # type: ignore[arg-type]
            )
        # the new version is in place: drop the old one (never a moment with neither)
        col.delete(where={"$and": [{"source": doc.source}, {"version": {"$ne": version}}]})

    def remove(self, source: str) -> bool:
        """Removes a source's chunks; True if it was indexed."""
        with self._lock:
            col = self._existing(PAPERS)
            if col is None:
                return False
            got = col.get(where={"source": source}, include=[], limit=1)
            if not got.get("ids"):
                return False
            col.delete(where={"source": source})
            return True

    def search(self, query: str, k: int = 5, where: dict[str, Any] | None = None) -> list[Hit]:
        """The `k` paper chunks nearest to `query`, best first."""
        if k < 1 or not query.strip():
            return []
        col = self.collection(PAPERS)
        vector = self.embedder.embed_query(query)
        res = col.query(
            query_embeddings=[vector.tolist()],
            n_results=max(k * 4, RERANK_POOL),
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        return rerank(query, list(_hits(res)))[:k]

    # ---- overview -----------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        papers = self._existing(PAPERS)
        attempts = self._existing(ATTEMPTS)
        sources = {str(m.get("source")) for m in self._metadatas(papers)} if papers else set()
        collections = []
        for c in self.client.list_collections():
            col = c if not isinstance(c, str) else self.client.get_collection(c)
            meta = col.metadata or {}
            collections.append(
                {"name": col.name, "count": col.count(), "model": meta.get("model", "")}
            )
        return {
            "files": len(sources),
            "chunks": papers.count() if papers else 0,
            "attempts": attempts.count() if attempts else 0,
            "model": self.embedder.name,
            "collection": self.collection_name(PAPERS),
            "collections": sorted(collections, key=lambda c: c["name"]),
            "path": self.config.location,
            "papers_dir": str(self.papers_dir),
            "chunker": self.config.chunker_signature(),
        }


def _check_sqlite(path: Path, fail: Callable[[BaseException], StoreError]) -> None:
    """Refuses a chroma.sqlite3 that SQLite itself finds damaged (truncated, zeroed pages)
    before chromadb opens it: chromadb's answer to such a file is a panic or a traceback."""
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            rows = db.execute("PRAGMA quick_check").fetchall()
    except sqlite3.Error as exc:
        raise fail(sqlite3.DatabaseError(f"{path.name}: {exc}")) from exc
    if rows != [("ok",)]:
        first = rows[0][0] if rows else "no answer"
        raise fail(sqlite3.DatabaseError(f"{path.name} fails SQLite's check: {first}"))


RERANK_POOL = 20
LEXICAL_WEIGHT = 0.3
_STOP = {
    "a",
    "an",
    "the",
    "of",
    "to",
    "into",
    "in",
    "on",
    "for",
    "and",
    "or",
    "is",
    "it",
    "that",
    "this",
    "with",
    "how",
    "what",
    "why",
    "do",
    "does",
    "my",
    "i",
    "we",
    "can",
}
_WORD = re.compile(r"[a-z0-9]+")


def _stems(text: str) -> set[str]:
    """Lower-case words with the commonest English endings cut (packing → pack)."""
    out = set()
    for w in _WORD.findall(text.lower()):
        for end in ("ing", "ed", "es", "s"):
            if len(w) > len(end) + 2 and w.endswith(end):
                w = w[: -len(end)]
                break
        out.add(w)
    return out - _STOP


def rerank(query: str, hits: list[Hit]) -> list[Hit]:
    """Hybrid ranking: the embedding's cosine plus a small lexical term (the share of the
    query's words found in the chunk, counted twice when in its note's title), aggregated
    per note, so a note *about* the query's subject beats one that merely mentions it."""
    terms = _stems(query)
    if not terms:
        return hits

    def score(h: Hit) -> float:
        in_text = len(terms & _stems(h.text)) / len(terms)
        in_title = len(terms & _stems(h.title)) / len(terms)
        return h.score + LEXICAL_WEIGHT * (in_text + 2 * in_title) / 3

    scored = {h.id: score(h) for h in hits}
    # a note with several matching chunks is about the subject: rank notes by their best
    # chunk plus half their second best, and chunks within a note by their own score
    per_note: dict[str, list[float]] = {}
    for h in hits:
        per_note.setdefault(h.source, []).append(scored[h.id])
    note_score = {
        src: sorted(v, reverse=True)[0] + 0.5 * sum(sorted(v, reverse=True)[1:2])
        for src, v in per_note.items()
    }
    ordered = sorted(hits, key=lambda h: (note_score[h.source], scored[h.id]), reverse=True)
    # each note's best chunk first (so the top k spans k notes), then the other chunks
    firsts: list[Hit] = []
    rest: list[Hit] = []
    seen: set[str] = set()
    for h in ordered:
        (rest if h.source in seen else firsts).append(h)
        seen.add(h.source)
    return firsts + sorted(rest, key=lambda h: scored[h.id], reverse=True)


def _hits(res: dict[str, Any]) -> Iterable[Hit]:
    ids = (res.get("ids") or [[]])[0]
    docs = (res.get("documents") or [[]])[0] or []
    metas = (res.get("metadatas") or [[]])[0] or []
    dists = (res.get("distances") or [[]])[0] or []
    for i, hit_id in enumerate(ids):
        meta = metas[i] or {}
        yield Hit(
            source=str(meta.get("source", "")),
            page=int(meta.get("page", 1) or 1),
            score=round(1.0 - float(dists[i]), 6),
            text=str(docs[i] or ""),
            id=str(hit_id),
            title=str(meta.get("title", "")),
            chunk=int(meta.get("chunk", 0) or 0),
        )
