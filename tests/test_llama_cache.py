"""The embedded backend's prompt cache stays within its capacity counted in real bytes
(llama-cpp-python's own count leaves out the logits it stores with every state)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("llama_cpp")

from llama_cpp.llama import LlamaState  # noqa: E402

from roundtable_tui.llm.llama_cpp import bounded_ram_cache, state_bytes  # noqa: E402


def fake_state(n_tokens: int, vocab: int = 1000) -> LlamaState:
    return LlamaState(
        input_ids=np.zeros(n_tokens, dtype=np.intc),
        scores=np.zeros((n_tokens, vocab), dtype=np.single),
        n_tokens=n_tokens,
        llama_state=b"\0" * 100,
        llama_state_size=100,
        seed=0,
    )


def test_state_bytes_counts_the_logits_and_token_ids():
    s = fake_state(50)
    assert state_bytes(s) == 100 + 50 * 1000 * 4 + 50 * np.dtype(np.intc).itemsize


def test_the_cache_evicts_by_real_size():
    one = state_bytes(fake_state(50))
    cache = bounded_ram_cache(capacity_bytes=3 * one)
    for i in range(10):
        cache[tuple(range(i, i + 50))] = fake_state(50)
        assert cache.cache_size <= 3 * one
    assert len(cache.cache_state) == 3  # the newest three; counted the old way, all ten stay
