"""The one small interface every language-model backend implements, with token streaming."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


class LLMError(Exception):
    """The model could not be loaded or did not answer; the message says what to do."""


class GenerationCancelled(Exception):
    """Generation was stopped by the user or the manager."""


@dataclass
class Message:
    role: str  # system | user | assistant
    content: str


@dataclass
class Completion:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_s: float = 0.0
    """Time to the first token: prompt processing."""
    generate_s: float = 0.0
    finish_reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.generate_s if self.generate_s > 0 else 0.0


TokenSink = Callable[[str], None]


class Backend(Protocol):
    name: str
    """What the status line shows, e.g. `Qwen2.5-Coder-1.5B (embedded)`."""

    def complete(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float = 0.2,
        json_schema: dict[str, Any] | None = None,
        stop: list[str] | None = None,
        on_token: TokenSink | None = None,
        cancel: threading.Event | None = None,
        tag: str = "",
    ) -> Completion:
        """Generates a reply; with `json_schema` the reply is constrained to match it.
        `tag` names the caller (the agent) for recording and replay."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` in the model's own tokenizer."""
        ...
