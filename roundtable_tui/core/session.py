"""Sessions on disk: meta.json, an append-only, fsync'd events.jsonl, and every reviewed kernel.

A session killed at any moment (kill -9) loses nothing it had recorded: each event is one
line written and fsync'd before the engine goes on, and reopening cuts a torn last line
(a write the kill interrupted) after keeping it in events.jsonl.torn. Anything else that is
not a valid event of a known schema version is an error naming the file and line.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roundtable_tui.core.events import SCHEMA_VERSION, Event, Kind

META = "meta.json"
EVENTS = "events.jsonl"
KERNELS = "kernels"


class SessionError(Exception):
    """A session that cannot be read: the message names the file (and line)."""


def new_session_id(problem: str) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{problem}-{secrets.token_hex(2)}"


@dataclass
class Session:
    path: Path
    meta: dict[str, Any]
    _fh: Any = field(default=None, repr=False)
    _seq: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def id(self) -> str:
        return self.path.name

    # ------------------------------------------------------------------ create / open
    @classmethod
    def create(cls, root: Path, meta: dict[str, Any], session_id: str | None = None) -> Session:
        sid = session_id or new_session_id(str(meta.get("problem", "session")))
        path = root / sid
        if path.exists():
            raise SessionError(f"{path} already exists")
        (path / KERNELS).mkdir(parents=True)
        meta = {"schema_version": SCHEMA_VERSION, "id": sid, "created": time.time(), **meta}
        _atomic_write(path / META, json.dumps(meta, indent=1, ensure_ascii=False))
        (path / EVENTS).touch()
        _fsync_dir(path)
        return cls(path, meta)

    @classmethod
    def open(cls, path: Path) -> Session:
        meta = read_meta(path)
        events = list(read_events(path, repair=True))
        s = cls(path, meta)
        s._seq = events[-1].seq if events else 0
        return s

    # ------------------------------------------------------------------ writing
    def append(self, event: Event) -> Event:
        """Records a persistent event durably (fsync) and returns it with its sequence number."""
        with self._lock:
            self._seq += 1
            event.seq = self._seq
            if self._fh is None:
                self._fh = open(self.path / EVENTS, "a", encoding="utf-8")  # noqa: SIM115
            self._fh.write(event.to_json() + "\n")
            self._fh.flush()
            os.fsync(self._fh.fileno())
        return event

    def write_kernel(self, number: int, source: str) -> Path:
        path = self.path / KERNELS / f"{number:03d}.rs"
        _atomic_write(path, source)
        return path

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None

    def events(self) -> list[Event]:
        return list(read_events(self.path, repair=False))


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_meta(path: Path) -> dict[str, Any]:
    file = path / META
    if not path.is_dir():
        raise SessionError(f"no session at {path}")
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SessionError(f"{file}: missing (not a roundtable session?)") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise SessionError(f"{file}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise SessionError(f"{file}: expected a JSON object")
    version = meta.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise SessionError(
            f"{file}: schema version {version!r} is not one this roundtable reads "
            f"(up to {SCHEMA_VERSION}); upgrade roundtable to open it"
        )
    return meta


def read_events(path: Path, repair: bool = False) -> Iterator[Event]:
    """Yields the recorded events. With `repair`, a torn last line is moved aside first."""
    file = path / EVENTS
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise SessionError(f"{file}: missing") from None
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        if not repair:
            data = data[:cut]
        else:
            with open(file.with_suffix(".jsonl.torn"), "ab") as torn:
                torn.write(data[cut:] + b"\n")
            with open(file, "r+b") as f:
                f.truncate(cut)
                f.flush()
                os.fsync(f.fileno())
            data = data[:cut]
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
            version = obj.get("v", 0)
            if not isinstance(version, int) or version > SCHEMA_VERSION:
                raise SessionError(
                    f"{file}:{number}: event schema version {version!r} is newer than this "
                    f"roundtable reads ({SCHEMA_VERSION})"
                )
            yield Event.from_dict(obj)
        except SessionError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SessionError(f"{file}:{number}: not a valid event ({exc})") from None


@dataclass
class SessionSummary:
    id: str
    path: Path
    problem: str
    model: str
    created: float
    iterations: int
    best_gflops: float | None
    best_title: str
    finished: str


def summarize(path: Path) -> SessionSummary:
    meta = read_meta(path)
    best: tuple[float, str] | None = None
    iterations, finished = 0, ""
    for ev in read_events(path):
        if ev.kind is Kind.ITERATION_FINISHED:
            iterations = max(iterations, ev.iteration)
        if ev.kind is Kind.CHECK_RESULT and ev.data.get("verdict") == "passed":
            g = ev.data.get("gflops") or 0.0
            if best is None or g > best[0]:
                best = (g, ev.data.get("title", ""))
        if ev.kind is Kind.SESSION_FINISHED:
            finished = ev.data.get("reason", "")
    return SessionSummary(
        id=path.name,
        path=path,
        problem=str(meta.get("problem", "?")),
        model=str(meta.get("model", "?")),
        created=float(meta.get("created", 0)),
        iterations=iterations,
        best_gflops=best[0] if best else None,
        best_title=best[1] if best else "",
        finished=finished,
    )


def find(root: Path, ident: str) -> Path:
    """A session by id (in `root` or its examples/), unique id prefix, or directory path."""
    direct = Path(ident)
    if (direct / META).exists():
        return direct
    for base in (root, root / "examples"):
        if (base / ident / META).exists():
            return base / ident
    matches = [
        p
        for base in (root, root / "examples")
        if base.is_dir()
        for p in base.iterdir()
        if p.name.startswith(ident) and (p / META).exists()
    ]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise SessionError(
            f"{ident!r} matches several sessions: " + ", ".join(sorted(p.name for p in matches))
        )
    raise SessionError(f"no session {ident!r} in {root} (see `roundtable sessions list`)")


def list_sessions(root: Path) -> list[Path]:
    found = []
    for base in (root, root / "examples"):
        if base.is_dir():
            found += [p for p in base.iterdir() if (p / META).exists()]
    return sorted(found, key=lambda p: p.name)
