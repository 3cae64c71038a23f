"""Page status: "ok", "empty", "scanned" (drawn, not written) or "garbled" (a broken text layer)."""

from __future__ import annotations

import pymupdf

from docqa.types import BBox
from ingest.pdf import params as P
from ingest.pdf.glyphs import RawPage, place_images


def page_status(doc: pymupdf.Document, raw: RawPage) -> str:
    """ok, empty, scanned or garbled (see docqa.types.Page)."""
    if raw.failed:
        return "garbled"
    visible = sum(ln.visible for ln in raw.lines)
    if visible and sum(ln.bad for ln in raw.lines) > P.GARBLED_SHARE * visible:
        return "garbled"
    kept = sum(len(ln.text.replace(" ", "")) for ln in raw.lines if not ln.garbage)
    if kept >= P.SCAN_MAX_CHARS:
        return "ok"
    # Drawn but not written: a page image, or text converted to outlines (many vector paths).
    if len(raw.vectors) >= P.OUTLINE_PATHS or cover(place_images(doc, raw), raw.width, raw.height) >= P.SCAN_MIN_COVER:
        return "scanned"
    return "ok" if kept else "empty"


def cover(boxes: list[BBox], width: float, height: float, n: int = 20) -> float:
    """Share of a width x height area covered by `boxes` (overlaps counted once, on an n x n grid)."""
    if not boxes or width <= 0 or height <= 0:
        return 0.0
    covered = 0
    for gy in range(n):
        y = (gy + 0.5) * height / n
        for gx in range(n):
            x = (gx + 0.5) * width / n
            covered += any(b[0] <= x <= b[2] and b[1] <= y <= b[3] for b in boxes)
    return covered / (n * n)
