"""A newcomer's first run, from a clean HOME: set-up fetches the default model (real pip,
from a local package index served over HTTP by the test, standing in for PyPI), a second
set-up downloads nothing, and then a headless session starts on `embedded` with no other
step. Without the model and without the network, every entry point says exactly what to do.

The parts add up to a small stand-in GGUF (llama.cpp cannot load it, so the session's
backend is a stand-in that checks it was handed the fetched file); the fetch is the real one.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from roundtable_tui.llm import models
from roundtable_tui.llm.models import MODELS, ModelSpec

from .test_models import _fake_wheel

PARTS = [b"GGUF\x03\x00\x00\x00" + os.urandom(300_000), os.urandom(250_000), os.urandom(90_000)]
STAND_IN = b"".join(PARTS)


class _Index(SimpleHTTPRequestHandler):
    """A PEP 503 simple index over a directory of wheels; records the files it served."""

    served: list[str] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        root = Path(self.server.directory)  # type: ignore[attr-defined]
        parts = [p for p in self.path.split("/") if p]
        if len(parts) == 2 and parts[0] == "simple":
            name = parts[1]
            wheels = [
                w for w in root.glob("*.whl") if w.name.split("-")[0] == name.replace("-", "_")
            ]
            if not wheels:
                self.send_error(404)
                return
            links = "".join(
                f'<a href="/files/{html.escape(w.name)}#sha256='
                f'{hashlib.sha256(w.read_bytes()).hexdigest()}">{html.escape(w.name)}</a>\n'
                for w in wheels
            )
            body = f"<!DOCTYPE html><html><body>{links}</body></html>".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if len(parts) == 2 and parts[0] == "files" and (root / parts[1]).is_file():
            data = (root / parts[1]).read_bytes()
            _Index.served.append(parts[1])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_error(404)


@pytest.fixture
def package_index(tmp_path) -> Iterator[tuple[str, ModelSpec]]:
    """The stand-in `embedded` model's parts on a local simple index; returns (URL, spec)."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    packages = tuple(f"standin-model-part{i}" for i in range(1, len(PARTS) + 1))
    for i, (package, payload) in enumerate(zip(packages, PARTS, strict=True)):
        _fake_wheel(wheels, package, i + 1, payload)
    spec = ModelSpec(
        name="embedded",
        title="stand-in for Qwen2.5-Coder-1.5B-Instruct",
        filename="standin.gguf",
        sha256=hashlib.sha256(STAND_IN).hexdigest(),
        packages=packages,
        size_hint=len(STAND_IN),
    )

    class Server(ThreadingHTTPServer):
        directory = str(wheels)

    httpd = Server(("127.0.0.1", 0), _Index)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Index.served = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}/simple", spec
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def clean_home(tmp_path, monkeypatch) -> Path:
    """A HOME with nothing in it: no data directory, no models, no sessions."""
    from roundtable_tui.config import settings

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(var, raising=False)
    # the settings' defaults were computed from the real HOME when they were imported: give
    # the data directory platformdirs gives for this HOME
    monkeypatch.setenv("ROUNDTABLE_DATA_DIR", str(home / ".local" / "share" / "roundtable"))
    monkeypatch.setenv("ROUNDTABLE_SESSIONS_DIR", str(home / "sessions"))
    settings.cache_clear()
    yield home
    settings.cache_clear()


def _pip_sees_only(monkeypatch, url: str) -> None:
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", url)
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)


class StandInBackend:
    """Stands in for llama.cpp (which cannot load the stand-in GGUF): records its file."""

    opened: list[Path] = []

    def __init__(self, model_path: Path, *, name: str | None = None, **kw: object) -> None:
        StandInBackend.opened.append(Path(model_path))
        assert Path(model_path).read_bytes()[:4] == b"GGUF"
        self.name = name or "stand-in"

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)

    def complete(self, *args: object, **kwargs: object):  # pragma: no cover - not reached
        raise AssertionError("no generation in this test")


def test_setup_fetches_the_model_then_a_session_starts_on_embedded(
    clean_home, package_index, monkeypatch, capsys
):
    from roundtable_tui.cli import main
    from roundtable_tui.config import settings

    url, spec = package_index
    monkeypatch.setitem(MODELS, "embedded", spec)
    _pip_sees_only(monkeypatch, url)
    assert models.status("embedded") == "missing"
    assert str(models.models_dir()).startswith(str(clean_home))

    # `make setup`'s model step
    assert main(["model", "fetch", "embedded"]) == 0
    out, err = capsys.readouterr()
    path = models.model_path("embedded")
    assert path.read_bytes() == STAND_IN and models.status("embedded") == "ok"
    assert _Index.served == [f"standin_model_part{i}-1.0-py3-none-any.whl" for i in (1, 2, 3)]
    assert f"{path} (verified)" in " ".join(out.split())
    err = " ".join(err.split())
    for i in (1, 2, 3):
        assert f"part {i}/3 done · " in err
    assert "/s" in err and "sha256 verified" in err

    # set-up again: nothing downloaded
    assert main(["model", "fetch", "embedded"]) == 0
    assert len(_Index.served) == 3

    # the first session: no other step (the seed only, no knowledge: no model reply needed)
    monkeypatch.setattr("roundtable_tui.llm.llama_cpp.LlamaCppBackend", StandInBackend)
    StandInBackend.opened = []
    code = main(["run", "--auto", "--iterations", "0", "--no-knowledge", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert StandInBackend.opened == [path]
    session = Path(summary["path"])
    assert session.parent == settings().sessions_dir
    first = json.loads((session / "events.jsonl").read_text().splitlines()[0])
    assert first["kind"] == "session_started" and first["data"]["model"] == "embedded"


def test_no_model_and_no_network_says_what_to_do(clean_home, package_index, monkeypatch, capsys):
    from roundtable_tui.cli import main

    url, spec = package_index
    monkeypatch.setitem(MODELS, "embedded", spec)
    _pip_sees_only(monkeypatch, "http://127.0.0.1:9/simple")  # nothing listens: no network
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")

    # a run without the model: the fix, before anything else happens
    assert main(["run", "--auto", "--iterations", "1", "--no-knowledge"]) == 2
    err = capsys.readouterr().err
    assert "model 'embedded' is not installed" in err
    assert "roundtable model fetch embedded" in err and "--model" in err
    assert "Traceback" not in err

    # the fetch without the network: what failed and every way on
    assert main(["model", "fetch", "embedded"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "could not download standin-model-part1" in err
    assert "connect to the network" in err and "roundtable model fetch embedded" in err
    assert str(models.models_dir()) in err and spec.filename in err
    assert "--model PATH.gguf" in err and "Traceback" not in err
    assert models.status("embedded") == "missing"
    assert [p.name for p in models.models_dir().iterdir()] == [".embedded.lock"]
