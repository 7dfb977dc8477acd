"""The roundtable TUI: every agent in its own pane, the human at the review gate."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.markup import escape
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.message import Message
from textual.widgets import Footer, Header
from textual.worker import Worker, WorkerState

from roundtable_tui.config import Settings, settings
from roundtable_tui.core.events import Agent, Event, Kind
from roundtable_tui.core.review import Action, ReviewDecision
from roundtable_tui.core.session import Session, read_events, read_meta
from roundtable_tui.core.state import SessionState
from roundtable_tui.kernels import problems
from roundtable_tui.kernels.checker import Checker, Options
from roundtable_tui.llm.backend import Backend
from roundtable_tui.tui.commands import RoundtableCommands
from roundtable_tui.tui.review import CloseReview, ReviewScreen, TuiReviewGate
from roundtable_tui.tui.screens import (
    HelpScreen,
    NewSession,
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
    """What to do at start-up."""

    problem: str = "sgemm"
    model: str = ""
    iterations: int = 5
    minutes: float | None = None
    resume: Path | None = None
    replay: Path | None = None
    start: bool = False
    """Start a new session at once (otherwise wait for `n`)."""
    knowledge: bool = True
    """Give the Proposer the knowledge base (and index papers/ live while running)."""
    strategy: str = "mixed"
    """mixed, parameters (template only) or code (free-form only)."""


class RoundtableApp(App[None]):
    TITLE = "roundtable"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {RoundtableCommands}
    BINDINGS = [
        Binding("n", "new_session", "new session", id="app.new"),
        Binding("s", "sessions", "sessions", id="app.sessions"),
        Binding("c", "cancel", "cancel", id="app.cancel"),
        Binding("t", "toggle_auto", "auto-approve", id="app.auto"),
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
        self.plan.model = self.plan.model or self.cfg.model
        self.backend_factory = backend_factory
        self.check_options = check_options or Options()
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
        yield StatusLine(id="status")
        yield Footer()

    def pane(self, agent: Agent) -> AgentPane:
        return self.query_one(f"#pane-{agent}", AgentPane)

    def on_mount(self) -> None:
        self.set_interval(0.1, self._flush_tokens)
        if not self.is_headless and sys.__stdin__ is not None and sys.__stdin__.isatty():
            self.set_interval(1.0, self._check_terminal)
        self._status()
        if self.plan.replay is not None:
            self.load_replay(self.plan.replay)
        elif self.plan.resume is not None:
            self.start_session(resume=self.plan.resume)
        elif self.plan.start:
            self.start_session()
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

        def chosen(choice: NewSession | None) -> None:
            if choice:
                self.plan = Plan(
                    choice.problem,
                    choice.model,
                    choice.iterations,
                    choice.minutes,
                    strategy=choice.strategy,
                )
                self.start_session()

        self.push_screen(NewSessionScreen(self.plan.model), chosen)

    def action_sessions(self) -> None:
        def chosen(choice: SessionChoice | None) -> None:
            if choice is None:
                return
            if choice.action == "replay":
                self.load_replay(choice.path)
            elif self._busy():
                self.notify("a session is running: cancel it first (c)", severity="warning")
            else:
                self.start_session(resume=choice.path)

        self.push_screen(SessionsScreen(self.cfg.sessions_dir), chosen)

    def _busy(self) -> bool:
        return any(w.group == "manager" and w.state is WorkerState.RUNNING for w in self.workers)

    def _reset_view(self) -> None:
        self.state = SessionState()
        for agent in Agent:
            pane = self.pane(agent)
            pane.remove_children()
        self.query_one(Leaderboard).clear()

    def start_session(self, resume: Path | None = None) -> None:
        self._reset_view()
        self._replay = []
        self.cancel_event = threading.Event()
        if resume is not None:
            meta = read_meta(resume)
            self.plan.problem = str(meta.get("problem", self.plan.problem))
            self.plan.model = str(meta.get("model", self.plan.model))
            for ev in read_events(resume):
                self._apply(ev, live=False)
            self.state.finished = ""
        self.budget = self.plan.iterations
        self.run_manager(resume)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="manager",
        description="roundtable session",
    )
    def run_manager(self, resume: Path | None) -> None:
        from roundtable_tui.core.manager import Manager, RunConfig
        from roundtable_tui.kernels import machine

        plan = self.plan
        problem = problems.get(plan.problem)
        self.call_from_thread(self._set_phase, f"loading model {plan.model}…")
        if self.backend_factory is not None:
            backend = self.backend_factory(plan.model)
        else:
            from roundtable_tui.llm.factory import open_backend

            backend = open_backend(plan.model)
        self.model_name = backend.name
        if resume is not None:
            session = Session.open(resume)
        else:
            session = Session.create(
                self.cfg.sessions_dir,
                {
                    "problem": problem.name,
                    "model": plan.model,
                    "machine": machine.describe(),
                    "shape": problem.default_shape,
                },
            )
        self.session = session
        self.gate.kernels_dir = session.path / "kernels"
        iterations = plan.iterations
        if resume is not None:
            iterations = max(iterations, self.state.finished_iterations + plan.iterations)
        self.budget = iterations
        knowledge, watcher = self._knowledge(backend) if plan.knowledge else (None, None)
        manager = Manager(
            session,
            backend,
            problem,
            self.gate,
            RunConfig(
                iterations=iterations,
                minutes=plan.minutes,
                strategy=plan.strategy,
                check=self.check_options,
            ),
            Checker(self.cfg),
            on_event=lambda ev: self.post_message(EngineEvent(ev)),
            knowledge=knowledge,  # type: ignore[arg-type]
        )
        try:
            manager.run(self.cancel_event)
        finally:
            session.close()
            if watcher is not None:
                watcher.stop()

    def _knowledge(self, backend: Backend) -> tuple[Any, Any]:
        """The knowledge base, indexed incrementally, with papers/ watched while the session
        runs (new or changed notes are indexed in the background). None if it cannot load."""
        self.call_from_thread(self._set_phase, "indexing papers/…")
        try:
            from roundtable_tui.knowledge.memory import open_knowledge
            from roundtable_tui.knowledge.watcher import PapersWatcher

            knowledge = open_knowledge(backend.count_tokens)
            knowledge.store.index()

            def changed(report: object) -> None:
                self.call_from_thread(self.notify, f"papers indexed: {report}", timeout=4)

            watcher = PapersWatcher(knowledge.store, on_change=changed, initial_index=False)
            watcher.start()
            return knowledge, watcher
        except Exception as exc:  # run without knowledge rather than not at all
            self.call_from_thread(
                self.notify, f"knowledge base unavailable: {exc}", severity="warning", timeout=10
            )
            return None, None

    @on(Worker.StateChanged)
    def worker_changed(self, event: Worker.StateChanged) -> None:
        """Worker errors are shown in place; the app keeps running."""
        if event.state is WorkerState.ERROR:
            error = event.worker.error
            self.notify(
                f"{event.worker.description}: {error}", title="error", severity="error", timeout=15
            )
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
            pane.note(
                f"→ [b]{escape(str(d.get('title')))}[/b] ({d.get('kind')})"
                + (f"\nknowledge: {escape(chunks)}" if chunks else "")
            )
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
        try:
            for agent in (Agent.PROPOSER, Agent.CODER):
                self.pane(agent).flush()
        except NoMatches:  # shutting down
            pass

    def _set_phase(self, phase: str) -> None:
        self.phase = phase
        self._status()

    def _status(self) -> None:
        s = self.state
        left = max(0, self.budget - s.finished_iterations) if self.budget else 0
        parts = [
            f"model {self.model_name or self.plan.model}",
            f"{self.tokens_per_s:.1f} tok/s",
            f"iteration {s.iteration}",
            f"{left} left" if self.budget else "",
            f"auto-approve {'ON' if self.gate.auto_approve else 'off'}",
            f"sandbox: {self.sandbox.split(' ')[0] if self.sandbox else 'limits + static gate'}",
            self.phase,
        ]
        if self._replay:
            parts.insert(
                0,
                f"REPLAY {self._replay_at}/{len(self._replay)} ×{self._replay_speed:g}"
                f" {'▶' if self._replay_playing else '⏸'}",
            )
        self.query_one(StatusLine).update(escape(" · ".join(p for p in parts if p)))

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
