"""Widgets of the main screen: one pane per agent, the leaderboard, the chart, the status."""

from __future__ import annotations

from rich.markdown import Markdown
from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

from roundtable_tui.core.events import Agent
from roundtable_tui.core.state import SessionState

CODE_FENCE = "```"


def render_message(agent: Agent, text: str) -> Syntax | Markdown:
    """Markdown for prose; Rust highlighted (pygments) for the Coder's code."""
    if agent is Agent.CODER and CODE_FENCE in text:
        start = text.find("\n", text.find(CODE_FENCE)) + 1
        end = text.find(CODE_FENCE, start)
        code = text[start:] if end < 0 else text[start:end]
        return Syntax(code.rstrip(), "rust", theme="monokai", line_numbers=False, word_wrap=True)
    if agent is Agent.PROPOSER and text.lstrip().startswith("{"):
        return Syntax(text, "json", theme="monokai", word_wrap=True)
    return Markdown(text)


class AgentPane(VerticalScroll):
    """An agent's messages; the one being written grows as tokens stream in."""

    DEFAULT_CSS = """
    AgentPane { border: round $primary-darken-2; height: 1fr; padding: 0 1; }
    AgentPane.-active { border: round $accent; }
    AgentPane > .message { margin-bottom: 1; }
    """

    def __init__(self, agent: Agent, **kw) -> None:
        super().__init__(id=f"pane-{agent}", **kw)
        self.agent = agent
        self.border_title = agent.value.title()
        self._live: Static | None = None
        self._buffer: list[str] = []

    def compose(self) -> ComposeResult:
        return iter(())

    def start(self) -> None:
        self.add_class("-active")
        self._buffer = []
        self._live = Static("…", classes="message")
        self.mount(self._live)
        self.scroll_end(animate=False)

    def stream(self, piece: str) -> None:
        if self._live is None:
            self.start()
        self._buffer.append(piece)

    def flush(self) -> None:
        if self._live is not None and self._buffer:
            self._live.update(Text("".join(self._buffer)))
            self.scroll_end(animate=False)

    def finish(self, text: str) -> None:
        if self._live is None:
            self._live = Static(classes="message")
            self.mount(self._live)
        self._live.update(render_message(self.agent, text))
        self._live = None
        self._buffer = []
        self.remove_class("-active")
        self.scroll_end(animate=False)

    def note(self, markup: str) -> None:
        self.mount(Static(markup, classes="message"))
        self.scroll_end(animate=False)


class Leaderboard(DataTable):
    COLUMNS = ("it", "#", "title", "by", "verdict", "GFLOPS", "vs naive", "of OpenBLAS", "vs best")

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        for col in self.COLUMNS:
            self.add_column(col, key=col)

    def refresh_from(self, state: SessionState) -> None:
        best = state.best
        rows = []
        for e in state.leaderboard():
            ok = e.verdict == "passed"
            c = e.confirmation
            # the comparison with the best it met: outcome and speed ratio [95% interval]
            versus = f"{c.outcome} {c.interval()}".strip() if c and c.against is not None else "—"
            rows.append(
                (
                    Text(str(e.iteration)),
                    Text("—" if e.number is None else str(e.number)),
                    Text(("★ " if e is best else "") + e.title[:40]),
                    Text(e.proposed_by or "—"),
                    Text(e.verdict, style="green" if ok else "red"),
                    Text(f"{e.gflops:.1f}" if e.gflops else "—"),
                    Text(f"{e.speedup_vs_naive:.2f}×" if e.speedup_vs_naive else "—"),
                    Text(f"{e.fraction_of_openblas:.0%}" if e.fraction_of_openblas else "—"),
                    Text(versus),
                )
            )
        self.clear()
        # every column as wide as its widest cell, set before the rows are added: left to
        # the table, widths are measured on idle, and a snapshot (or a glance) could catch
        # every column at its header's width while the rows were already drawn
        for i, column in enumerate(self.columns.values()):
            column.width = max([column.label.cell_len, *(row[i].cell_len for row in rows)])
            column.auto_width = False
        for row in rows:
            self.add_row(*row)


class BestChart(PlotextPlot):
    """Best GFLOPS over iterations, with naive, rayon and OpenBLAS as reference lines."""

    def refresh_from(self, state: SessionState) -> None:
        plt = self.plt
        plt.clear_data()
        plt.title("best GFLOPS by iteration")
        best: list[float] = []
        xs: list[int] = []
        top = 0.0
        for it in range(state.finished_iterations + 1):
            for e in state.entries:
                if e.iteration == it and e.verdict == "passed" and e.gflops:
                    top = max(top, e.gflops)
            xs.append(it)
            best.append(top)
        if xs:
            plt.plot(xs, best, marker="braille", label="best")
        for name, color in (("naive", "red"), ("rayon", "yellow"), ("openblas", "green")):
            if state.baselines.get(name):
                plt.hline(state.baselines[name], color)
        plt.xlabel("iteration  (lines: naive red, rayon yellow, OpenBLAS green)")
        self.refresh()


class StatusLine(Static):
    DEFAULT_CSS = "StatusLine { height: 1; background: $panel; color: $text; padding: 0 1; }"
