"""The machine roundtable builds and measures for: one place for its facts.

`current()` is the model every template, rule, test and prompt reads: the ISA level the
kernels are built for and the vector width the compiler uses for them, the number of vector
registers, FMA units where known, the L1d/L2/L3 sizes per core (sysfs on Linux, sysctl on
macOS) and the cores and threads. A target CPU (`--target-cpu`, setting `target_cpu`, e.g.
``x86-64-v3``) builds for a lesser ISA than the host's: it sets rustc's ``-C target-cpu`` and
the ISA facts, the caches stay the host's. `documented()` gives models of other machines from
their vendors' published figures, so derivations can be tested on machines we do not have.

Also here: the facts every result records (`describe`), the measured FP32 peak and the memory
bandwidth.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from roundtable_tui.config import Settings, settings, usable_cpus

KIB, MIB = 2**10, 2**20

# ISA levels in order; a build may target a level at most the host's.
ISA_ORDER = ("scalar", "SSE2", "AVX", "AVX2", "AVX-512")


@dataclass(frozen=True)
class Machine:
    """What a kernel's blocking depends on. Sizes in bytes; caches per core except `l3`
    (the L3 instance a core sees, shared by the cores on it)."""

    name: str
    arch: str
    """x86_64 or aarch64."""
    isa: str
    """The ISA level kernels are built for: scalar, SSE2, AVX, AVX2, AVX-512 or NEON."""
    vector_bits: int
    """Width of the vectors the compiler uses for f32 loops: 512 on AMD's AVX-512 cores,
    256 on Intel's (LLVM prefers 256-bit vectors there), 256 for AVX2, 128 for SSE and NEON."""
    vregs: int
    """Architectural vector registers: 16 (SSE/AVX/AVX2), 32 (AVX-512, NEON)."""
    fma: bool
    fma_units: int | None
    """FMA pipes per core (of `vector_bits` or wider), where documented; None if unknown."""
    l1d: int
    l2: int
    l3: int
    cores: int
    threads: int
    target_cpu: str = "native"
    caches_from: str = "sysfs"

    @property
    def lanes(self) -> int:
        """f32 lanes per vector."""
        return max(1, self.vector_bits // 32)

    @property
    def vreg(self) -> str:
        """The assembly name of one vector register: zmm, ymm, xmm or v (NEON)."""
        if self.arch != "x86_64":
            return "v"
        return {512: "zmm", 256: "ymm"}.get(self.vector_bits, "xmm")

    @property
    def acc_budget(self) -> int:
        """Accumulator vectors a register tile may hold: three quarters of the register file
        (measured with `check --asm`: above it LLVM spills the tile, the rest goes to the B
        vectors, the broadcast and the compiler's temporaries)."""
        return self.vregs * 3 // 4

    # ------------------------------------------------------------ register tiles
    def tile_regs(self, mr: int, nr: int) -> int:
        """Vector registers an mr×nr tile's micro-kernel needs: mr·nr/lanes accumulators,
        nr/lanes B vectors and one broadcast of A."""
        vectors = -(-nr // self.lanes)
        return mr * vectors + vectors + 1

    def fits(self, mr: int, nr: int) -> bool:
        """Whether an mr×nr tile stays in registers: its accumulators within `acc_budget`,
        and accumulators + B vectors + the broadcast within the register file."""
        vectors = -(-nr // self.lanes)
        return mr * vectors <= self.acc_budget and self.tile_regs(mr, nr) <= self.vregs

    def tile_rows(self, vectors: int) -> int:
        """The most rows of a tile `vectors` vectors wide that fit (0: none)."""
        rows = 0
        while self.fits(rows + 1, vectors * self.lanes):
            rows += 1
        return rows

    def tile_cols(self, rows: int) -> int:
        """The widest tile (columns, a multiple of the lanes) of `rows` rows that fits."""
        vectors = 0
        while self.fits(rows, (vectors + 1) * self.lanes):
            vectors += 1
        return vectors * self.lanes

    def tiles(self, max_vectors: int = 4) -> list[tuple[int, int]]:
        """The largest tile (mr, nr) for each width of 1..max_vectors vectors that fits the
        register file, widest first: the shapes worth measuring first on this machine."""
        out = []
        for vectors in range(max_vectors, 0, -1):
            rows = self.tile_rows(vectors)
            if rows:
                out.append((rows, vectors * self.lanes))
        return out

    # ------------------------------------------------------------ presentation
    def facts(self) -> dict[str, int | str]:
        """The names template rules and defaults may use."""
        return {
            "lanes": self.lanes,
            "vregs": self.vregs,
            "vector_bits": self.vector_bits,
            "acc_budget": self.acc_budget,
            "fma_units": self.fma_units or 0,
            "l1d": self.l1d,
            "l2": self.l2,
            "l3": self.l3,
            "cores": self.cores,
            "threads": self.threads,
            "vreg": self.vreg,
            "isa": self.isa,
            "l1d_size": _size(self.l1d),
            "l2_size": _size(self.l2),
            "l3_size": _size(self.l3),
        }

    def summary(self) -> str:
        """One line: ``AVX2+FMA · 8 f32 lanes (ymm) · 16 vector registers · 2 FMA units ·
        L1d 32 KiB, L2 512 KiB, L3 32 MiB · 2 cores``."""
        units = f" · {self.fma_units} FMA units" if self.fma_units else ""
        target = "" if self.target_cpu == "native" else f" · built for {self.target_cpu}"
        return (
            f"{self.isa}{'+FMA' if self.fma and self.isa == 'AVX2' else ''} · {self.lanes} f32 "
            f"lanes ({self.vreg}) · {self.vregs} vector registers{units} · "
            f"L1d {_size(self.l1d)}, L2 {_size(self.l2)}, L3 {_size(self.l3)} "
            f"({self.caches_from}) · {self.cores} cores{target}"
        )

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "lanes": self.lanes, "vreg": self.vreg}


def _size(n: int) -> str:
    if n >= MIB and n % MIB == 0:
        return f"{n // MIB} MiB"
    return f"{n // KIB} KiB"


# ---------------------------------------------------------------- target CPUs
# rustc -C target-cpu names → (ISA, vector bits LLVM uses, vector registers, FMA).
# LLVM tunes Intel's AVX-512 cores and x86-64-v4 to prefer 256-bit vectors; AMD's Zen 4/5
# use 512-bit ones (checked with rustc --emit asm on a register tile).
_AVX2 = ("AVX2", 256, 16, True)
_AVX512_256 = ("AVX-512", 256, 32, True)
_AVX512 = ("AVX-512", 512, 32, True)
_NEON = ("NEON", 128, 32, True)
TARGETS: dict[str, tuple[str, int, int, bool]] = {
    "x86-64": ("SSE2", 128, 16, False),
    "x86-64-v2": ("SSE2", 128, 16, False),
    "sandybridge": ("AVX", 256, 16, False),
    "x86-64-v3": _AVX2,
    "haswell": _AVX2,
    "broadwell": _AVX2,
    "skylake": _AVX2,
    "alderlake": _AVX2,
    "znver1": _AVX2,
    "znver2": _AVX2,
    "znver3": _AVX2,
    "x86-64-v4": _AVX512_256,
    "skylake-avx512": _AVX512_256,
    "cascadelake": _AVX512_256,
    "icelake-server": _AVX512_256,
    "sapphirerapids": _AVX512_256,
    "znver4": _AVX512,
    "znver5": _AVX512,
    "apple-m1": _NEON,
    "apple-m2": _NEON,
    "apple-m3": _NEON,
    "apple-m4": _NEON,
    "neoverse-n1": _NEON,
    "neoverse-v1": _NEON,
}
# OpenBLAS's core type (OPENBLAS_CORETYPE) of the same ISA, so the anchor of a kernel built
# for a lesser ISA runs on that ISA too.
OPENBLAS_CORETYPE = {
    "SSE2": "Nehalem",
    "AVX": "Sandybridge",
    "AVX2": "Haswell",
    "AVX-512": "SkylakeX",
}


class TargetError(ValueError):
    """A target CPU this machine cannot build for or run."""


def rustflags_for(target_cpu: str, rustflags: str) -> str:
    """`rustflags` with its ``-C target-cpu`` set to `target_cpu` (added if absent)."""
    flags = re.sub(r"-C\s*target-cpu=\S+", "", rustflags).split()
    return " ".join(["-C", f"target-cpu={target_cpu}", *flags])


def with_target(cfg: Settings, target_cpu: str, run: bool = True) -> Settings:
    """A copy of `cfg` that builds for `target_cpu` (``native``: the host); TargetError when
    `run` and this machine could not run what it builds (assembly needs no `run`)."""
    if run:
        check_target(target_cpu)
    elif target_cpu not in TARGETS and target_cpu != "native":
        raise TargetError(
            f"unknown target CPU {target_cpu!r} (known: native, {', '.join(TARGETS)})"
        )
    return cfg.model_copy(
        update={"target_cpu": target_cpu, "rustflags": rustflags_for(target_cpu, cfg.rustflags)}
    )


def check_target(target_cpu: str) -> None:
    """TargetError unless kernels built for `target_cpu` can run here."""
    if target_cpu == "native":
        return
    if target_cpu not in TARGETS:
        raise TargetError(
            f"unknown target CPU {target_cpu!r} (known: native, {', '.join(TARGETS)})"
        )
    isa = TARGETS[target_cpu][0]
    host = host_isa()
    if (isa == "NEON") != (host == "NEON"):
        raise TargetError(f"target CPU {target_cpu} ({isa}) cannot run on this {host} machine")
    if isa != "NEON" and ISA_ORDER.index(isa) > ISA_ORDER.index(host):
        raise TargetError(
            f"target CPU {target_cpu} needs {isa}, which this CPU lacks (it has {host})"
        )


@lru_cache(maxsize=1)
def host_triple() -> str | None:
    """rustc's host target triple (x86_64-unknown-linux-gnu…), or None without rustc."""
    try:
        out = subprocess.run(["rustc", "-vV"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"^host: (\S+)", out, re.MULTILINE)
    return found.group(1) if found else None


def cross_target_args(rustflags: str) -> list[str]:
    """Cargo arguments for building (not running) for a CPU this machine cannot run: an
    explicit ``--target`` keeps RUSTFLAGS off the build scripts, which must run here."""
    try:
        check_target(target_of(rustflags))
        return []
    except TargetError:
        triple = host_triple()
        return ["--target", triple] if triple else []


def openblas_coretype(m: Machine | None = None) -> str | None:
    """The OPENBLAS_CORETYPE that keeps the OpenBLAS anchor on the kernels' ISA, or None when
    they are built for the host (OpenBLAS then picks its own kernels)."""
    m = m or current()
    if m.target_cpu == "native" or m.isa == host_isa():
        return None
    return OPENBLAS_CORETYPE.get(m.isa)


# ---------------------------------------------------------------- the host
def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo ({} off Linux)."""
    fields: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return fields
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def _sysctl(name: str) -> str | None:
    """A macOS/BSD sysctl value, or None."""
    if not shutil.which("sysctl"):
        return None
    try:
        out = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    value = out.stdout.strip()
    return value if out.returncode == 0 and value else None


def cpu_model() -> str:
    info = _cpuinfo()
    if "model name" in info:
        return info["model name"]
    return _sysctl("machdep.cpu.brand_string") or platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    """Linux's CPU flags; on macOS the sysctl hw.optional features spelled as Linux does."""
    info = _cpuinfo()
    if "flags" in info:
        return set(info["flags"].split())
    if "Features" in info:  # Linux on ARM
        return set(info["Features"].split())
    flags = set()
    for linux, mac in (
        ("avx512f", "hw.optional.avx512f"),
        ("avx2", "hw.optional.avx2_0"),
        ("fma", "hw.optional.fma"),
        ("avx", "hw.optional.avx1_0"),
        ("sse2", "hw.optional.sse2"),
        ("asimd", "hw.optional.neon"),
    ):
        if _sysctl(mac) == "1":
            flags.add(linux)
    if platform.machine() in ("arm64", "aarch64"):
        flags.add("asimd")  # every AArch64 core has Advanced SIMD
    return flags


def host_isa(flags: set[str] | None = None) -> str:
    """The host's ISA level: AVX-512, AVX2, AVX, SSE2, NEON or scalar."""
    flags = cpu_flags() if flags is None else flags
    for name, needs in (
        ("AVX-512", {"avx512f", "avx512vl"}),
        ("AVX2", {"avx2", "fma"}),
        ("AVX", {"avx"}),
        ("SSE2", {"sse2"}),
        ("NEON", {"asimd"}),
    ):
        if needs <= flags:
            return name
    return "scalar"


def simd_level() -> str:
    """The ISA kernels are built for, as recorded in results (``AVX2+FMA``, ``AVX-512``…)."""
    m = current()
    return f"{m.isa}+FMA" if m.isa == "AVX2" else m.isa


def _parse_size(text: str) -> int:
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    units = {"K": KIB, "M": MIB, "G": 2**30}
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def _sharing(cpu_list: str) -> int:
    count = 0
    for part in cpu_list.split(","):
        lo, _, hi = part.partition("-")
        if lo.strip():
            count += int(hi or lo) - int(lo) + 1
    return max(1, count)


def sysfs_caches(root: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> dict[str, int]:
    """{"l1d", "l2", "l3"} in bytes from Linux's sysfs: L1d and L2 per core (an instance's
    size over the cores sharing it, SMT siblings counted once), L3 per instance."""
    smt = _smt_per_core()
    out: dict[str, int] = {}
    for index in sorted(root.glob("index*")):
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            size = _parse_size((index / "size").read_text())
            shared = _sharing((index / "shared_cpu_list").read_text())
        except (OSError, ValueError):
            continue
        cores = max(1, shared // smt)
        if level == "1" and kind in ("Data", "Unified"):
            out["l1d"] = size // cores
        elif level == "2":
            out["l2"] = size // cores
        elif level == "3":
            out["l3"] = size
    return out


def _smt_per_core() -> int:
    try:
        text = Path("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list").read_text()
        return _sharing(text)
    except (OSError, ValueError):
        return 1


def sysctl_caches() -> dict[str, int]:
    """{"l1d", "l2", "l3"} from macOS's sysctl: the performance cores' sizes where the chip
    has two kinds (Apple silicon: L2 shared by a cluster, divided per core; no L3, so the
    system-level cache is not counted and l3 is the cluster's L2)."""
    out: dict[str, int] = {}
    l1 = _sysctl("hw.perflevel0.l1dcachesize") or _sysctl("hw.l1dcachesize")
    l2 = _sysctl("hw.perflevel0.l2cachesize") or _sysctl("hw.l2cachesize")
    per_l2 = _sysctl("hw.perflevel0.cpusperl2")
    l3 = _sysctl("hw.l3cachesize")
    try:
        if l1:
            out["l1d"] = int(l1)
        if l2:
            out["l2"] = int(l2) // max(1, int(per_l2 or 1))
            out["l3"] = int(l3) if l3 and int(l3) else int(l2)
    except ValueError:
        return {}
    return out


def lscpu_caches() -> dict[str, int]:
    """{"l1d", "l2", "l3"} from `lscpu -C` when sysfs has no cache directory (some VMs)."""
    if not shutil.which("lscpu"):
        return {}
    try:
        out = subprocess.run(
            ["lscpu", "-B", "-C=NAME,ONE-SIZE"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    names = {"L1d": "l1d", "L2": "l2", "L3": "l3"}
    found: dict[str, int] = {}
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) == 2 and parts[0] in names and parts[1].isdigit():
            found[names[parts[0]]] = int(parts[1])
    return found


# Used only when the OS tells nothing (and said so by caches_from="assumed").
_ASSUMED_CACHES = {"l1d": 32 * KIB, "l2": 512 * KIB, "l3": 8 * MIB}


def host_caches() -> tuple[dict[str, int], str]:
    """Cache sizes and where they came from (sysfs, lscpu, sysctl or assumed)."""
    for source, probe in (
        ("sysfs", sysfs_caches),
        ("sysctl", sysctl_caches),
        ("lscpu", lscpu_caches),
    ):
        if source == "sysctl" and platform.system() != "Darwin":
            continue
        found = probe()
        if {"l1d", "l2"} <= found.keys():
            found.setdefault("l3", found["l2"])
            return found, source
    return dict(_ASSUMED_CACHES), "assumed"


def physical_cores() -> int:
    """Cores (not SMT threads) this process may use."""
    cpus = usable_cpus()
    physical = _sysctl("hw.perflevel0.physicalcpu") if platform.system() == "Darwin" else None
    if physical and physical.isdigit():
        return int(physical)
    return max(1, (cpus or 1) // _smt_per_core())


def _fma_units(info: dict[str, str], isa: str) -> int | None:
    """FMA pipes per core where the vendor documents them: AMD Zen 2-5 have two, Apple's
    performance cores four (128-bit); otherwise unknown."""
    if info.get("vendor_id") == "AuthenticAMD" and info.get("cpu family", "").isdigit():
        return 2 if int(info["cpu family"]) >= 23 else None
    if isa == "NEON" and "Apple" in cpu_model():
        return 4
    return None


@lru_cache(maxsize=8)
def compiler_vector_bits(rustflags: str) -> int | None:
    """The vector width rustc uses for a loop of f32 FMAs under `rustflags` (512, 256 or 128),
    read from the assembly of a tiny function; None if rustc is missing or the listing shows
    no vector FMA. LLVM's tuning, not only the ISA, decides it (256 on Intel's AVX-512)."""
    rustc = shutil.which("rustc")
    if not rustc:
        return None
    src = (
        "pub fn probe(a: &[f32; 64], b: &[f32; 64], c: &mut [f32; 64]) {\n"
        "    for i in 0..64 { c[i] = a[i].mul_add(b[i], c[i]); }\n}\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "probe.rs"
        path.write_text(src)
        cmd = [
            rustc,
            "--edition",
            "2021",
            "--crate-type",
            "lib",
            "-O",
            *shlex.split(rustflags),
            "--emit",
            f"asm={Path(tmp) / 'probe.s'}",
            str(path),
        ]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=tmp)
            listing = (Path(tmp) / "probe.s").read_text() if done.returncode == 0 else ""
        except (OSError, subprocess.SubprocessError):
            return None
    if re.search(r"vfmadd\w*ps\s.*%zmm", listing):
        return 512
    if re.search(r"vfmadd\w*ps\s.*%ymm", listing):
        return 256
    if re.search(r"fmla\s+v\d+\.4s|vfmadd\w*ps\s.*%xmm", listing):
        return 128
    return None


def detect(cfg: Settings | None = None) -> Machine:
    """This machine, as built for by `cfg` (its target CPU and RUSTFLAGS)."""
    cfg = cfg or settings()
    info = _cpuinfo()
    host = host_isa()
    target = target_of(cfg.rustflags)
    if target in TARGETS:
        isa, bits, vregs, fma = TARGETS[target]
    else:
        isa = host
        bits = {"AVX-512": 512, "AVX2": 256, "AVX": 256}.get(isa, 128)
        vregs = 32 if isa in ("AVX-512", "NEON") else 16
        fma = isa in ("AVX-512", "AVX2", "NEON") or "fma" in cpu_flags()
    bits = compiler_vector_bits(cfg.rustflags) or bits
    caches, source = host_caches()
    arch = "aarch64" if platform.machine() in ("arm64", "aarch64") else platform.machine()
    return Machine(
        name=cpu_model(),
        arch=arch,
        isa=isa,
        vector_bits=bits,
        vregs=vregs,
        fma=fma,
        fma_units=_fma_units(info, isa),
        l1d=caches["l1d"],
        l2=caches["l2"],
        l3=caches["l3"],
        cores=physical_cores(),
        threads=cfg.n_threads,
        target_cpu=target,
        caches_from=source,
    )


def target_of(rustflags: str) -> str:
    """The ``-C target-cpu`` of `rustflags` (``native`` when absent)."""
    found = re.search(r"target-cpu=(\S+)", rustflags)
    return found.group(1) if found else "native"


@lru_cache(maxsize=4)
def _detect(rustflags: str, threads: int) -> Machine:
    return detect(settings().model_copy(update={"rustflags": rustflags, "threads": threads}))


def current(cfg: Settings | None = None) -> Machine:
    """This machine as `cfg` (the settings by default) builds for; cached per RUSTFLAGS."""
    cfg = cfg or settings()
    return _detect(cfg.rustflags, cfg.n_threads)


# ---------------------------------------------------------------- documented machines
# Models of machines we may not have, from the vendors' published figures (per-core caches;
# L3 per CCD/cluster as one core sees it). Threads as on one 8-core part.
def _documented(name: str, isa: str, bits: int, vregs: int, **kw: object) -> Machine:
    arch = "aarch64" if isa == "NEON" else "x86_64"
    return Machine(name, arch, isa, bits, vregs, fma=True, caches_from="documented", **kw)  # type: ignore[arg-type]


DOCUMENTED: dict[str, Machine] = {
    # AMD Zen 3 (Ryzen 5000 / EPYC 7003): AVX2, 2×256-bit FMA, 32 KiB L1d, 512 KiB L2,
    # 32 MiB L3 per CCD
    "zen3": _documented(
        "AMD Zen 3",
        "AVX2",
        256,
        16,
        fma_units=2,
        l1d=32 * KIB,
        l2=512 * KIB,
        l3=32 * MIB,
        cores=8,
        threads=16,
        target_cpu="znver3",
    ),
    # AMD Zen 4 (Ryzen 7000 / EPYC 9004): AVX-512 on 256-bit pipes, 32 KiB L1d, 1 MiB L2,
    # 32 MiB L3 per CCD
    "zen4": _documented(
        "AMD Zen 4",
        "AVX-512",
        512,
        32,
        fma_units=2,
        l1d=32 * KIB,
        l2=1 * MIB,
        l3=32 * MIB,
        cores=8,
        threads=16,
        target_cpu="znver4",
    ),
    # Intel Sapphire Rapids server core (Xeon 4th gen): AVX-512 with 2×512-bit FMA, 48 KiB
    # L1d, 2 MiB L2, 1.875 MiB of L3 per core (105 MiB for 56 cores); LLVM uses 256-bit vectors
    "spr": _documented(
        "Intel Sapphire Rapids",
        "AVX-512",
        256,
        32,
        fma_units=2,
        l1d=48 * KIB,
        l2=2 * MIB,
        l3=105 * MIB,
        cores=56,
        threads=112,
        target_cpu="sapphirerapids",
    ),
    # Apple M2 performance core: NEON (128-bit), 32 vector registers, 4 FMA pipes, 128 KiB
    # L1d, 16 MiB L2 shared by 4 P-cores, no L3 (the system-level cache is not counted)
    "apple-m2": _documented(
        "Apple M2 (P-core)",
        "NEON",
        128,
        32,
        fma_units=4,
        l1d=128 * KIB,
        l2=4 * MIB,
        l3=16 * MIB,
        cores=4,
        threads=4,
        target_cpu="apple-m2",
    ),
}


def documented(name: str) -> Machine:
    """A model of a documented machine: zen3, zen4, spr (an AVX-512 Intel server core) or
    apple-m2. KeyError for others."""
    return DOCUMENTED[name]


# ---------------------------------------------------------------- recorded facts
@lru_cache(maxsize=1)
def rustc_version() -> str:
    try:
        return (
            subprocess.run(
                ["rustc", "--version"], capture_output=True, text=True, timeout=30
            ).stdout.strip()
            or "unknown"
        )
    except (OSError, subprocess.SubprocessError):
        return "not installed"


def describe() -> dict[str, object]:
    """The machine facts a session's meta and every result record."""
    cfg = settings()
    m = current()
    return {
        "cpu": cpu_model(),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else m.cores,
        "threads": cfg.n_threads,
        "simd": simd_level(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "rustc": rustc_version(),
        "rustflags": cfg.rustflags,
        "target_cpu": m.target_cpu,
        "isa": m.isa,
        "lanes": m.lanes,
        "vregs": m.vregs,
        "fma_units": m.fma_units,
        "l1d": m.l1d,
        "l2": m.l2,
        "l3": m.l3,
        "caches_from": m.caches_from,
        "openblas_coretype": openblas_coretype(m),
    }


def prompt_line(facts: dict[str, object]) -> str:
    """The machine in a prompt, from `describe()`'s facts (missing ones left out): "8 f32
    lanes per ymm vector, 16 vector registers; L1d 32 KiB, L2 512 KiB per core, L3 32 MiB
    shared; built with -C target-cpu=native"."""
    parts = []
    lanes, vregs = facts.get("lanes"), facts.get("vregs")
    if isinstance(lanes, int) and isinstance(vregs, int):
        name = {16: "zmm", 8: "ymm"}.get(lanes, "") if facts.get("isa") != "NEON" else ""
        parts.append(
            f"{lanes} f32 lanes per {name + ' ' if name else ''}vector, {vregs} vector registers"
        )
    sizes = {name: facts.get(key) for key, name in (("l1d", "L1d"), ("l2", "L2"), ("l3", "L3"))}
    if all(isinstance(v, int) and v > 0 for v in sizes.values()):
        l1d, l2, l3 = (_size(v) for v in sizes.values() if isinstance(v, int))
        parts.append(f"L1d {l1d}, L2 {l2} per core, L3 {l3} shared")
    parts.append(f"built with {facts.get('rustflags') or '-C target-cpu=native'}")
    return "; ".join(parts)


def _peak_file() -> Path:
    return settings().cache_dir / "peak.json"


def _peak_key(threads: int) -> str:
    m = current()
    isa = "" if m.target_cpu == "native" else f"|{m.isa}/{m.vector_bits}"
    return f"{cpu_model()}|{threads}{isa}"


def best_peak(threads: int, measured: float | None) -> float | None:
    """The highest peak seen for `threads` (a busy machine measures low; the hardware doesn't
    change), updated with `measured`. Kept per ISA when building for a lesser one."""
    path = _peak_file()
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    key = _peak_key(threads)
    best = max(filter(None, (known.get(key), measured)), default=None)
    if measured is not None and best != known.get(key):
        known[key] = best
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(known, indent=1))
        tmp.replace(path)
    return best


def _bandwidth_file() -> Path:
    return settings().cache_dir / "bandwidth.json"


def measure_bandwidth(repeats: int = 5) -> float:
    """Main-memory bandwidth in GB/s: one thread copying an array four times the size of the
    last-level cache (64–256 MiB), best of `repeats`, counted as STREAM counts a copy (bytes
    read + bytes written). About half a second."""
    import numpy as np

    size = min(max(4 * host_caches()[0]["l3"], 64 * 2**20), 256 * 2**20)
    src = np.ones(size // 4, dtype=np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # touches every page before timing
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - start)
    return 2 * src.nbytes / best / 1e9


def memory_bandwidth(measure: bool = True) -> float | None:
    """This machine's memory bandwidth (GB/s, see `measure_bandwidth`), measured once and
    cached per CPU model in the cache directory; None if unknown and `measure` is False."""
    path = _bandwidth_file()
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    value = known.get(cpu_model())
    if isinstance(value, int | float) and value > 0:
        return float(value)
    if not measure:
        return None
    known[cpu_model()] = round(measure_bandwidth(), 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(known, indent=1))
    tmp.replace(path)
    return float(known[cpu_model()])
