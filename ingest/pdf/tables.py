"""Tables: ruled grids from the page's vector paths, borderless tables from aligned text.

A ruled table's cells come from its rules: a missing rule between two grid positions
merges them (a merged cell's text goes to every row it spans, and to every column it spans
in the header). A borderless table is found from text pieces (parts of lines set far
apart) that line up in columns over several rows. Either way the result is a
`docqa.types.Table` of same-width rows with its header row count.
"""

from __future__ import annotations

import bisect
import math
import re
import statistics
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from docqa.types import BBox, Table
from ingest.pdf import params as P
from ingest.pdf.glyphs import Boxed, Line, RawPage, clean, union

Seg = tuple[float, float, float]  # h rule: y, x0, x1 / v rule: x, y0, y1

_NUMERIC = re.compile(r"^[-+–△▲▼(]?[\d.,]+[%)]?(?:\s*[가-힣A-Za-z%]{0,3})?$")
# Years are labels: ’23, 2024년, 2024e (estimate), 20232) (2023 with footnote 2)
_YEAR = re.compile(r"^(?:[’‘'`]\d{2}|(?:19|20)\d{2})(?:년|년도|\.\d{1,2}월?)?(?:[eEpPfF]|\d?\)|\*)?$")


@dataclass(eq=False)
class Found:
    """A table found on a page: its cells, box and the lines it took."""

    table: Table
    bbox: BBox
    lines: list[Line] = field(default_factory=list)
    ruled: bool = True


@dataclass
class Grid:
    bbox: BBox
    hsegs: list[Seg]
    vsegs: list[Seg]


# ---------------------------------------------------------------------------- ruled


def find_grids(raw: RawPage) -> list[Grid]:
    """Candidate ruled grids from the page's thin lines and outlined rectangles.

    Filled rectangles are left out: they are mostly panels and backgrounds of slides.
    """
    segs: list[tuple[float, float, float, float]] = []
    thin, least = P.RULE_THICKNESS, P.RULE_MIN_LENGTH
    boxes: list[BBox] = []
    for (x0, y0, x1, y1), isrect, stroked in raw.vectors:
        w, h = x1 - x0, y1 - y0
        if h <= thin and w >= least:
            segs.append((x0, (y0 + y1) / 2, x1, (y0 + y1) / 2))
        elif w <= thin and h >= least:
            segs.append(((x0 + x1) / 2, y0, (x0 + x1) / 2, y1))
        elif isrect and stroked and w >= least and h >= least:
            boxes.append((x0, y0, x1, y1))
    for x0, y0, x1, y1 in _cell_boxes(boxes):
        segs += [(x0, y0, x1, y0), (x0, y1, x1, y1), (x0, y0, x0, y1), (x1, y0, x1, y1)]
    grids = []
    for group in _touching(segs):
        hs = [(s[1], s[0], s[2]) for s in group if s[1] == s[3] and s[0] != s[2]]
        vs = [(s[0], s[1], s[3]) for s in group if s[0] == s[2] and s[1] != s[3]]
        if len(_snap(sorted(h[0] for h in hs))) < 2 or not vs:
            continue
        bbox = (min(s[0] for s in group), min(s[1] for s in group), max(s[2] for s in group), max(s[3] for s in group))
        grids.append(Grid(bbox, sorted(hs), sorted(vs)))
    return grids


def _cell_boxes(boxes: list[BBox]) -> list[BBox]:
    """Outlined rectangles that can be cells: repeats dropped, and none overlapping another in part.

    Cells tile or nest; rectangles overlapping each other in part are a drawing (shadowed
    frames, decorations around a title), whose edges are no cell borders.
    """
    unique: list[BBox] = []
    for b in sorted(boxes):
        if not any(all(abs(p - q) <= 1.0 for p, q in zip(b, u)) for u in unique):
            unique.append(b)
    keep = []
    for b in unique:
        partial = False
        for o in unique:
            if o is b:
                continue
            ix = min(b[2], o[2]) - max(b[0], o[0])
            iy = min(b[3], o[3]) - max(b[1], o[1])
            if ix <= 1.0 or iy <= 1.0:
                continue  # touching or apart
            nested = (o[0] <= b[0] + 1 and b[2] <= o[2] + 1 and o[1] <= b[1] + 1 and b[3] <= o[3] + 1) or (
                b[0] <= o[0] + 1 and o[2] <= b[2] + 1 and b[1] <= o[1] + 1 and o[3] <= b[3] + 1)
            if not nested:
                partial = True
                break
        if not partial:
            keep.append(b)
    return keep


def _touching(segs: list[tuple[float, float, float, float]], tol: float = P.SNAP) -> list[list]:
    """Groups of segments that touch or cross (within tol points)."""
    parent = list(range(len(segs)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    active: list[int] = []
    for i in sorted(range(len(segs)), key=lambda k: segs[k][0]):
        x0, y0, x1, y1 = segs[i]
        active = [j for j in active if segs[j][2] + tol >= x0]
        for j in active:
            if segs[j][1] - tol <= y1 and y0 <= segs[j][3] + tol:
                parent[find(i)] = find(j)
        active.append(i)
    groups: dict[int, list] = defaultdict(list)
    for i, seg in enumerate(segs):
        groups[find(i)].append(seg)
    return list(groups.values())


def _snap(values: list[float], tol: float = P.SNAP) -> list[float]:
    """Sorted values with runs closer than tol merged (to their first)."""
    out: list[float] = []
    for v in values:
        if not out or v - out[-1] > tol:
            out.append(v)
    return out


def _covers(segs: list[Seg], at: float, lo: float, hi: float) -> bool:
    """Whether a rule at `at` (within SNAP) covers most of lo..hi (`segs` sorted by position)."""
    need = 0.5 * (hi - lo)
    i = bisect.bisect_left(segs, (at - P.SNAP - 0.5,))
    while i < len(segs) and segs[i][0] <= at + P.SNAP + 0.5:
        s = segs[i]
        if min(s[2], hi) - max(s[1], lo) >= need:
            return True
        i += 1
    return False


def ruled_table(grid: Grid, lines: list[Line]) -> Found | None:
    """The grid's table from the lines inside it; None when it is no table (a frame, a box of text)."""
    x0, y0, x1, y1 = grid.bbox
    ys = _snap(sorted({h[0] for h in grid.hsegs} | {y0, y1}))
    xs = _snap(sorted({v[0] for v in grid.vsegs if v[2] - v[1] >= P.MIN_ROW_HEIGHT} | {x0, x1}))
    bands = [(a, b) for a, b in zip(ys, ys[1:]) if b - a >= P.MIN_ROW_HEIGHT]
    cols = [(a, b) for a, b in zip(xs, xs[1:]) if b - a >= P.MIN_ROW_HEIGHT]
    # A column no two rules run across lies outside the table (a line touching it from the side,
    # a page tab): the grid ends where its rules do.
    ruled = [sum(1 for y in ys if _covers(grid.hsegs, y, a, b)) >= 2 for a, b in cols]
    if any(ruled):
        first, last = ruled.index(True), len(ruled) - 1 - ruled[::-1].index(True)
        cols = cols[first:last + 1]
        x0, x1 = cols[0][0], cols[-1][1]
    if len(bands) < 2 or len(cols) < 1:
        return None
    inside = [ln for ln in lines if x0 - 1 <= ln.cx <= x1 + 1 and y0 - 1 <= ln.cy <= y1 + 1]
    if not inside:
        return None
    # Grid positions: (band, column). Merge neighbours without a rule between them.
    parent = {(r, c): (r, c) for r in range(len(bands)) for c in range(len(cols))}

    def find(k: tuple[int, int]) -> tuple[int, int]:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    def merge(a: tuple[int, int], b: tuple[int, int]) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    for r, (top, bottom) in enumerate(bands):
        for c in range(len(cols) - 1):
            if not _covers(grid.vsegs, cols[c][1], top, bottom):
                merge((r, c), (r, c + 1))
    for r in range(len(bands) - 1):
        for c, (left, right) in enumerate(cols):
            if not _covers(grid.hsegs, bands[r][1], left, right):
                merge((r, c), (r + 1, c))
    # Each glyph's grid position: the line's band, the glyph's column (a line inside one column
    # needs no glyph-by-glyph look-up).
    placed: list[tuple[Line, list[tuple[int, int] | None]]] = []
    for ln in inside:
        r = _slot(ln.cy, bands)
        if r is None:
            continue
        left, right = _slot(ln.bbox[0] + 0.5, cols), _slot(ln.bbox[2] - 0.5, cols)
        if left is not None and left == right:
            placed.append((ln, [(r, left)] * len(ln.chars)))
        else:
            placed.append((ln, [(r, c) if (c := _slot((ch[1] + ch[3]) / 2, cols)) is not None else None
                                for ch in ln.chars]))
    # A rule through the middle of a word is no cell border (a glyph stroke, a box drawn
    # over text): merge the cells it would split.
    for ln, where in placed:
        solid = [(ch, pos) for ch, pos in zip(ln.chars, where) if not ch[0].isspace()]
        for (a, pa), (b, pb) in zip(solid, solid[1:]):
            if pa != pb and pa and pb and b[1] - a[3] < 0.25 * ln.size and find(pa) != find(pb):
                merge(pa, pb)
    texts: dict[tuple[int, int], list[tuple[float, float, str, float]]] = defaultdict(list)
    for ln, where in placed:
        parts: dict[tuple[int, int], list] = defaultdict(list)
        for ch, pos in zip(ln.chars, where):
            if pos is not None:
                parts[find(pos)].append(ch)
        for cell, chars in parts.items():
            text = clean("".join(c[0] for c in chars))
            if text:
                texts[cell].append((ln.cy, ln.bbox[0], text, ln.height))
    cell_text = {k: " ".join(t for _, _, t, _ in sorted(v)) for k, v in texts.items()}
    spans: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    for key in parent:
        spans[find(key)].append(key)
    header = _ruled_header_rows(spans, cell_text, len(bands))  # in bands
    rows: list[list[str]] = []
    header_rows = 0
    for r in range(len(bands)):
        roots = [find((r, c)) for c in range(len(cols))]
        single = {root for root in roots if all(b == r for b, _ in spans[root])}
        levels = _sub_rows([texts[root] for root in dict.fromkeys(roots) if root in single])
        for level in levels or [None]:
            row = []
            for c, root in enumerate(roots):
                if level is not None and root in single:
                    text = " ".join(t for cy, _, t, h in sorted(texts.get(root, ())) if abs(cy - level) <= 0.6 * h)
                else:
                    text = cell_text.get(root, "")
                # A cell spanning columns fills them in the header only (a group heading);
                # in the body its text stands once, in its first column.
                if text and c > 0 and roots[c - 1] == root and r >= header:
                    text = ""
                row.append(text)
            rows.append(row)
            header_rows += r < header
    table = _tidy(rows, header_rows)
    if table is None:
        return None
    return Found(table, (x0, y0, x1, y1), inside, ruled=True)


def _slot(v: float, spans: list[tuple[float, float]]) -> int | None:
    i = bisect.bisect_right(spans, (v + 1, math.inf)) - 1  # the last span starting at or before v (+1)
    for k in (i - 1, i, i + 1):  # the first holding it, as the spans are met left to right
        if 0 <= k < len(spans) and spans[k][0] - 1 <= v <= spans[k][1] + 1:
            return k
    return None


def _sub_rows(cells: list[list[tuple[float, float, str, float]]]) -> list[float]:
    """Heights of the rows stacked inside one ruled band without rules between them, or [].

    A band holds several rows when at least two of its cells have lines at the same two or
    more heights (one cell wrapping its long text onto a second line does not count).
    """
    stacked = [c for c in cells if len({round(cy) for cy, _, _, _ in c}) >= 2]
    if len(stacked) < 2:
        return []
    levels: list[float] = []
    for cy, _, _, h in sorted(e for c in cells for e in c):
        if not levels or cy - levels[-1] > 0.6 * h:
            levels.append(cy)
    if len(levels) < 2:
        return []
    shared = [lv for lv in levels if sum(1 for c in stacked if any(abs(cy - lv) <= 0.6 * h for cy, _, _, h in c)) >= 2]
    return levels if len(shared) == len(levels) else []


def _ruled_header_rows(spans: dict, cell_text: dict, n_rows: int) -> int:
    """Header rows: the first row, and the rows its cells with text reach down to (a two-level header)."""
    header = 1
    for root, members in spans.items():
        if min(r for r, _ in members) == 0 and cell_text.get(root):
            header = max(header, max(r for r, _ in members) + 1)
    # A first-row cell spanning columns (a group heading) puts its sub-headings in row 2.
    if any(min(r for r, _ in m) == 0 and len({c for _, c in m}) > 1 and max(r for r, _ in m) == 0 and cell_text.get(k)
           for k, m in spans.items()):
        header = max(header, 2)
    return header if header <= 3 and header < n_rows else 1


def join_continued(found: list[Found], size: float) -> list[Found]:
    """Ruled tables continued right below with the same columns (the rest of the rows, drawn
    apart, or its header repeated) become one table under the first one's header."""
    out: list[Found] = []
    for f in sorted(found, key=lambda f: f.bbox[1]):
        prev = out[-1] if out else None
        if (prev is not None and prev.ruled and f.ruled and abs(prev.bbox[0] - f.bbox[0]) <= 3
                and abs(prev.bbox[2] - f.bbox[2]) <= 3 and len(prev.table.rows[0]) == len(f.table.rows[0])
                and -2 <= f.bbox[1] - prev.bbox[3] <= P.CAPTION_GAP_EM * size):
            head = prev.table.rows[:prev.table.header_rows]
            rows = f.table.rows[f.table.header_rows:] if f.table.rows[:f.table.header_rows] == head or \
                not f.table.header_rows else f.table.rows
            out[-1] = Found(Table(prev.table.rows + rows, prev.table.header_rows), union([prev.bbox, f.bbox]),
                            prev.lines + f.lines, ruled=True)
        else:
            out.append(f)
    return out


# ---------------------------------------------------------------------------- shared


def _tidy(rows: list[list[str]], header_rows: int) -> Table | None:
    """Drop empty rows and columns; None unless 2+ rows hold 2+ filled cells."""
    if not rows:
        return None
    keep_cols = [c for c in range(len(rows[0])) if any(r[c] for r in rows)]
    header_kept = sum(1 for r in rows[:header_rows] if any(r[c] for c in keep_cols))
    rows = [[r[c] for c in keep_cols] for r in rows if any(r[c] for c in keep_cols)]
    if len(keep_cols) < 2 or sum(1 for r in rows if sum(1 for c in r if c) >= 2) < 2:
        return None
    header_rows = header_kept if header_kept < len(rows) else 0
    while header_rows and not all(_looks_like_header(r) for r in rows[:header_rows]):
        header_rows -= 1
    return Table(tuple(tuple(r) for r in rows), header_rows)


def _looks_like_header(row: list[str]) -> bool:
    """Short labels, none of them a measured value (years are labels)."""
    cells = [c for c in row if c]
    if not cells:
        return False
    numeric = sum(1 for c in cells if _NUMERIC.match(c) and not _YEAR.match(c))
    long = sum(1 for c in cells if len(c) > 30)
    return numeric <= len(cells) // 4 and long * 3 <= len(cells)


# ---------------------------------------------------------------------------- borderless


@dataclass(eq=False)
class _Piece(Boxed):
    text: str
    bbox: BBox
    line: Line


def borderless_tables(lines: list[Line]) -> list[Found]:
    """Tables of aligned text without cell rules: 3+ rows of 2+ pieces lining up in columns.

    On a page of two text columns each column is searched alone: a table set in one column
    never takes the other column's lines for cells.
    """
    sides = _text_columns(lines)
    if sides is not None:
        return [t for side in sides for t in borderless_tables(side)]
    pieces = [_Piece(t, b, ln) for ln in lines for t, b in ln.pieces()]
    rows = _rows(pieces)
    found: list[Found] = []
    i = 0
    while i < len(rows):
        if len(rows[i]) < 2 or not any(len(p.text) <= 12 or _NUMERIC.match(p.text) for p in rows[i]):
            i += 1  # a table row has a short cell or a number (two columns of prose have neither)
            continue
        j = i + 1
        size = statistics.median(p.line.size for p in rows[i])
        while j < len(rows):
            gap = min(p.bbox[1] for p in rows[j]) - max(p.bbox[3] for p in rows[j - 1])
            if gap > P.TABLE_ROW_GAP_EM * size or not _aligned(rows[i:j], rows[j], size):
                break
            j += 1
        # A single-piece row above (a stacked header) or below can belong; trim single-piece ends.
        while j - 1 > i and len(rows[j - 1]) < 2:
            j -= 1
        candidate = rows[i:j]
        table = _grid_of(candidate, size)
        if table is not None:
            found.append(table)
            i = j
        else:
            i += 1
    return found


def _text_columns(lines: list[Line]) -> tuple[list[Line], list[Line]] | None:
    """The lines left and right of a gutter between two columns of running text, or None.

    The gutter is a vertical line in the middle half crossed by (almost) no line, with on each
    side at least three wide lines (60%+ of that side's width: prose, not table cells).
    """
    if len(lines) < 8:
        return None
    x0 = min(ln.bbox[0] for ln in lines)
    x1 = max(ln.bbox[2] for ln in lines)
    width = x1 - x0
    starts = np.array([ln.bbox[0] for ln in lines])
    ends = np.array([ln.bbox[2] for ln in lines])
    xs = x0 + width * (0.25 + 0.02 * np.arange(26))
    crossings = ((starts[None, :] < xs[:, None]) & (xs[:, None] < ends[None, :])).sum(axis=1)
    k = int(np.argmin(crossings))
    crossing, x = int(crossings[k]), float(xs[k])
    if crossing > 0.05 * len(lines):
        return None
    left = [ln for ln in lines if ln.bbox[2] <= x]
    right = [ln for ln in lines if ln.bbox[0] >= x]

    def prose(side: list[Line], a: float, b: float) -> bool:
        return sum(1 for ln in side if ln.bbox[2] - ln.bbox[0] >= 0.6 * (b - a) and len(ln.text) >= 15) >= 3

    if prose(left, x0, x) and prose(right, x, x1):
        return left, right
    return None


def _rows(pieces: list[_Piece]) -> list[list[_Piece]]:
    """Pieces grouped into visual rows (centre within the row's vertical span), each left to right."""
    rows: list[list[_Piece]] = []
    span: list[tuple[float, float]] = []
    for p in sorted(pieces, key=lambda p: p.cy):
        if rows and span[-1][0] <= p.cy <= span[-1][1]:
            rows[-1].append(p)
            span[-1] = (min(span[-1][0], p.bbox[1]), max(span[-1][1], p.bbox[3]))
        else:
            rows.append([p])
            span.append((p.bbox[1], p.bbox[3]))
    return [sorted(r, key=lambda p: p.bbox[0]) for r in rows]


def _aligned(previous: list[list[_Piece]], row: list[_Piece], size: float) -> bool:
    """Whether every piece of `row` lines up with a column of the rows above (and the row has 2+)."""
    if len(row) < 2:
        return len(row) == 1 and any(_same_column(row[0], p, size) for r in previous for p in r)
    hits = sum(1 for p in row if any(_same_column(p, q, size) for r in previous for q in r))
    return hits >= max(2, len(row) - 1)


def _same_column(a: _Piece, b: _Piece, size: float) -> bool:
    tol = P.TABLE_ALIGN_EM * size
    ax0, _, ax1, _ = a.bbox
    bx0, _, bx1, _ = b.bbox
    return (abs(ax0 - bx0) <= tol or abs(ax1 - bx1) <= tol or abs((ax0 + ax1) - (bx0 + bx1)) <= 2 * tol
            or min(ax1, bx1) - max(ax0, bx0) > 0.5 * min(ax1 - ax0, bx1 - bx0))


_NOTE = re.compile(r"^\s*(?:주\s*[:：)]|자료\s*[:：]|출처\s*[:：]|\*|※|\d+\)\s)")


def _grid_of(rows: list[list[_Piece]], size: float) -> Found | None:
    """Columns from the rows with the most cells; a Table when the rows look like one.

    Rows above the first such full row are the header (a header cell over several columns
    names each of them); notes below the table ("주:", "자료:") are left out; a label set on
    two lines around its row of figures ("지식재산 / 5.0 2.9 … / 생산물투자") joins that row.
    """
    while rows and _NOTE.match(rows[-1][0].text):
        rows = rows[:-1]
    multi = [r for r in rows if len(r) >= 2]
    if len(multi) < P.TABLE_MIN_ROWS:
        return None
    most = max(len(r) for r in rows)
    anchors = [r for r in rows if len(r) == most]  # (a row whose cells ran together has fewer)
    spans: list[list[float]] = []  # column spans: the full rows' cells, overlapping ones merged
    for p in sorted((p for r in anchors for p in r), key=lambda p: p.bbox[0]):
        if spans and p.bbox[0] <= spans[-1][1] + 0.3 * size:
            spans[-1][1] = max(spans[-1][1], p.bbox[2])
        else:
            spans.append([p.bbox[0], p.bbox[2]])
    if len(spans) < P.TABLE_MIN_COLUMNS:
        return None
    pieces = [p for r in rows for p in r]
    texts = [p.text for p in pieces]
    long = sum(1 for t in texts if len(t) > P.TABLE_MAX_CELL_CHARS)
    prose = sum(1 for t in texts if re.search(r"[가-힣a-z][.!?]$", t))
    numeric = sum(1 for t in texts if _NUMERIC.match(t) or _YEAR.match(t))
    if long * 5 > len(texts) or prose * 4 > len(texts):
        return None
    if len(spans) == 2 and numeric * 3 < len(texts):  # two columns of words: a layout, not a table
        return None
    first_full = next(i for i, r in enumerate(rows) if r in anchors)
    grid: list[list[str]] = []
    for k, r in enumerate(rows):
        cells = [""] * len(spans)
        for p in r:
            covered = [i for i, sp in enumerate(spans) if min(sp[1], p.bbox[2]) - max(sp[0], p.bbox[0]) > 0]
            if not covered:  # between columns: the nearest
                covered = [min(range(len(spans)), key=lambda i: abs((spans[i][0] + spans[i][1]) / 2 - p.cx))]
            for i in covered if k < first_full else covered[:1]:
                cells[i] = f"{cells[i]} {p.text}".strip()
        grid.append(cells)
    grid = _join_stacked_labels(grid, rows, size)
    header = first_full if 0 < first_full <= 3 else 1
    table = _tidy(grid, header)
    if table is None:
        return None
    lines = list({id(p.line): p.line for p in pieces}.values())
    return Found(table, union([p.bbox for p in pieces]), lines, ruled=False)


def _join_stacked_labels(grid: list[list[str]], rows: list[list[_Piece]], size: float) -> list[list[str]]:
    """Rows holding only a first-column label join the row of figures they belong to: the row below
    or above without a label of its own, else the full row right above (a label wrapped onto a
    second line)."""
    out: list[list[str]] = []
    pending = ""
    for k, cells in enumerate(grid):
        only_label = cells[0] and not any(cells[1:])
        if only_label:
            below = grid[k + 1] if k + 1 < len(grid) else None
            if below is not None and not below[0] and any(below[1:]):
                pending = f"{pending} {cells[0]}".strip()  # a label above its unlabelled figures
                continue
            if out and not out[-1][0] and any(out[-1][1:]):
                out[-1][0] = cells[0]  # ... or below them
                continue
            if out and any(out[-1][1:]) and _close(rows[k], rows, size):
                out[-1][0] = f"{out[-1][0]} {cells[0]}".strip()  # a wrapped label
                continue
        if pending:
            cells = [f"{pending} {cells[0]}".strip(), *cells[1:]]
            pending = ""
        out.append(cells)
    return out


def _close(row: list[_Piece], rows: list[list[_Piece]], size: float) -> bool:
    """Whether `row` follows the row before it at less than half a line of space."""
    k = next(i for i, r in enumerate(rows) if r is row)
    if k == 0:
        return False
    gap = min(p.bbox[1] for p in row) - max(p.bbox[3] for p in rows[k - 1])
    return gap < 0.5 * size
