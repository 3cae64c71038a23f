"""OCR use: which pages and images are read by OCR (ingest.ocr), and its lines as parser lines.

A page without a text layer is read whole; on a page with a good text layer only raster
images large enough to hold text, and not already overlaid by text-layer lines, are read.
OCR lines become `Line`s (characters spread over each word's box), so OCR'd pages go
through the same table and paragraph code as any other.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from docqa.types import BBox
from ingest.pdf.glyphs import Char, Line, RawPage, clean

log = logging.getLogger(__name__)

OCR_BLOCK_BASE = 1_000_000  # block numbers of OCR lines, apart from MuPDF's


@dataclass(frozen=True)
class Job:
    """One OCR call: a whole page (clip None) or one image on it."""

    page: int  # 0-based
    clip: BBox | None = None


def ocr_state(settings, wanted: bool) -> tuple[bool, str]:
    """(usable, Korean reason when not) for OCR with these settings."""
    if not wanted:
        return False, ""
    try:
        from ingest.ocr import ocr_status
    except ImportError as exc:  # the OCR module itself is missing from this build
        log.warning("OCR module unavailable: %r", exc)
        return False, "OCR 모듈을 불러올 수 없습니다."
    try:
        return ocr_status(settings)
    except Exception as exc:  # noqa: BLE001 - a broken OCR setup must not stop parsing; reported to the user
        log.warning("OCR status check failed: %r", exc)
        return False, f"OCR을 사용할 수 없습니다 ({type(exc).__name__})."


def image_jobs(doc, raw: RawPage) -> list[Job]:
    """Raster images on a text page worth reading (ingest.ocr.raster_regions): large, not under text."""
    from ingest.ocr import raster_regions

    return [Job(raw.number - 1, tuple(r)) for r in raster_regions(doc.load_page(raw.number - 1))]


def even_sizes(lines: list[Line]) -> list[Line]:
    """OCR lines of about the page's usual height get exactly its size (paragraphs join on equal sizes)."""
    if not lines:
        return lines
    usual = sorted(ln.size for ln in lines)[len(lines) // 2]
    for ln in lines:
        if abs(ln.size - usual) <= 0.2 * usual:
            ln.size = usual
    return lines


def run_job(doc, job: Job, settings) -> list[Line]:
    """The job's OCR lines as parser lines ([] when OCR finds nothing)."""
    from ingest.ocr import ocr_page

    page = doc.load_page(job.page)
    clip = None
    if job.clip is not None:
        import pymupdf

        clip = pymupdf.Rect(job.clip)
    found = ocr_page(page, clip=clip, settings=settings)
    lines = []
    for k, item in enumerate(found):
        line = to_line(item, OCR_BLOCK_BASE + k)
        if line is not None:
            lines.append(line)
    return lines


def _word_parts(word) -> tuple[str, BBox] | None:
    """(text, box) of an OCR word given as an object with .text/.bbox or a tuple."""
    if hasattr(word, "text") and hasattr(word, "bbox"):
        return str(word.text), tuple(float(v) for v in word.bbox)[:4]
    if isinstance(word, Sequence) and len(word) >= 2:
        if isinstance(word[0], str):
            return word[0], tuple(float(v) for v in word[1])[:4]
        if len(word) >= 5 and isinstance(word[4], str):
            return word[4], tuple(float(v) for v in word[:4])
    return None


def to_line(item, block: int) -> Line | None:
    """A parser line from an OCR line: its words' glyphs spread evenly over each word's box."""
    words = [w for w in (_word_parts(w) for w in (getattr(item, "words", None) or ())) if w and w[0].strip()]
    bbox = tuple(float(v) for v in item.bbox)[:4]
    if not words:
        words = [(str(item.text), bbox)]
    chars: list[Char] = []
    for i, (text, (x0, y0, x1, y1)) in enumerate(words):
        text = text.strip()
        if i:
            prev = chars[-1]
            chars.append((" ", prev[3], y0, x0, y1))
        step = (x1 - x0) / max(len(text), 1)
        for j, ch in enumerate(text):
            chars.append((ch, x0 + j * step, y0, x0 + (j + 1) * step, y1))
    text = clean("".join(c[0] for c in chars))
    if not text:
        return None
    height = bbox[3] - bbox[1]
    size = max(4.0, 0.85 * height)  # glyph boxes are about the font size tall
    visible = len("".join(text.split()))
    return Line(chars, bbox, round(size * 2) / 2, False, block, text, visible, 0)
