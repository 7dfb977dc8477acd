"""Retrieval quality and indexing speed of the knowledge base.

Indexes papers/ into a temporary store, runs every query of bench/retrieval_queries.json
({"query", "relevant": [file names]}) and reports recall@k and MRR (a hit is a result whose
source file is relevant), plus indexing throughput, as a Markdown table.

    .venv/bin/python bench/retrieval_eval.py                 # the default settings
    .venv/bin/python bench/retrieval_eval.py --sweep         # a few chunker settings
    .venv/bin/python bench/retrieval_eval.py --model PATH    # another embedding model
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from roundtable_tui.knowledge.embedding import get_embedder  # noqa: E402
from roundtable_tui.knowledge.settings import KnowledgeSettings  # noqa: E402
from roundtable_tui.knowledge.store import KnowledgeStore  # noqa: E402

# (percentile, min_chars, max_chars, window, titles, chunk vectors) tried by --sweep
SWEEP = [
    (20.0, 200, 1000, 1, True, "embed"),
    (20.0, 200, 1000, 1, True, "mean"),
    (20.0, 200, 1000, 1, False, "embed"),
    (20.0, 200, 1000, 2, True, "embed"),
    (10.0, 200, 1000, 1, True, "embed"),
    (35.0, 200, 1000, 1, True, "embed"),
    (20.0, 100, 600, 1, True, "embed"),
    (20.0, 300, 1500, 1, True, "embed"),
]


@dataclass
class Result:
    model: str
    chunker: str
    files: int
    chunks: int
    seconds: float
    queries: int
    recall: float
    hit_rate: float
    mrr: float
    file_recall: float
    misses: list[tuple[str, list[str], list[str]]]


def evaluate(args: argparse.Namespace, queries: list[dict], params: tuple) -> Result:
    percentile, min_chars, max_chars, window, titles, vectors = params
    with tempfile.TemporaryDirectory(prefix="roundtable-retrieval-") as tmp:
        config = KnowledgeSettings(
            embedding_model=args.model,
            path=Path(tmp) / "db",
            papers_dir=args.papers,
            percentile=percentile,
            chunk_min_chars=min_chars,
            chunk_max_chars=max_chars,
            window=window,
            embed_titles=titles,
            chunk_vectors=vectors,
            chroma_host=None,
        )
        embedder = get_embedder(args.model)
        if not args.sweep:
            embedder.clear_cache()  # a cold index: honest throughput
        store = KnowledgeStore(config, embedder=embedder)
        report = store.index()
        if report.errors:
            print("errors:", *report.errors, sep="\n  ", file=sys.stderr)
        recalls, hits, rrs, file_recalls = [], [], [], []
        misses = []
        for q in queries:
            relevant = set(q["relevant"])
            results = store.search(q["query"], args.k)
            sources = [Path(h.source).name for h in results]
            found = relevant & set(sources)
            recalls.append(len(found) / len(relevant))
            hits.append(1.0 if found else 0.0)
            rank = next((i for i, s in enumerate(sources, 1) if s in relevant), None)
            rrs.append(1.0 / rank if rank else 0.0)
            # file level: the first k distinct files among more results
            distinct: list[str] = []
            for h in store.search(q["query"], args.k * 4):
                name = Path(h.source).name
                if name not in distinct:
                    distinct.append(name)
            file_recalls.append(len(relevant & set(distinct[: args.k])) / len(relevant))
            if len(found) < len(relevant):
                misses.append((q["query"], sorted(relevant - found), sources))
        n = len(queries)
        return Result(
            model=args.model,
            chunker=config.chunker_signature(),
            files=report.files,
            chunks=report.chunks,
            seconds=report.seconds,
            queries=n,
            recall=sum(recalls) / n,
            hit_rate=sum(hits) / n,
            mrr=sum(rrs) / n,
            file_recall=sum(file_recalls) / n,
            misses=misses,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=Path, default=ROOT / "papers")
    parser.add_argument("--queries", type=Path, default=ROOT / "bench" / "retrieval_queries.json")
    parser.add_argument("--model", default=KnowledgeSettings().embedding_model)
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--percentile", type=float, default=None)
    parser.add_argument("--min-chars", type=int, default=None)
    parser.add_argument("--max-chars", type=int, default=None)
    parser.add_argument("--window", type=int, default=None)
    parser.add_argument("--no-titles", action="store_true", help="embed chunks without titles")
    parser.add_argument("--vectors", choices=["embed", "mean"], default=None)
    parser.add_argument("--sweep", action="store_true", help="try several chunker settings")
    parser.add_argument("--misses", action="store_true", help="list the queries not fully found")
    args = parser.parse_args(argv)

    queries = json.loads(args.queries.read_text())
    defaults = KnowledgeSettings()
    base = (
        args.percentile if args.percentile is not None else defaults.percentile,
        args.min_chars or defaults.chunk_min_chars,
        args.max_chars or defaults.chunk_max_chars,
        args.window or defaults.window,
        not args.no_titles and defaults.embed_titles,
        args.vectors or defaults.chunk_vectors,
    )
    t0 = time.perf_counter()
    get_embedder(args.model).load()
    load_s = time.perf_counter() - t0

    results = [evaluate(args, queries, p) for p in (SWEEP if args.sweep else [base])]

    print(f"command: {shlex.join([sys.executable, *sys.argv])}")
    print(
        f"papers: {args.papers} · queries: {args.queries.name} ({len(queries)}) · "
        f"model load {load_s:.1f} s (not counted below)"
        + (
            " · sweep: sentence vectors cached across rows, so only row 1's speed is cold"
            if args.sweep
            else ""
        )
        + "\n"
    )
    k = args.k
    print(
        f"| model | chunker | files | chunks | index s | chunks/s | files/s "
        f"| recall@{k} | hit@{k} | MRR | file recall@{k} |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {Path(r.model).name} | {r.chunker} | {r.files} | {r.chunks} | {r.seconds:.1f} "
            f"| {r.chunks / r.seconds:.1f} | {r.files / r.seconds:.2f} | {r.recall:.3f} "
            f"| {r.hit_rate:.3f} | {r.mrr:.3f} | {r.file_recall:.3f} |"
        )
    if args.misses:
        for r in results:
            print(f"\nmisses with {r.chunker}:")
            for query, missing, got in r.misses:
                print(f"- {query!r}: missing {missing}; got {got}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
