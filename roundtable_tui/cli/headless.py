"""Headless viewers of the event stream: `run --auto` progress and `replay --headless`."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from roundtable_tui.core.events import Event, Kind
from roundtable_tui.core.state import Entry, SessionState


def _g(v: float | None, spec: str = ".1f", suffix: str = "") -> str:
    return "—" if v is None else f"{v:{spec}}{suffix}"


def leaderboard_table(state: SessionState, title: str = "leaderboard") -> Table:
    t = Table(title=title, header_style="bold")
    for col, just in (
        ("it", "right"),
        ("#", "right"),
        ("title", "left"),
        ("verdict", "left"),
        ("GFLOPS", "right"),
        ("vs naive", "right"),
        ("of OpenBLAS", "right"),
    ):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for e in state.leaderboard():
        style = "green" if e.verdict == "passed" else "red"
        t.add_row(
            str(e.iteration),
            str(e.number) if e.number or e.iteration == 0 else "",
            e.title[:48],
            f"[{style}]{e.verdict}[/]",
            _g(e.gflops),
            _g(e.speedup_vs_naive, ".2f", "×"),
            _g(e.fraction_of_openblas and e.fraction_of_openblas * 100, ".0f", "%"),
        )
    return t


def entry_json(e: Entry) -> dict[str, Any]:
    return {
        "iteration": e.iteration,
        "kernel": e.number,
        "title": e.title,
        "kind": e.kind,
        "verdict": e.verdict,
        "reason": e.reason,
        "gflops": e.gflops,
        "speedup_vs_naive": e.speedup_vs_naive,
        "fraction_of_openblas": e.fraction_of_openblas,
    }


class AutoProgress:
    """Prints one status line while agents work and one line per finished iteration."""

    def __init__(self, console: Console, quiet: bool = False) -> None:
        self.console = console
        self.quiet = quiet
        self.state = SessionState()
        self.status = console.status("starting…") if console.is_terminal and not quiet else None
        self.agent = ""
        self.tokens = 0
        self.t0 = time.monotonic()
        self.tps = 0.0

    def __enter__(self) -> AutoProgress:
        if self.status:
            self.status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.status:
            self.status.stop()

    def _update(self, text: str) -> None:
        if self.status:
            self.status.update(text)

    def __call__(self, ev: Event) -> None:
        self.state.apply(ev)
        it = ev.iteration
        if ev.kind is Kind.AGENT_STARTED and ev.agent:
            self.agent, self.tokens, self.t0 = str(ev.agent), 0, time.monotonic()
            self._update(f"iteration {it} · {self.agent}…")
        elif ev.kind is Kind.TOKEN:
            self.tokens += 1
            dt = time.monotonic() - self.t0
            if self.tokens % 8 == 0 and dt > 0:
                self._update(
                    f"iteration {it} · {self.agent} writing · {self.tokens} tokens · "
                    f"{self.tokens / dt:.1f} tok/s"
                )
        elif ev.kind is Kind.MESSAGE and ev.data.get("tokens_per_s"):
            self.tps = float(ev.data["tokens_per_s"])
        elif ev.kind is Kind.CHECK_PROGRESS:
            self._update(f"iteration {it} · tester: {ev.data.get('phase')}…")
        elif ev.kind is Kind.ERROR and not self.quiet:
            self.console.print(f"[yellow]{ev.agent}: {escape(str(ev.data.get('message')))}[/]")
        elif ev.kind is Kind.ITERATION_FINISHED and not self.quiet:
            d = ev.data
            if it == 0:
                seed = self.state.entries[-1] if self.state.entries else None
                if seed:
                    self.console.print(
                        f"start: naive kernel {_g(seed.gflops)} GFLOPS ({seed.verdict})"
                    )
                return
            mark = "[green]▲[/]" if d.get("improved") else " "
            self.console.print(
                f"{mark} iteration {it}: {escape(str(d.get('title', ''))[:50])} → "
                f"{d.get('verdict')} "
                f"{_g(d.get('gflops'))} GFLOPS · best {_g(d.get('best_gflops'))} · "
                f"{self.tps:.1f} tok/s"
            )


def print_transcript(console: Console, events: list[Event]) -> SessionState:
    """`replay --headless`: every agent's messages in order, then the leaderboard."""
    state = SessionState()
    for ev in events:
        state.apply(ev)
        who = str(ev.agent or "manager")
        d = ev.data
        if ev.kind is Kind.ITERATION_STARTED:
            console.rule(f"iteration {ev.iteration}")
        elif ev.kind is Kind.MESSAGE:
            extra = (
                f" [dim]({d.get('completion_tokens')} tokens, {d.get('tokens_per_s')} tok/s)[/]"
                if d.get("completion_tokens")
                else ""
            )
            console.print(f"[bold]{who}[/]{extra}")
            console.print(d.get("text", ""), markup=False, highlight=False)
        elif ev.kind is Kind.PROPOSAL:
            console.print(
                f"[bold]{who}[/] proposes [cyan]{escape(str(d.get('title')))}[/] ({d.get('kind')})"
            )
            if d.get("chunks"):
                console.print(
                    "  using: "
                    + ", ".join(str(c.get("source") or c.get("id")) for c in d["chunks"])
                )
        elif ev.kind is Kind.VERIFICATION:
            mark = "✓" if d.get("ok") else "✗"
            console.print(f"[bold]verifier[/] {mark} {escape(str(d.get('detail', '')))}")
        elif ev.kind is Kind.REVIEW:
            console.print(
                f"[bold]review[/] kernel {d.get('number')}: {d.get('action')}"
                + (f" — {d.get('reason')}" if d.get("reason") else "")
            )
        elif ev.kind is Kind.CHECK_RESULT:
            console.print(
                f"[bold]tester[/] kernel {d.get('number')}: {d.get('verdict')} "
                f"{_g(d.get('gflops'))} GFLOPS — {d.get('reason', '')}",
                markup=True,
            )
        elif ev.kind is Kind.ERROR:
            console.print(f"[yellow]{who}: {escape(str(d.get('message')))}[/]")
        elif ev.kind is Kind.SESSION_FINISHED:
            console.print(f"[bold]session finished[/]: {d.get('reason')}")
    console.print(leaderboard_table(state))
    return state
