"""Building a kernel: a private copy of the Rust workspace, one build at a time, cached.

The template in the repository is never modified. Each build writes the kernel into the
copy's candidate crate under an exclusive file lock (so concurrent checks, even from other
processes, cannot mix their kernels), builds the runner and copies the binary out, keyed by
everything that went into it. Running happens after the lock is released.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from roundtable_tui.config import Settings, settings
from roundtable_tui.kernels import machine, problems
from roundtable_tui.kernels.problems import Problem
from roundtable_tui.kernels.sandbox import Cancelled, kill_group

GUARD = Path(__file__).with_name("build_guard.py")

KERNEL_REL = Path("candidate/src/kernel.rs")
TEMPLATE_DIRS = ("harness", "baselines", "candidate", "runner")
KEEP_BINARIES = 200


class BuildFailed(Exception):
    def __init__(self, message: str, compiler_output: str = "", limit: str = "") -> None:
        super().__init__(message)
        self.compiler_output = compiler_output
        self.limit = limit
        """The build limit that stopped the build (memory, cpu, wall_clock, disk), if any."""


@dataclass
class BuildLimits:
    """What one build of an untrusted kernel may use (settings build_*)."""

    memory_mb: int
    """Address space of every compiler process (cargo, rustc, the linker)."""
    cpu_s: int
    """CPU seconds of every compiler process."""
    wall_s: float
    """Wall-clock time of the whole build."""
    disk_mb: int
    """Growth of the build directory during the build, and the largest file written."""


def _dir_bytes(path: Path) -> int:
    total = 0
    stack = [path]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(Path(entry.path))
                        else:
                            total += entry.stat(follow_symlinks=False).st_blocks * 512
                    except OSError:
                        continue
        except OSError:
            continue
    return total


def run_guarded(
    cmd: list[str],
    cwd: Path,
    env: dict[str, str],
    limits: BuildLimits,
    watch: Path,
    cancel: threading.Event | None = None,
) -> tuple[int, str, str]:
    """Runs a cargo command under `limits` through build_guard.py (which kills the build when
    roundtable dies); returns (exit status, stderr, the limit that stopped it or "")."""
    guard = [
        sys.executable,
        "-S",
        "-E",
        str(GUARD),
        str(os.getpid()),
        str(limits.memory_mb << 20),
        str(limits.cpu_s),
        str(limits.disk_mb << 20),
        "--",
    ]
    before = _dir_bytes(watch)
    proc = subprocess.Popen(
        [*guard, *cmd],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    err_chunks: list[str] = []
    pipe = proc.stderr
    assert pipe is not None
    reader = threading.Thread(target=lambda: err_chunks.append(pipe.read()), daemon=True)
    reader.start()
    deadline = time.monotonic() + limits.wall_s
    limit = ""
    next_du = 0.0
    try:
        while True:
            try:
                proc.wait(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if cancel is not None and cancel.is_set():
                kill_group(proc)
                proc.wait()
                raise Cancelled()
            if now > deadline:
                limit = "wall_clock"
            elif now >= next_du:
                next_du = now + 0.5
                if _dir_bytes(watch) - before > limits.disk_mb << 20:
                    limit = "disk"
            if limit:
                kill_group(proc)
                proc.wait()
                break
    finally:
        reader.join(timeout=5)
    stderr = "".join(err_chunks)
    if not limit:
        if re.search(r"CPU time limit exceeded|SIGXCPU|\(signal: 24\b", stderr):
            limit = "cpu"
        elif re.search(r"File size limit exceeded|SIGXFSZ|\(signal: 25\b", stderr):
            limit = "disk"
        elif re.search(
            r"memory allocation of \d+ bytes failed|out of memory|Cannot allocate memory"
            r"|std::bad_alloc|failed to allocate",
            stderr,
            re.I,
        ):
            limit = "memory"
    return proc.returncode, stderr, limit


def limit_message(limit: str, limits: BuildLimits) -> str:
    return {
        "memory": f"the build exceeded its memory limit ({limits.memory_mb} MiB of address "
        "space per compiler process; setting build.memory_mb, ROUNDTABLE_BUILD_MEMORY_MB)",
        "cpu": f"the build exceeded its CPU limit ({limits.cpu_s} s per compiler process; "
        "setting build.cpu_s, ROUNDTABLE_BUILD_CPU_S)",
        "wall_clock": f"the build exceeded its wall-clock limit ({limits.wall_s:.0f} s; "
        "setting build.timeout_s, ROUNDTABLE_BUILD_TIMEOUT_S) and was stopped",
        "disk": f"the build exceeded its disk quota ({limits.disk_mb} MiB written to the build "
        "directory; setting build.disk_mb, ROUNDTABLE_BUILD_DISK_MB)",
    }[limit]


class ToolMissing(Exception):
    """cargo (or another required tool) is not installed."""


@dataclass
class Built:
    binary: Path
    cached: bool
    seconds: float
    warnings: int


def have_openblas() -> bool:
    return ctypes.util.find_library("openblas") is not None


def _template_files(template: Path) -> Iterator[Path]:
    yield template / "Cargo.toml"
    for d in TEMPLATE_DIRS:
        for path in sorted((template / d).rglob("*")):
            if path.is_file() and "target" not in path.parts:
                yield path


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _write_if_changed(path: Path, text: str) -> None:
    """Writes only on change, so cargo's mtime-based fingerprints stay valid."""
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _tail_lines(text: str, n: int) -> str:
    return "\n".join(text.strip().splitlines()[-n:])


class Builder:
    def __init__(self, cfg: Settings | None = None) -> None:
        self.cfg = cfg or settings()
        self.template = self.cfg.rust_workspace
        # one build copy per target CPU: cargo rebuilds everything when RUSTFLAGS change
        target = re.search(r"target-cpu=(\S+)", self.cfg.rustflags)
        cpu = target.group(1) if target else "native"
        self.root = self.cfg.cache_dir / ("build" if cpu == "native" else f"build-{cpu}")
        self.bins = self.cfg.cache_dir / "bins"
        self.openblas = have_openblas()

    # ------------------------------------------------------------------ workspace
    @property
    def cargo(self) -> str:
        cargo = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
        if not Path(cargo).exists():
            raise ToolMissing(
                "cargo is not installed: install Rust (rustup or Debian's cargo), "
                "then run `make setup`"
            )
        return cargo

    def template_fingerprint(self) -> str:
        h = hashlib.sha256()
        for path in _template_files(self.template):
            h.update(str(path.relative_to(self.template)).encode())
            h.update(path.read_bytes())
        return h.hexdigest()[:16]

    def registry_mode(self) -> str:
        marker = self.root / ".registry"
        return marker.read_text().strip() if marker.exists() else "unknown"

    def _sync(self) -> None:
        """Copies the template into the build directory (changed files only)."""
        for path in _template_files(self.template):
            rel = path.relative_to(self.template)
            if rel == KERNEL_REL:
                continue
            dest = self.root / rel
            data = path.read_bytes()
            if not dest.exists() or dest.read_bytes() != data:
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(data)
        if not (self.root / ".registry").exists():
            self._choose_registry()

    def _choose_registry(self) -> None:
        mode = choose_registry(self.root, self.cargo, self.cfg.crate_registry)
        (self.root / ".registry").write_text(mode + "\n")

    # ------------------------------------------------------------------ building
    def features(self) -> list[str]:
        return ["--features", "runner/openblas"] if self.openblas else []

    def key(self, source: str, problem: Problem, allow_unsafe: bool) -> str:
        h = hashlib.sha256()
        for part in (
            source,
            problem.name,
            str(allow_unsafe),
            self.cfg.rustflags,
            self.template_fingerprint(),
            str(self.openblas),
        ):
            h.update(part.encode())
            h.update(b"\0")
        return h.hexdigest()[:24]

    def _prepare(self, source: str, problem: Problem, allow_unsafe: bool) -> None:
        """The build copy with this kernel and this problem's glue (under the lock)."""
        self._sync()
        _write_if_changed(self.root / "harness/src/entry.rs", problems.rust_entry())
        _write_if_changed(
            self.root / "candidate/src/lib.rs",
            problems.rust_candidate_lib(problem, allow_unsafe),
        )
        _write_if_changed(self.root / "runner/src/main.rs", problems.rust_runner_main(problem))
        _write_if_changed(self.root / KERNEL_REL, source)

    def _cargo(self, *args: str) -> tuple[list[str], dict[str, str]]:
        """A cargo command line and its environment, as every build of a kernel runs it."""
        env = {**os.environ, "RUSTFLAGS": self.cfg.rustflags, "CARGO_TERM_COLOR": "never"}
        env.pop("CARGO_ENCODED_RUSTFLAGS", None)
        cmd = [self.cargo, *args]
        if self.registry_mode().startswith("debian"):
            cmd.append("--offline")
        return cmd, env

    @property
    def limits(self) -> BuildLimits:
        return BuildLimits(
            memory_mb=self.cfg.build.memory_mb,
            cpu_s=self.cfg.build.cpu_s,
            wall_s=self.cfg.build.timeout_s,
            disk_mb=self.cfg.build.disk_mb,
        )

    def _remove_partial(self) -> None:
        """After a build stopped by a limit: the kernel's partial artifacts (objects, the
        half-written rlib and binary, compiler temporaries) are removed from the build copy."""
        release = self.root / "target" / "release"
        for sub in ("deps", ".fingerprint", "build", "incremental"):
            base = release / sub
            if not base.is_dir():
                continue
            for entry in base.iterdir():
                name = entry.name
                if "candidate" in name or "runner" in name or name.startswith(("rmeta", "rustc")):
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry, ignore_errors=True)
                    else:
                        entry.unlink(missing_ok=True)
        for leftover in (release / "runner", release / "runner.d"):
            leftover.unlink(missing_ok=True)

    def build(
        self,
        source: str,
        problem: Problem,
        allow_unsafe: bool = False,
        cancel: threading.Event | None = None,
    ) -> Built:
        start = time.monotonic()
        key = self.key(source, problem, allow_unsafe)
        stored = self.bins / key / "runner"
        if stored.exists():
            os.utime(stored.parent)
            return Built(stored, True, time.monotonic() - start, 0)
        with _locked(self.root / ".build.lock"):
            self._prepare(source, problem, allow_unsafe)
            cmd, env = self._cargo("build", "--release", "-p", "runner", *self.features())
            limits = self.limits
            try:
                returncode, stderr, limit = run_guarded(
                    cmd, self.root, env, limits, self.root / "target", cancel
                )
            except Cancelled:
                self._remove_partial()
                raise
            if limit:
                self._remove_partial()
                raise BuildFailed(limit_message(limit, limits), _tail_lines(stderr, 20), limit)
            if returncode != 0:
                raise BuildFailed(*explain_build_error(stderr))
            binary = self.root / "target" / "release" / "runner"
            self.bins.mkdir(parents=True, exist_ok=True)
            staging = self.bins / f".{key}.{os.getpid()}"
            staging.mkdir(parents=True, exist_ok=True)
            shutil.copy2(binary, staging / "runner")
            try:
                staging.rename(self.bins / key)
            except OSError:  # another process stored the same build first
                shutil.rmtree(staging, ignore_errors=True)
        self._prune()
        warnings = len(re.findall(r"^warning: ", stderr, re.M))
        return Built(stored, False, time.monotonic() - start, warnings)

    def assembly(self, source: str, problem: Problem, allow_unsafe: bool = False) -> str:
        """The kernel crate's generated assembly (x86 AT&T syntax), built exactly as a check
        builds it (same flags), for inspecting what the compiler made of a kernel."""
        with _locked(self.root / ".build.lock"):
            self._prepare(source, problem, allow_unsafe)
            os.utime(self.root / KERNEL_REL)  # cargo would skip a fresh crate: no listing
            out = self.root / "target" / "asm"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            cross = machine.cross_target_args(self.cfg.rustflags)  # e.g. AVX-512 on AVX2
            cmd, env = self._cargo("rustc", "--release", "-p", "candidate", "--lib", *cross)
            cmd += ["--", "--emit", f"asm={out / 'candidate.s'}", "-C", "codegen-units=1"]
            limits = self.limits
            returncode, stderr, limit = run_guarded(
                cmd, self.root, env, limits, self.root / "target"
            )
            if limit:
                self._remove_partial()
                raise BuildFailed(limit_message(limit, limits), _tail_lines(stderr, 20), limit)
            if returncode != 0:
                raise BuildFailed(*explain_build_error(stderr))
            return (out / "candidate.s").read_text()

    def _prune(self) -> None:
        entries = sorted(
            (p for p in self.bins.iterdir() if not p.name.startswith(".")),
            key=lambda p: p.stat().st_mtime,
        )
        for old in entries[:-KEEP_BINARIES]:
            shutil.rmtree(old, ignore_errors=True)


def choose_registry(root: Path, cargo: str, registry: Path) -> str:
    """Where the crates of the Cargo project at `root` come from: "crates.io" when
    `cargo generate-lockfile` reaches it; otherwise Debian's crate sources (librust-*-dev),
    through a directory source replacement written to `root`/.cargo/config.toml."""
    env = {**os.environ, "CARGO_NET_RETRY": "0", "CARGO_HTTP_TIMEOUT": "15"}
    cfg_file = root / ".cargo" / "config.toml"
    cfg_file.unlink(missing_ok=True)
    probe = subprocess.run(
        [cargo, "generate-lockfile"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    mode = "crates.io"
    if probe.returncode != 0:
        if not any(registry.glob("rayon-*")):
            raise BuildFailed(
                "cannot fetch the rayon crate: crates.io is unreachable and Debian's crate "
                f"sources are not in {registry} (apt-get install librust-rayon-dev)",
                _tail_lines(probe.stderr, 5),
            )
        cfg_file.parent.mkdir(parents=True, exist_ok=True)
        cfg_file.write_text(
            "# Written by roundtable: crates.io was unreachable, so crates come from\n"
            "# Debian's sources (librust-*-dev) through directory source replacement.\n"
            '[source.crates-io]\nreplace-with = "debian-sources"\n\n'
            f'[source.debian-sources]\ndirectory = "{registry}"\n'
        )
        retry = subprocess.run(
            [cargo, "generate-lockfile", "--offline"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if retry.returncode != 0:
            raise BuildFailed(
                "cannot resolve the workspace's crates from Debian's sources",
                _tail_lines(retry.stderr, 10),
            )
        mode = f"debian ({registry})"
    return mode


def explain_build_error(stderr: str) -> tuple[str, str]:
    """(one-line reason, the compiler's messages about the kernel) from cargo's stderr."""
    blocks = re.split(r"\n(?=(?:error|warning)(?:\[\w+\])?: )", stderr)
    errors = [
        b.strip()
        for b in blocks
        if re.match(r"error(\[\w+\])?: ", b.strip())
        and not b.strip().startswith("error: could not compile")
    ]
    in_runner = [b for b in errors if "runner/src/main.rs" in b]
    if in_runner and not any("kernel.rs" in b for b in errors):
        return (
            "the kernel's function does not have the problem's exact signature",
            "\n\n".join(in_runner),
        )
    if not errors:
        return "cargo failed", _tail_lines(stderr, 30)
    first = errors[0].splitlines()[0]
    text = "\n\n".join(errors).replace("candidate/src/kernel.rs", "kernel.rs")
    return f"the compiler refused the kernel: {first}", text
