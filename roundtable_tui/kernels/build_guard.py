"""Exec'd between roundtable and cargo: build limits, and the build dies with roundtable.

Run as `python -S -E build_guard.py PARENT_PID MEM_BYTES CPU_S FSIZE_BYTES -- cargo ARGS...`
in a new session (its own process group, which cargo and every rustc it starts inherit).
It sets the limits every compiler process inherits (address space, CPU seconds, largest file
written, no core files), asks the OS to signal it when roundtable goes away, and then runs
cargo as its child; when roundtable dies (even by SIGKILL) it kills the whole build group, so
no cargo or rustc outlives the run. Standard library only: it starts in milliseconds.
"""

import contextlib
import ctypes
import os
import resource
import signal
import sys

PR_SET_PDEATHSIG = 1


def main() -> None:
    args = sys.argv[1:]
    sep = args.index("--")
    parent, mem, cpu, fsize = (int(a) for a in args[:4])
    program = args[sep + 1 :]

    def kill_build(_sig: int = 0, _frame: object = None) -> None:
        # the whole group: cargo, every rustc and linker, and this guard
        os.killpg(0, signal.SIGKILL)

    signal.signal(signal.SIGTERM, kill_build)
    signal.signal(signal.SIGHUP, kill_build)
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # roundtable died before the request above took effect
        kill_build()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        try:
            os.execvp(program[0], program)
        finally:
            os._exit(127)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        os._exit(128 + os.WTERMSIG(status))
    os._exit(os.WEXITSTATUS(status))


if __name__ == "__main__":
    main()
