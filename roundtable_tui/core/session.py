"""Sessions on disk: meta.json, an append-only, fsync'd events.jsonl, and every reviewed kernel.

A session killed at any moment (kill -9) loses nothing it had recorded: each event is one
line written and fsync'd before the engine goes on, and reopening cuts a torn last line
(a write the kill interrupted) after keeping it in events.jsonl.torn. Anything else that is
not a valid event of a known schema version is an error naming the file and line.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roundtable_tui.core.events import SCHEMA_VERSION, Event

META = "meta.json"
EVENTS = "events.jsonl"
KERNELS = "kernels"


def kernel_file(session_dir: Path, number: int) -> Path:
    """Where kernel `number` of the session at `session_dir` is kept: kernels/NNN.rs."""
    return session_dir / KERNELS / f"{number:03d}.rs"


class SessionError(Exception):
    """A session that cannot be read: the message names the file (and line)."""


class SessionWriteError(SessionError):
    """A session file that cannot be written (read-only directory, full disk, a directory
    that cannot be created): one line naming the file and the cause. `path` is the file,
    `errno` the OS error number (0 if none)."""

    def __init__(self, path: Path, exc: BaseException | str) -> None:
        cause = exc if isinstance(exc, str) else (getattr(exc, "strerror", None) or str(exc))
        super().__init__(f"cannot write {path}: {cause}")
        self.path = path
        self.errno = 0 if isinstance(exc, str) else (getattr(exc, "errno", 0) or 0)


RESERVE = ".reserve"
RESERVE_BYTES = 64 << 10
"""Space a live session holds in reserve: freed when the disk fills, so that the session can
still record why it stopped."""
MIN_FREE_BYTES = 4 << 20
"""A session does not start with less than this free on its disk."""


def check_writable(root: Path) -> None:
    """Raises SessionWriteError unless sessions can be written under `root` (created if
    missing): the directory is made, a probe file written, fsync'd and removed, and at least
    MIN_FREE_BYTES are free. Cheap; call it before loading a model."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SessionWriteError(root, exc) from None
    probe = root / f".write-probe.{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_all(fd, b"roundtable\n")
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise SessionWriteError(probe if probe.exists() else root, exc) from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    try:
        free = shutil.disk_usage(root).free
    except OSError:
        return
    if free < MIN_FREE_BYTES:
        raise SessionWriteError(
            root, f"only {free // 1024} KiB free (a session needs {MIN_FREE_BYTES >> 20} MiB)"
        )


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


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
        """A new session directory under `root`. Raises SessionWriteError (naming the file and
        the cause) when it cannot be written, and then leaves nothing behind."""
        sid = session_id or new_session_id(str(meta.get("problem", "session")))
        path = root / sid
        if path.exists():
            raise SessionError(f"{path} already exists")
        try:
            root.mkdir(parents=True, exist_ok=True)
            path.mkdir()
        except FileExistsError:
            raise SessionError(f"{path} already exists") from None
        except OSError as exc:
            raise SessionWriteError(path, exc) from None
        try:
            _mkdir(path / KERNELS)
            meta = {"schema_version": SCHEMA_VERSION, "id": sid, "created": time.time(), **meta}
            _reserve(path)
            _atomic_write(path / META, json.dumps(meta, indent=1, ensure_ascii=False))
            events = path / EVENTS
            try:
                events.touch()
                _fsync_dir(path)
            except OSError as exc:
                raise SessionWriteError(events, exc) from None
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)  # nothing half-made is left
            raise
        return cls(path, meta)

    @classmethod
    def open(cls, path: Path) -> Session:
        """An existing session, to append to (resume). Raises SessionError if it cannot be
        read and SessionWriteError if it cannot be written; cuts a torn last line and removes
        temporary files a killed writer left."""
        meta = read_meta(path)
        _check_session_writable(path)
        remove_stale_temporaries(path)
        events = list(read_events(path, repair=True))
        s = cls(path, meta)
        s._seq = events[-1].seq if events else 0
        with contextlib.suppress(SessionWriteError):
            _reserve(path)  # best effort: a disk already full still resumes
        return s

    # ------------------------------------------------------------------ writing
    def append(self, event: Event) -> Event:
        """Records a persistent event durably (fsync) and returns it with its sequence number.

        Raises SessionWriteError when it cannot: nothing of the event stays in the file (a
        partial line is cut off), and on a full disk the session's reserve is freed so that
        the closing event still fits."""
        file = self.path / EVENTS
        with self._lock:
            event.seq = self._seq + 1
            data = (event.to_json() + "\n").encode("utf-8")
            try:
                if self._fh is None:
                    self._fh = os.open(file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                start = os.fstat(self._fh).st_size
            except OSError as exc:
                raise SessionWriteError(file, exc) from None
            try:
                _write_all(self._fh, data)
                os.fsync(self._fh)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fh, start)  # no torn line
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    self.release_reserve()
                raise SessionWriteError(file, exc) from None
            self._seq = event.seq
        return event

    def release_reserve(self) -> bool:
        """Frees the space held for the closing events; True if there was any."""
        try:
            (self.path / RESERVE).unlink()
            return True
        except OSError:
            return False

    def write_kernel(self, number: int, source: str) -> Path:
        """Writes kernels/NNN.rs atomically; raises SessionWriteError (no temporary file
        left) when it cannot."""
        path = kernel_file(self.path, number)
        try:
            _atomic_write(path, source)
        except SessionWriteError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                self.release_reserve()
            raise
        return path

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                with contextlib.suppress(OSError):
                    os.close(self._fh)
                self._fh = None
            self.release_reserve()

    def events(self) -> list[Event]:
        return list(read_events(self.path, repair=False))


def _atomic_write(path: Path, text: str) -> None:
    """Writes `path` through a temporary file in its directory, fsync'd, then renamed. Raises
    SessionWriteError naming `path`; the temporary file never stays behind."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_all(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise SessionWriteError(path, exc) from None


def _mkdir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SessionWriteError(path, exc) from None


def _reserve(path: Path) -> None:
    """Holds RESERVE_BYTES in the session directory (see RESERVE)."""
    file = path / RESERVE
    if file.exists():
        return
    try:
        fd = os.open(file, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            try:
                os.posix_fallocate(fd, 0, RESERVE_BYTES)
            except OSError as exc:
                if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                    raise
                _write_all(fd, bytes(RESERVE_BYTES))
        finally:
            os.close(fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            file.unlink()
        raise SessionWriteError(file, exc) from None


def _check_session_writable(path: Path) -> None:
    """Raises SessionWriteError unless the session's directory and files can be written."""
    check_writable(path)
    for file in (path / EVENTS, path / KERNELS):
        if file.exists() and not os.access(file, os.W_OK):
            raise SessionWriteError(file, "permission denied (read-only)")


_TEMPORARY = re.compile(r"^\..+\.(\d+)\.tmp$")


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Removes the `.NAME.PID.tmp` files (of meta.json and kernels) that a writer killed
    mid-write left in a session, unless that writer still runs; returns what it removed."""
    removed = []
    for directory in (path, path / KERNELS):
        try:
            entries = list(directory.iterdir())
        except OSError:
            continue
        for entry in entries:
            m = _TEMPORARY.match(entry.name)
            if m is None or (int(m.group(1)) != os.getpid() and _alive(int(m.group(1)))):
                continue
            try:
                entry.unlink()
                removed.append(entry)
            except OSError:
                pass
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
            torn_file = file.with_suffix(".jsonl.torn")
            try:
                with open(torn_file, "ab") as torn:
                    torn.write(data[cut:] + b"\n")
                    torn.flush()
                    os.fsync(torn.fileno())
            except OSError as exc:
                raise SessionWriteError(torn_file, exc) from None
            try:
                with open(file, "r+b") as f:
                    f.truncate(cut)
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as exc:
                raise SessionWriteError(file, exc) from None
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
