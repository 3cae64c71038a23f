"""Captions: the title (and unit line) printed above a table or figure, or a numbered caption below it.

A title is numbered ("<표 1>", "그림 2.", "Figure 3"), bracketed ("< 중기 재정수입 전망 >"), or a
short line right above: centred over a table, or over a figure.

Captions are looked for among line pieces, so two charts side by side whose titles share
one text line each get their own title.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from docqa.types import BBox
from ingest.pdf import params as P
from ingest.pdf.glyphs import Line, without

NUMBERED = re.compile(
    r"^\s*(?:[<〈《\[【［(]\s*)?(?:표|그림|도표|차트|사진|도|별표|Table|Fig(?:ure)?\.?)\s*(?:[\dⅠ-Ⅻ]+|[IVX]+\b)(?:[-.]\d+)?"
    r"\s*(?:[>〉》\]】］)]|[.:]|\s|$)", re.IGNORECASE)
TABLE_CAPTION = re.compile(r"^\s*(?:[<〈《\[【［(]\s*)?(?:표|별표|Table)\s*(?:[\dⅠ-Ⅻ]|[IVX]+\b)", re.IGNORECASE)
TITLE = re.compile(  # a bracketed title, but no bracketed source or unit note ("<출처: …>")
    r"^\s*[<〈《【≪「\[]\s*(?!(?:출처|자료|단위|주|비고|참고)\s*[:：])[^<>〈〉《》【】≪≫\[\]]{2,80}\s*[>〉》】≫」\]]\s*$")
UNIT = re.compile(  # "(단위: 억원)", "기준: 2023년", "(전년동기대비, %)"
    r"^\s*[(\[［]?\s*(?:단위|기준)\s*[:：]|^\s*\(.{0,20}단위\s*[:：]"
    r"|^\s*[(\[［][^()\[\]]{0,30}(?:%|원|명|개|건|배|톤|단위|기준|대비)[^()\[\]]{0,10}[)\]］]\s*$")
_ENDS = re.compile(r"[가-힣a-z][.!?]$")
# The sentence that introduces what follows: "… 환수내역은 아래와 같다.", "… 현황은 다음과 같습니다:".
# In Korean reports and rulings it is often the only title a table or picture has. (A line that
# merely ends with a colon is not one: form labels such as "1. 성 명 :" do.)
LEAD_IN = re.compile(r"(?:아래|다음|하기)[^.!?]{0,40}같(?:다|음|습니다|이)\s*[.:：]?\s*$")


@dataclass(eq=False)
class Piece:
    """A part of a line (a run of glyphs set apart from the rest) that may be a caption."""

    text: str
    bbox: BBox
    line: Line


def caption_pieces(lines: list[Line]) -> list[Piece]:
    return [Piece(t, b, ln) for ln in lines for t, b in ln.pieces()]


def take_caption(bbox: BBox, pieces: list[Piece], size: float, figure: bool) -> list[Piece]:
    """The pieces captioning the table or figure at `bbox` (title first), removed from `pieces`."""
    reach = P.CAPTION_GAP_EM * size
    x0, y0, x1, y1 = bbox

    def beside(p: Piece) -> bool:
        cx = (p.bbox[0] + p.bbox[2]) / 2
        return x0 - 2 * size <= cx <= x1 + 2 * size

    above = sorted((p for p in pieces if p.bbox[3] <= y0 + 2 and y0 - p.bbox[3] <= reach and beside(p)),
                   key=lambda p: -p.bbox[3])
    taken: list[Piece] = []
    limit = y0
    for p in above:
        if limit - p.bbox[3] > reach:
            break
        if UNIT.match(p.text):
            taken.append(p)
        elif NUMBERED.match(p.text) or TITLE.match(p.text) or (
                not taken and _short_title(p.text) and y0 - p.bbox[3] <= 1.5 * size
                and (figure or _centred(p.bbox, bbox))):
            # The rest of the title's line over the table or figure ("<표 1>   지역별 현황"), and a
            # unit note set on it ("국내 온라인 거래액 추이   (단위: 조원)").
            same_line = sorted((q for q in pieces if q.line is p.line and q is not p and q not in taken
                                and not NUMBERED.match(q.text) and x0 - size <= q.bbox[0] and q.bbox[2] <= x1 + size),
                               key=lambda q: q.bbox[0])
            title = sorted([p, *(q for q in same_line if not UNIT.match(q.text))], key=lambda q: q.bbox[0])
            taken[:0] = title
            taken += [q for q in above if q not in taken and UNIT.match(q.text)
                      and min(q.bbox[3], p.bbox[3]) - max(q.bbox[1], p.bbox[1]) > 0]
            break
        elif not taken:
            break  # the nearest text above is no caption: running text
        limit = p.bbox[1]
    if not any(not UNIT.match(p.text) for p in taken):
        below = sorted((p for p in pieces if p.bbox[1] >= y1 - 2 and p.bbox[1] - y1 <= reach and beside(p)),
                       key=lambda p: p.bbox[1])
        if below and NUMBERED.match(below[0].text):
            taken.insert(0, below[0])
    for p in taken:
        pieces.remove(p)
    return taken


def _centred(piece: BBox, over: BBox) -> bool:
    """A title set centred over a table (its middle in the middle sixth), not a left-aligned line."""
    middle, width = (over[0] + over[2]) / 2, over[2] - over[0]
    return abs((piece[0] + piece[2]) / 2 - middle) <= width / 12 and piece[0] > over[0] + width / 12


def _short_title(text: str) -> bool:
    return 2 <= len(text) <= 60 and not _ENDS.search(text) and not text.lstrip().startswith(("•", "-", "※", "*"))


def remove_pieces(lines: list[Line], taken: list[Piece]) -> list[Line]:
    """`lines` without the taken pieces (a line losing only some pieces keeps the rest)."""
    by_line: dict[int, list[BBox]] = {}
    for p in taken:
        by_line.setdefault(id(p.line), []).append(p.bbox)
    out = []
    for ln in lines:
        boxes = by_line.get(id(ln))
        if boxes is None:
            out.append(ln)
        elif (rest := without(ln, boxes)) is not None:
            out.append(rest)
    return out


def caption_text(taken: list[Piece]) -> str:
    return " ".join(" ".join(p.text.split()) for p in taken)
