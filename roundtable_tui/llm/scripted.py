"""Recording real model replies, and replaying them: deterministic engine tests.

`RecordingBackend` wraps a real backend and appends every reply (with the agent that asked)
to a JSONL file. `ScriptedBackend` replays such a file: each agent gets its recorded replies
in order, streamed token by token, so the manager runs exactly as it did with the model.
"""

from __future__ import annotations

import json
import re
import threading
from collections import defaultdict, deque
from pathlib import Path
from typing import Any

from roundtable_tui.llm.backend import (
    Backend,
    Completion,
    GenerationCancelled,
    LLMError,
    Message,
    TokenSink,
)


class RecordingBackend:
    def __init__(self, inner: Backend, path: Path) -> None:
        self.inner = inner
        self.name = inner.name
        self.path = path
        self._lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def complete(self, messages: list[Message], **kwargs: Any) -> Completion:
        result = self.inner.complete(messages, **kwargs)
        entry = {
            "tag": kwargs.get("tag", ""),
            "json": kwargs.get("json_schema") is not None,
            "prompt_tail": messages[-1].content[-300:],
            "text": result.text,
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens,
        }
        with self._lock, open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
        return result


class ScriptedBackend:
    def __init__(self, replies: list[dict[str, Any]], name: str = "scripted") -> None:
        self.name = name
        self.queues: dict[str, deque[dict[str, Any]]] = defaultdict(deque)
        for r in replies:
            self.queues[r.get("tag", "")].append(r)
        self.calls: list[tuple[str, list[Message]]] = []

    @classmethod
    def from_file(cls, path: Path) -> ScriptedBackend:
        lines = path.read_text(encoding="utf-8").splitlines()
        return cls(
            [json.loads(line) for line in lines if line.strip()], name=f"scripted:{path.name}"
        )

    def count_tokens(self, text: str) -> int:
        return len(re.findall(r"\w+|[^\w\s]", text))

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
        self.calls.append((tag, list(messages)))
        queue = self.queues.get(tag)
        if not queue:
            raise LLMError(f"the script has no more replies for {tag!r}")
        reply = queue.popleft()
        text = reply["text"]
        for piece in re.findall(r"\s*\S+", text) or [text]:
            if cancel is not None and cancel.is_set():
                raise GenerationCancelled()
            if on_token is not None:
                on_token(piece)
        return Completion(
            text=text,
            prompt_tokens=int(reply.get("prompt_tokens", 0)),
            completion_tokens=int(reply.get("completion_tokens", self.count_tokens(text))),
            generate_s=0.0,
            finish_reason="stop",
        )
