"""Sessions on disks that fail: read-only, full at the start or mid-run, a directory that
cannot be created, a writer killed mid-write. Every failure is one SessionWriteError naming
the file and the cause; nothing half-made is left behind.

Where the test runs as root with CAP_SYS_ADMIN it mounts real tmpfs file systems (small, or
read-only); elsewhere those tests skip and the monkeypatched ones still run."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from roundtable_tui.core import session as session_mod
from roundtable_tui.core.events import Agent, Event, Kind
from roundtable_tui.core.session import (
    RESERVE,
    Session,
    SessionError,
    SessionWriteError,
    check_writable,
    read_events,
    remove_stale_temporaries,
)

META = {"problem": "sgemm", "model": "scripted"}


def _event(text: str = "hello") -> Event:
    return Event(Kind.MESSAGE, {"text": text}, Agent.MANAGER, 1)


def _mount(target: Path, options: str) -> bool:
    target.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, f"rt-{uuid.uuid4().hex[:6]}", str(target)],
        capture_output=True,
    )
    return proc.returncode == 0


@pytest.fixture
def mounts(tmp_path) -> Iterator[Callable[[str, str], Path]]:
    """mount(name, options) → a fresh tmpfs under tmp_path; skips where mounting is refused."""
    made: list[Path] = []

    def mount(name: str, options: str) -> Path:
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root")
        target = tmp_path / name
        if not _mount(target, options):
            pytest.skip("cannot mount a tmpfs here")
        made.append(target)
        return target

    yield mount
    for target in reversed(made):
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def _remount_ro(path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True, capture_output=True)


def _fill(path: Path) -> None:
    """Fills the file system holding `path` to the last byte."""
    fd = os.open(path / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\xff" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# before anything: is the directory writable?


def test_read_only_sessions_dir(mounts):
    root = mounts("ro", "size=1m")
    _remount_ro(root)
    with pytest.raises(SessionWriteError) as info:
        check_writable(root)
    assert str(root) in str(info.value) and "Read-only file system" in str(info.value)
    assert "\n" not in str(info.value)
    with pytest.raises(SessionWriteError, match="Read-only file system"):
        Session.create(root, META, "s1")


def test_sessions_dir_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(SessionWriteError) as info:
        check_writable(blocker / "sessions")
    assert str(blocker / "sessions") in str(info.value)
    assert "Not a directory" in str(info.value) or "File exists" in str(info.value)
    with pytest.raises(SessionWriteError):
        Session.create(blocker / "sessions", META, "s1")


def test_full_disk_at_the_start_leaves_nothing(mounts):
    root = mounts("full", "size=256k")
    _fill(root)
    with pytest.raises(SessionWriteError, match="No space left on device|KiB free"):
        check_writable(root)
    with pytest.raises(SessionWriteError, match="No space left on device"):
        Session.create(root, META, "s1")
    assert sorted(p.name for p in root.iterdir()) == ["filler"]  # no half-made session


def test_create_failing_on_meta_leaves_nothing(tmp_path, monkeypatch):
    real = os.write

    def write(fd, data):
        if "meta.json" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data)

    monkeypatch.setattr(session_mod.os, "write", write)
    with pytest.raises(SessionWriteError) as info:
        Session.create(tmp_path, META, "s1")
    assert str(tmp_path / "s1" / "meta.json") in str(info.value)
    assert "No space left on device" in str(info.value)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# mid-run


def test_disk_filling_mid_run(mounts):
    root = mounts("mid", "size=512k")
    s = Session.create(root, META, "s1")
    s.append(_event("before"))
    assert (s.path / RESERVE).is_file()
    _fill(root)
    with pytest.raises(SessionWriteError) as info:
        s.append(_event("x" * 20000))
    assert str(s.path / "events.jsonl") in str(info.value)
    assert "No space left on device" in str(info.value)
    # the reserve is freed: the closing event fits, and no torn line is left
    assert not (s.path / RESERVE).exists()
    s.append(Event(Kind.SESSION_FINISHED, {"reason": f"error: {info.value}"}, Agent.MANAGER, 1))
    kernels_before = sorted(p.name for p in (s.path / "kernels").iterdir())
    with pytest.raises(SessionWriteError) as kinfo:
        s.write_kernel(7, "// big\n" * 200000)
    assert "007.rs" in str(kinfo.value)
    assert sorted(p.name for p in (s.path / "kernels").iterdir()) == kernels_before
    s.close()
    (root / "filler").unlink()
    events = list(read_events(s.path))
    assert [e.kind for e in events] == [Kind.MESSAGE, Kind.SESSION_FINISHED]
    assert [e.seq for e in events] == [1, 2]
    assert (s.path / "events.jsonl").read_bytes().endswith(b"\n")


def test_append_failure_cuts_the_partial_line(tmp_path, monkeypatch):
    s = Session.create(tmp_path, META, "s1")
    s.append(_event("one"))
    real = os.write

    def half_then_fail(fd, data):
        real(fd, bytes(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(session_mod.os, "write", half_then_fail)
    with pytest.raises(SessionWriteError, match="events.jsonl: No space left on device"):
        s.append(_event("two"))
    monkeypatch.setattr(session_mod.os, "write", real)
    s.append(_event("three"))
    s.close()
    texts = [e.data["text"] for e in read_events(s.path)]
    assert texts == ["one", "three"]
    assert [e.seq for e in read_events(s.path)] == [1, 2]


def test_kernel_write_failure_leaves_no_temporary(tmp_path, monkeypatch):
    s = Session.create(tmp_path, META, "s1")

    def fsync(fd):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(session_mod.os, "fsync", fsync)
    with pytest.raises(SessionWriteError, match=r"003\.rs: Input/output error"):
        s.write_kernel(3, "pub fn f() {}")
    assert list((s.path / "kernels").iterdir()) == []


# ---------------------------------------------------------------------------------------------
# resuming


def test_resume_removes_what_a_killed_writer_left(tmp_path):
    s = Session.create(tmp_path, META, "s1")
    s.append(_event())
    s.close()
    dead = 2**22 + 12345  # above the default pid_max: never a live process
    leftovers = [
        s.path / "kernels" / f".003.rs.{dead}.tmp",
        s.path / f".meta.json.{dead}.tmp",
    ]
    for p in leftovers:
        p.write_text("half")
    mine = s.path / "kernels" / f".004.rs.{os.getppid()}.tmp"  # a live writer's: kept
    mine.write_text("being written")
    again = Session.open(s.path)
    assert not any(p.exists() for p in leftovers)
    assert mine.exists()
    again.close()
    assert remove_stale_temporaries(s.path) == []


def test_resume_on_read_only_dir_with_a_torn_line(mounts):
    root = mounts("torn", "size=1m")
    s = Session.create(root, META, "s1")
    s.append(_event())
    s.close()
    with open(s.path / "events.jsonl", "ab") as f:
        f.write(b'{"v": 2, "seq": 2, "kind": "mess')
    _remount_ro(root)
    with pytest.raises(SessionWriteError) as info:
        Session.open(s.path)
    assert "Read-only file system" in str(info.value) and str(s.path) in str(info.value)
    # reading without repair still works, and shows what was recorded
    assert [e.seq for e in read_events(s.path)] == [1]


def test_open_refuses_a_corrupt_meta(tmp_path):
    s = Session.create(tmp_path, META, "s1")
    s.close()
    (s.path / "meta.json").write_text("{not json")
    with pytest.raises(SessionError, match=r"meta\.json: not valid JSON"):
        Session.open(s.path)


def test_close_frees_the_reserve(tmp_path):
    s = Session.create(tmp_path, META, "s1")
    assert (s.path / RESERVE).stat().st_size == session_mod.RESERVE_BYTES
    s.close()
    assert not (s.path / RESERVE).exists()
    meta = json.loads((s.path / "meta.json").read_text())
    assert meta["problem"] == "sgemm"


def test_a_run_whose_disk_fills_closes_with_the_reason(mounts):
    """The manager on a real small file system that fills during the seed's check: the run
    ends with the write failure as its reason, recorded as the session's last event."""
    import threading

    from roundtable_tui.core.manager import Manager, RunConfig
    from roundtable_tui.core.review import AutoPolicy
    from roundtable_tui.llm.scripted import ScriptedBackend

    from .scripted import SGEMM, SMALL

    root = mounts("run", "size=1m")
    session = Session.create(root, META, "s1")

    def on_event(ev: Event) -> None:
        if ev.kind is Kind.CHECK_STARTED:
            _fill(root)

    manager = Manager(
        session,
        ScriptedBackend([]),
        SGEMM,
        AutoPolicy(),
        RunConfig(iterations=0, check=SMALL),
        on_event=on_event,
        machine={"cores": 2, "simd": "AVX2"},
    )
    reason = manager.run(threading.Event())
    session.close()
    assert reason.startswith("error: cannot write ") and "No space left on device" in reason
    events = list(read_events(session.path))
    assert events[-1].kind is Kind.SESSION_FINISHED
    assert events[-1].data["reason"] == reason
    assert not [p for p in session.path.rglob("*.tmp")]
