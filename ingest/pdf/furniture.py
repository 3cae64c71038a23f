"""Page furniture: running headers, footers and page numbers, found across the document and removed."""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict

from ingest.pdf import params as P
from ingest.pdf.glyphs import Line, RawPage

_DIGITS = re.compile(r"\d+")
PAGE_NUMBER = re.compile(
    r"^(?:[-–—]\s*\d{1,4}\s*[-–—]|\d{1,4}(?:\s*/\s*\d{1,4})?|(?:page|p\.)\s*\d{1,4}(?:\s*(?:/|of)\s*\d{1,4})?"
    r"|\d{1,4}\s*쪽|[ivx]{1,5})$",
    re.IGNORECASE,
)


def _margin_lines(raw: RawPage) -> list[Line]:
    top, bottom = raw.height * P.MARGIN_SHARE, raw.height * (1 - P.MARGIN_SHARE)
    return [ln for ln in raw.lines if ln.bbox[3] <= top or ln.bbox[1] >= bottom]


def _running_key(text: str) -> str:
    return _DIGITS.sub("#", text.replace(" ", "")).lower()


def drop_running_lines(pages: list[RawPage]) -> None:
    """Remove page numbers and lines repeated at the same height near the top/bottom of many pages."""
    seen: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for index, raw in enumerate(pages):
        for ln in _margin_lines(raw):
            seen[_running_key(ln.text)].append((index, ln.cy))
    need = max(2, math.ceil(P.REPEAT_SHARE * len(pages)))
    tol = P.REPEAT_TOLERANCE
    running: dict[str, list[float]] = {}
    for key, hits in seen.items():
        if len({i for i, _ in hits}) < need:
            continue
        # Heights shared by enough pages (odd and even pages may place them differently).
        heights = Counter(round(y / tol) for _, y in hits)
        anchors = []
        for bucket in heights:
            near = {i for i, y in hits if abs(round(y / tol) - bucket) <= 1}
            if len(near) >= need:
                anchors.append(bucket * tol)
        if anchors:
            running[key] = anchors
    for raw in pages:
        drop = set()
        by_height = sorted(raw.lines, key=lambda ln: ln.bbox[1])
        for ln in by_height[:1] + by_height[-1:]:  # a lone page number first or last, even outside the margins
            if PAGE_NUMBER.match(ln.text):
                drop.add(id(ln))
        for ln in _margin_lines(raw):
            anchors = running.get(_running_key(ln.text))
            if PAGE_NUMBER.match(ln.text) or (anchors and any(abs(ln.cy - a) <= 2 * tol for a in anchors)):
                drop.add(id(ln))
        if drop:
            raw.lines = [ln for ln in raw.lines if id(ln) not in drop]
