"""Command palette entries for the main actions (ctrl+p)."""

from __future__ import annotations

from functools import partial

from textual.command import Hit, Hits, Provider

ACTIONS = (
    ("New session", "new_session", "start a session: problem, model, budget"),
    ("Saved sessions", "sessions", "browse saved sessions; resume or replay one"),
    ("Cancel", "cancel", "stop generation and kill the running build or benchmark"),
    ("Toggle auto-approve", "toggle_auto", "approve kernels that pass the static gate"),
    ("Help", "help", "keys and how the roundtable works"),
    ("Quit", "quit", "leave roundtable (the session is saved)"),
)


class RoundtableCommands(Provider):
    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, action, help_text in ACTIONS:
            score = matcher.match(name)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(name),
                    partial(self.app.run_action, action),
                    help=help_text,
                )
