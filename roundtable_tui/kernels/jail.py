"""Exec'd between the parent and the harness: applies the sandbox, then becomes the harness.

Run as `python -S -E jail.py MEM_BYTES CPU_S FSIZE_BYTES REPORT_FD -- PROGRAM ARGS...`.
It sets the resource limits, starts a new session (its own process group, so a timeout
kills every thread and child), leaves the network namespace where the OS allows, tells the
parent on the report descriptor which protections it got, and execs the program. It
imports nothing but the standard library so it starts in milliseconds.
"""

import contextlib
import ctypes
import os
import resource
import signal
import sys

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38


def isolate_network() -> str:
    """Enters a fresh network namespace (no interfaces but a down loopback) if permitted."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return "unavailable"
    # a user namespace first even for root: the kernel's process then holds no capability
    # over the parent (no ptrace, no /proc/PID/mem of the process that owns the secrets)
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0:
        try:  # keep our own uid inside the user namespace
            with open("/proc/self/setgroups", "w") as f:
                f.write("deny")
            with open("/proc/self/uid_map", "w") as f:
                f.write(f"{uid} {uid} 1")
            with open("/proc/self/gid_map", "w") as f:
                f.write(f"{gid} {gid} 1")
        except OSError:
            pass
        return "userns+netns"
    if libc.unshare(CLONE_NEWNET) == 0:
        return "netns"
    return "denied"


def main() -> None:
    args = sys.argv[1:]
    sep = args.index("--")
    mem, cpu, fsize, report_fd = (int(a) for a in args[:4])
    program = args[sep + 1 :]
    os.setsid()
    # die with the parent: a killed roundtable leaves no kernel running
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    # Python ignores SIGXFSZ; the program gets the default: killed when it writes too much
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    net = isolate_network()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    nonce = os.environ.pop("ROUNDTABLE_NONCE", "")
    os.write(
        report_fd, f"{nonce} jail network={net} memory={mem} cpu={cpu} fsize={fsize}\n".encode()
    )
    os.execve(program[0], program, os.environ)


if __name__ == "__main__":
    main()
