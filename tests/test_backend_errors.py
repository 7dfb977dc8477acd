"""Every error a model server reports reaches the caller in the server's own words, typed by
kind: an HTTP error, an error object inside an HTTP 200 stream (llama.cpp's server, both the
old `error:` field and the current `data: {"error": …}`), a dropped connection, a timeout.
Case 11 (tests/cases/llm/11_fake_llama_server.py) is run as it was reported."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from roundtable_tui.llm.backend import (
    BackendTimeout,
    BackendUnreachable,
    ContextOverflow,
    LLMError,
    Message,
    ServerError,
)
from roundtable_tui.llm.llama_cpp import generation_error
from roundtable_tui.llm.openai_compat import OpenAICompatBackend

CASES = Path(__file__).parent / "cases" / "llm"
LLAMA_MESSAGE = "the request exceeds the available context size, try increasing it"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(200):
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"the fake server exited with {proc.returncode}")
            time.sleep(0.05)
    pytest.fail("the fake server did not start")


@pytest.fixture
def llama_server() -> Iterator[Callable[[str], str]]:
    """Starts case 11's fake llama-server in a MODE; returns its `openai:` model spec."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(mode: str) -> str:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, str(CASES / "11_fake_llama_server.py"), str(port)],
            env={**os.environ, "MODE": mode},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(proc)
        _wait_for(f"http://127.0.0.1:{port}/v1/models", proc)
        return f"openai:http://127.0.0.1:{port}/v1#fake"

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(10)


def _ask(spec: str, timeout_s: float = 30.0) -> None:
    OpenAICompatBackend(spec, timeout_s=timeout_s).complete(
        [Message("user", "x" * 100)],
        max_tokens=8,
        json_schema={"type": "object"},
        tag="proposer",
    )


@pytest.mark.parametrize("mode", ["sse-data-error", "sse-error-field", "http-400"])
def test_llama_server_context_overflow_is_typed_and_in_its_words(llama_server, mode):
    with pytest.raises(ContextOverflow) as info:
        _ask(llama_server(mode))
    err = info.value
    assert LLAMA_MESSAGE in str(err)
    assert err.detail == LLAMA_MESSAGE
    assert (err.prompt_tokens, err.n_ctx) == (5231, 4096)
    assert err.kind == "exceed_context_size_error"
    assert "5231 prompt tokens, context 4096" in str(err)
    assert err.status == 400


# ---------------------------------------------------------------------------------------------
# servers misbehaving in other ways, each a few lines


class _Server:
    """A loopback HTTP server whose POST handler is `reply(handler)`."""

    def __init__(self, reply: Callable[[BaseHTTPRequestHandler], None]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile_body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                reply(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.spec = f"openai:http://127.0.0.1:{self.httpd.server_address[1]}/v1#m"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[BaseHTTPRequestHandler], None]], str]]:
    servers: list[_Server] = []

    def start(reply: Callable[[BaseHTTPRequestHandler], None]) -> str:
        servers.append(_Server(reply))
        return servers[-1].spec

    yield start
    for s in servers:
        s.close()


def _sse(h: BaseHTTPRequestHandler, lines: list[bytes], done: bool = True) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "text/event-stream")
    h.end_headers()
    for line in lines:
        h.wfile.write(line + b"\n\n")
    if done:
        h.wfile.write(b"data: [DONE]\n\n")
    h.wfile.flush()


def _token(text: str) -> bytes:
    return b"data: " + json.dumps({"choices": [{"delta": {"content": text}}]}).encode()


def test_http_500_with_plain_text_body(serve):
    def reply(h):
        body = b"upstream model crashed: CUDA out of memory"
        h.send_response(500)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    with pytest.raises(ServerError) as info:
        _ask(serve(reply))
    assert not isinstance(info.value, ContextOverflow)
    assert "HTTP 500" in str(info.value)
    assert "upstream model crashed: CUDA out of memory" in str(info.value)


def test_openai_style_context_error(serve):
    message = (
        "This model's maximum context length is 4096 tokens. However, your messages resulted "
        "in 5000 tokens."
    )

    def reply(h):
        body = json.dumps(
            {"error": {"message": message, "type": "invalid_request_error", "code": None}}
        ).encode()
        h.send_response(400)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    with pytest.raises(ContextOverflow) as info:
        _ask(serve(reply))
    assert message in str(info.value)


def test_error_after_some_tokens_in_a_200_stream(serve):
    def reply(h):
        _sse(
            h,
            [
                _token('{"title": '),
                b'data: {"error": {"message": "slot 0 was cancelled: server shutting down", '
                b'"type": "server_error", "code": 503}}',
            ],
        )

    with pytest.raises(ServerError) as info:
        _ask(serve(reply))
    assert "slot 0 was cancelled: server shutting down" in str(info.value)
    assert info.value.status == 503 and info.value.kind == "server_error"


def test_event_error_then_data(serve):
    def reply(h):
        _sse(h, [b'event: error\ndata: {"message": "model not loaded"}'])

    with pytest.raises(ServerError, match="model not loaded"):
        _ask(serve(reply))


def test_dropped_connection_mid_stream(serve):
    def reply(h):
        _sse(h, [_token('{"ti'), _token('tle"')], done=False)
        h.close_connection = True

    with pytest.raises(BackendUnreachable) as info:
        _ask(serve(reply))
    assert "after 2 tokens" in str(info.value)


def test_connection_reset_before_any_reply(serve):
    def reply(h):
        h.connection.shutdown(socket.SHUT_RDWR)
        h.close_connection = True

    with pytest.raises(BackendUnreachable):
        _ask(serve(reply))


def test_server_that_stops_answering_times_out(serve):
    release = threading.Event()

    def reply(h):
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.end_headers()
        h.wfile.write(_token("{") + b"\n\n")
        h.wfile.flush()
        release.wait(10)

    try:
        with pytest.raises(BackendTimeout) as info:
            _ask(serve(reply), timeout_s=0.5)
        assert "did not answer within 0.5 s" in str(info.value)
    finally:
        release.set()


def test_nobody_listening():
    with pytest.raises(BackendUnreachable, match="cannot reach"):
        _ask(f"openai:http://127.0.0.1:{free_port()}/v1#m")


def test_malformed_stream_line_is_quoted(serve):
    def reply(h):
        _sse(h, [b"data: {not json"])

    with pytest.raises(LLMError, match=r"malformed stream.*\{not json"):
        _ask(serve(reply))


def test_good_stream_still_works(serve):
    def reply(h):
        _sse(
            h,
            [
                _token("hello "),
                _token("world"),
                b'data: {"choices": [{"delta": {}, "finish_reason": "stop"}], '
                b'"usage": {"prompt_tokens": 7, "completion_tokens": 2}}',
            ],
        )

    pieces: list[str] = []
    done = OpenAICompatBackend(serve(reply)).complete(
        [Message("user", "hi")], max_tokens=8, on_token=pieces.append
    )
    assert done.text == "hello world" == "".join(pieces)
    assert (done.prompt_tokens, done.completion_tokens, done.finish_reason) == (7, 2, "stop")


def test_non_streamed_json_reply(serve):
    def reply(h):
        body = json.dumps(
            {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}
        ).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    done = OpenAICompatBackend(serve(reply)).complete([Message("user", "hi")], max_tokens=8)
    assert done.text == "ok"


# ---------------------------------------------------------------------------------------------
# the embedded backend: llama-cpp-python's own exceptions


def test_llama_cpp_context_overflow_is_typed():
    exc = ValueError("Requested tokens (9000) exceed context window of 8192")
    err = generation_error(exc, Path("/m/model.gguf"))
    assert isinstance(err, ContextOverflow)
    assert (err.prompt_tokens, err.n_ctx) == (9000, 8192)
    assert "Requested tokens (9000) exceed context window of 8192" in str(err)


def test_llama_cpp_other_failure_keeps_its_words():
    err = generation_error(RuntimeError("llama_decode returned -3"), Path("/m/model.gguf"))
    assert type(err) is LLMError
    assert "llama_decode returned -3" in str(err) and "model.gguf" in str(err)


def test_empty_stream_then_the_servers_words_without_streaming(serve):
    """llama-cpp-python's server refuses an overlong prompt with an empty 200 stream, and
    says why only when not streaming: the backend asks once more without streaming."""
    message = "This model's maximum context length is 2048 tokens. However, you requested 9000"
    seen: list[bool] = []

    def reply(h):
        body = json.loads(h.rfile_body)
        seen.append(bool(body.get("stream")))
        if body.get("stream"):
            _sse(h, [], done=False)
            return
        data = json.dumps(
            {"error": {"message": message, "code": "context_length_exceeded"}}
        ).encode()
        h.send_response(400)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    with pytest.raises(ContextOverflow) as info:
        _ask(serve(reply))
    assert seen == [True, False]
    assert message in str(info.value)
