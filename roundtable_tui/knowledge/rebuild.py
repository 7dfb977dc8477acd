"""`roundtable papers index --rebuild`: a new knowledge store from what it was made of, the
papers directory and the attempts recorded in the sessions' events.

The sessions are read as plain JSON lines, tolerantly (a damaged line or session is counted
and skipped), so a rebuild works on any session this or an older roundtable wrote.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roundtable_tui.knowledge.memory import KnowledgeMemory
from roundtable_tui.knowledge.store import IndexReport, KnowledgeStore, Progress


@dataclass
class RebuildReport:
    moved_to: Path | None
    """Where the old embedded store went (None on a Chroma server, or if there was none)."""
    papers: IndexReport
    sessions: int = 0
    attempts: int = 0
    skipped: list[str] = field(default_factory=list)
    """One line per session or event line that could not be read: where, and why."""


def attempts_of(session: Path, skipped: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """The tested kernels of one session, as `KnowledgeMemory.record` takes them: for each
    check result, the proposal of its iteration, the kernel's code and the result."""
    skipped = skipped if skipped is not None else []
    file = session / "events.jsonl"
    try:
        lines = file.read_bytes().splitlines()
    except OSError as exc:
        skipped.append(f"{file}: {exc.strerror or exc}")
        return
    proposals: dict[int, dict[str, Any]] = {}
    code: dict[int, str] = {}
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            event = json.loads(raw)
            kind, data = event["kind"], event.get("data") or {}
            iteration = int(event.get("iteration", 0))
        except (ValueError, KeyError, TypeError, AttributeError):
            skipped.append(f"{file}:{number}: not a valid event")
            continue
        if not isinstance(data, dict):
            continue
        if kind == "proposal":
            proposals[iteration] = data
        elif kind == "kernel" and isinstance(data.get("number"), int):
            code[data["number"]] = str(data.get("code") or "")
        elif kind == "check_result":
            kernel = data.get("number")
            source = code.get(kernel, "") if isinstance(kernel, int) else ""
            if not source and isinstance(kernel, int):
                path = session / "kernels" / f"{kernel:03d}.rs"
                try:
                    source = path.read_text(encoding="utf-8", errors="replace")
                except OSError:
                    source = ""
            yield {
                "proposal": proposals.get(iteration, {}),
                "code": source,
                "result": data,
                "session": session.name,
            }


def _sessions(root: Path) -> list[Path]:
    found: list[Path] = []
    for base in (root, root / "examples"):
        if base.is_dir():
            found += sorted(p for p in base.iterdir() if (p / "events.jsonl").is_file())
    return found


def rebuild(
    store: KnowledgeStore, sessions_root: Path | None, progress: Progress | None = None
) -> RebuildReport:
    """Moves the store aside (or empties this model's collections on a server), indexes the
    papers directory and records every session's attempts again. Raises StoreError if the new
    store cannot be written either."""
    moved = store.reset()
    papers = store.index(progress=progress)
    report = RebuildReport(moved_to=moved, papers=papers)
    if sessions_root is None:
        return report
    memory = KnowledgeMemory(store)
    for session in _sessions(sessions_root):
        report.sessions += 1
        for attempt in attempts_of(session, report.skipped):
            memory.record_or_raise(attempt)
            report.attempts += 1
    return report
