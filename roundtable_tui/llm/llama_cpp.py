"""The embedded backend: llama-cpp-python running a GGUF model in this process."""

from __future__ import annotations

import ctypes
import math
import re
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from roundtable_tui.config import usable_cpus
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


TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])
"""llama.cpp's `llama_token_data` (token id, logit, probability) as a numpy record."""


class GrammarCheckedSampler:
    """Samples without the grammar, then checks only the sampled token against it.

    llama-cpp-python puts the grammar first in its sampler chain, so every step matches the
    grammar against the whole vocabulary (152k tokens for Qwen2.5) before top-k keeps 40 of
    them; with the embedded model that made a JSON reply ~7 tokens/s instead of ~10.5. Here
    the step samples from the grammar-free chain (same top-k, top-p, min-p, temperature) and
    matches one token; only when that token is refused does it resample with the grammar
    applied to the whole vocabulary first, as llama.cpp's own `common_sampler` does. Every
    token is one the grammar accepts, drawn with the same top-k, top-p, min-p and
    temperature; the probabilities differ a little from grammar-first sampling (a valid
    first draw is kept), as they do in llama.cpp.

    `free` is the grammar-free `llama_cpp._internals.LlamaSampler`; `grammar_text` GBNF whose
    root rule is `root`. Raises LLMError when llama.cpp cannot parse the grammar.
    """

    def __init__(self, llm: Any, free: Any, grammar_text: str, root: str = "root") -> None:
        import llama_cpp

        self._c = llama_cpp
        self.free = free
        self.n_vocab = llm.n_vocab()
        self.grammar = llama_cpp.llama_sampler_init_grammar(
            llm._model.vocab, grammar_text.encode(), root.encode()
        )
        if not self.grammar:
            raise LLMError("llama.cpp could not parse the reply grammar")
        self.resampled = 0
        """Steps whose first token the grammar refused (for tests and measurements)."""

    def sample(self, ctx: Any, idx: int = -1) -> int:
        c = self._c
        token = int(c.llama_sampler_sample(self.free.sampler, ctx.ctx, idx))
        one = (c.llama_token_data * 1)(c.llama_token_data(token, 1.0, 0.0))
        single = c.llama_token_data_array(data=one, size=1, selected=-1, sorted=False)
        c.llama_sampler_apply(self.grammar, ctypes.byref(single))
        if not math.isinf(one[0].logit):
            c.llama_sampler_accept(self.grammar, token)
            return token
        self.resampled += 1
        logits = c.llama_get_logits_ith(ctx.ctx, idx)
        data = (c.llama_token_data * self.n_vocab)()
        view = np.frombuffer(data, dtype=TOKEN_DATA)
        view["id"] = np.arange(self.n_vocab, dtype=np.int32)
        view["logit"] = np.ctypeslib.as_array(logits, shape=(self.n_vocab,))
        full = c.llama_token_data_array(data=data, size=self.n_vocab, selected=-1, sorted=False)
        c.llama_sampler_apply(self.grammar, ctypes.byref(full))
        c.llama_sampler_apply(self.free.sampler, ctypes.byref(full))
        token = int(full.data[full.selected].id)
        c.llama_sampler_accept(self.grammar, token)
        return token

    def close(self) -> None:
        if self.grammar:
            self._c.llama_sampler_free(self.grammar)
            self.grammar = None

    def __del__(self) -> None:
        self.close()


def check_grammar_per_token(llm: Any) -> None:
    """Makes `llm` (a llama_cpp.Llama) sample under a grammar with GrammarCheckedSampler.
    This wraps llama-cpp-python's private `_init_sampler` (0.3.x); on a version without it,
    or with a grammar object of another shape, its own grammar-first sampling stays."""
    original = getattr(llm, "_init_sampler", None)
    if original is None:
        return

    def init_sampler(**kwargs: Any) -> Any:
        grammar = kwargs.get("grammar")
        text, root = getattr(grammar, "_grammar", None), getattr(grammar, "_root", None)
        if grammar is None or not isinstance(text, str) or not isinstance(root, str):
            return original(**kwargs)
        free = original(**{**kwargs, "grammar": None})
        return GrammarCheckedSampler(llm, free, text, root)

    llm._init_sampler = init_sampler


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
        # the cores this process may run on, for generation and for prompt batches alike:
        # llama-cpp-python's batch default is os.cpu_count(), every core of the host, which
        # oversubscribes a process limited to fewer (a container, taskset)
        threads = n_threads or usable_cpus()
        try:
            self.llm = Llama(
                model_path=str(model_path),
                n_ctx=n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                seed=seed,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise LLMError(f"cannot load {model_path}: {exc} (a damaged or partial file?)") from exc
        self.llm.set_cache(bounded_ram_cache(PROMPT_CACHE_BYTES))
        check_grammar_per_token(self.llm)

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
