"""`roundtable papers index [PATH] | search QUERY [-k N] | stats`: the CLI's side of the
knowledge base. Each function prints with rich and returns the exit status."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from roundtable_tui.knowledge.embedding import EmbeddingError
from roundtable_tui.knowledge.ingest import source_name
from roundtable_tui.knowledge.store import KnowledgeStore, StoreError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _store() -> KnowledgeStore:
    return KnowledgeStore()


def _json(console: Console, obj: Any) -> None:
    console.print(
        json.dumps(obj, ensure_ascii=False), markup=False, highlight=False, soft_wrap=True
    )


def _snippet(text: str, limit: int = 240) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _fail(console: Console, exc: BaseException) -> int:
    console.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)  # one line, unwrapped
    return EXIT_FAILED


def cmd_index(
    path: str | Path | None,
    console: Console,
    store: KnowledgeStore | None = None,
    *,
    rebuild: bool = False,
    sessions_dir: Path | None = None,
) -> int:
    """Indexes PATH (default the papers directory) incrementally, with a progress bar. With
    `rebuild`, starts a new store from the papers directory and the attempts recorded in
    `sessions_dir` (the old embedded store is moved aside)."""
    try:
        store = store or _store()
        if rebuild and path:
            console.print("[red]error:[/] --rebuild indexes the whole papers directory: drop PATH")
            return EXIT_USAGE
        target = Path(path).expanduser() if path else store.papers_dir
        if path and not target.exists():
            # a missing path is fine only if it was indexed: its chunks are then removed
            prefix = source_name(target, store.papers_dir)
            if not any(s == prefix or s.startswith(prefix + "/") for s in store.indexed()):
                console.print(f"[red]error:[/] {escape(str(target))} does not exist")
                return EXIT_USAGE
        with console.status(f"loading the embedding model {escape(store.embedder.name)}…"):
            store.embedder.load()
        with Progress(
            SpinnerColumn(),
            TextColumn("[bold]indexing[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task("", total=None)

            def progress(done: int, total: int, source: str) -> None:
                current = store.current if store is not None else None
                chunks = f"{current.chunks} chunks · " if current is not None else ""
                bar.update(
                    task, completed=done, total=total, description=chunks + escape(source)
                )

            if rebuild:
                from roundtable_tui.knowledge.rebuild import rebuild as rebuild_store

                rebuilt = rebuild_store(store, sessions_dir, progress=progress)
                report = rebuilt.papers
            else:
                report = store.index(target, progress=progress)
    except (EmbeddingError, StoreError, FileNotFoundError) as exc:
        return _fail(console, exc)
    console.print(
        f"[bold]{escape(str(target))}[/]: {report.added} added, {report.updated} updated, "
        f"{report.removed} removed, {report.skipped} unchanged · {report.chunks} chunks written "
        f"in {report.seconds:.1f} s"
    )
    for source in report.changed:
        console.print(f"  {escape(source)}")
    for error in report.errors:
        console.print(f"  [yellow]skipped:[/] {escape(error)}", soft_wrap=True)
    if rebuild:
        console.print(
            f"attempts: {rebuilt.attempts} recorded again from {rebuilt.sessions} sessions"
        )
        for line in rebuilt.skipped:
            console.print(f"  [yellow]skipped:[/] {escape(line)}")
        if rebuilt.moved_to is not None:
            console.print(f"the old store is in {escape(str(rebuilt.moved_to))} (delete it)")
    try:
        stats = store.stats()
    except StoreError as exc:
        return _fail(console, exc)
    console.print(
        f"{stats['files']} files, {stats['chunks']} chunks in {escape(stats['collection'])} "
        f"({escape(stats['path'])})"
    )
    return EXIT_OK


def cmd_search(
    query: str,
    k: int,
    console: Console,
    as_json: bool = False,
    store: KnowledgeStore | None = None,
) -> int:
    """The K chunks nearest to QUERY: source, page, score and a snippet."""
    if k < 1:
        console.print("[red]error:[/] -k must be at least 1")
        return EXIT_USAGE
    try:
        store = store or _store()
        hits = store.search(query, k)
    except (EmbeddingError, StoreError) as exc:
        return _fail(console, exc)
    if as_json:
        _json(
            console,
            {"query": query, "model": store.embedder.name, "hits": [h.as_dict() for h in hits]},
        )
        return EXIT_OK
    if not hits:
        console.print("no results: index the papers first (roundtable papers index)")
        return EXIT_FAILED
    table = Table(header_style="bold", show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("source")
    table.add_column("page", justify="right")
    table.add_column("score", justify="right")
    table.add_column("text")
    for rank, hit in enumerate(hits, 1):
        table.add_row(
            str(rank),
            escape(hit.source),
            str(hit.page),
            f"{hit.score:.3f}",
            escape(_snippet(hit.text)),
        )
    console.print(table)
    return EXIT_OK


def cmd_stats(console: Console, as_json: bool = False, store: KnowledgeStore | None = None) -> int:
    """Files, chunks, attempts, collections, model and where the vectors live."""
    try:
        store = store or _store()
        stats = store.stats()
    except StoreError as exc:
        return _fail(console, exc)
    if as_json:
        _json(console, stats)
        return EXIT_OK
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for key in (
        "model",
        "collection",
        "files",
        "chunks",
        "attempts",
        "path",
        "papers_dir",
        "chunker",
    ):
        table.add_row(key, escape(str(stats[key])))
    console.print(table)
    if stats["collections"]:
        cols = Table(header_style="bold")
        for name in ("collection", "records", "model"):
            cols.add_column(name, justify="right" if name == "records" else "left")
        for c in stats["collections"]:
            cols.add_row(escape(c["name"]), str(c["count"]), escape(str(c["model"])))
        console.print(cols)
    return EXIT_OK
