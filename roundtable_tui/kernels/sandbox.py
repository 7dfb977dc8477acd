"""Running untrusted builds and kernels: own process group, limits, timeouts, cancellation."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

JAIL = Path(__file__).with_name("jail.py")
OUTPUT_LIMIT = 64 * 1024 * 1024
"""Largest stdout/stderr file a kernel may write (RLIMIT_FSIZE)."""


class Cancelled(Exception):
    """The user (or the manager) cancelled the work."""


def kill_group(proc: subprocess.Popen) -> None:
    """Kills the process's whole group (it leads its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def wait(proc: subprocess.Popen, timeout: float, cancel: threading.Event | None) -> bool:
    """Waits for `proc`; kills its group and returns False on timeout, raises on cancel."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            proc.wait(timeout=0.05)
            return True
        except subprocess.TimeoutExpired:
            pass
        if cancel is not None and cancel.is_set():
            kill_group(proc)
            proc.wait()
            raise Cancelled()
        if time.monotonic() > deadline:
            kill_group(proc)
            proc.wait()
            return False


@dataclass
class Limits:
    wall_s: float = 60.0
    memory_bytes: int = 4 << 30
    output_bytes: int = OUTPUT_LIMIT

    @property
    def cpu_s(self) -> int:
        """CPU seconds across all threads: every core busy for the whole wall limit."""
        return int(self.wall_s * (os.cpu_count() or 1)) + 5


@dataclass
class RunOutcome:
    lines: list[tuple[float, str]] = field(default_factory=list)
    """Report lines that carried the nonce (nonce stripped), with arrival times."""
    returncode: int | None = None
    timed_out: bool = False
    wall_s: float = 0.0
    stdout_tail: str = ""
    stderr_tail: str = ""
    forged_lines: int = 0
    """Report lines without the nonce (never trusted)."""

    @property
    def signal(self) -> int | None:
        rc = self.returncode
        return -rc if rc is not None and rc < 0 else None


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - limit))
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def run_jailed(
    program: list[str],
    orders: str,
    nonce: str,
    limits: Limits,
    env: dict[str, str],
    cancel: threading.Event | None = None,
    on_line: Callable[[str], None] | None = None,
) -> RunOutcome:
    """Runs `program CONFIG_FD REPORT_FD` in the jail with `orders` on the config pipe."""
    out = RunOutcome()
    workdir = Path(tempfile.mkdtemp(prefix="roundtable-run-"))
    cfg_r, cfg_w = os.pipe()
    rep_r, rep_w = os.pipe()
    try:
        child_env = {**env, "ROUNDTABLE_NONCE": nonce, "HOME": str(workdir), "TMPDIR": str(workdir)}
        cmd = [*jail_command(limits, rep_w), *program, str(cfg_r), str(rep_w)]
        start = time.monotonic()
        with open(workdir / "stdout", "wb") as stdout, open(workdir / "stderr", "wb") as stderr:
            proc = subprocess.Popen(
                cmd,
                cwd=workdir,
                env=child_env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                pass_fds=(cfg_r, rep_w),
            )
        os.close(cfg_r)
        os.close(rep_w)
        cfg_r = rep_w = -1

        def feed() -> None:
            try:
                os.write(cfg_w, orders.encode())
            except OSError:
                pass  # the child died before reading its orders; the outcome says why
            finally:
                os.close(cfg_w)

        def read() -> None:
            buf = b""
            with os.fdopen(rep_r, "rb", buffering=0) as f:
                while chunk := f.read(65536):
                    buf += chunk
                    *complete, buf = buf.split(b"\n")
                    for raw in complete:
                        text = raw.decode(errors="replace")
                        head, _, rest = text.partition(" ")
                        if head == nonce and nonce:
                            out.lines.append((time.monotonic() - start, rest))
                            if on_line is not None:
                                on_line(rest)
                        else:
                            out.forged_lines += 1

        threads = [
            threading.Thread(target=feed, daemon=True),
            threading.Thread(target=read, daemon=True),
        ]
        for t in threads:
            t.start()
        try:
            out.timed_out = not wait(proc, limits.wall_s, cancel)
        finally:
            threads[1].join(timeout=5)
        out.returncode = proc.returncode
        out.wall_s = time.monotonic() - start
        out.stdout_tail = _tail(workdir / "stdout")
        out.stderr_tail = _tail(workdir / "stderr")
        return out
    finally:
        for fd in (cfg_r, rep_w):
            if fd >= 0:
                os.close(fd)
        shutil.rmtree(workdir, ignore_errors=True)


def jail_command(limits: Limits, report_fd: int) -> list[str]:
    """The command prefix that runs a program inside the jail (the program's argv follows)."""
    return [
        sys.executable,
        "-S",
        "-E",
        str(JAIL),
        str(limits.memory_bytes),
        str(limits.cpu_s),
        str(limits.output_bytes),
        str(report_fd),
        "--",
    ]


def scrubbed_env(threads: int) -> dict[str, str]:
    """The only environment a kernel sees."""
    return {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "RAYON_NUM_THREADS": str(threads),
        "OPENBLAS_NUM_THREADS": str(threads),
        "RUST_BACKTRACE": "0",
    }
