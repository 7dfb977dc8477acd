"""Semantic chunking: boundaries where the meaning of neighbouring sentences changes most.

Every sentence is embedded; the cosine similarity across each gap between sentences is
computed (the mean embedding of `window` sentences on each side); a boundary goes at every
gap whose similarity is below the `percentile`-th percentile of the document's similarities.
Chunks smaller than `min_chars` are then merged into the neighbour across the weaker
boundary, and chunks larger than `max_chars` are split at their weakest inner gap.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from roundtable_tui.knowledge.ingest import Document

EmbedFn = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class Sentence:
    text: str
    start: int  # offset in Document.text
    page: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@dataclass(frozen=True)
class Chunk:
    source: str
    page: int  # page of the chunk's first sentence
    start: int  # offset of the chunk in Document.text
    text: str
    index: int  # position of the chunk in its document

    @property
    def end(self) -> int:
        return self.start + len(self.text)


# words that end with a full stop without ending a sentence
# fmt: off
_ABBREVIATIONS = frozenset({
    "e.g", "i.e", "etc", "vs", "al", "fig", "figs", "eq", "eqs", "ref", "refs", "cf", "dr",
    "mr", "mrs", "ms", "no", "nos", "approx", "resp", "sec", "ch", "vol", "pp", "p", "st",
    "jr", "sr", "prof", "inc", "ltd", "co", "ca", "est", "max", "min",
})
# fmt: on
_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?:\s+)")
_NEXT_STARTS = re.compile(r"[A-Z0-9\"'“‘(\[`*#_$\\-]")


def _is_sentence_end(para: str, end_punct: int, after: int) -> bool:
    """Whether the punctuation ending at `end_punct` (whitespace until `after`) ends a
    sentence: the next text must look like a sentence start and the word before must not be
    an abbreviation or an initial."""
    if after >= len(para) or not _NEXT_STARTS.match(para, after):
        return False
    if para[end_punct - 1] != ".":
        return True
    word = re.search(r"([\w.]+)\.$", para[:end_punct])
    if word is None:
        return True
    token = word.group(1).lower()
    if token in _ABBREVIATIONS:
        return False
    if len(token) == 1 and token.isalpha():
        # "K. Goto, R. A. van de Geijn" are initials, "... every column of B. Next" is a
        # matrix ending a sentence: an initial follows a list start, a comma or another
        # initial, or comes before one
        before = para[: word.start()].rstrip()
        if not before or before[-1] in ",;(-–—:.!?" or re.search(r"(?:^|\s)[A-Z]\.$", before):
            return False
        return not re.match(r"[A-Z]\.\s", para[after:])
    return True


def _hard_split(text: str, start: int, limit: int) -> list[tuple[str, int]]:
    """Splits a run of text longer than `limit` at whitespace (or anywhere if it has none)."""
    pieces: list[tuple[str, int]] = []
    pos = 0
    while len(text) - pos > limit:
        cut = text.rfind(" ", pos + 1, pos + limit + 1)
        if cut <= pos:
            cut = pos + limit
        piece = text[pos:cut].rstrip()
        if piece:
            pieces.append((piece, start + pos))
        pos = cut
        while pos < len(text) and text[pos] == " ":
            pos += 1
    if pos < len(text):
        pieces.append((text[pos:], start + pos))
    return pieces


def split_sentences(doc: Document, max_chars: int | None = None) -> list[Sentence]:
    """Sentences of a document with their offsets in `doc.text` and their pages. Paragraphs
    (and so headings, list items and pages) always end a sentence; a sentence longer than
    `max_chars` is cut at whitespace."""
    text = doc.text
    spans = doc.page_spans()
    sentences: list[Sentence] = []

    def page_of(offset: int) -> int:
        for number, _, end in spans:
            if offset <= end:
                return number
        return spans[-1][0] if spans else 1

    for para in re.finditer(r"[^\n]+", text):
        body, base = para.group(0), para.start()
        pos = 0
        pieces: list[tuple[str, int]] = []
        for m in _END.finditer(body):
            punct_end = m.end() - len(m.group(0)) + len(m.group(0).rstrip())
            if _is_sentence_end(body, punct_end, m.end()):
                pieces.append((body[pos:punct_end], base + pos))
                pos = m.end()
        pieces.append((body[pos:], base + pos))
        for piece, offset in pieces:
            stripped = piece.strip()
            if not stripped:
                continue
            offset += len(piece) - len(piece.lstrip())
            parts = (
                _hard_split(stripped, offset, max_chars)
                if max_chars and len(stripped) > max_chars
                else [(stripped, offset)]
            )
            for part, part_offset in parts:
                sentences.append(Sentence(part, part_offset, page_of(part_offset)))
    return sentences


def gap_similarities(vectors: np.ndarray, window: int = 1) -> np.ndarray:
    """Cosine similarity across each of the len(vectors)-1 gaps: the mean of up to `window`
    vectors before the gap against the mean of up to `window` vectors after it."""
    n = len(vectors)
    if n < 2:
        return np.zeros(0, dtype=np.float64)
    v = np.asarray(vectors, dtype=np.float64)
    sims = np.empty(n - 1, dtype=np.float64)
    for g in range(n - 1):
        left = v[max(0, g - window + 1) : g + 1].mean(axis=0)
        right = v[g + 1 : g + 1 + window].mean(axis=0)
        denom = float(np.linalg.norm(left) * np.linalg.norm(right))
        sims[g] = float(left @ right) / denom if denom > 0 else 0.0
    return sims


class SemanticChunker:
    """Cuts documents into chunks of related sentences; `embed` maps texts to vectors."""

    def __init__(
        self,
        embed: EmbedFn,
        *,
        percentile: float = 20.0,
        min_chars: int = 200,
        max_chars: int = 1000,
        window: int = 1,
    ) -> None:
        if not 0.0 <= percentile <= 100.0:
            raise ValueError("percentile must be within 0..100")
        if min_chars < 1 or max_chars < 2 * min_chars:
            raise ValueError("need 1 <= min_chars and max_chars >= 2 * min_chars")
        if window < 1:
            raise ValueError("window must be at least 1")
        self.embed = embed
        self.percentile = percentile
        self.min_chars = min_chars
        self.max_chars = max_chars
        self.window = window

    def boundaries(self, sims: np.ndarray) -> list[int]:
        """Gaps (index g: between sentence g and g+1) whose similarity is below the
        percentile threshold."""
        if len(sims) < 2:
            return []
        threshold = float(np.percentile(sims, self.percentile))
        return [g for g, s in enumerate(sims) if s < threshold]

    def chunk(self, doc: Document) -> list[Chunk]:
        return [chunk for chunk, _ in self.split(doc)]

    def split(self, doc: Document) -> list[tuple[Chunk, np.ndarray]]:
        """The chunks, each with the vectors of its sentences."""
        sentences = split_sentences(doc, self.max_chars)
        if not sentences:
            return []
        vectors = np.asarray(self.embed([s.text for s in sentences]))
        sims = gap_similarities(vectors, self.window)
        cuts = self.boundaries(sims)
        edges = [0, *[g + 1 for g in cuts], len(sentences)]
        groups = [(a, b) for a, b in zip(edges, edges[1:], strict=False) if b > a]

        def size(group: tuple[int, int]) -> int:
            return sentences[group[1] - 1].end - sentences[group[0]].start

        groups = self._merge_small(groups, sims, size)
        groups = [piece for g in groups for piece in self._split_large(g, sims, size)]
        text = doc.text
        out = []
        for index, (a, b) in enumerate(groups):
            start, end = sentences[a].start, sentences[b - 1].end
            chunk = Chunk(doc.source, sentences[a].page, start, text[start:end], index)
            out.append((chunk, vectors[a:b]))
        return out

    def _merge_small(
        self,
        groups: list[tuple[int, int]],
        sims: np.ndarray,
        size: Callable[[tuple[int, int]], int],
    ) -> list[tuple[int, int]]:
        groups = list(groups)
        while len(groups) > 1:
            small = [i for i, g in enumerate(groups) if size(g) < self.min_chars]
            if not small:
                break
            i = min(small, key=lambda j: size(groups[j]))
            options = []
            for j in (i - 1, i + 1):
                if 0 <= j < len(groups):
                    a, b = min(i, j), max(i, j)
                    merged = (groups[a][0], groups[b][1])
                    fits = size(merged) <= self.max_chars
                    # the gap between the two groups: the last sentence of the first
                    options.append((fits, float(sims[groups[a][1] - 1]), a, merged))
            fits, _, a, merged = max(options, key=lambda o: (o[0], o[1]))
            groups[a : a + 2] = [merged]
        return groups

    def _split_large(
        self,
        group: tuple[int, int],
        sims: np.ndarray,
        size: Callable[[tuple[int, int]], int],
    ) -> list[tuple[int, int]]:
        a, b = group
        if size(group) <= self.max_chars or b - a < 2:
            return [group]
        gaps = list(range(a, b - 1))  # gap g splits into (a, g+1) and (g+1, b)
        balanced = [
            g
            for g in gaps
            if size((a, g + 1)) >= self.min_chars and size((g + 1, b)) >= self.min_chars
        ]
        pool = balanced or gaps
        g = min(pool, key=lambda x: (float(sims[x]), abs(size((a, x + 1)) - size((x + 1, b)))))
        return self._split_large((a, g + 1), sims, size) + self._split_large((g + 1, b), sims, size)
