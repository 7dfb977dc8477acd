"""Hints: a human steering the search mid-run ("try 6x16 tiles", "stop tuning kc").

A hint comes from the TUI (typed at any time) or, in `run --auto`, from a plain-text file in
the session directory (`hints.txt`, one hint per line, appended by any editor or
`echo "try 6x16 tiles" >> sessions/ID/hints.txt`). The manager drains the hints before each
proposal and records each one as an event; the prompt shows the latest few. Because a hint
from the file is an event once read, a resumed session skips the lines it had already
recorded (it counts them in its events), and a replay shows the hints where they arrived.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

HINTS_FILE = "hints.txt"
MAX_CHARS = 300
"""A hint longer than this is cut (it goes into every following prompt)."""
SHOWN = 3
"""How many of the latest hints the Proposer sees."""


def clean(text: str) -> str:
    """One line of at most MAX_CHARS, or '' for nothing to say."""
    text = " ".join(text.split())
    return text[:MAX_CHARS]


@dataclass(frozen=True)
class Hint:
    text: str
    source: str
    """tui | file"""
    line: int = 0
    """For a hint from the file: its line number (1-based)."""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class Hints:
    """The hints waiting for the next proposal: a thread-safe queue the TUI puts into, and a
    session's hints file read from where the last read stopped.

    ``recorded_from_file`` is how many lines of the file earlier runs of the session already
    turned into events (so a resume does not repeat them)."""

    def __init__(self, session_dir: Path | None = None, recorded_from_file: int = 0) -> None:
        self.path = session_dir / HINTS_FILE if session_dir is not None else None
        self._lines_read = recorded_from_file
        self._queue: deque[str] = deque()
        self._lock = threading.Lock()

    def follow(self, session_dir: Path, recorded_from_file: int = 0) -> None:
        """Reads `session_dir`'s hints file from now on, skipping the lines a session's
        events already recorded (the Manager calls this with its session)."""
        self.path = session_dir / HINTS_FILE
        self._lines_read = recorded_from_file

    def put(self, text: str) -> bool:
        """Queues a typed hint (from any thread); False when it is empty."""
        text = clean(text)
        if not text:
            return False
        with self._lock:
            self._queue.append(text)
        return True

    def drain(self) -> list[Hint]:
        """Every hint that arrived since the last call, typed ones first."""
        with self._lock:
            typed = [Hint(t, "tui") for t in self._queue]
            self._queue.clear()
        return typed + self._read_file()

    def _read_file(self) -> list[Hint]:
        if self.path is None or not self.path.is_file():
            return []
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        # only whole lines: a line still being written (no newline yet) waits for the next read
        lines = text.split("\n")[:-1]
        start = self._lines_read
        self._lines_read = max(start, len(lines))
        out = []
        for number, line in enumerate(lines[start:], start + 1):
            text = clean(line)
            if text and not text.startswith("#"):
                out.append(Hint(text, "file", number))
        return out


def file_lines_recorded(hint_events: Iterable[dict]) -> int:
    """How many lines of the hints file a session's hint events (their data) consumed: the
    highest `line` of a hint from the file."""
    return max((int(d.get("line", 0)) for d in hint_events if d.get("source") == "file"), default=0)


_KIND = re.compile(r"\bkind\s*[:=]?\s*[\"'`]?(parameters|code|formulation)\b", re.I)


def pinned_kind(texts: Iterable[str]) -> str | None:
    """The proposal kind the last of `texts` that names one asks for (`kind: formulation`,
    `kind code`): the next proposal's schema then offers only that kind, so a small model,
    which otherwise writes the first kind its grammar offers, follows the human."""
    found = None
    for text in texts:
        if m := _KIND.search(text):
            found = m[1].lower()
    return found


def prompt_lines(texts: list[str], shown: int = SHOWN) -> list[str]:
    """The latest hints for the Proposer's prompt, newest last."""
    return [t for t in texts if t][-shown:]
