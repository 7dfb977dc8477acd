"""The checker's Linux-only protections, probed: what a check relies on that another OS
(macOS, the BSDs) does not offer, so that it refuses there with a clear reason instead of
running a kernel with less protection than it claims.

- namespaces: the kernel's process enters a fresh user + network namespace (`unshare`), so
  it has no network and no capability over the checker (jail.py).
- prctl: it dies with its parent (PR_SET_PDEATHSIG), cannot gain privileges
  (PR_SET_NO_NEW_PRIVS), and the checker's memory is not dumpable (PR_SET_DUMPABLE).
- /proc: the checker reads the child's CPU time from /proc/PID/stat (a kernel cannot hide
  work in threads the parent does not see) and maps the user namespace's ids.

A check where one is missing runs only after an explicit opt-in (setting
`allow_unprotected`, ROUNDTABLE_ALLOW_UNPROTECTED=1); its result then names what was
missing. The static gate, resource limits, the scrubbed environment and the trusted timing
do not depend on Linux and stay on everywhere.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from roundtable_tui.config import Settings, settings
from roundtable_tui.kernels.build import ToolMissing


@dataclass(frozen=True)
class Protection:
    name: str
    available: bool
    detail: str
    """What it guards against, or why it is missing."""


def _libc_has(symbol: str) -> bool:
    try:
        return hasattr(ctypes.CDLL(ctypes.util.find_library("c") or None), symbol)
    except OSError:
        return False


def _on_linux() -> bool:
    return sys.platform.startswith("linux")


def probe_namespaces() -> Protection:
    ok = _on_linux() and _libc_has("unshare") and (PROC / "self" / "ns" / "net").exists()
    why = (
        "user + network namespaces: the kernel has no network and no hold on the checker"
        if ok
        else f"no Linux namespaces on {sys.platform}: the kernel's process would keep the "
        "network and the user's privileges over the checker"
    )
    return Protection("namespaces", ok, why)


def probe_prctl() -> Protection:
    ok = _on_linux() and _libc_has("prctl")
    why = (
        "prctl: the kernel dies with the checker, cannot gain privileges, cannot read the "
        "checker's memory"
        if ok
        else f"no prctl on {sys.platform}: a kernel could outlive the checker or gain "
        "privileges through a set-uid program"
    )
    return Protection("prctl", ok, why)


PROC = Path("/proc")


def probe_proc() -> Protection:
    ok = (PROC / str(os.getpid()) / "stat").exists() and (PROC / "self" / "uid_map").exists()
    why = (
        "/proc: the checker reads the kernel's CPU time itself (/proc/PID/stat)"
        if ok
        else f"no /proc on {sys.platform}: the checker cannot count the CPU time of the "
        "kernel's threads itself"
    )
    return Protection("/proc", ok, why)


PROBES = (probe_namespaces, probe_prctl, probe_proc)


def probe() -> list[Protection]:
    """Every Linux-only protection, available or not."""
    return [p() for p in PROBES]


class Unprotected(ToolMissing):
    """A check refused because a protection it relies on is missing on this OS."""


def require(cfg: Settings | None = None) -> list[str]:
    """The names of the missing protections (empty on Linux). Raises Unprotected when any
    is missing and `cfg.allow_unprotected` is not set."""
    cfg = cfg or settings()
    missing = [p for p in probe() if not p.available]
    if missing and not getattr(cfg, "allow_unprotected", False):
        raise Unprotected(
            "the checker cannot protect this machine from the kernel: "
            + "; ".join(p.detail for p in missing)
            + ". Run checks on Linux, or set ROUNDTABLE_ALLOW_UNPROTECTED=1 to run kernels "
            "you trust without these protections"
        )
    return [p.name for p in missing]
