"""The jail on its own, without the static gate: limits, isolation, the nonce channel."""

from __future__ import annotations

import socket
import sys
import time

import pytest

from roundtable_tui.cli.doctor import probe_jail
from roundtable_tui.kernels.sandbox import Limits, run_jailed, scrubbed_env

NONCE = "n0nce"


def jailed(code: str, **limits) -> object:
    return run_jailed([sys.executable, "-c", code], "", NONCE, Limits(**limits), scrubbed_env(1))


def test_only_lines_with_the_nonce_are_reported():
    code = (
        "import os,sys; fd=int(sys.argv[-1]); "
        "os.write(fd, b'n0nce done\\nforged done\\n'); print('n0nce verdict passed')"
    )
    out = jailed(code)
    assert [line for _, line in out.lines if not line.startswith("jail")] == ["done"]
    assert out.forged_lines == 1
    assert "n0nce verdict passed" in out.stdout_tail  # stdout is only kept for display


def test_memory_limit_stops_a_hog():
    out = jailed("b = bytearray(3 << 30)", memory_bytes=512 << 20)
    assert out.returncode != 0
    assert "MemoryError" in out.stderr_tail


def test_wall_clock_limit_kills_the_process_group():
    code = "import subprocess, time; subprocess.Popen(['sleep', '30']); time.sleep(30)"
    t = time.monotonic()
    out = jailed(code, wall_s=1.0)
    assert out.timed_out
    assert time.monotonic() - t < 10


def test_environment_is_scrubbed():
    out = jailed("import os; print(sorted(os.environ))")
    assert "ROUNDTABLE_NONCE" not in out.stdout_tail
    assert "RAYON_NUM_THREADS" in out.stdout_tail
    assert "HOME" in out.stdout_tail


def test_no_core_dumps_and_output_size_limited():
    out = jailed(
        "import sys; sys.stdout.write('x' * (2 << 20)); sys.stdout.flush()", output_bytes=1 << 20
    )
    assert out.returncode != 0  # SIGXFSZ or an I/O error, never a 2 MiB file


@pytest.mark.skipif(
    probe_jail().get("network") not in ("netns", "userns+netns"),
    reason="this machine does not allow network namespaces",
)
def test_network_is_unreachable_inside_the_jail():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        code = (
            f"import socket\ntry:\n socket.create_connection(('127.0.0.1', {port}), 2)\n"
            " print('CONNECTED')\nexcept OSError as e:\n print('REFUSED', e)"
        )
        out = jailed(code)
        assert "REFUSED" in out.stdout_tail, out.stdout_tail + out.stderr_tail
    finally:
        server.close()


# ----------------------------------------------------------------------------- serve mode
FAKE_HARNESS = r"""
import mmap, os, sys, threading, time
cfg, rep = int(sys.argv[-2]), int(sys.argv[-1])
lines = os.fdopen(cfg, "rb", buffering=0)
nonce = lines.readline().split()[1].decode()
serve = dict(f.split(b"=") for f in lines.readline().split()[1:])
shm = mmap.mmap(int(serve[b"shm_fd"]), int(serve[b"size"]))
say = lambda text: os.write(rep, f"{nonce} {text}\n".encode())
MODE = os.environ.get("FAKE_MODE", "")
def spin():  # a background thread: counts in shared memory whenever it runs
    while True:
        shm[0] = (shm[0] + 1) % 256
        time.sleep(0.001)
def busy_then_mark(n):  # work a call leaves behind: ~50 ms of CPU, then a mark
    end = time.process_time() + 0.05
    while time.process_time() < end:
        pass
    shm[1] = n
def busy_forever():
    while True:
        pass
if MODE == "background":
    threading.Thread(target=spin, daemon=True).start()
if MODE == "spinner":
    threading.Thread(target=busy_forever, daemon=True).start()
say("ready")
for line in lines:
    word, n = line.split()[:2]
    if word == b"end":
        break
    if MODE == "forge":
        say("sample kernel 1e-9")
    if MODE == "leaves_work":
        threading.Thread(target=busy_then_mark, args=(int(n),), daemon=True).start()
    say(f"done {n.decode()}")
"""


def serve(mode: str):
    from roundtable_tui.kernels.sandbox import Server

    env = {**scrubbed_env(1), "FAKE_MODE": mode}
    return Server([sys.executable, "-c", FAKE_HARNESS], NONCE, Limits(wall_s=20), env, 4096)


def test_serve_mode_stops_the_child_between_calls():
    server = serve("background")
    try:
        server.noop()
        before = server.buf[0]
        time.sleep(0.3)  # the parent's untimed work: the child must not run now
        assert server.buf[0] == before
        t = server.noop()
        assert t >= 0 and server.cpu_outside_calls() >= 0
    finally:
        server.close()


def test_work_a_call_leaves_behind_finishes_before_the_next_call():
    """A background thread a call started (packing, caching) runs to its end before the
    child is stopped, so the next call meets its result instead of racing it."""
    server = serve("leaves_work")
    try:
        for n in range(1, 4):
            server.noop()
            assert server.buf[1] == n
        assert server.cpu_outside_calls() > 0.1  # the ~50 ms of each, outside the calls
    finally:
        server.close()


def test_a_thread_that_never_idles_costs_a_bounded_settle(monkeypatch):
    from roundtable_tui.kernels import sandbox

    monkeypatch.setattr(sandbox, "SETTLE_TOTAL_S", 1.0)
    server = serve("spinner")
    try:
        for _ in range(10):
            server.noop()
        assert 0.9 <= server.settled_s <= 1.1  # spent once, then no more settling
    finally:
        server.close()


def test_serve_mode_refuses_any_line_but_done():
    from roundtable_tui.kernels.sandbox import ChildFailed

    server = serve("forge")
    with pytest.raises(ChildFailed) as info:
        server.noop()
    assert info.value.protocol and "sample kernel" in str(info.value)
    server.release()
