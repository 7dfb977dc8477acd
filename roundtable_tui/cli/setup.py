"""Set-up commands: `doctor`, `model fetch|list|path`, `papers index|search|stats`."""

from __future__ import annotations

import argparse
import json

from rich.table import Table
from rich.text import Text

from roundtable_tui.cli.common import EXIT_FAILED, EXIT_OK, UsageError, err, out


def cmd_doctor(args: argparse.Namespace) -> int:
    from roundtable_tui.cli.doctor import diagnose

    items = diagnose()
    if args.json:
        print(json.dumps([i.__dict__ for i in items]))
    else:
        t = Table(show_header=False, box=None)
        t.add_column()
        t.add_column()
        t.add_column()
        for i in items:
            mark = "[green]✓[/]" if i.ok else "[yellow]![/]"
            # names and details are plain text (e.g. "#[path]"), never markup
            detail = Text(i.detail)
            if not i.ok and i.fix:
                detail.append(f"\n→ {i.fix}", style="dim")
            t.add_row(mark, Text(i.name), detail)
        out.print(t)
    required = {"python", "cargo", "rustc", "sandbox"}
    return EXIT_OK if all(i.ok for i in items if i.name in required) else EXIT_FAILED


def cmd_model(args: argparse.Namespace) -> int:
    from roundtable_tui.llm import models

    if args.action == "list":
        t = Table(header_style="bold")
        for col in ("name", "model", "status", "size", "path"):
            t.add_column(col)
        for d in models.describe():
            t.add_row(
                str(d.get("name")),
                str(d.get("title")),
                str(d.get("status")),
                str(d.get("size", "")),
                str(d.get("path")),
            )
        out.print(t)
        return EXIT_OK
    names = args.names or ["embedded"]
    for name in names:
        if name not in models.MODELS:
            raise UsageError(f"unknown model {name!r}; choose from {', '.join(models.MODELS)}")
        if args.action == "path":
            print(models.model_path(name))
            continue

        try:
            path = _fetch_with_progress(models, name, args.force)
        except models.ModelError as exc:
            raise UsageError(str(exc)) from None
        out.print(f"{name}: {path} (verified)")
    return EXIT_OK


def _fetch_with_progress(models, name: str, force: bool):
    """`models.fetch` with a progress bar on a terminal (parts, bytes, rate), else one line
    per part (and per step: verifying, sha256, installed)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    if not err.is_terminal:
        last: list[object] = [None]

        def line(message: str, done: int, total: int) -> None:
            if done != last[0] or not message.startswith("part "):
                last[0] = done
                err.print(f"{name}: [{done}/{total}] {message}", markup=False)

        return models.fetch(name, force=force, progress=line)
    with Progress(
        TextColumn(f"[bold]{name}[/]"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} parts"),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=err,
        transient=False,
    ) as bar:
        task = bar.add_task("", total=None)

        def show(message: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=message)

        return models.fetch(name, force=force, progress=show)


def cmd_papers(args: argparse.Namespace) -> int:
    from roundtable_tui.knowledge import cli_papers

    if args.action == "index":
        from roundtable_tui.config import settings

        return cli_papers.cmd_index(
            args.path, out, rebuild=args.rebuild, sessions_dir=settings().sessions_dir
        )
    if args.action == "search":
        return cli_papers.cmd_search(" ".join(args.query), args.k, out, args.json)
    return cli_papers.cmd_stats(out, args.json)

