"""Any OpenAI-compatible server (llama-server, Ollama, vLLM, LM Studio): `openai:URL#MODEL`."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from roundtable_tui.llm.backend import Completion, GenerationCancelled, LLMError, Message, TokenSink


class _FormatRefused(Exception):
    """The server rejected OpenAI's json_schema response format."""


def parse_spec(spec: str) -> tuple[str, str]:
    """`openai:http://host:8080/v1#qwen2.5-coder` → (base URL, model name)."""
    body = spec.removeprefix("openai:")
    url, _, model = body.partition("#")
    if not url.startswith(("http://", "https://")) or not model:
        raise LLMError(
            f"bad model {spec!r}: expected openai:URL#MODEL, "
            "e.g. openai:http://127.0.0.1:8080/v1#qwen2.5-coder"
        )
    url = url.rstrip("/")
    if not url.endswith("/v1"):
        url += "/v1"
    return url, model


class OpenAICompatBackend:
    def __init__(self, spec: str, timeout_s: float = 600.0) -> None:
        self.url, self.model = parse_spec(spec)
        self.name = f"{self.model} @ {self.url}"
        self.timeout_s = timeout_s
        self.api_key = os.environ.get("ROUNDTABLE_OPENAI_API_KEY", "")
        self.schema_style = "json_schema"
        """How the server wants a JSON schema: OpenAI's `json_schema`, or `json_object`."""

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)  # servers do not expose their tokenizer uniformly

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
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if stop:
            body["stop"] = stop
        if json_schema is not None:
            body["response_format"] = self._schema_format(json_schema, tag)
        try:
            return self._stream(body, on_token, cancel)
        except _FormatRefused:
            # llama-cpp-python's server knows only {"type": "json_object", "schema": …}
            self.schema_style = "json_object"
            body["response_format"] = self._schema_format(json_schema or {}, tag)
            return self._stream(body, on_token, cancel)

    def _schema_format(self, schema: dict[str, Any], tag: str) -> dict[str, Any]:
        if self.schema_style == "json_object":
            return {"type": "json_object", "schema": schema}
        return {
            "type": "json_schema",
            "json_schema": {"name": tag or "reply", "schema": schema, "strict": True},
        }

    def _stream(
        self, body: dict[str, Any], on_token: TokenSink | None, cancel: threading.Event | None
    ) -> Completion:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(
            f"{self.url}/chat/completions", json.dumps(body).encode(), headers
        )
        start = time.monotonic()
        first: float | None = None
        parts: list[str] = []
        usage: dict[str, Any] = {}
        finish = ""
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                for raw in resp:
                    if cancel is not None and cancel.is_set():
                        raise GenerationCancelled()
                    line = raw.decode(errors="replace").strip()
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    chunk = json.loads(data)
                    usage = chunk.get("usage") or usage
                    for choice in chunk.get("choices") or []:
                        piece = (choice.get("delta") or {}).get("content") or ""
                        if piece:
                            first = first or time.monotonic()
                            parts.append(piece)
                            if on_token is not None:
                                on_token(piece)
                        finish = choice.get("finish_reason") or finish
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:600]
            if (
                "response_format" in detail
                and self.schema_style == "json_schema"
                and "response_format" in body
            ):
                raise _FormatRefused() from exc
            raise LLMError(f"{self.url} answered {exc.code}: {detail[:300]}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise LLMError(f"cannot reach {self.url}: {exc}") from exc
        except json.JSONDecodeError as exc:
            raise LLMError(f"{self.url} sent a malformed stream: {exc}") from exc
        end = time.monotonic()
        text = "".join(parts)
        return Completion(
            text=text,
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", len(parts))),
            prompt_s=(first or end) - start,
            generate_s=end - (first or end),
            finish_reason=finish,
        )
