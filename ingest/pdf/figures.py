"""Figures: charts, diagrams and pictures, with the text drawn inside them.

A figure is a raster image, or a cluster of vector paths (bars, axes, boxes and arrows),
large enough to matter. The text-layer lines inside it (axis labels, values, legend,
boxes of a diagram) go with it, provided they read like labels rather than sentences: a
coloured panel behind running text is no figure. The figure's block holds its caption
and that text, row by row, with the figure's rectangle.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from docqa.types import BBox
from ingest.pdf import params as P
from ingest.pdf.captions import NUMBERED, TITLE
from ingest.pdf.glyphs import Line, RawPage, union
from ingest.pdf.paragraphs import ends_sentence
from ingest.pdf.tables import borderless_tables

_BULLET = re.compile(r"^[•·‧∙◦▪▫■□▶▷►▸○●◎◇◆※☞✓✔➢➤❍❏\-*ㅇ→⇒⇨➜]")


@dataclass(eq=False)
class Figure:
    bbox: BBox
    raster: bool
    lines: list[Line] = field(default_factory=list)
    caption: str = ""
    caption_boxes: list[BBox] = field(default_factory=list)
    ocr: list[Line] = field(default_factory=list)  # lines read by OCR inside a raster figure


def _area(b: BBox) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def _overlap(a: BBox, b: BBox) -> float:
    return _area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))


def large_images(raw: RawPage) -> list[BBox]:
    """Raster images big enough to be figures (not page backgrounds, banners or icons)."""
    page = raw.width * raw.height
    out = []
    for b in raw.images:
        b = (max(b[0], 0.0), max(b[1], 0.0), min(b[2], raw.width), min(b[3], raw.height))
        w, h = b[2] - b[0], b[3] - b[1]
        if w < P.FIGURE_MIN_SIDE or h < P.FIGURE_MIN_SIDE or _area(b) < P.FIGURE_MIN_SHARE * page:
            continue
        if _area(b) > 0.6 * page:  # a page background behind the text layer
            continue
        out.append(b)
    return out


def _drawings(raw: RawPage, lines: list[Line], taken: list[BBox]) -> list[BBox]:
    """Boxes of clusters of vector paths that make a chart or diagram.

    Paths are painted (grown by half of FIGURE_PATH_JOIN) on a grid of that pitch and the
    grid's connected parts are the clusters: paths that close belong to one drawing. Glyphs
    drawn as paths (small paths inside text lines), page backgrounds, page-wide rules and
    paths of found tables are left out.
    """
    if len(raw.vectors) < P.FIGURE_MIN_PATHS or raw.width <= 0 or raw.height <= 0:
        return []
    b = np.array([v[0] for v in raw.vectors], dtype=np.float64).reshape(-1, 4)
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    page = raw.width * raw.height
    # Backgrounds, page-wide rules, and paths boxed from the page's corner (text drawn with a
    # stroke reports such boxes) are no parts of a drawing.
    keep = (w * h <= 0.5 * page) & (w <= 0.95 * raw.width) & ~((b[:, 0] <= 1) & (b[:, 1] <= 1))
    small = (w < 20) & (h < 20)
    if lines and small.any():
        cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
        t = np.array([ln.bbox for ln in lines], dtype=np.float64)
        for rows in np.array_split(np.flatnonzero(small & keep), max(1, int(small.sum()) // 2000)):
            inside = ((cx[rows, None] >= t[None, :, 0] - 1) & (cx[rows, None] <= t[None, :, 2] + 1)
                      & (cy[rows, None] >= t[None, :, 1] - 1) & (cy[rows, None] <= t[None, :, 3] + 1)).any(axis=1)
            keep[rows[inside]] = False  # a glyph drawn as a path, or an underline
    for x0, y0, x1, y1 in taken:
        ix = np.clip(np.minimum(b[:, 2], x1) - np.maximum(b[:, 0], x0), 0, None)
        iy = np.clip(np.minimum(b[:, 3], y1) - np.maximum(b[:, 1], y0), 0, None)
        keep &= ix * iy <= 0.5 * np.maximum(w * h, 1.0)
    b = b[keep]
    if len(b) < P.FIGURE_MIN_PATHS:
        return []
    pitch = P.FIGURE_PATH_JOIN
    grid = np.zeros((int(raw.height / pitch) + 2, int(raw.width / pitch) + 2), dtype=bool)
    cells = np.clip(np.floor((b + [-pitch / 2, -pitch / 2, pitch / 2, pitch / 2]) / pitch).astype(int), 0,
                    [grid.shape[1] - 1, grid.shape[0] - 1, grid.shape[1] - 1, grid.shape[0] - 1])
    for gx0, gy0, gx1, gy1 in cells:
        grid[gy0:gy1 + 1, gx0:gx1 + 1] = True
    labels, _ = ndimage.label(grid)
    owner = labels[cells[:, 1], cells[:, 0]]
    out = []
    for label in np.unique(owner):
        members = b[owner == label]
        if len(members) < P.FIGURE_MIN_PATHS:
            continue
        box = (float(members[:, 0].min()), float(members[:, 1].min()), float(members[:, 2].max()),
               float(members[:, 3].max()))
        bw, bh = box[2] - box[0], box[3] - box[1]
        # (a drawing over most of the page is the page's frame or a slide's panels, not a figure)
        if P.FIGURE_MIN_SIDE <= min(bw, bh) and P.FIGURE_MIN_SHARE * page <= bw * bh <= P.FIGURE_MAX_SHARE * page:
            out.append(box)
    return out


def _merge_regions(boxes: list[tuple[BBox, bool]]) -> list[tuple[BBox, bool]]:
    """Overlapping regions become one (a chart drawn over its raster background)."""
    out: list[tuple[BBox, bool]] = []
    for box, raster in sorted(boxes, key=lambda t: -_area(t[0])):
        for k, (other, other_raster) in enumerate(out):
            if _overlap(box, other) > 0.3 * min(_area(box), _area(other)):
                out[k] = (union([box, other]), raster or other_raster)
                break
        else:
            out.append((box, raster))
    return out


def find_figures(raw: RawPage, lines: list[Line], taken: list[BBox]) -> list[Figure]:
    """Figures on the page (outside the boxes in `taken`), each with the label lines inside it."""
    regions = [(b, True) for b in large_images(raw) if not any(_overlap(b, t) > 0.5 * _area(b) for t in taken)]
    regions += [(b, False) for b in _drawings(raw, lines, taken)]
    figures = []
    for box, raster in _merge_regions(regions):
        size = 10.0
        inside = [ln for ln in lines if box[0] - 2 <= ln.cx <= box[2] + 2 and box[1] - 2 <= ln.cy <= box[3] + 2]
        if inside:
            size = sorted(ln.size for ln in inside)[len(inside) // 2]
        # Labels just outside the drawing (axis labels, legends) belong to it too.
        pad = 1.6 * size
        near = [ln for ln in lines if ln not in inside and box[0] - pad <= ln.bbox[0] and ln.bbox[2] <= box[2] + pad
                and box[1] - pad <= ln.cy <= box[3] + pad and _label(ln)
                and not (NUMBERED.match(ln.text) or TITLE.match(ln.text))]
        members = inside + near
        if not raster and not members:
            continue  # a drawing without a word: decoration
        if members and not _labels_only(members, box):
            continue
        figures.append(Figure(box, raster, members))
    return figures


def _labels_only(members: list[Line], box: BBox) -> bool:
    """Whether the text inside a drawing reads like a figure's labels.

    Not when most of it is sentences (a coloured panel behind running text), a bulleted list
    (a box of points), text covering much of the area (a text box), or rows of a table (rules
    drawn around aligned cells).
    """
    prose = sum(1 for ln in members if not _label(ln))
    listed = sum(1 for ln in members if _BULLET.match(ln.text))
    if prose > P.FIGURE_MAX_PROSE_SHARE * len(members) or listed * 2 >= len(members):
        return False
    if sum(_area(ln.bbox) for ln in members) > P.FIGURE_MAX_TEXT_COVER * max(_area(box), 1.0):
        return False
    in_tables = sum(len(t.lines) for t in borderless_tables(members))
    return in_tables * 5 < len(members) * 3


def _label(ln: Line) -> bool:
    return len(ln.text) <= P.FIGURE_MAX_LABEL_CHARS and not ends_sentence(ln.text)


def label_rows(lines: list[Line]) -> list[str]:
    """Label text row by row (lines whose centres share a height), each row left to right."""
    rows: list[list[Line]] = []
    for ln in sorted(lines, key=lambda ln: ln.cy):
        if rows and abs(ln.cy - rows[-1][0].cy) <= 0.5 * min(ln.height, rows[-1][0].height):
            rows[-1].append(ln)
        else:
            rows.append([ln])
    return [" ".join(ln.text for ln in sorted(row, key=lambda ln: ln.bbox[0])) for row in rows]
