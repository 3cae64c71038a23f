"""Small frozen values passed between parse, chunk, embed, store and search."""

from __future__ import annotations

from dataclasses import dataclass, field

BBox = tuple[float, float, float, float]


@dataclass(frozen=True)
class Block:
    """A run of text on a page in reading order, with its rectangle.

    kind is "text", "heading" or "table" (a table's text is markdown rows).
    """

    text: str
    bbox: BBox
    kind: str = "text"


@dataclass(frozen=True)
class Page:
    """One physical page. number is 1-based.

    status: "ok", "empty" (no text at all), "scanned" (images or outlined glyphs, no text layer),
    or "garbled" (a text layer of private-use glyphs, replacement chars, CID noise).
    Only "ok" pages are indexed.
    """

    number: int
    text: str
    blocks: tuple[Block, ...]
    width: float
    height: float
    status: str = "ok"


@dataclass(frozen=True)
class ParsedDocument:
    doc_id: str  # sha256 of the file bytes (hex, first 32 chars)
    file_name: str
    pages: tuple[Page, ...]

    @property
    def flagged_pages(self) -> dict[int, str]:
        return {p.number: p.status for p in self.pages if p.status != "ok"}


@dataclass(frozen=True)
class Chunk:
    """A passage that fits the embedding model (≤ max tokens incl. the prefix)."""

    chunk_id: str
    doc_id: str
    file_name: str
    text: str
    page_start: int
    page_end: int
    char_start: int  # offset in the text of page_start
    char_end: int  # offset in the text of page_end (exclusive)
    n_tokens: int
    heading: str = ""
    domain: str = ""
    rects: tuple[tuple[int, float, float, float, float], ...] = field(default=())  # (page, x0, y0, x1, y1)

    @property
    def pages(self) -> tuple[int, ...]:
        return tuple(range(self.page_start, self.page_end + 1))


@dataclass(frozen=True)
class DocumentInfo:
    doc_id: str
    file_name: str
    domain: str
    pages: int
    chunks: int
    added_at: str  # ISO 8601
    flagged_pages: str = ""  # "3:scanned,4:garbled"


@dataclass(frozen=True)
class FileResult:
    """What happened to one file of a batch."""

    file_name: str
    status: str  # "indexed", "skipped", "replaced", "failed"
    doc_id: str = ""
    pages: int = 0
    chunks: int = 0
    message: str = ""  # Korean, for the user
    warnings: tuple[str, ...] = ()


@dataclass
class IngestReport:
    files: list[FileResult] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # per stage
    tokens: int = 0

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def pages(self) -> int:
        return sum(f.pages for f in self.files)

    @property
    def chunks(self) -> int:
        return sum(f.chunks for f in self.files)


@dataclass(frozen=True)
class Hit:
    """One cited passage in a search result."""

    chunk: Chunk
    score: float  # higher is better; comparable within one result only
    key_sentences: tuple[str, ...] = ()  # the one or two sentences most likely to hold the answer
    ranks: dict[str, int] = field(default_factory=dict)  # 1-based rank per stage: dense, lexical, fused


@dataclass(frozen=True)
class SearchResult:
    query: str
    hits: tuple[Hit, ...]
    timings_ms: dict[str, float]  # per stage, in the order they ran
    stages: tuple[str, ...]  # e.g. ("dense", "lexical", "fusion", "rerank:sentence-e5")
    message: str = ""  # Korean note for the user (empty index, nothing matched, input trimmed...)
