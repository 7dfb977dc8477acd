"""The `roundtable` command: one module per command group.

- `kernels`: check, bench, problems, templates
- `run`: run --auto, tui
- `sessions`: replay, sessions list|show|export, report
- `setup`: doctor, model, papers
- `parser`: the argument parser that maps each command to its function
"""

from __future__ import annotations

from roundtable_tui.cli.common import (
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    err,
    out,
)
from roundtable_tui.cli.parser import build_parser
from roundtable_tui.cli.run import cmd_tui
from roundtable_tui.core.session import SessionError
from roundtable_tui.kernels.build import ToolMissing

__all__ = [
    "EXIT_ERROR",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "UsageError",
    "build_parser",
    "err",
    "main",
    "out",
]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.target_cpu:
        try:
            _use_target_cpu(args.target_cpu)
        except ValueError as exc:
            err.print(f"[red]error:[/] {exc}")
            return EXIT_USAGE
    if args.command is None:
        return cmd_tui(args)
    try:
        return args.func(args)
    except (UsageError, ValueError, ToolMissing, SessionError) as exc:
        err.print(f"[red]error:[/] {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130


def _use_target_cpu(name: str) -> None:
    """--target-cpu: the settings (and everything read from them) build for `name`."""
    import os

    from roundtable_tui.config import settings
    from roundtable_tui.kernels import machine

    machine.check_target(name)
    os.environ["ROUNDTABLE_TARGET_CPU"] = name
    settings.cache_clear()

