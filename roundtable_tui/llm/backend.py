"""The one small interface every language-model backend implements, with token streaming."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


class LLMError(Exception):
    """The model could not be loaded or did not answer; the message says what to do.

    Every error `Backend.complete` raises is this class or one of its subclasses (or
    `GenerationCancelled`), and its message carries the backend's own words: the server's
    error message, the HTTP status, llama.cpp's exception text. Subclasses say what kind of
    failure it was, so a caller can react to the kind (retry a shorter prompt on
    `ContextOverflow`) and report every other kind as it is."""


class ServerError(LLMError):
    """The server answered with an error: an HTTP error status, or an error object inside an
    HTTP 200 stream (llama.cpp's server reports mid-stream failures that way).

    `status` is the HTTP status (or the error object's `code`, 0 if none), `kind` the error
    object's `type` (e.g. `exceed_context_size_error`), `detail` the server's message."""

    def __init__(self, message: str, *, status: int = 0, kind: str = "", detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.detail = detail


class ContextOverflow(ServerError):
    """The prompt does not fit the model's context window. `prompt_tokens` and `n_ctx` are
    the server's figures when it gives them (0 when unknown). The caller can shorten the
    prompt (the knowledge part first) and try again."""

    def __init__(
        self,
        message: str,
        *,
        prompt_tokens: int = 0,
        n_ctx: int = 0,
        status: int = 0,
        kind: str = "",
        detail: str = "",
    ) -> None:
        super().__init__(message, status=status, kind=kind, detail=detail)
        self.prompt_tokens = prompt_tokens
        self.n_ctx = n_ctx


class BackendUnreachable(LLMError):
    """The server could not be reached, or the connection dropped before the reply ended."""


class BackendTimeout(LLMError):
    """The server did not answer (or stopped sending) within the backend's timeout."""


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
        grammar: str | None = None,
    ) -> Completion:
        """Generates a reply; with `json_schema` the reply is constrained to match it.
        `tag` names the caller (the agent) for recording and replay. `grammar` is a GBNF
        grammar the reply must follow (llama.cpp backends; others may ignore it).

        Raises `GenerationCancelled` when `cancel` is set, `ContextOverflow` when the prompt
        (plus `max_tokens`) does not fit the context window, `ServerError` for any other
        error the server reports (HTTP status or an error inside the stream),
        `BackendUnreachable` for a refused or dropped connection, `BackendTimeout` when the
        server stops answering, and `LLMError` for anything else (a malformed stream, a
        model that failed mid-generation); every message is the backend's own words."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` in the model's own tokenizer."""
        ...
