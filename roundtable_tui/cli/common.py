"""What every command module shares: the consoles, exit codes, bad-input errors, formatting."""

from __future__ import annotations

import argparse

from rich.console import Console

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_ERROR, EXIT_INTERRUPTED = 3, 130


def _console(stderr: bool = False) -> Console:
    c = Console(stderr=stderr, highlight=False)
    return c if c.is_terminal else Console(stderr=stderr, highlight=False, width=120)



out = _console()
err = _console(stderr=True)


class UsageError(Exception):
    """Bad input from the user: printed as one clear line, exit status 2."""


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "—" if value is None else f"{value:{spec}}{suffix}"


def _settings_from(args: argparse.Namespace):
    from roundtable_tui.config import settings

    cfg = settings()
    updates = {}
    if getattr(args, "timeout", None):
        updates["timeout_s"] = args.timeout
    if getattr(args, "memory_mb", None):
        updates["memory_limit_mb"] = args.memory_mb
    return cfg.model_copy(update=updates) if updates else cfg

