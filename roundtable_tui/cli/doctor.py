"""`roundtable doctor`: what is installed and which sandbox protections are active here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

from roundtable_tui.config import Settings, settings
from roundtable_tui.kernels import machine, protections
from roundtable_tui.kernels.build import Builder, have_openblas
from roundtable_tui.kernels.sandbox import Limits, jail_command


@dataclass
class Item:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _version(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def probe_jail() -> dict[str, str]:
    """Runs the jail around /bin/true and reads back which protections it applied."""
    r, w = os.pipe()
    limits = Limits(wall_s=5)
    env = {"ROUNDTABLE_NONCE": "probe", "PATH": "/usr/bin:/bin"}
    try:
        proc = subprocess.run(
            [*jail_command(limits, w), shutil.which("true") or "/bin/true"],
            pass_fds=(w,),
            env=env,
            capture_output=True,
            timeout=30,
        )
        os.close(w)
        w = -1
        with os.fdopen(r, "rb") as f:
            line = f.read().decode(errors="replace").strip()
        r = -1
        if proc.returncode != 0 or not line.startswith("probe jail "):
            return {"error": (proc.stderr.decode(errors="replace").strip() or line)[-300:]}
        return dict(part.split("=", 1) for part in line.split()[2:])
    finally:
        for fd in (r, w):
            if fd >= 0:
                os.close(fd)


def machine_items(cfg: Settings) -> list[Item]:
    """The machine the templates are derived for, the build's target and the Linux-only
    protections of the checker."""
    m = machine.current(cfg)
    target = machine.target_of(cfg.rustflags)
    try:
        machine.check_target(target)
        runnable, why = True, ""
    except machine.TargetError as exc:
        runnable, why = False, str(exc)
    coretype = machine.openblas_coretype(m)
    items = [
        Item("machine", True, m.summary()),
        Item(
            "target cpu",
            runnable,
            (
                f"{target}: kernels built for {m.isa} ({m.lanes} f32 lanes, {m.vregs} registers)"
                if runnable
                else why
            ),
            "choose a target this CPU can run (--target-cpu, ROUNDTABLE_TARGET_CPU)",
        ),
        Item(
            "OpenBLAS anchor ISA",
            True,
            f"{coretype} kernels (OPENBLAS_CORETYPE), the ISA the kernels are built for"
            if coretype
            else "OpenBLAS's own choice for this CPU",
        ),
    ]
    for p in protections.probe():
        items.append(
            Item(
                f"protection: {p.name}",
                p.available or cfg.allow_unprotected,
                p.detail
                + (
                    ""
                    if p.available
                    else " (checks refuse to run"
                    + (
                        ": allowed by ROUNDTABLE_ALLOW_UNPROTECTED)"
                        if cfg.allow_unprotected
                        else " unless ROUNDTABLE_ALLOW_UNPROTECTED=1)"
                    )
                ),
                "" if p.available else "run checks on Linux",
            )
        )
    return items


def diagnose() -> list[Item]:
    cfg = settings()
    items: list[Item] = []
    items.append(Item("python", sys.version_info >= (3, 11), sys.version.split()[0]))
    cargo = _version(["cargo", "--version"])
    items.append(
        Item(
            "cargo",
            cargo is not None,
            cargo or "not found",
            "install Rust (rustup, or apt-get install cargo)",
        )
    )
    items.append(Item("rustc", machine.rustc_version() != "not installed", machine.rustc_version()))
    items.append(Item("build flags", True, cfg.rustflags))
    items.append(
        Item(
            "cpu", True, f"{machine.cpu_model()} · {machine.simd_level()} · {cfg.n_threads} threads"
        )
    )
    items += machine_items(cfg)
    items.append(
        Item(
            "OpenBLAS (speed anchor)",
            have_openblas(),
            "found" if have_openblas() else "not found: fraction_of_openblas unavailable",
            "apt-get install libopenblas-dev",
        )
    )
    builder = Builder(cfg)
    mode = builder.registry_mode()
    debian = any(cfg.crate_registry.glob("rayon-*"))
    items.append(
        Item(
            "crate sources",
            mode != "unknown" or debian,
            mode
            if mode != "unknown"
            else (
                "decided at the first build (Debian's rayon is available as a fallback)"
                if debian
                else "decided at the first build; no offline fallback"
            ),
            "apt-get install librust-rayon-dev (used when crates.io is unreachable)",
        )
    )
    jail = probe_jail()
    if "error" in jail:
        items.append(Item("sandbox", False, f"the jail failed: {jail['error']}"))
    else:
        net = jail.get("network", "?")
        items.append(
            Item(
                "sandbox: network",
                net in ("netns", "userns+netns"),
                {
                    "netns": "isolated (network namespace)",
                    "userns+netns": "isolated (user + network namespace)",
                }.get(net, f"not isolated ({net}); the static gate still bans std::net"),
                "run as root or enable unprivileged user namespaces",
            )
        )
        items.append(
            Item(
                "sandbox: limits",
                True,
                f"memory {int(jail['memory']) >> 20} MiB, CPU {jail['cpu']} s, "
                f"output {int(jail['fsize']) >> 20} MiB, no core dumps, "
                f"wall clock {cfg.timeout_s:.0f} s, own process group",
            )
        )
    items.append(
        Item(
            "sandbox: static gate",
            True,
            "unsafe, extern, std::fs/net/process/env/os, include!/env!, asm, "
            "no_mangle/export_name/link_section, #[path], mod x; are refused",
        )
    )
    items.append(Item("sandbox: environment", True, "scrubbed; temporary working directory"))
    items.append(Item("cache", True, str(cfg.cache_dir)))
    return items
