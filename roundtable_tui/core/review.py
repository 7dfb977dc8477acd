"""The review gate: every kernel waits here before the Tester compiles and runs it.

The manager calls `gate.review(request)` and blocks until a decision comes back. The TUI
answers with a modal; `--auto` with a policy. The manager never knows which.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class Action(StrEnum):
    APPROVE = "approve"
    EDIT = "edit"
    REJECT = "reject"


@dataclass
class ReviewRequest:
    iteration: int
    number: int
    """The kernel's number in the session (kernels/NNN.rs)."""
    attempt: int
    problem: str
    proposal: dict[str, Any]
    code: str
    best_code: str
    gate: dict[str, Any]
    verification: dict[str, Any]
    chunks: list[dict[str, Any]] = field(default_factory=list)
    region: str | None = None
    """For the model's edit of the best kernel: the one region it changed."""


@dataclass
class ReviewDecision:
    action: Action
    code: str | None = None
    """The edited source, for EDIT."""
    reason: str = ""
    """Why, for REJECT: fed back to the Proposer and the Coder."""

    def to_dict(self) -> dict[str, Any]:
        return {"action": str(self.action), "reason": self.reason, "edited": self.code is not None}


class ReviewGate(Protocol):
    def review(self, request: ReviewRequest, cancel: threading.Event) -> ReviewDecision: ...


class AutoPolicy:
    """`--auto`: approve whatever passes the static gate, reject the rest with its reason."""

    def review(self, request: ReviewRequest, cancel: threading.Event) -> ReviewDecision:
        if request.gate.get("ok", False):
            return ReviewDecision(Action.APPROVE, reason="passes the static gate (auto policy)")
        reasons = "; ".join(v["message"] for v in request.gate.get("violations", []))
        return ReviewDecision(Action.REJECT, reason=f"static gate: {reasons}")
