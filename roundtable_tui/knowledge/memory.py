"""The engine's knowledge (roundtable_tui.core.knowledge.Knowledge): paper chunks and the
memory of every tested kernel, assembled for the Proposer within a token budget."""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from roundtable_tui.knowledge import KnowledgeUnavailable
from roundtable_tui.knowledge.embedding import EmbeddingError
from roundtable_tui.knowledge.settings import KnowledgeSettings
from roundtable_tui.knowledge.store import ATTEMPTS, IndexReport, KnowledgeStore, StoreError

log = logging.getLogger(__name__)

CountTokens = Callable[[str], int]


def approx_tokens(text: str) -> int:
    """A tokenizer-free estimate (about 4 characters a token), for use without a model."""
    return math.ceil(len(text) / 4)


def render(items: list[dict[str, Any]]) -> str:
    """The items as the Proposer's prompt lists them (one '- ' line each)."""
    return "\n".join(f"- {item['text']}" for item in items)


def _clean(value: Any, limit: int) -> str:
    text = " ".join(str(value or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _feedback(attempt: dict[str, Any]) -> str:
    found: list[str] = []
    for holder in (attempt, attempt.get("result") or {}, attempt.get("proposal") or {}):
        for key in ("feedback", "review", "reviewer_feedback"):
            value = holder.get(key)
            if isinstance(value, list | tuple):
                found.extend(str(v) for v in value if v)
            elif isinstance(value, dict):
                found.extend(str(v) for v in value.values() if isinstance(v, str) and v)
            elif value:
                found.append(str(value))
    return "; ".join(found)


class KnowledgeMemory:
    """Implements the engine's Knowledge protocol on a KnowledgeStore.

    `context` returns, best first and interleaved, the paper chunks nearest to the query, the
    fastest passing kernels for the problem and the failures nearest to the query; the
    rendered list never has more than `budget_tokens` tokens by `count_tokens` (the LLM
    backend's own tokenizer). Errors are logged, never raised into the engine."""

    def __init__(
        self,
        store: KnowledgeStore,
        count_tokens: CountTokens | None = None,
        *,
        papers_k: int = 6,
        best_k: int = 2,
        failures_k: int = 3,
        code_chars: int = 4000,
        min_item_tokens: int = 16,
    ) -> None:
        self.store = store
        self.count_tokens: CountTokens = count_tokens or approx_tokens
        self.papers_k = papers_k
        self.best_k = best_k
        self.failures_k = failures_k
        self.code_chars = code_chars
        self.min_item_tokens = min_item_tokens
        self.unavailable: str | None = None
        """Why the knowledge base is off for the rest of the run (None while it works)."""
        self.ready = threading.Event()
        """Set once the papers are indexed (at once unless `index_in_background` runs)."""
        self.ready.set()
        self.progress = ""
        """What background indexing is doing, for a status line (empty when idle)."""
        self._notices: list[str] = []
        self._told: set[str] = set()
        self._notice_lock = threading.Lock()
        self._raised: set[str] = set()

    # ---- what the run should be told ----------------------------------------------------

    def _notice(self, text: str) -> None:
        with self._notice_lock:
            if text not in self._told:
                self._told.add(text)
                self._notices.append(text)

    def drain_notices(self) -> list[str]:
        """What happened to the knowledge base since the last call, one line each (it went
        off, it is still indexing, it joined): the engine turns each into an event."""
        with self._notice_lock:
            out, self._notices = self._notices, []
        return out

    def disable(self, reason: str) -> None:
        """Turns the knowledge base off for this run, with a notice saying why."""
        if self.unavailable is None:
            self.unavailable = reason
            self.ready.set()
            self._notice(f"knowledge unavailable, the run goes on without it: {reason}")

    def _failed(self, what: str, exc: BaseException, fatal: bool = False) -> None:
        text = " ".join(str(exc).split())
        if isinstance(exc, StoreError | EmbeddingError):
            self.disable(text)
        elif fatal:
            log.exception("knowledge: cannot %s", what)
            self.disable(f"cannot {what} ({type(exc).__name__}: {text})")
        else:  # a fault of ours: say it once, keep trying on later calls
            log.exception("knowledge: cannot %s", what)
            self._notice(f"knowledge: cannot {what} ({type(exc).__name__}: {exc})")

    def index_in_background(
        self, on_done: Callable[[KnowledgeMemory, IndexReport | None], None] | None = None
    ) -> threading.Thread:
        """Indexes the papers directory in a thread; until it is done `context` gives
        nothing (and says so once), `progress` tells how far it is. A failure turns the
        knowledge base off with a notice, never raises."""
        self.ready.clear()

        def step(done: int, total: int, source: str) -> None:
            current = self.store.current
            chunks = current.chunks if current is not None else 0
            self.progress = f"indexing papers: {done}/{total} files, {chunks} chunks" + (
                f" ({source})" if source else ""
            )

        def work() -> None:
            report: IndexReport | None = None
            try:
                self.progress = f"loading the embedding model {self.store.embedder.name}"
                report = self.store.index(progress=step)
                files = report.added + report.updated + report.skipped
                self._notice(
                    f"knowledge joined the run: {files} files indexed ({report.chunks} new "
                    f"chunks)" + (f"; {len(report.errors)} skipped" if report.errors else "")
                )
                for error in report.errors:
                    self._notice(f"knowledge: skipped {error}")
            except Exception as exc:
                self._failed("index the papers", exc, fatal=True)
            finally:
                self.progress = ""
                self.ready.set()
                if on_done is not None:
                    on_done(self, report)

        thread = threading.Thread(target=work, name="roundtable-knowledge-index", daemon=True)
        thread.start()
        return thread

    # ---- recording ----------------------------------------------------------------------

    def record(self, attempt: dict[str, Any]) -> None:
        if self.unavailable is not None:
            return
        try:
            self._record(attempt)
        except Exception as exc:  # the engine goes on without its memory rather than stopping
            self._failed("record an attempt", exc)

    def record_or_raise(self, attempt: dict[str, Any]) -> str:
        """Records an attempt and returns its id; raises what the store raises."""
        return self._record(attempt)

    def _record(self, attempt: dict[str, Any]) -> str:
        proposal = attempt.get("proposal") or {}
        result = attempt.get("result") or {}
        code = str(attempt.get("code") or "")
        problem = str(result.get("problem") or attempt.get("problem") or "")
        verdict = str(result.get("verdict") or "unknown")
        passed = verdict == "passed"
        gflops = result.get("gflops")
        gflops = (
            float(gflops) if isinstance(gflops, int | float) and math.isfinite(gflops) else None
        )
        title = _clean(proposal.get("title") or result.get("title") or "untitled", 100)
        idea = _clean(proposal.get("idea"), 400)
        reason = _clean(result.get("reason"), 240)
        feedback = _clean(_feedback(attempt), 240)
        if passed:
            figure = f"{gflops:.1f} GFLOPS" if gflops is not None else "no figure"
            summary = f"Passed ({figure}): {title}. {idea}"
        else:
            summary = f"Failed ({verdict}): {title}. {idea}"
            if reason:
                summary += f" Why: {reason}"
        if feedback:
            summary += f" Reviewer: {feedback}"
        kernel = str(result.get("kernel_sha256") or hashlib.sha256(code.encode()).hexdigest())
        key = f"{problem}|{kernel}|{verdict}|{title}"
        attempt_id = "attempt:" + hashlib.sha256(key.encode()).hexdigest()[:16]
        number = result.get("number")
        meta: dict[str, Any] = {
            "problem": problem,
            "verdict": verdict,
            "passed": passed,
            "gflops": gflops if gflops is not None else -1.0,
            "title": title,
            "kind": str(proposal.get("kind") or result.get("kind") or ""),
            "summary": summary,
            "recorded_at": time.time(),
        }
        if isinstance(number, int):
            meta["number"] = number
        if attempt.get("session"):
            meta["session"] = str(attempt["session"])
        document = summary
        if code:
            document += "\n\n" + code[: self.code_chars]
        vector = self.store.embedder.embed([summary])[0]
        col = self.store.collection(ATTEMPTS)
        col.upsert(
            ids=[attempt_id],
            embeddings=[vector.tolist()],
            documents=[document],
            metadatas=[meta],
        )
        return attempt_id

    # ---- reading ------------------------------------------------------------------------

    @staticmethod
    def _where(problem: str, passed: bool) -> dict[str, Any]:
        clause: dict[str, Any] = {"passed": passed}
        return {"$and": [{"problem": problem}, clause]} if problem else clause

    @staticmethod
    def _item(kind: str, hit_id: str, meta: dict[str, Any], score: float) -> dict[str, Any]:
        number = meta.get("number")
        return {
            "id": hit_id,
            "source": f"attempt #{number}" if number is not None else "attempt",
            "text": str(meta.get("summary", "")),
            "score": round(float(score), 4),
            "kind": kind,
            "verdict": meta.get("verdict"),
            "gflops": meta.get("gflops") if float(meta.get("gflops", -1.0)) >= 0 else None,
        }

    def best(self, problem: str, n: int, query_vector: np.ndarray | None = None) -> list[dict]:
        """The `n` fastest passing attempts for `problem`."""
        if n < 1:
            return []
        col = self.store.collection(ATTEMPTS)
        got = col.get(where=self._where(problem, True), include=["metadatas", "embeddings"])
        ids = got.get("ids") or []
        metas = got.get("metadatas") or []
        embs = got.get("embeddings")
        ranked = sorted(
            range(len(ids)), key=lambda i: float((metas[i] or {}).get("gflops", -1.0)), reverse=True
        )[:n]
        items = []
        for i in ranked:
            score = 0.0
            if query_vector is not None and embs is not None and len(embs) > i:
                score = float(np.dot(np.asarray(embs[i], dtype=np.float32), query_vector))
            items.append(self._item("best", ids[i], dict(metas[i] or {}), score))
        return items

    def failures(self, problem: str, query_vector: np.ndarray, n: int) -> list[dict]:
        """The `n` failed attempts for `problem` nearest to the query."""
        if n < 1:
            return []
        col = self.store.collection(ATTEMPTS)
        res = col.query(
            query_embeddings=[query_vector.tolist()],
            n_results=n,
            where=self._where(problem, False),
            include=["metadatas", "distances"],
        )
        ids = (res.get("ids") or [[]])[0]
        metas = (res.get("metadatas") or [[]])[0] or []
        dists = (res.get("distances") or [[]])[0] or []
        return [
            self._item("failure", ids[i], dict(metas[i] or {}), 1.0 - float(dists[i]))
            for i in range(len(ids))
        ]

    def papers(self, query: str, n: int) -> list[dict]:
        return [
            {
                "id": h.id,
                "source": h.source,
                "text": " ".join(h.text.split()),  # one line in the prompt's list
                "score": round(h.score, 4),
                "kind": "paper",
                "page": h.page,
                "title": h.title,
            }
            for h in self.store.search(query, n)
        ]

    def candidates(self, problem: str, query: str) -> list[dict[str, Any]]:
        """Everything worth giving, in order of priority: papers, best kernels and similar
        failures taken in turns."""
        query = query.strip() or "fast matrix multiplication kernel"
        if problem and problem.lower() not in query.lower():
            query = f"{problem}: {query}"  # the engine's query is often only the best so far
        vector = self.store.embedder.embed_query(query)
        pools = [
            self.papers(query, self.papers_k),
            self.best(problem, self.best_k, vector),
            self.failures(problem, vector, self.failures_k),
        ]
        ordered: list[dict[str, Any]] = []
        for i in range(max(len(p) for p in pools)):
            ordered.extend(pool[i] for pool in pools if i < len(pool))
        return ordered

    def context(self, problem: str, query: str, budget_tokens: int) -> list[dict[str, Any]]:
        """See `Knowledge.context`: raises KnowledgeUnavailable once when the knowledge base
        goes off, and once while it is still being indexed; otherwise never raises."""
        if budget_tokens <= 0:
            return []
        if self.unavailable is None and not self.ready.is_set():
            if "pending" not in self._raised:
                self._raised.add("pending")
                where = f" ({self.progress})" if self.progress else ""
                raise KnowledgeUnavailable(
                    f"knowledge is still being indexed{where}; the proposals go without it "
                    "until it joins"
                )
            return []
        if self.unavailable is None:
            try:
                return self.fit(self.candidates(problem, query), budget_tokens)
            except Exception as exc:
                self._failed("assemble the context", exc)
                if self.unavailable is None:
                    return []
        if "off" not in self._raised:
            self._raised.add("off")
            raise KnowledgeUnavailable(f"the run goes on without knowledge: {self.unavailable}")
        return []

    # ---- the budget ---------------------------------------------------------------------

    def _fits(self, items: list[dict[str, Any]], budget: int) -> bool:
        # both ways of counting must hold: tokenizers are not additive (BOS, merges)
        each = sum(self.count_tokens(item["text"]) for item in items)
        return each <= budget and self.count_tokens(render(items)) <= budget

    def fit(self, candidates: list[dict[str, Any]], budget: int) -> list[dict[str, Any]]:
        """Takes candidates in order while they fit; the first that does not is shortened
        (at a word) to the room left if that leaves at least `min_item_tokens`."""
        chosen: list[dict[str, Any]] = []
        for item in candidates:
            if not item.get("text"):
                continue
            if self._fits([*chosen, item], budget):
                chosen.append(item)
                continue
            short = self._shorten(chosen, item, budget)
            if short is not None:
                chosen.append(short)
        return chosen

    def _shorten(
        self, chosen: list[dict[str, Any]], item: dict[str, Any], budget: int
    ) -> dict[str, Any] | None:
        words = item["text"].split()
        lo, hi, best = 1, len(words) - 1, None
        while lo <= hi:  # the most words that fit
            mid = (lo + hi) // 2
            trial = {**item, "text": " ".join(words[:mid]) + " …", "truncated": True}
            if self._fits([*chosen, trial], budget):
                best, lo = trial, mid + 1
            else:
                hi = mid - 1
        if best is None or self.count_tokens(best["text"]) < self.min_item_tokens:
            return None
        return best


def open_knowledge(
    count_tokens: CountTokens | None = None, config: KnowledgeSettings | None = None
) -> KnowledgeMemory:
    """The knowledge base as configured (ROUNDTABLE_KNOWLEDGE_*), for the engine."""
    return KnowledgeMemory(KnowledgeStore(config), count_tokens)


class KnowledgeOff:
    """The knowledge base when it could not even be set up: gives nothing, records nothing,
    and says why once (`drain_notices`)."""

    def __init__(self, reason: str) -> None:
        self.unavailable = reason
        self.progress = ""
        self.ready = threading.Event()
        self.ready.set()
        self._notices = [f"knowledge unavailable, the run goes on without it: {reason}"]
        self._raised = False

    def context(self, problem: str, query: str, budget_tokens: int) -> list[dict[str, Any]]:
        if not self._raised:
            self._raised = True
            raise KnowledgeUnavailable(f"the run goes on without knowledge: {self.unavailable}")
        return []

    def record(self, attempt: dict[str, Any]) -> None:
        return None

    def drain_notices(self) -> list[str]:
        out, self._notices = self._notices, []
        return out


def start_knowledge(
    count_tokens: CountTokens | None = None,
    config: KnowledgeSettings | None = None,
    *,
    background: bool = True,
    on_done: Callable[[Any, IndexReport | None], None] | None = None,
    store: KnowledgeStore | None = None,
) -> KnowledgeMemory | KnowledgeOff:
    """The knowledge base for a run, never raising: the store opened and the papers indexed
    (in a thread when `background`, so the session starts at once and knowledge joins when
    ready), or `KnowledgeOff` saying why not. Whatever goes wrong later turns it off with a
    notice (`drain_notices`) and the run goes on."""
    try:
        memory = (
            KnowledgeMemory(store, count_tokens)
            if store is not None
            else open_knowledge(count_tokens, config)
        )
    except Exception as exc:  # settings, the embedding model, chromadb itself
        off = KnowledgeOff(" ".join(str(exc).split()) or type(exc).__name__)
        if on_done is not None:
            on_done(off, None)
        return off
    if background:
        memory.index_in_background(on_done)
        return memory
    try:
        report = memory.store.index()
        for error in report.errors:
            memory._notice(f"knowledge: skipped {error}")
    except Exception as exc:
        memory._failed("index the papers", exc, fatal=True)
    if on_done is not None:
        on_done(memory, None)
    return memory
