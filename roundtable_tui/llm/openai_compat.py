"""Any OpenAI-compatible server (llama-server, Ollama, vLLM, LM Studio): `openai:URL#MODEL`."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from roundtable_tui.llm.backend import (
    BackendTimeout,
    BackendUnreachable,
    Completion,
    ContextOverflow,
    GenerationCancelled,
    LLMError,
    Message,
    ServerError,
    TokenSink,
)


class _FormatRefused(Exception):
    """The server rejected OpenAI's json_schema response format."""


class _EmptyStream(BackendUnreachable):
    """The stream ended with nothing in it: no token, no finish reason, no [DONE]."""


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
        grammar: str | None = None,
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
        if grammar is not None:
            body["grammar"] = grammar  # llama.cpp's server honours it; others ignore it
        try:
            try:
                return self._stream(body, on_token, cancel)
            except _FormatRefused:
                # llama-cpp-python's server knows only {"type": "json_object", "schema": …}
                self.schema_style = "json_object"
                body["response_format"] = self._schema_format(json_schema or {}, tag)
                return self._stream(body, on_token, cancel)
        except _EmptyStream:
            # llama-cpp-python's server answers a request it refuses (a prompt too long for
            # its context) with an empty 200 stream, and with the error only when not
            # streaming: ask once more without streaming to hear its own words
            plain = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
            return self._stream({**plain, "stream": False}, on_token, cancel)

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
        done = False
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                if "json" in (resp.headers.get("Content-Type") or "") and "event-stream" not in (
                    resp.headers.get("Content-Type") or ""
                ):
                    # a server that ignored `stream` and answered with one JSON object
                    return self._whole(resp.read(), start, on_token)
                event = ""
                for raw in resp:
                    if cancel is not None and cancel.is_set():
                        raise GenerationCancelled()
                    line = raw.decode(errors="replace").strip()
                    if not line:
                        event = ""
                        continue
                    field, _, value = line.partition(":")
                    value = value.strip()
                    if field == "event":
                        event = value
                        continue
                    if field == "error" or (field == "data" and event == "error"):
                        # llama.cpp before #16109 sent `error: {...}` as an SSE field
                        raise server_error(self.url, 200, _loads(value), value)
                    if field != "data":
                        continue
                    if value == "[DONE]":
                        done = True
                        break
                    try:
                        chunk = json.loads(value)
                    except json.JSONDecodeError as exc:
                        raise LLMError(
                            f"{self.url} sent a malformed stream ({exc}): {value[:200]}"
                        ) from exc
                    if not isinstance(chunk, dict):
                        raise LLMError(f"{self.url} sent a malformed stream: {value[:200]}")
                    if chunk.get("error"):
                        # llama.cpp (#14566) and others: HTTP 200, then `data: {"error": …}`
                        raise server_error(self.url, 200, chunk, value)
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
            try:
                detail = exc.read().decode(errors="replace")[:2000]
            except OSError:
                detail = ""
            if (
                "response_format" in detail
                and self.schema_style == "json_schema"
                and "response_format" in body
            ):
                raise _FormatRefused() from exc
            raise server_error(self.url, exc.code, _loads(detail), detail or exc.reason) from exc
        except TimeoutError as exc:
            raise BackendTimeout(
                f"{self.url} did not answer within {self.timeout_s:g} s"
                + (f" (after {len(parts)} tokens)" if parts else "")
            ) from exc
        except (http.client.IncompleteRead, http.client.RemoteDisconnected, ConnectionError) as exc:
            raise BackendUnreachable(
                f"the connection to {self.url} dropped after {len(parts)} tokens ({exc!r})"
            ) from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError | socket.timeout):
                raise BackendTimeout(
                    f"{self.url} did not answer within {self.timeout_s:g} s"
                ) from exc
            raise BackendUnreachable(f"cannot reach {self.url}: {exc.reason}") from exc
        except http.client.HTTPException as exc:
            raise BackendUnreachable(f"{self.url} broke the HTTP exchange: {exc!r}") from exc
        except OSError as exc:
            raise BackendUnreachable(f"cannot reach {self.url}: {exc}") from exc
        if not done and not finish:
            raise (_EmptyStream if not parts and body.get("stream") else BackendUnreachable)(
                f"the stream from {self.url} ended after {len(parts)} tokens without a finish "
                "reason or [DONE] (the server dropped the connection?)"
            )
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

    def _whole(self, raw: bytes, start: float, on_token: TokenSink | None) -> Completion:
        """A non-streamed reply: one chat completion object (or an error object)."""
        value = raw.decode(errors="replace")
        obj = _loads(value)
        if not obj:
            raise LLMError(f"{self.url} sent a reply that is not JSON: {value[:200]}")
        if obj.get("error"):
            raise server_error(self.url, 200, obj, value)
        choices = obj.get("choices") or [{}]
        text = str(((choices[0] or {}).get("message") or {}).get("content") or "")
        if text and on_token is not None:
            on_token(text)
        usage = obj.get("usage") or {}
        end = time.monotonic()
        return Completion(
            text=text,
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            prompt_s=end - start,
            finish_reason=str((choices[0] or {}).get("finish_reason") or ""),
        )


def _loads(text: str) -> dict[str, Any]:
    """`text` as a JSON object, or {} when it is not one."""
    try:
        obj = json.loads(text)
    except (ValueError, TypeError):
        return {}
    return obj if isinstance(obj, dict) else {}


# how servers word a context overflow: llama.cpp, OpenAI and vLLM, Ollama, LM Studio
_OVERFLOW = re.compile(
    r"exceed\w* (the )?(available )?context|context (size|length|window) (exceeded|is too)"
    r"|maximum context length|too many tokens|prompt is too long|context_length_exceeded"
    r"|n_ctx|longer than the (model's )?context",
    re.IGNORECASE,
)


def server_error(url: str, status: int, obj: dict[str, Any], raw: str) -> ServerError:
    """The typed error for an error reply: `obj` is the parsed body (maybe {}), `raw` its
    text. The server's own message is kept word for word in the exception's message."""
    error: Any = obj.get("error", obj) if obj else {}
    if isinstance(error, str):
        error = {"message": error}
    if not isinstance(error, dict):
        error = {}
    detail = str(error.get("message") or obj.get("detail") or obj.get("message") or "").strip()
    if not detail:
        detail = " ".join(str(raw).split())[:300] or "(no message)"
    kind = str(error.get("type") or error.get("code") or "")
    code = error.get("code")
    status = code if status == 200 and isinstance(code, int) and code >= 400 else status
    where = f"HTTP {status}" if status else "in its stream"
    if kind == "exceed_context_size_error" or _OVERFLOW.search(f"{kind} {detail}"):
        n_prompt = _int(error.get("n_prompt_tokens"))
        n_ctx = _int(error.get("n_ctx"))
        sizes = f"; {n_prompt} prompt tokens, context {n_ctx}" if n_prompt and n_ctx else ""
        return ContextOverflow(
            f"the prompt does not fit the model's context: {url} said “{detail}” ({where}{sizes})",
            prompt_tokens=n_prompt,
            n_ctx=n_ctx,
            status=status,
            kind=kind,
            detail=detail,
        )
    return ServerError(
        f"{url} reported an error ({where}{', ' + kind if kind else ''}): {detail}",
        status=status,
        kind=kind,
        detail=detail,
    )


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
