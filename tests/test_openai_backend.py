"""The OpenAI-compatible backend against a real OpenAI-compatible server: llama-cpp-python's
own server running the small model on loopback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from roundtable_tui.core.prompts import PROPOSAL_SCHEMA
from roundtable_tui.llm.backend import GenerationCancelled, LLMError, Message
from roundtable_tui.llm.openai_compat import OpenAICompatBackend, parse_spec

pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python[server] not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    from roundtable_tui.llm import models

    path = models.fetch("small")
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(path),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
            "--model_alias",
            "qwen-small",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"{url}/models", timeout=1).read()
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail("llama_cpp.server exited")
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.slow
def test_streams_tokens_and_counts_usage(server):
    backend = OpenAICompatBackend(f"openai:{server}#qwen-small")
    pieces: list[str] = []
    done = backend.complete(
        [Message("user", "Write the Rust keyword for a function.")],
        max_tokens=16,
        on_token=pieces.append,
        tag="coder",
    )
    assert done.text and "".join(pieces) == done.text
    assert len(pieces) > 1, "tokens arrive one by one"
    assert done.completion_tokens > 0


@pytest.mark.slow
def test_json_schema_constrains_the_reply(server):
    backend = OpenAICompatBackend(f"openai:{server}#qwen-small")
    done = backend.complete(
        [
            Message(
                "user",
                "Propose one way to speed up a matmul, as JSON. One short sentence per field.",
            )
        ],
        max_tokens=500,
        json_schema=PROPOSAL_SCHEMA,
        tag="proposer",
        temperature=0.0,
    )
    obj = json.loads(done.text)
    assert {"title", "kind", "idea", "rationale"} <= set(obj)


@pytest.mark.slow
def test_cancel_stops_the_stream(server):
    backend = OpenAICompatBackend(f"openai:{server}#qwen-small")
    cancel = threading.Event()
    with pytest.raises(GenerationCancelled):
        backend.complete(
            [Message("user", "Count from 1 to 500.")],
            max_tokens=400,
            on_token=lambda _p: cancel.set(),
            cancel=cancel,
        )


def test_unreachable_server_is_a_clear_error():
    port = free_port()
    backend = OpenAICompatBackend(f"openai:http://127.0.0.1:{port}/v1#x")
    with pytest.raises(LLMError, match="cannot reach"):
        backend.complete([Message("user", "hi")], max_tokens=4)


@pytest.mark.parametrize("spec", ["openai:127.0.0.1:8080#m", "openai:http://h:1/v1", "openai:"])
def test_bad_specs_explain_the_form(spec):
    with pytest.raises(LLMError, match="openai:URL#MODEL"):
        parse_spec(spec)


def test_spec_adds_v1():
    assert parse_spec("openai:http://h:8080#m") == ("http://h:8080/v1", "m")


@pytest.mark.slow
def test_real_server_context_overflow_is_typed(server):
    """llama-cpp-python's server (n_ctx 2048) refusing a longer prompt: ContextOverflow in
    its own words, not "not JSON"."""
    from roundtable_tui.llm.backend import ContextOverflow

    backend = OpenAICompatBackend(f"openai:{server}#qwen-small")
    long_prompt = "pack the panels of B into L2 " * 1500  # ~9000 tokens
    with pytest.raises(ContextOverflow) as info:
        backend.complete([Message("user", long_prompt)], max_tokens=16)
    assert info.value.detail and info.value.detail in str(info.value)


@pytest.mark.slow
def test_embedded_backend_context_overflow_is_typed():
    """The embedded backend (llama-cpp-python in this process) with a prompt longer than its
    context: ContextOverflow with llama.cpp's figures."""
    from roundtable_tui.llm import models
    from roundtable_tui.llm.backend import ContextOverflow
    from roundtable_tui.llm.llama_cpp import LlamaCppBackend

    backend = LlamaCppBackend(models.fetch("small"), n_ctx=512)
    with pytest.raises(ContextOverflow) as info:
        backend.complete([Message("user", "pack B into panels " * 400)], max_tokens=8)
    assert info.value.n_ctx == 512 and info.value.prompt_tokens > 512
