"""Reading order: units (MuPDF text blocks, tables, figures) ordered for one or two columns.

Top to bottom; on a two-column page the left column, then the right, between full-width
units. A narrow column of margin notes beside the body text is read after the body of its
band, so the notes never cut a body sentence in two.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from docqa.types import BBox, Block
from ingest.pdf import params as P
from ingest.pdf.glyphs import Line, union


@dataclass(eq=False)
class Unit:
    """Lines laid out together (one MuPDF block), or a finished table/figure block (`atom`)."""

    lines: list[Line]
    bbox: BBox
    atom: Block | None = None
    notes: bool = False  # a margin note, read after the body text beside it
    right: float = 0.0  # the right edge of the column it stands in (set by reading_order)

    @property
    def cy(self) -> float:
        return (self.bbox[1] + self.bbox[3]) / 2


@dataclass
class _Band:
    units: list[Unit] = field(default_factory=list)


def text_units(lines: list[Line]) -> list[Unit]:
    """The lines grouped by the MuPDF block they came from."""
    by_block: dict[int, list[Line]] = defaultdict(list)
    for ln in lines:
        by_block[ln.block].append(ln)
    return [Unit(sorted(group, key=lambda ln: (ln.bbox[1], ln.bbox[0])), union([ln.bbox for ln in group]))
            for group in by_block.values()]


def reading_order(units: list[Unit]) -> list[Unit]:
    """Top to bottom; on a two-column page the left column, then the right, between full-width units.

    The gutter is the vertical line in the middle half of the text area crossed by the least
    height of narrow units; units crossing it (titles, abstracts, wide tables) stay in
    place and split the page into bands. A band with text on both sides of the gutter is read
    column by column, any other band top to bottom. A narrow side column of margin notes is
    read after the body.
    """
    _set_right(units)
    if len(units) < 3:
        return rows(units)
    cx0 = min(u.bbox[0] for u in units)
    cx1 = max(u.bbox[2] for u in units)
    cw = cx1 - cx0
    if cw <= 0:
        return rows(units)
    split = _side_notes(units, cx0, cw)
    if split is not None:
        body, notes = split
        for u in notes:
            u.notes = True
        _set_right(notes)
        return reading_order(body) + rows(notes)
    narrow = [u for u in units if u.bbox[2] - u.bbox[0] <= 0.55 * cw]
    candidates = [cx0 + cw * (0.25 + 0.01 * k) for k in range(51)]
    gutter = min(
        candidates,
        key=lambda x: (sum(u.bbox[3] - u.bbox[1] for u in narrow if u.bbox[0] < x < u.bbox[2]), abs(x - cx0 - cw / 2)),
    )
    spanning = sorted((u for u in units if u.bbox[0] < gutter < u.bbox[2]), key=lambda u: u.bbox[1])
    edges = [u.cy for u in spanning] + [math.inf]
    bands: list[tuple[list[Unit], list[Unit]]] = []
    low = -math.inf
    for high in edges:
        band = [u for u in units if low <= u.cy < high and not u.bbox[0] < gutter < u.bbox[2]]
        bands.append(([u for u in band if u.bbox[2] <= gutter], [u for u in band if u.bbox[0] >= gutter]))
        low = high
    if not any(_is_column(left, cw) and _is_column(right, cw) for left, right in bands):
        return rows(units)
    out: list[Unit] = []
    for k, (left, right) in enumerate(bands):
        if k:
            out.append(spanning[k - 1])
        if _is_column(left, cw) and _is_column(right, cw):
            _set_right(left)
            _set_right(right)
            out.extend(rows(left) + rows(right))
        else:
            out.extend(rows(left + right))
    return out


def _set_right(units: list[Unit]) -> None:
    text = [u.bbox[2] for u in units if u.atom is None]
    right = max(text) if text else 0.0
    for u in units:
        u.right = right


def _is_column(side: list[Unit], cw: float) -> bool:
    """A column of text within a band: 2+ text lines, 30%+ of the text width wide."""
    lines = [ln for u in side for ln in u.lines]
    return (len(lines) >= 2
            and max(u.bbox[2] for u in side) - min(u.bbox[0] for u in side) >= P.COLUMN_MIN_WIDTH_SHARE * cw)


def _side_notes(units: list[Unit], cx0: float, cw: float) -> tuple[list[Unit], list[Unit]] | None:
    """(body, notes) when a narrow column of margin notes stands beside the body text.

    The gutter is a vertical line crossed by at most three wide units (full-width titles), with on
    one side only narrow text units (at most SIDE_NOTE_MAX_WIDTH_SHARE of the text width, fewer
    lines than the body) and on the other a body at least half the text width wide.
    """
    share = P.SIDE_NOTE_MAX_WIDTH_SHARE
    # A gutter can only lie just past a unit's edge: try those within the outer 35% of each side.
    lefts = sorted({u.bbox[2] + 0.5 for u in units if u.bbox[2] + 0.5 <= cx0 + 0.35 * cw})
    rights = sorted({u.bbox[0] - 0.5 for u in units if u.bbox[0] - 0.5 >= cx0 + 0.65 * cw}, reverse=True)
    for xs in (lefts, rights):
        for x in xs:
            crossing = [u for u in units if u.bbox[0] < x < u.bbox[2]]
            if len(crossing) > 3 or any(u.bbox[2] - u.bbox[0] < 0.5 * cw for u in crossing):
                continue  # only a few full-width units (titles, wide tables) may cross: they make bands
            left = [u for u in units if u.bbox[2] <= x]
            right = [u for u in units if u.bbox[0] >= x]
            notes, body = (left, right) if x - cx0 < cw / 2 else (right, left)
            if not notes or len(body) < 2 or any(u.atom is not None for u in notes):
                continue
            texts = [ln.text for u in notes for ln in u.lines]
            if sum(len(t) for t in texts) < 8 or max(len(t) for t in texts) < 4:
                continue  # page tabs, vertical titles: no notes to read
            width = max(u.bbox[2] for u in notes) - min(u.bbox[0] for u in notes)
            body_width = max(u.bbox[2] for u in body) - min(u.bbox[0] for u in body)
            if width <= share * cw and body_width >= 0.5 * cw and \
                    sum(len(u.lines) for u in notes) < sum(len(u.lines) for u in body):
                return body + crossing, notes
    return None


def rows(units: list[Unit]) -> list[Unit]:
    """Top to bottom; units starting on the same height (within SAME_ROW points) left to right."""
    out: list[Unit] = []
    row: list[Unit] = []
    for u in sorted(units, key=lambda u: u.bbox[1]):
        if row and u.bbox[1] - row[0].bbox[1] > P.SAME_ROW:
            out.extend(sorted(row, key=lambda r: r.bbox[0]))
            row = []
        row.append(u)
    out.extend(sorted(row, key=lambda r: r.bbox[0]))
    return out


def vertical_stacks(lines: list[Line]) -> tuple[list[Line], list[Line]]:
    """(text set one character per line down the page, each stack as one line; the other lines).

    Side tabs and vertical titles ("2 0 2 4 달 라 지 는 세 금 제 도") come out of the PDF as
    a column of one-character lines; read as lines they would cut into the body text.
    """
    short = sorted((ln for ln in lines if ln.visible <= 2 and ln.bbox[2] - ln.bbox[0] <= 1.6 * ln.size),
                   key=lambda ln: (round(ln.cx), ln.bbox[1]))
    stacks: list[list[Line]] = []
    for ln in short:
        last = stacks[-1][-1] if stacks else None
        if last is not None and abs(ln.cx - last.cx) <= 2 and 0 <= ln.cy - last.cy <= 1.8 * max(ln.size, last.size):
            stacks[-1].append(ln)
        else:
            stacks.append([ln])
    taken: set[int] = set()
    out: list[Line] = []
    for stack in stacks:
        if len(stack) < 3:
            continue
        taken |= {id(ln) for ln in stack}
        text = "".join(ln.text.replace(" ", "") for ln in stack)
        chars = [c for ln in stack for c in ln.chars if not c[0].isspace()]
        out.append(Line(chars, union([ln.bbox for ln in stack]), stack[0].size, stack[0].bold, stack[0].block, text,
                        len(text), 0))
    return out, [ln for ln in lines if id(ln) not in taken]
