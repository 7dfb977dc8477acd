"""The embedded backend samples without the grammar and checks only the sampled token, with a
real GGUF model (the small one): replies still follow the grammar, including when the model's
first choice is refused at every step, and a grammar llama.cpp cannot parse is a clear error.
"""

from __future__ import annotations

import json
import re

import pytest

pytest.importorskip("llama_cpp")

from roundtable_tui.llm import models  # noqa: E402
from roundtable_tui.llm.backend import LLMError, Message  # noqa: E402
from roundtable_tui.llm.llama_cpp import GrammarCheckedSampler, LlamaCppBackend  # noqa: E402

pytestmark = pytest.mark.slow

ASK = [
    Message("system", "You are a helpful assistant."),
    Message("user", "Write one short English sentence about the sea."),
]


@pytest.fixture(scope="module")
def backend() -> LlamaCppBackend:
    return LlamaCppBackend(models.fetch("small"), n_ctx=2048)


def test_a_grammar_the_model_would_never_follow_is_still_followed(backend):
    # the model wants to write English; every first choice is refused and resampled
    grammar = 'root ::= "zq" [0-9] [0-9] "!"'
    r = backend.complete(ASK, max_tokens=16, temperature=0.7, grammar=grammar)
    assert re.fullmatch(r"zq[0-9]{2}!", r.text), r.text
    sampler = backend.llm._sampler
    assert isinstance(sampler, GrammarCheckedSampler) and sampler.resampled >= 1


def test_json_schema_replies_parse_and_keep_to_the_schema(backend):
    schema = {
        "type": "object",
        "properties": {"mood": {"enum": ["calm", "rough"]}, "depth_m": {"type": "integer"}},
        "required": ["mood", "depth_m"],
    }
    for temperature in (0.0, 0.9):
        r = backend.complete(ASK, max_tokens=40, temperature=temperature, json_schema=schema)
        reply = json.loads(r.text)
        assert reply["mood"] in ("calm", "rough") and isinstance(reply["depth_m"], int)


def test_without_a_grammar_sampling_is_llama_cpp_python_s_own(backend):
    r = backend.complete(ASK, max_tokens=8, temperature=0.0)
    assert r.text and not isinstance(backend.llm._sampler, GrammarCheckedSampler)


def test_a_grammar_llama_cpp_cannot_parse_is_one_clear_error(backend):
    with pytest.raises(LLMError, match="could not parse the reply grammar"):
        backend.complete(ASK, max_tokens=8, grammar='root ::= "unclosed')
    # the backend still answers afterwards
    assert backend.complete(ASK, max_tokens=4, temperature=0.0).text


def test_without_the_private_hook_llama_cpp_python_samples_as_it_always_did():
    from roundtable_tui.llm.llama_cpp import check_grammar_per_token

    class Older:  # a llama-cpp-python without `_init_sampler`
        pass

    old = Older()
    check_grammar_per_token(old)
    assert not hasattr(old, "_init_sampler")

    class Llm:
        def _init_sampler(self, **kwargs):
            return ("own", kwargs.get("grammar"))

    llm = Llm()
    check_grammar_per_token(llm)
    odd = object()  # a grammar object of another shape: left to llama-cpp-python
    assert llm._init_sampler(top_k=40, grammar=odd) == ("own", odd)
    assert llm._init_sampler(top_k=40, grammar=None) == ("own", None)
