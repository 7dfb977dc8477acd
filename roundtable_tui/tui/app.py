"""The roundtable TUI: every agent in its own pane, the human at the review gate."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.markup import escape
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Input
from textual.worker import Worker, WorkerState

from roundtable_tui.config import Settings, settings
from roundtable_tui.core.events import Agent, Confirmed, Event, Kind
from roundtable_tui.core.hints import Hints
from roundtable_tui.core.review import Action, ReviewDecision
from roundtable_tui.core.run import RunSpec, prepare
from roundtable_tui.core.session import Session, SessionError, find, read_events, read_meta
from roundtable_tui.core.state import SessionState
from roundtable_tui.kernels.checker import Options
from roundtable_tui.llm.backend import Backend
from roundtable_tui.tui.commands import RoundtableCommands
from roundtable_tui.tui.fetch import FetchModelScreen, missing_model
from roundtable_tui.tui.review import CloseReview, ReviewScreen, TuiReviewGate
from roundtable_tui.tui.screens import (
    HelpScreen,
    NewSessionScreen,
    SessionChoice,
    SessionsScreen,
)
from roundtable_tui.tui.widgets import AgentPane, BestChart, Leaderboard, StatusLine


@dataclass
class EngineEvent(Message):
    """An event from the engine (posted from the manager's thread)."""

    event: Event


@dataclass
class Plan:
    """What to do at start-up: a run (`spec`, started at once with `start`, or when it
    resumes a session), or a replay of a saved session."""

    spec: RunSpec = field(default_factory=RunSpec)
    replay: Path | None = None
    start: bool = False
    """Start a new session at once (otherwise wait for `n`)."""


class _MainScreen(Screen[None]):
    AUTO_FOCUS = ""


class RoundtableApp(App[None]):
    TITLE = "roundtable"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {RoundtableCommands}
    BINDINGS = [
        Binding("n", "new_session", "new session", id="app.new"),
        Binding("s", "sessions", "sessions", id="app.sessions"),
        Binding("c", "cancel", "cancel", id="app.cancel"),
        Binding("t", "toggle_auto", "auto-approve", id="app.auto"),
        Binding("h", "hint", "hint", id="app.hint"),
        Binding("question_mark", "help", "help", id="app.help"),
        Binding("q", "quit", "quit", id="app.quit"),
        Binding("space", "replay_toggle", "play/pause", id="replay.toggle", show=False),
        Binding("right", "replay_step", "step", id="replay.step", show=False),
        Binding("plus", "replay_speed(2.0)", "faster", id="replay.faster", show=False),
        Binding("minus", "replay_speed(0.5)", "slower", id="replay.slower", show=False),
    ]

    def __init__(
        self,
        plan: Plan | None = None,
        cfg: Settings | None = None,
        backend_factory: Callable[[str], Backend] | None = None,
        check_options: Options | None = None,
    ) -> None:
        super().__init__()
        self.cfg = cfg or settings()
        self.plan = plan or Plan()
        if check_options is not None:
            self.plan.spec = replace(self.plan.spec, check=check_options)
        self.backend_factory = backend_factory
        self.state = SessionState()
        self.gate = TuiReviewGate(self)
        self.cancel_event = threading.Event()
        self.session: Session | None = None
        self.model_name = ""
        self.tokens_per_s = 0.0
        self.phase = "idle"
        self.sandbox = ""
        self._replay: list[Event] = []
        self._replay_at = 0
        self._replay_speed = 4.0
        self._replay_playing = False
        self.budget = 0
        self.hints = Hints()

    def get_default_screen(self) -> Screen:
        """The main screen starts with nothing focused, so the arrow and space keys reach the
        app's own bindings (replay stepping), not the hint box (`h` focuses it); the modal
        screens keep the app's auto-focus (the reason box takes the typed reason)."""
        return _MainScreen(id="_default")

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="table"):
            with Horizontal(id="row-top"):
                yield AgentPane(Agent.PROPOSER)
                yield AgentPane(Agent.CODER)
            with Horizontal(id="row-mid"):
                yield AgentPane(Agent.VERIFIER)
                yield AgentPane(Agent.TESTER)
                yield AgentPane(Agent.MANAGER)
            with Horizontal(id="row-bottom"):
                yield Leaderboard(id="leaderboard")
                yield BestChart(id="chart")
        yield Input(
            placeholder="hint for the next proposals, e.g. “try 4x24 tiles” (h to type, "
            "Enter sends, Esc leaves)",
            id="hint",
        )
        yield StatusLine(id="status")
        yield Footer()

    def action_hint(self) -> None:
        self.query_one("#hint", Input).focus()

    @on(Input.Submitted, "#hint")
    def send_hint(self, event: Input.Submitted) -> None:
        """A typed hint goes to the running manager (it becomes an event before the next
        proposal)."""
        box = event.input
        if not self._busy():
            self.notify("no session is running: start one (n) to steer it", severity="warning")
            return
        if self.hints.put(event.value):
            self.notify(f"hint for the next proposal: {event.value.strip()[:80]}", timeout=4)
        box.value = ""
        self.query_one(Leaderboard).focus()

    def key_escape(self) -> None:
        if self.focused is not None and self.focused.id == "hint":
            self.query_one(Leaderboard).focus()

    def pane(self, agent: Agent) -> AgentPane:
        return self.query_one(f"#pane-{agent}", AgentPane)

    def on_mount(self) -> None:
        self.set_interval(0.1, self._flush_tokens)
        self.set_interval(1.0, self._knowledge_status)
        if not self.is_headless and sys.__stdin__ is not None and sys.__stdin__.isatty():
            self.set_interval(1.0, self._check_terminal)
        self._status()
        if self.plan.replay is not None:
            self.load_replay(self.plan.replay)
        elif self.plan.spec.resume is not None or self.plan.start:
            self.start_session(self.plan.spec)
        else:
            self.pane(Agent.MANAGER).note(
                "Welcome. [b]n[/b] starts a session, [b]s[/b] opens saved ones, "
                "[b]?[/b] shows help."
            )

    # ------------------------------------------------------------------ sessions
    def action_new_session(self) -> None:
        if self._busy():
            self.notify("a session is running: cancel it first (c)", severity="warning")
            return

        def chosen(choice: RunSpec | None) -> None:
            if choice:
                self.plan = Plan(replace(choice, check=self.plan.spec.check))
                self.start_session(self.plan.spec)

        self.push_screen(NewSessionScreen(self.plan.spec, self.cfg.model), chosen)

    def action_sessions(self) -> None:
        def chosen(choice: SessionChoice | None) -> None:
            if choice is None:
                return
            if choice.action == "replay":
                self.load_replay(choice.path)
            elif self._busy():
                self.notify("a session is running: cancel it first (c)", severity="warning")
            else:
                # resumed from the list: its own problem and model, five more iterations
                spec = replace(self.plan.spec, resume=str(choice.path), iterations=None)
                self.start_session(replace(spec, problem=None, model=None, session=None))

        self.push_screen(SessionsScreen(self.cfg.sessions_dir), chosen)

    def _busy(self) -> bool:
        return any(w.group == "manager" and w.state is WorkerState.RUNNING for w in self.workers)

    def _reset_view(self) -> None:
        self.state = SessionState()
        for agent in Agent:
            pane = self.pane(agent)
            pane.remove_children()
        self.query_one(Leaderboard).clear()

    def start_session(self, spec: RunSpec) -> None:
        """Starts (or, with `spec.resume`, continues) a session in the manager's thread."""
        self._reset_view()
        self._replay = []
        self.cancel_event = threading.Event()
        if spec.resume is not None:
            try:
                path = find(self.cfg.sessions_dir, spec.resume)
                for ev in read_events(path):
                    self._apply(ev, live=False)
            except SessionError as exc:
                self.notify(str(exc), title="error", severity="error", timeout=15)
                return
            self.state.finished = ""
        self.budget = spec.iterations or 0
        missing = missing_model(spec.model or self.cfg.model) if spec.resume is None else None
        if missing is not None:  # offer the fetch in place rather than fail in the worker

            def fetched(ok: bool | None) -> None:
                if ok:
                    self.run_manager(spec)
                else:
                    self._set_phase(f"model {missing} not installed")

            self.push_screen(FetchModelScreen(missing), fetched)
            return
        self.run_manager(spec)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="manager",
        description="roundtable session",
    )
    def run_manager(self, spec: RunSpec) -> None:
        """The run setup (`core.run.prepare`) and the manager's loop, off the UI thread."""

        def papers(report: object) -> None:
            self.call_from_thread(self.notify, f"papers indexed: {report}", timeout=4)

        def knowledge_ready(knowledge: Any, report: object) -> None:
            for line in knowledge.drain_notices() if hasattr(knowledge, "drain_notices") else []:
                self.call_from_thread(self.notify, line, severity="warning", timeout=10)

        self.hints = Hints()  # this session's typed hints (the Input puts, the manager drains)
        run = prepare(
            spec,
            self.gate,
            on_event=lambda ev: self.post_message(EngineEvent(ev)),
            cfg=self.cfg,
            status=lambda text: self.call_from_thread(self._set_phase, text),
            backend_factory=self.backend_factory,
            on_papers_indexed=papers,
            on_knowledge=knowledge_ready,
            hints=self.hints,
        )
        self.model_name = run.backend.name
        self.knowledge = run.manager.knowledge  # its `progress` shows in the status line
        self.session = run.session
        self.gate.kernels_dir = run.session.path / "kernels"
        self.budget = run.iterations
        try:
            run.manager.run(self.cancel_event)
        finally:
            run.close()

    @on(Worker.StateChanged)
    def worker_changed(self, event: Worker.StateChanged) -> None:
        """Worker errors are shown in place; the app keeps running."""
        if event.state is WorkerState.ERROR:
            error = event.worker.error
            self.notify(
                f"{event.worker.description}: {error}", title="error", severity="error", timeout=15
            )
            with contextlib.suppress(NoMatches):  # the app may be shutting down
                self.pane(Agent.MANAGER).note(f"[red]error:[/red] {escape(str(error))}")
            self._set_phase("stopped by an error")
        elif event.state is WorkerState.SUCCESS and event.worker.group == "manager":
            self._set_phase("finished")

    def action_cancel(self) -> None:
        if self._busy():
            self.cancel_event.set()
            self._set_phase("cancelling…")
            self.notify("cancelling: generation stops, the build or benchmark is killed")

    def action_toggle_auto(self) -> None:
        self.gate.auto_approve = not self.gate.auto_approve
        self.notify(f"auto-approve {'on' if self.gate.auto_approve else 'off'}")
        self._status()

    async def action_quit(self) -> None:
        """Quit: stop the manager first (generation stops at the next token, a running
        build or benchmark is killed) so the process ends and the session is saved."""
        self.cancel_event.set()
        self.exit()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    # ------------------------------------------------------------------ events
    @on(CloseReview)
    def close_review(self) -> None:
        if isinstance(self.screen, ReviewScreen):
            self.screen.dismiss(ReviewDecision(Action.REJECT, reason="cancelled"))

    @on(EngineEvent)
    def engine_event(self, message: EngineEvent) -> None:
        self._apply(message.event, live=True)

    def _apply(self, ev: Event, live: bool) -> None:
        self.state.apply(ev)
        d = ev.data
        agent = ev.agent or Agent.MANAGER
        pane = self.pane(agent)
        if ev.kind is Kind.AGENT_STARTED:
            self._set_phase(f"{agent.value} working")
            if live and agent in (Agent.PROPOSER, Agent.CODER):
                pane.start()
        elif ev.kind is Kind.TOKEN:
            pane.stream(d.get("text", ""))
        elif ev.kind is Kind.MESSAGE:
            pane.finish(d.get("text", ""))
            if d.get("tokens_per_s"):
                self.tokens_per_s = float(d["tokens_per_s"])
        elif ev.kind is Kind.PROPOSAL and agent is Agent.PROPOSER:
            chunks = ", ".join(str(c.get("source") or c.get("id")) for c in d.get("chunks", []))
            by = d.get("proposed_by")
            pane.note(
                f"→ [b]{escape(str(d.get('title')))}[/b] ({d.get('kind')}"
                + (f", proposed by the {by}" if by else "")
                + ")"
                + (f"\n{escape(str(d.get('idea')))}" if str(by).startswith("optimizer") else "")
                + (f"\n{escape(str(d.get('rationale')))}" if d.get("rationale") else "")
                + (f"\nknowledge: {escape(chunks)}" if chunks else "")
            )
        elif ev.kind is Kind.HINT:
            self.pane(Agent.MANAGER).note(
                f"[b]hint[/b] ({d.get('source')}): {escape(str(d.get('text')))}"
            )
        elif ev.kind is Kind.CONFIRMATION and isinstance(ev.payload, Confirmed):
            p = ev.payload
            colour = "green" if p.faster else "yellow"
            against = f" against kernel {p.against}" if p.against is not None else ""
            interval = f" {p.interval()}" if p.interval() else ""
            rounds = f", {p.rounds} rounds" if p.rounds else ""
            self.pane(Agent.TESTER).note(
                f"kernel {p.number}{against}: [{colour}]{p.outcome}[/{colour}]{interval}"
                f"{rounds}" + (f"\n{escape(p.detail)}" if p.detail else "")
            )
            self.query_one(Leaderboard).refresh_from(self.state)
        elif ev.kind is Kind.VERIFICATION:
            mark = "[green]✓[/green]" if d.get("ok") else "[red]✗[/red]"
            pane.note(f"{mark} {escape(str(d.get('detail', '')))}")
        elif ev.kind is Kind.REVIEW:
            self.pane(Agent.MANAGER).note(
                f"review of kernel {d.get('number')}: [b]{d.get('action')}[/b]"
                + (f" — {escape(str(d.get('reason')))}" if d.get("reason") else "")
            )
        elif ev.kind is Kind.CHECK_PROGRESS:
            self._set_phase(f"tester: {d.get('phase')}")
        elif ev.kind is Kind.CHECK_RESULT:
            ok = d.get("verdict") == "passed"
            g = d.get("gflops")
            figures = f" {g:.1f} GFLOPS" if g else ""
            frac = d.get("fraction_of_openblas")
            figures += f" ({frac:.0%} of OpenBLAS)" if frac else ""
            colour = "green" if ok else "red"
            self.pane(Agent.TESTER).note(
                f"kernel {d.get('number')}: [{colour}]{d.get('verdict')}[/{colour}]{figures}\n"
                f"{escape(str(d.get('reason', '')))}"
            )
            self.sandbox = str(d.get("flags", {}).get("sandbox", ""))
            self.query_one(Leaderboard).refresh_from(self.state)
        elif ev.kind is Kind.ITERATION_FINISHED:
            self.query_one(Leaderboard).refresh_from(self.state)
            self.query_one(BestChart).refresh_from(self.state)
        elif ev.kind is Kind.ERROR:
            pane.note(f"[yellow]{escape(str(d.get('message')))}[/yellow]")
            if live and not d.get("recoverable", True):
                self.notify(str(d.get("message")), severity="error", timeout=15)
        elif ev.kind is Kind.SESSION_FINISHED:
            self.pane(Agent.MANAGER).note(
                f"[b]session finished[/b]: {escape(str(d.get('reason')))}"
            )
            self._set_phase(f"finished: {d.get('reason')}")
            self.query_one(BestChart).refresh_from(self.state)
        self._status()

    def _check_terminal(self) -> None:
        """A terminal that went away (ssh dropped, tmux session killed) ends the app; the
        session on disk is complete up to its last event and can be resumed."""
        try:
            os.tcgetpgrp(sys.__stdin__.fileno())  # type: ignore[union-attr]
        except (OSError, ValueError, AttributeError):
            self.cancel_event.set()
            self.exit()

    def _flush_tokens(self) -> None:
        with contextlib.suppress(NoMatches):  # shutting down
            for agent in (Agent.PROPOSER, Agent.CODER):
                self.pane(agent).flush()

    def _knowledge_status(self) -> None:
        """While the knowledge base indexes in the background, the status line says how far
        (files, chunks, the file being read); the session runs meanwhile."""
        progress = getattr(getattr(self, "knowledge", None), "progress", "")
        if progress or getattr(self, "_indexing_shown", False):
            self._indexing_shown = bool(progress)
            self._status()

    def _set_phase(self, phase: str) -> None:
        self.phase = phase
        self._status()

    def _status(self) -> None:
        s = self.state
        left = max(0, self.budget - s.finished_iterations) if self.budget else 0
        parts = [
            f"model {self.model_name or self.plan.spec.model or self.cfg.model}",
            f"{self.tokens_per_s:.1f} tok/s",
            f"iteration {s.iteration}",
            f"{left} left" if self.budget else "",
            f"auto-approve {'ON' if self.gate.auto_approve else 'off'}",
            f"sandbox: {self.sandbox.split(' ')[0] if self.sandbox else 'limits + static gate'}",
            self.phase,
            getattr(getattr(self, "knowledge", None), "progress", ""),
        ]
        if self._replay:
            parts.insert(
                0,
                f"REPLAY {self._replay_at}/{len(self._replay)} ×{self._replay_speed:g}"
                f" {'▶' if self._replay_playing else '⏸'}",
            )
        try:
            line = self.query_one(StatusLine)
        except NoMatches:  # the app is shutting down (a worker finished as it closed)
            return
        line.update(escape(" · ".join(p for p in parts if p)))

    # ------------------------------------------------------------------ replay
    def load_replay(self, path: Path) -> None:
        if self._busy():
            self.notify("a session is running: cancel it first (c)", severity="warning")
            return
        self._reset_view()
        meta = read_meta(path)
        self.model_name = f"{meta.get('model')} (recorded)"
        self._replay = [e for e in read_events(path)]
        self._replay_at = 0
        self._replay_playing = True
        self.title = f"roundtable · replay {path.name}"
        self._schedule()

    def _schedule(self) -> None:
        if self._replay_playing and self._replay_at < len(self._replay):
            self.set_timer(1.0 / self._replay_speed, self._replay_tick)

    def _replay_tick(self) -> None:
        if self._replay_playing and self.screen_stack and self.is_running:
            try:
                self.action_replay_step()
            except NoMatches:  # the app is shutting down
                return
            self._schedule()

    def action_replay_step(self) -> None:
        if self._replay_at < len(self._replay):
            self._apply(self._replay[self._replay_at], live=False)
            self._replay_at += 1
            self._status()

    def action_replay_toggle(self) -> None:
        if self._replay:
            self._replay_playing = not self._replay_playing
            self._status()
            self._schedule()

    def action_replay_speed(self, factor: float) -> None:
        if self._replay:
            self._replay_speed = min(64.0, max(0.25, self._replay_speed * factor))
            self._status()
