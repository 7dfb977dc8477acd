"""The embedded backend: llama-cpp-python running a GGUF model in this process."""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path
from typing import Any

from roundtable_tui.llm.backend import (
    Completion,
    ContextOverflow,
    GenerationCancelled,
    LLMError,
    Message,
    TokenSink,
)

PROMPT_CACHE_BYTES = 2 << 30
"""KV states kept in RAM, keyed by prompt prefix: each agent's static prefix stays cached."""


def state_bytes(state: Any) -> int:
    """What a saved llama.cpp state really holds in RAM: the KV bytes *and* the logits rows
    and token ids that llama-cpp-python keeps beside them (hundreds of MB for a 150k-token
    vocabulary, which its RAM cache leaves out of its size)."""
    extra = sum(getattr(getattr(state, a, None), "nbytes", 0) for a in ("scores", "input_ids"))
    return int(state.llama_state_size) + int(extra)


def bounded_ram_cache(capacity_bytes: int) -> Any:
    """llama-cpp-python's RAM prompt cache, with its capacity counted in the bytes the states
    really use (its own count leaves the logits out, so it grew by ~0.6 GB a minute)."""
    from llama_cpp import LlamaRAMCache

    class BoundedRAMCache(LlamaRAMCache):
        @property
        def cache_size(self) -> int:
            return sum(state_bytes(s) for s in self.cache_state.values())

    return BoundedRAMCache(capacity_bytes=capacity_bytes)


_OVERFLOW = re.compile(r"Requested tokens \((\d+)\) exceed context window of (\d+)")


def generation_error(exc: BaseException, path: Path) -> LLMError:
    """llama-cpp-python's exception during a generation as a typed error in its own words:
    `ContextOverflow` for a prompt longer than the context window, `LLMError` otherwise."""
    text = str(exc) or type(exc).__name__
    match = _OVERFLOW.search(text)
    if match:
        return ContextOverflow(
            f"the prompt does not fit the model's context: llama.cpp said “{text}”",
            prompt_tokens=int(match.group(1)),
            n_ctx=int(match.group(2)),
            kind="exceed_context_size_error",
            detail=text,
        )
    return LLMError(f"llama.cpp failed while generating with {path.name}: {text}")


class LlamaCppBackend:
    def __init__(
        self,
        model_path: Path,
        *,
        name: str | None = None,
        n_ctx: int = 8192,
        n_threads: int | None = None,
        seed: int = 0,
    ) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise LLMError(f"llama-cpp-python is not installed ({exc}); run `make setup`") from exc
        if not model_path.exists():
            raise LLMError(f"no model file at {model_path}")
        self.name = name or model_path.stem
        self.path = model_path
        self._lock = threading.Lock()
        try:
            self.llm = Llama(
                model_path=str(model_path),
                n_ctx=n_ctx,
                n_threads=n_threads or len(os.sched_getaffinity(0)),
                seed=seed,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise LLMError(f"cannot load {model_path}: {exc} (a damaged or partial file?)") from exc
        self.llm.set_cache(bounded_ram_cache(PROMPT_CACHE_BYTES))

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode(), add_bos=False, special=True))

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
        kwargs: dict[str, Any] = {}
        if json_schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": json_schema}
        if grammar is not None:
            from llama_cpp import LlamaGrammar

            kwargs["grammar"] = LlamaGrammar.from_string(grammar, verbose=False)
        with self._lock:  # one generation at a time on one model
            start = time.monotonic()
            chat: Any = [{"role": m.role, "content": m.content} for m in messages]
            try:
                stream: Any = self.llm.create_chat_completion(
                    messages=chat,
                    max_tokens=max_tokens,
                    temperature=temperature,
                    stop=stop,
                    stream=True,
                    **kwargs,
                )
            except (ValueError, RuntimeError, KeyError, IndexError) as exc:
                raise generation_error(exc, self.path) from exc
            parts: list[str] = []
            first: float | None = None
            finish = ""
            n = 0
            try:
                for chunk in stream:
                    if cancel is not None and cancel.is_set():
                        stream.close()
                        raise GenerationCancelled()
                    choice = chunk["choices"][0]
                    piece = choice.get("delta", {}).get("content") or ""
                    if piece:
                        if first is None:
                            first = time.monotonic()
                        n += 1
                        parts.append(piece)
                        if on_token is not None:
                            on_token(piece)
                    finish = choice.get("finish_reason") or finish
            except (ValueError, RuntimeError, KeyError, IndexError) as exc:
                raise generation_error(exc, self.path) from exc
            end = time.monotonic()
        text = "".join(parts)
        prompt_tokens = self.llm.n_tokens - n
        return Completion(
            text=text,
            prompt_tokens=max(prompt_tokens, 0),
            completion_tokens=n,
            prompt_s=(first or end) - start,
            generate_s=end - (first or end),
            finish_reason=finish,
        )
