"""Small frozen values passed between parse, chunk, embed, store and search."""

from __future__ import annotations

from dataclasses import dataclass, field

BBox = tuple[float, float, float, float]


@dataclass(frozen=True)
class Table:
    """A table as cells: `rows[:header_rows]` are column headers, every row has the same width.

    `caption` is its title as printed ("<표 1> 지역별 현황"), "" when it has none.
    """

    rows: tuple[tuple[str, ...], ...]
    header_rows: int = 1
    caption: str = ""


@dataclass(frozen=True)
class Block:
    """A run of text on a page in reading order, with its rectangle.

    kind: "text" (a paragraph), "heading", "item" (a list item), "table" (its cells in `table`,
    `text` a readable linear form), "figure" (a chart, diagram or picture: its caption and the
    text drawn or OCR'd inside it) or "caption".
    source: "text" (the file's own text layer or markup) or "ocr" (recognised from an image).
    """

    text: str
    bbox: BBox
    kind: str = "text"
    table: Table | None = None
    source: str = "text"


@dataclass(frozen=True)
class Page:
    """One physical page. number is 1-based.

    status: "ok", "empty" (no text at all), "scanned" (images or outlined glyphs, no text layer),
    or "garbled" (a text layer of private-use glyphs, replacement chars, CID noise).
    Only "ok" pages are indexed; a scanned page read by OCR is "ok" with blocks of source "ocr".
    """

    number: int
    text: str
    blocks: tuple[Block, ...]
    width: float
    height: float
    status: str = "ok"


@dataclass(frozen=True)
class ParsedDocument:
    """A parsed file. Every format (PDF, HWP, HWPX) arrives as pages of blocks.

    `page_pdf` is a PDF of the document's pages as printed, for page images and downloads,
    when the source itself is not a PDF (None for a PDF, and when the layout can't be rendered).
    `notes` are Korean remarks for the user (e.g. "쪽 이미지를 만들 수 없어 텍스트만 색인했습니다").
    """

    doc_id: str  # sha256 of the file bytes (hex, first 32 chars)
    file_name: str
    pages: tuple[Page, ...]
    format: str = "pdf"  # "pdf", "hwp", "hwpx"
    page_pdf: bytes | None = None
    notes: tuple[str, ...] = ()
    seconds: dict[str, float] = field(default_factory=dict, compare=False)  # parse stages timed apart: {"ocr": 2.5}

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
    kind: str = "text"  # "text", "table" (cells in `table`; `text` is its linear form) or "figure"
    table: Table | None = None
    ocr: bool = False  # some of the text was recognised from an image

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
    source: str = ""  # where it came from: the path given to the CLI, or the uploaded file's name
    format: str = "pdf"  # "pdf", "hwp", "hwpx"
    page_images: bool = True  # a printable PDF of its pages is stored (page images, downloads)


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
