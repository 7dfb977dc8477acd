"""Events: the only thing that crosses from the engine to its viewers (TUI, --auto, replay).

Every event is one JSON object on one line of a session's events.jsonl. Token events are
live-only (``persist=False``): the finished message is recorded as one ``message`` event.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

SCHEMA_VERSION = 1


class Kind(StrEnum):
    SESSION_STARTED = "session_started"
    SESSION_RESUMED = "session_resumed"
    ITERATION_STARTED = "iteration_started"
    AGENT_STARTED = "agent_started"
    TOKEN = "token"  # live only
    MESSAGE = "message"
    PROPOSAL = "proposal"
    VERIFICATION = "verification"
    KERNEL = "kernel"
    REVIEW_REQUESTED = "review_requested"
    REVIEW = "review"
    CHECK_STARTED = "check_started"
    CHECK_PROGRESS = "check_progress"  # live only
    CHECK_RESULT = "check_result"
    ITERATION_FINISHED = "iteration_finished"
    ERROR = "error"
    STATUS = "status"  # live only: tokens/s, phase
    SESSION_FINISHED = "session_finished"


LIVE_ONLY = {Kind.TOKEN, Kind.CHECK_PROGRESS, Kind.STATUS}


class Agent(StrEnum):
    PROPOSER = "proposer"
    VERIFIER = "verifier"
    CODER = "coder"
    TESTER = "tester"
    MANAGER = "manager"


@dataclass
class Event:
    kind: Kind
    data: dict[str, Any] = field(default_factory=dict)
    agent: Agent | None = None
    iteration: int = 0
    ts: float = field(default_factory=time.time)
    seq: int = 0
    v: int = SCHEMA_VERSION

    @property
    def persist(self) -> bool:
        return self.kind not in LIVE_ONLY

    def to_json(self) -> str:
        return json.dumps(
            {
                "v": self.v,
                "seq": self.seq,
                "ts": round(self.ts, 3),
                "kind": str(self.kind),
                "agent": str(self.agent) if self.agent else None,
                "iteration": self.iteration,
                "data": self.data,
            },
            ensure_ascii=False,
            allow_nan=False,
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Event:
        return cls(
            kind=Kind(d["kind"]),
            data=d.get("data") or {},
            agent=Agent(d["agent"]) if d.get("agent") else None,
            iteration=int(d.get("iteration", 0)),
            ts=float(d.get("ts", 0.0)),
            seq=int(d.get("seq", 0)),
            v=int(d.get("v", SCHEMA_VERSION)),
        )
