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
SETTLE_CAP_S = 0.5
"""Longest the child runs on after a call's `done` for its threads to go idle (Server._settle)."""
SETTLE_POLL_S = 0.001
"""How often the settle looks at the child's threads' states, seconds."""
STOP_WAIT_S = 0.1
"""Longest the parent waits for SIGSTOP to reach every thread of the child."""
SETTLE_TOTAL_S = 5.0
"""Settling time per run at most: a kernel whose threads never go idle (a spinning
background thread) is then stopped at once after each call, its CPU charged all the same."""


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


# ----------------------------------------------------------------------------- serve mode
PR_SET_DUMPABLE = 4


class ChildFailed(Exception):
    """The kernel's process died, hung or broke the protocol during a call; `outcome` says
    how (its exit status, stderr tail, whether the wall-clock limit ran out)."""

    def __init__(self, message: str, outcome: RunOutcome, protocol: bool = False) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.protocol = protocol
        """True when the child wrote something on the reply channel the harness never writes."""


def _not_dumpable() -> None:
    """The parent holds the secrets (input generator, probe choices): make its memory
    unreadable to other processes without capabilities over it (ptrace, /proc/PID/mem)."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


@dataclass
class CallTiming:
    wall_s: float
    """The parent's clock from sending the call to reading its answer."""
    cpu_s: float
    """CPU time the kernel's process used during the call (all its threads, from the OS)."""


class Server:
    """The kernel's process in serve mode, driven call by call by the parent.

    The child (harness + kernel, in the jail) maps `size` bytes of shared memory once; the
    parent writes each call's arguments there, then continues the child's process group,
    sends `call N ...`, waits for `done N` and stops the group again (SIGSTOP), so no thread
    of the kernel runs while the parent writes the next inputs or checks the outputs. The
    parent's clock around the exchange is the only timing; the child's CPU time comes from
    /proc/PID/stat (utime + stime of every thread). Nothing the child says is trusted: a
    line other than the expected `done N`, or one that arrives outside a call, ends the run.
    """

    def __init__(
        self,
        program: list[str],
        nonce: str,
        limits: Limits,
        env: dict[str, str],
        size: int,
        cancel: threading.Event | None = None,
    ) -> None:
        import mmap

        _not_dumpable()
        self.nonce = nonce
        self.limits = limits
        self.cancel = cancel
        self.outcome = RunOutcome()
        self.workdir = Path(tempfile.mkdtemp(prefix="roundtable-run-"))
        self.size = max(size, 4096)
        self.shm_fd = os.memfd_create("roundtable-call", os.MFD_CLOEXEC)
        self._shm_number = self.shm_fd  # pass_fds keeps the number in the child
        os.ftruncate(self.shm_fd, self.size)
        self.shm = mmap.mmap(self.shm_fd, self.size)
        self.buf = memoryview(self.shm)
        cfg_r, self.cfg_w = os.pipe()
        self.rep_r, rep_w = os.pipe()
        self.pending = b""
        self.calls = 0
        self.cpu_in_calls = 0.0
        self.settled_s = 0.0
        """Time spent settling after calls so far (`_settle`, at most SETTLE_TOTAL_S)."""
        self.tick = os.sysconf("SC_CLK_TCK")
        child_env = {
            **env,
            "ROUNDTABLE_NONCE": nonce,
            "HOME": str(self.workdir),
            "TMPDIR": str(self.workdir),
        }
        os.set_inheritable(self.shm_fd, True)
        cmd = [*jail_command(limits, rep_w), *program, str(cfg_r), str(rep_w)]
        self.start = time.monotonic()
        self.parent_s = 0.0
        """Time the child spent stopped while the parent made inputs and checked outputs:
        not counted against the kernel's wall-clock limit."""
        self.stopped_at: float | None = None
        with (
            open(self.workdir / "stdout", "wb") as stdout,
            open(self.workdir / "stderr", "wb") as stderr,
        ):
            self.proc = subprocess.Popen(
                cmd,
                cwd=self.workdir,
                env=child_env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                pass_fds=(cfg_r, rep_w, self.shm_fd),
            )
        os.close(cfg_r)
        os.close(rep_w)
        os.close(self.shm_fd)
        self.shm_fd = -1
        self._send(f"nonce {nonce}\nserve shm_fd={self._shm_number} size={self.size}\n")
        while True:
            word, rest = self._expect_any()
            if word == "jail":
                self.outcome.lines.append((time.monotonic() - self.start, f"jail {rest}"))
            elif word == "ready":
                break
            elif word != "hello":
                self._protocol(f"unexpected {word} {rest}".strip())
        self._stop()
        self.stopped_at = time.monotonic()

    # ------------------------------------------------------------------ plumbing
    def _send(self, text: str) -> None:
        try:
            os.write(self.cfg_w, text.encode())
        except OSError:
            self._died("stopped reading its orders")

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def cpu_s(self) -> float:
        """utime + stime of the child (all threads, finished ones included), seconds."""
        try:
            with open(f"/proc/{self.proc.pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / self.tick
        except (OSError, IndexError, ValueError):
            return 0.0

    def _read_line(self, block: bool = True) -> bytes | None:
        import select

        while b"\n" not in self.pending:
            if not block:
                ready, _, _ = select.select([self.rep_r], [], [], 0)
                if not ready:
                    return None
            else:
                while True:
                    left = self.start + self.limits.wall_s + self.parent_s - time.monotonic()
                    if left <= 0:
                        self._timeout()
                    if self.cancel is not None and self.cancel.is_set():
                        self._kill()
                        raise Cancelled()
                    ready, _, _ = select.select([self.rep_r], [], [], min(0.05, left))
                    if ready:
                        break
            chunk = os.read(self.rep_r, 65536)
            if not chunk:
                if self.pending:
                    break
                self._died("exited")
            self.pending += chunk
            if len(self.pending) > 1 << 20:
                self._protocol("flooded the harness's reply channel")
        line, _, self.pending = self.pending.partition(b"\n")
        return line

    def _expect_any(self) -> tuple[str, str]:
        raw = self._read_line()
        assert raw is not None
        text = raw.decode(errors="replace")
        head, _, rest = text.partition(" ")
        if head != self.nonce:
            self._protocol(text)
        word, _, rest = rest.partition(" ")
        return word, rest

    # ------------------------------------------------------------------ failures
    def _finish(self) -> RunOutcome:
        out = self.outcome
        if self.proc.poll() is None:
            self._kill()
        out.returncode = self.proc.returncode
        out.wall_s = time.monotonic() - self.start
        out.stdout_tail = _tail(self.workdir / "stdout")
        out.stderr_tail = _tail(self.workdir / "stderr")
        return out

    def _kill(self) -> None:
        self._signal(signal.SIGKILL)
        self._signal(signal.SIGCONT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)

    def _died(self, what: str) -> None:
        self._signal(signal.SIGCONT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        raise ChildFailed(f"the kernel's process {what}", self._finish())

    def _timeout(self) -> None:
        self._kill()
        self.outcome.timed_out = True
        raise ChildFailed("timed out", self._finish())

    def _protocol(self, line: str) -> None:
        self._kill()
        shown = line if len(line) <= 80 else line[:77] + "..."
        raise ChildFailed(
            f"the harness's reply channel carried a line the harness never writes ({shown!r}): "
            "the kernel's process wrote on the harness's descriptors, so nothing it reports "
            "can be believed",
            self._finish(),
            protocol=True,
        )

    # ------------------------------------------------------------------ calls
    def _exchange(self, line: str, at_return: Callable[[], object] | None = None) -> CallTiming:
        """One call: continue the group, send `line`, wait for `done N`, stop the group.
        `at_return` runs while the group is stopped at the moment the call returned (the
        parent copies the outputs then: a kernel's result is what it left at its return);
        then the group runs on until its threads are idle (`_settle`) and is stopped again."""
        if self._read_line(block=False) is not None or self.pending:
            self._protocol("a line sent while no call was running")
        self.calls += 1
        n = self.calls
        if self.stopped_at is not None:
            self.parent_s += time.monotonic() - self.stopped_at
        cpu0 = self.cpu_s()
        t0 = time.perf_counter()
        self._signal(signal.SIGCONT)
        self._send(f"{line.replace('#', str(n))}\n")
        raw = self._read_line()
        t1 = time.perf_counter()
        cpu = self.cpu_s() - cpu0
        self._stop()
        if raw == f"{self.nonce} done {n}".encode():
            if at_return is not None:
                at_return()
            self._signal(signal.SIGCONT)
            self._settle()
            self._stop()
        self.stopped_at = time.monotonic()
        if raw != f"{self.nonce} done {n}".encode():
            self._protocol((raw or b"").decode(errors="replace"))
        self.cpu_in_calls += cpu
        return CallTiming(t1 - t0, cpu)

    def _stop(self) -> None:
        """Stops the group and waits (at most STOP_WAIT_S) until every thread of the child
        is stopped: SIGSTOP takes effect asynchronously, and a thread running on another
        core could otherwise write once more after the parent moved on."""
        self._signal(signal.SIGSTOP)
        deadline = time.monotonic() + STOP_WAIT_S
        while time.monotonic() < deadline and not self._all_stopped():
            time.sleep(0.0002)

    def _thread_states(self) -> list[bytes] | None:
        """The state letter of every thread of the child (/proc/PID/task/*/stat: R running,
        S sleeping, T stopped, ...); None where /proc is missing or the child is gone."""
        try:
            tasks = os.listdir(f"/proc/{self.proc.pid}/task")
        except OSError:
            return None
        states = []
        for tid in tasks:
            try:
                with open(f"/proc/{self.proc.pid}/task/{tid}/stat", "rb") as f:
                    states.append(f.read().rsplit(b")", 1)[1].split()[0])
            except (OSError, IndexError):
                continue  # the thread exited meanwhile
        return states

    def _all_stopped(self) -> bool:
        """Whether every thread of the child is stopped (or gone); True without /proc."""
        states = self._thread_states() or []
        return all(state in (b"T", b"t", b"Z", b"X") for state in states)

    def _running_threads(self) -> int:
        """How many of the child's threads are running or runnable now; 0 without /proc."""
        return sum(state == b"R" for state in self._thread_states() or [])

    def _settle(self) -> None:
        """After `done`, lets the child run on until none of its threads has been running
        for two polls in a row (at most SETTLE_CAP_S), then the group is stopped. Work a call
        leaves behind (a background thread packing, caching or writing) so finishes before
        the next call, as it would in a real program between two calls, instead of racing
        it: a kernel whose next result depends on that work is then caught reliably. The
        CPU it uses counts as outside the calls and is charged to the timed calls."""
        start = time.monotonic()
        deadline = start + min(SETTLE_CAP_S, SETTLE_TOTAL_S - self.settled_s)
        quiet = 0
        while quiet < 2 and time.monotonic() < deadline:
            quiet = 0 if self._running_threads() else quiet + 1
            time.sleep(SETTLE_POLL_S)
        self.settled_s += time.monotonic() - start

    def noop(self) -> float:
        """One exchange without a kernel call: the parent's per-call overhead, seconds."""
        return self._exchange("noop #").wall_s

    def call(self, call, guard) -> tuple[CallTiming, str | None, list]:
        """Runs the kernel once on `call` (an inputs.Call): writes its buffers, calls, then
        runs `guard(call, inputs, outputs, bits)` on views of the shared memory as the kernel
        left it (the child is stopped) and returns (timing, guard's message, copies of the
        outputs)."""
        import numpy as np

        from roundtable_tui.kernels.inputs import ALIGN

        regions: list[tuple[int, int] | None] = []
        offset = 0
        flat = np.frombuffer(self.buf, dtype=np.uint8)

        shift = getattr(call, "shift", 0)
        if shift % 8 or not 0 <= shift < ALIGN:
            raise ValueError(f"a buffer shift of {shift} bytes (a multiple of 8 below {ALIGN})")

        def place(arr) -> str:
            nonlocal offset
            if arr is None:
                regions.append(None)
                return "-"
            n = arr.nbytes
            offset += shift
            if offset + n > self.size:
                raise ValueError("the call does not fit the shared buffer")
            flat[offset : offset + n] = arr.reshape(-1).view(np.uint8)
            regions.append((offset, n))
            spec = f"{offset}:{arr.size}"
            offset = (offset + n + ALIGN - 1) // ALIGN * ALIGN
            return spec

        arrays = [*call.inputs, *call.outputs, call.bits]
        specs = []
        for i, a in enumerate(arrays):
            if i == 1 and getattr(call, "alias", False):
                # the second input is the first one's buffer: one region, named twice
                specs.append(specs[0])
                regions.append(regions[0])
            else:
                specs.append(place(a))
        n_in, n_out = len(call.inputs), len(call.outputs)
        dims = ",".join(map(str, call.dims))
        line = (
            f"call # dims={dims} in={','.join(specs[:n_in])} "
            f"out={','.join(specs[n_in : n_in + n_out])}"
        )
        if call.bits is not None:
            line += f" bits={specs[-1]}"
        views = [
            None if r is None or a is None else flat[r[0] : r[0] + r[1]].view(a.dtype)
            for a, r in zip(arrays, regions, strict=True)
        ]
        out_views = views[n_in : n_in + n_out]
        at_return: list[np.ndarray | None] = []

        def copy_outputs() -> None:
            at_return.extend(None if v is None else v.copy() for v in out_views)

        timing = self._exchange(line, copy_outputs)
        msg = None
        for name, then, now in zip(self._out_names(call), at_return, out_views, strict=True):
            if (
                then is not None
                and now is not None
                and not np.array_equal(then.view(np.uint8), now.view(np.uint8))
            ):
                msg = (
                    f"{call.describe()}: `{name}` changed after the call returned (work left "
                    "running in the background): a result must be complete at the return"
                )
                break
        msg = msg or guard(call, views[:n_in], at_return, views[-1])
        del views
        return timing, msg, at_return

    @staticmethod
    def _out_names(call) -> list[str]:
        from roundtable_tui.kernels.inputs import layout

        return [slot.name for slot in layout(call.problem, call.dims)[1]]

    def close(self) -> RunOutcome:
        """Ends the run: tells the harness to stop, lets it exit, cleans up."""
        try:
            self._signal(signal.SIGCONT)
            with contextlib.suppress(OSError):
                os.write(self.cfg_w, b"end\n")
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
            return self._finish()
        finally:
            self.release()

    def cpu_outside_calls(self) -> float:
        """CPU time the child used outside the calls (start-up included), seconds."""
        return max(0.0, self.cpu_s() - self.cpu_in_calls)

    def release(self) -> None:
        if self.proc.poll() is None:
            self._kill()
        for fd in (self.cfg_w, self.rep_r):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.cfg_w = self.rep_r = -1
        with contextlib.suppress(BufferError, ValueError):
            self.buf.release()
            self.shm.close()
        shutil.rmtree(self.workdir, ignore_errors=True)
