"""Settings: paths, limits and defaults. Every field can be set as ROUNDTABLE_<NAME>."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from platformdirs import user_cache_dir, user_data_dir
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """roundtable's settings, read from the environment (prefix ROUNDTABLE_)."""

    model_config = SettingsConfigDict(env_prefix="ROUNDTABLE_", extra="ignore")

    rust_workspace: Path = Field(
        default=PROJECT_ROOT / "rust_workspace",
        description="The Rust workspace template (harness, baselines, candidate).",
    )
    cache_dir: Path = Field(
        default=Path(user_cache_dir("roundtable")),
        description="Build directories, built kernels and measured machine figures.",
    )
    data_dir: Path = Field(
        default=Path(user_data_dir("roundtable")),
        description="Models, the knowledge base and sessions.",
    )
    rustflags: str = Field(
        default="-C target-cpu=native",
        description="RUSTFLAGS for every kernel build (recorded in every result).",
    )
    target_cpu: str = Field(
        default="native",
        description="rustc's -C target-cpu for every kernel build (e.g. x86-64-v3 builds and "
        "tests for AVX2 on an AVX-512 machine); it replaces the target-cpu in rustflags and sets "
        "the ISA the templates and the OpenBLAS anchor use.",
    )
    allow_unprotected: bool = Field(
        default=False,
        description="Run checks where the checker's Linux-only protections (namespaces, "
        "prctl, /proc) are missing, e.g. on macOS; only for kernels you trust.",
    )
    threads: int = Field(
        default=0, description="Threads for kernels and baselines; 0 means all cores."
    )
    memory_limit_mb: int = Field(
        default=4096, description="Address-space limit of a kernel run (out_of_memory above)."
    )
    timeout_s: float = Field(
        default=60.0, description="Wall-clock limit of one kernel run (timeout above)."
    )
    build_timeout_s: float = Field(
        default=300.0, description="Wall-clock limit of one cargo build."
    )
    build_memory_mb: int = Field(
        default=3072,
        description="Address-space limit of every compiler process of a kernel build "
        "(build_failed above; cargo runs at most one rustc per core).",
    )
    build_cpu_s: int = Field(
        default=120, description="CPU-time limit of every compiler process of a kernel build."
    )
    build_disk_mb: int = Field(
        default=1024,
        description="How much a kernel build may add to the build directory (and the largest "
        "file it may write).",
    )
    sessions_dir: Path = Field(
        default=PROJECT_ROOT / "sessions",
        description="Saved sessions (sessions/examples/ holds the shipped ones).",
    )
    model: str = Field(
        default="embedded",
        description="Default --model: embedded, small, a .gguf path or openai:URL#MODEL.",
    )
    crate_registry: Path = Field(
        default=Path("/usr/share/cargo/registry"),
        description="Debian's crate sources, used only when crates.io cannot be reached.",
    )

    @field_validator("rust_workspace", "cache_dir", "data_dir", "sessions_dir", "crate_registry")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        # kernels run in a temporary working directory: relative paths would break there
        return path.expanduser().resolve()

    @model_validator(mode="after")
    def _target_in_rustflags(self) -> Settings:
        # one source for the build's CPU: the target_cpu setting writes rustflags' target-cpu
        if self.target_cpu != "native":
            import re

            flags = re.sub(r"-C\s*target-cpu=\S+", "", self.rustflags).split()
            self.rustflags = " ".join(["-C", f"target-cpu={self.target_cpu}", *flags])
        return self

    @property
    def n_threads(self) -> int:
        import os

        return self.threads or len(os.sched_getaffinity(0))


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings()
