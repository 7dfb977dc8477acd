"""What the engine needs from the knowledge base (papers and past attempts). The knowledge
service implements this; until it is configured the roundtable runs without it."""

from __future__ import annotations

from typing import Any, Protocol

from roundtable_tui.knowledge import KnowledgeUnavailable

__all__ = ["Knowledge", "KnowledgeUnavailable", "NoKnowledge"]


class Knowledge(Protocol):
    def context(self, problem: str, query: str, budget_tokens: int) -> list[dict[str, Any]]:
        """Chunks for the Proposer: each {id, source, text}, within `budget_tokens`. May
        raise KnowledgeUnavailable (see there)."""
        ...

    def record(self, attempt: dict[str, Any]) -> None:
        """Stores a tested kernel (proposal, code, verdict, figures, feedback)."""
        ...


class NoKnowledge:
    def context(self, problem: str, query: str, budget_tokens: int) -> list[dict[str, Any]]:
        return []

    def record(self, attempt: dict[str, Any]) -> None:
        return None
