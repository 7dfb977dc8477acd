"""Reading notes and papers: PDF (with page numbers), Markdown and plain text, normalised."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PDF_SUFFIXES = frozenset({".pdf"})
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
TEXT_SUFFIXES = frozenset({".txt", ".text", ".rst"})
SUPPORTED_SUFFIXES = PDF_SUFFIXES | MARKDOWN_SUFFIXES | TEXT_SUFFIXES

# Pages are joined with this in Document.text; chunk offsets count in that text.
PAGE_SEPARATOR = "\n\n"


class IngestError(Exception):
    """A file that cannot be read as a document; the message is the reason (the caller
    names the file)."""


@dataclass(frozen=True)
class Document:
    source: str  # path relative to the papers directory (absolute for files outside it)
    title: str
    pages: list[tuple[int, str]]  # (1-based page number, normalised text); one page for text
    sha256: str

    @property
    def text(self) -> str:
        return PAGE_SEPARATOR.join(text for _, text in self.pages)

    def page_spans(self) -> list[tuple[int, int, int]]:
        """(page number, start, end) of each page in `text`."""
        spans, pos = [], 0
        for number, text in self.pages:
            spans.append((number, pos, pos + len(text)))
            pos += len(text) + len(PAGE_SEPARATOR)
        return spans


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED_SUFFIXES and not path.name.startswith((".", "~"))


def iter_files(root: Path) -> Iterator[Path]:
    """Supported files under `root` (or `root` itself), sorted, hidden ones skipped."""
    if root.is_file():
        if is_supported(root):
            yield root
        return
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.is_file() and is_supported(path):
            yield path


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---- normalisation ----------------------------------------------------------------------

_HYPHEN_BREAK = re.compile(r"(?<=[^\W\d_])-[ \t]*\r?\n[ \t]*(?=[^\W\d_])")
_SOFT_HYPHEN = "\u00ad"
_LIGATURES = str.maketrans(
    {"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl"}
)
_MD_BLOCK_START = re.compile(r"^\s*(#{1,6}\s|[-*+]\s|\d+[.)]\s|>|```|~~~|\|)")


def _dehyphenate(text: str) -> str:
    """'multi-\\nplication' -> 'multiplication' (a hyphen at a line end between letters)."""
    text = text.replace(_SOFT_HYPHEN + "\n", "").replace(_SOFT_HYPHEN, "")
    return _HYPHEN_BREAK.sub("", text)


def _paragraphs(text: str, markdown: bool) -> list[str]:
    """Lines grouped into paragraphs: a blank line ends one; in Markdown so do headings,
    list items, quotes, table rows and code fences (each starts its own paragraph)."""
    paragraphs: list[list[str]] = [[]]
    fence = ""  # the open code fence, if any: a code block is one paragraph
    for line in text.splitlines():
        if markdown and fence:
            paragraphs[-1].append(line)
            if line.strip().startswith(fence):
                fence = ""
                paragraphs.append([])
            continue
        if markdown and line.lstrip().startswith(("```", "~~~")):
            fence = line.lstrip()[:3]
            if paragraphs[-1]:
                paragraphs.append([])
            paragraphs[-1].append(line)
            continue
        if not line.strip():
            paragraphs.append([])
            continue
        if markdown and _MD_BLOCK_START.match(line) and paragraphs[-1]:
            paragraphs.append([])
        paragraphs[-1].append(line)
        if markdown and line.lstrip().startswith("#"):
            paragraphs.append([])  # a heading is a paragraph of its own
    return [" ".join(p) for p in paragraphs if p]


def normalise(text: str, *, markdown: bool = False) -> str:
    """Joins hyphenated line breaks, collapses whitespace inside paragraphs and keeps
    paragraphs apart with one blank line."""
    text = text.translate(_LIGATURES).replace("\r\n", "\n").replace("\r", "\n")
    text = _dehyphenate(text.replace("\f", "\n\n"))
    out = []
    for para in _paragraphs(text, markdown):
        collapsed = re.sub(r"\s+", " ", para).strip()
        if collapsed:
            out.append(collapsed)
    return "\n\n".join(out)


def _line_key(line: str) -> str:
    """Lines compared for header/footer detection: whitespace and case ignored, and in short
    lines digits too ("Page 3 of 9" and "Page 4 of 9" are one footer)."""
    key = re.sub(r"\s+", " ", line).strip().lower()
    return re.sub(r"\d+", "#", key) if len(key) <= 40 else key


def strip_repeated_lines(pages: list[str], edge: int = 2, share: float = 0.5) -> list[str]:
    """Drops header and footer lines: among the first and last `edge` lines of each page, those
    found on more than `share` of the pages. Needs three pages or more."""
    if len(pages) < 3:
        return pages
    seen: Counter[str] = Counter()
    for page in pages:
        lines = [ln for ln in page.splitlines() if ln.strip()]
        seen.update({_line_key(ln) for ln in lines[:edge] + lines[-edge:]})
    repeated = {key for key, n in seen.items() if n > share * len(pages) and n >= 2}
    if not repeated:
        return pages
    cleaned = []
    for page in pages:
        lines = page.splitlines()
        nonblank = [i for i, ln in enumerate(lines) if ln.strip()]
        edges = set(nonblank[:edge] + nonblank[-edge:])
        cleaned.append(
            "\n".join(
                ln for i, ln in enumerate(lines) if not (i in edges and _line_key(ln) in repeated)
            )
        )
    return cleaned


# ---- readers ----------------------------------------------------------------------------


PDF_MAGIC = b"%PDF-"


def _read_pdf(path: Path) -> tuple[list[str], str]:
    """The text of each page and the metadata title. Raises IngestError (a reason, without the
    file's name) for a file that is empty, not a PDF, encrypted, or that pypdf cannot read:
    any exception pypdf raises, a RecursionError from a deeply nested file included."""
    try:
        from pypdf import PasswordType, PdfReader
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise IngestError("reading PDFs needs pypdf (pip install pypdf)") from exc
    try:
        with path.open("rb") as f:
            head = f.read(1024)
    except OSError as exc:
        raise IngestError(f"cannot be read ({exc.strerror or exc})") from exc
    if not head:
        raise IngestError("empty file")
    if PDF_MAGIC not in head:
        start = head[:16].decode("ascii", errors="replace")
        raise IngestError(f"not a PDF (it starts with {start!r}, not %PDF-)")
    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except Exception as exc:  # pypdf needs `cryptography` for AES
                raise IngestError(f"encrypted, and cannot be opened ({exc})") from exc
            if opened == PasswordType.NOT_DECRYPTED:
                raise IngestError("encrypted with a password: save an unencrypted copy")
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = ""
        if reader.metadata is not None and reader.metadata.title:
            meta_title = str(reader.metadata.title).strip()
    except IngestError:
        raise
    except RecursionError as exc:
        raise IngestError("unreadable PDF (nested too deeply for pypdf)") from exc
    except MemoryError as exc:
        raise IngestError("unreadable PDF (pypdf ran out of memory)") from exc
    except Exception as exc:  # pypdf raises many kinds on a damaged file
        detail = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise IngestError(f"unreadable PDF ({type(exc).__name__}: {detail})") from exc
    return pages, meta_title


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _title_from_markdown(text: str) -> str:
    for line in text.splitlines():
        m = re.match(r"^\s*#{1,2}\s+(.+?)\s*#*\s*$", line)
        if m:
            return m.group(1)
    return ""


def _clip(title: str, limit: int = 160) -> str:
    title = re.sub(r"\s+", " ", title).strip()
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"


def source_name(path: Path, root: Path) -> str:
    """The path relative to `root` (POSIX separators), or the absolute path when outside."""
    path = path.resolve()
    try:
        return path.relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def load(path: Path, root: Path, sha256: str | None = None) -> Document:
    """Reads one file into a Document (source relative to `root`)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise IngestError(f"unsupported file type {suffix or '(none)'}")
    digest = sha256 or file_sha256(path)
    title = ""
    if suffix in PDF_SUFFIXES:
        raw_pages, title = _read_pdf(path)
        raw_pages = strip_repeated_lines(raw_pages)
        pages = [(i + 1, normalise(text)) for i, text in enumerate(raw_pages)]
        if not title:
            title = _first_line(pages[0][1] if pages else "")
    else:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise IngestError(f"cannot be read ({exc.strerror or exc})") from exc
        if not data.strip():
            raise IngestError("empty file")
        if b"\x00" in data[:4096]:
            raise IngestError("not a text file (it holds NUL bytes)")
        raw = data.decode("utf-8", errors="replace")
        markdown = suffix in MARKDOWN_SUFFIXES
        if markdown:
            title = _title_from_markdown(raw)
        text = normalise(raw, markdown=markdown)
        title = title or _first_line(text)
        pages = [(1, text)]
    return Document(
        source=source_name(path, root),
        title=_clip(title or path.stem),
        pages=[(n, t) for n, t in pages if t] or [(1, "")],
        sha256=digest,
    )
