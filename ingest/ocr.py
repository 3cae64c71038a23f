"""Offline Korean OCR of PDF pages and page regions: Tesseract inside PyMuPDF.

MuPDF links Tesseract in; `Pixmap.pdfocr_tobytes` runs it on a rendered image and
returns a one-page PDF whose invisible text holds one run per recognised word at
the word's box. That needs no tesseract binary, only the language data
(Debian: tesseract-ocr-script-hang for `Hangul`, tesseract-ocr-kor for `kor`).

Tesseract's word boxes are mostly right, its word breaks for Hangul are not (it splits
most syllables into words of their own, and joins others), so spaces are rebuilt
here from the gaps between the boxes. Lines come back in reading order (one or two
columns), text NFC, boxes in PyMuPDF page coordinates (unrotated, what `page.get_text`
returns), also for rotated pages and clip regions.

MuPDF runs Tesseract single-threaded, one call at a time per process (a second thread
gets "Attempt to use Tesseract from 2 threads at once!"), so calls are serialised here;
run pages in parallel in separate processes.
"""

from __future__ import annotations

import bisect
import logging
import re
import statistics
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from docqa.config import DEFAULT_OCR_LANG, Settings
from docqa.errors import OcrUnavailableError
from docqa.types import BBox

if TYPE_CHECKING:
    import pymupdf

log = logging.getLogger(__name__)

# Debian package that ships each Tesseract model (named in the "unavailable" message).
_PACKAGES = {"Hangul": "tesseract-ocr-script-hang", "kor": "tesseract-ocr-kor", "eng": "tesseract-ocr-eng",
             "kor_vert": "tesseract-ocr-kor-vert", "Hangul_vert": "tesseract-ocr-script-hang-vert"}
_FALLBACK_LANG = "kor"  # used when the default `Hangul` model is missing but `kor` is there

# Geometry, in units of the line's median character height (measured by bench/ocr.py).
# Hangul syllables share one advance, so a word space shows as a step between two syllables'
# centres longer than the line's usual step (its pitch), when their ink is apart too; other
# characters (Latin, digits, punctuation) have their own widths: only the ink gap counts.
SPACE_PITCH = 1.2  # a step between Hangul syllables longer than this many pitches ...
SPACE_GAP = 0.15  # ... with at least this much ink gap (in heights) is a word space
OTHER_GAP = 0.24  # an ink gap wider than this (in heights) next to a non-Hangul character is a word space
DIGIT_GAP = 0.5  # ... but between digits (a proportional "1" stands apart from its neighbours) this wide
COLUMN_GAP = 3.0  # a gap wider than this splits a recognised line (table cells, form fields)
# Columns Tesseract read as one (when _layout found no gutter in the image):
GUTTER_GAP = 0.5  # a gap at least this wide, at the same x on many rows, is a column gutter ...
GUTTER_ROWS = 0.2  # ... on at least this share of the rows and 8 of them ...
GUTTER_SIDE = 5  # ... with at least this many characters on either side
MAX_WIDTH = 1.25  # a character's box is cut to this many times its height
ROW_TOLERANCE = 0.6  # a character whose centre is this far from its row's centre starts a new row
SAME_LINE = 0.5  # pieces whose centres are closer than this share of the lower one's height sit on one line

# Page layout before OCR (see _layout), in points unless said otherwise.
LAYOUT_DPI = 72  # coarse rendering the columns are found on
LAYOUT_MIN_PT = 200  # areas smaller than this either way are OCR'd whole
INK_LEVEL = 200  # grey below this is ink (small text renders light at this resolution)
LAYOUT_GUTTER_PT = 7.0  # a column gutter is a blank strip at least this wide ...
LAYOUT_GUTTER_HEIGHT = 0.3  # ... over at least this share of the block's height ...
LAYOUT_GUTTER_MIN_PT = 100.0  # ... and at least this high
LAYOUT_PAD_PT = 4.0  # white margin kept around each block (Tesseract reads text touching the edge badly)

# Raster regions (see raster_regions).
REGION_TEXT_COVER = 0.01  # the page's text covers this share of an image: background or a scan with a text layer
REGION_MARGIN = 0.12  # images entirely inside the top or bottom margin of this share are page furniture

_OPENERS = set("([{<“‘「『〈《【")  # never a space after these ...
_CLOSERS = set(")]}>”’」』〉》】,.:;!?%")  # ... nor before these
_LATIN = re.compile(r"[A-Za-z]+")
_VOWEL = re.compile(r"[aeiouyAEIOUY]")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_TEXTY = re.compile(r"[0-9A-Za-z\uac00-\ud7a3\u3131-\u318e\u4e00-\u9fff]")


@dataclass(frozen=True)
class OcrWord:
    """A recognised word (space-delimited) and its box in page coordinates."""

    text: str
    bbox: BBox


@dataclass(frozen=True)
class OcrLine:
    """A recognised line: its text (NFC, words joined by single spaces), box, words and confidence.

    confidence is 0..1 when the engine reports one; MuPDF's OCR does not, so it is 1.0.
    """

    text: str
    bbox: BBox
    words: tuple[OcrWord, ...]
    confidence: float = 1.0


@dataclass
class _Char:
    c: str
    x0: float
    y0: float
    x1: float
    y1: float


class _Piece:
    """Characters of one visual line segment, left to right, with their union box (OCR image space)
    and the index of the row Tesseract read them in (its line order is the reading order of a block)."""

    def __init__(self, chars: list[_Char], row: int):
        self.chars = chars
        self.row = row
        self.x0 = min(c.x0 for c in chars)
        self.y0 = min(c.y0 for c in chars)
        self.x1 = max(c.x1 for c in chars)
        self.y1 = max(c.y1 for c in chars)


def _resolve(settings: Settings) -> tuple[str, str, str]:
    """(tessdata dir, language, "") when OCR can run, else ("", "", Korean reason)."""
    if not settings.ocr:
        return "", "", "OCR을 쓰지 않도록 설정되어 있습니다(RAG_OCR=0)."
    import pymupdf

    if not hasattr(pymupdf.Pixmap, "pdfocr_tobytes"):
        return "", "", "OCR을 쓸 수 없습니다: 설치된 PyMuPDF가 OCR(Tesseract)을 지원하지 않습니다."
    folder = Path(settings.tessdata) if settings.tessdata else None
    if folder is None or not folder.is_dir():
        where = f"({folder})" if folder else ""
        return "", "", (f"OCR을 쓸 수 없습니다: 문자 인식 데이터 폴더{where}가 없습니다. "
                        "tesseract-ocr-script-hang 패키지를 설치하거나 RAG_TESSDATA로 폴더를 지정하세요.")
    lang = settings.ocr_lang
    missing = [part for part in lang.split("+") if not (folder / f"{part}.traineddata").is_file()]
    if missing and lang == DEFAULT_OCR_LANG and (folder / f"{_FALLBACK_LANG}.traineddata").is_file():
        log.info("OCR: %s.traineddata missing in %s, using %s", lang, folder, _FALLBACK_LANG)
        lang, missing = _FALLBACK_LANG, []
    if missing:
        names = ", ".join(f"{m}.traineddata, 패키지 {_PACKAGES[m]}" if m in _PACKAGES else f"{m}.traineddata"
                          for m in missing)
        korean = "한국어 " if set(missing) <= {"Hangul", "kor"} else ""
        return "", "", f"OCR을 쓸 수 없습니다: {korean}문자 인식 데이터({names})가 {folder}에 설치되어 있지 않습니다."
    return str(folder), lang, ""


_lock = threading.Lock()  # MuPDF allows one Tesseract at a time per process
_checked: dict[tuple[str, str], str] = {}  # (tessdata, lang) -> "" or the reason a trial OCR failed


def _trial(tessdata: str, lang: str) -> str:
    """Run Tesseract once on a blank image (~40 ms): catches a PyMuPDF built without OCR or a broken model."""
    key = (tessdata, lang)
    if key not in _checked:
        import pymupdf

        pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 32, 32), 0)
        pix.clear_with(255)
        try:
            with _lock:
                pix.pdfocr_tobytes(language=lang, tessdata=tessdata)
            _checked[key] = ""
        except Exception as exc:  # noqa: BLE001 - any failure means "unavailable", with its cause logged
            log.warning("OCR trial run failed (%s, %s): %s", tessdata, lang, exc)
            _checked[key] = f"OCR을 쓸 수 없습니다: Tesseract를 시작하지 못했습니다({lang}, {tessdata})."
    return _checked[key]


def ocr_status(settings: Settings | None = None) -> tuple[bool, str]:
    """(True, "") when OCR can run with these settings, else (False, a Korean reason for the user)."""
    settings = settings or Settings.from_env()
    tessdata, lang, reason = _resolve(settings)
    if not reason:
        reason = _trial(tessdata, lang)
    return (not reason, reason)


def ocr_page(page: pymupdf.Page, clip: pymupdf.Rect | None = None, dpi: int | None = None,
             settings: Settings | None = None) -> list[OcrLine]:
    """Recognise the text of `page` (or of `clip`, in page coordinates) as lines in reading order.

    Raises OcrUnavailableError when OCR can't run (see `ocr_status`). An area without
    text gives an empty list.
    """
    import pymupdf

    settings = settings or Settings.from_env()
    tessdata, lang, reason = _resolve(settings)
    reason = reason or _trial(tessdata, lang)
    if reason:
        raise OcrUnavailableError(reason)
    # Work on the page as displayed (rotation applied) so text lines are horizontal for
    # Tesseract; the clip is given in unrotated page coordinates like everything else.
    area = page.rect if clip is None else (pymupdf.Rect(clip) * page.rotation_matrix) & page.rect
    if area.is_empty:
        return []
    lines = []
    for region in _layout(page, area):
        chars, to_page = _recognise(page, region, dpi or settings.ocr_dpi, lang, tessdata)
        lines += _assemble(chars, to_page)
    return lines


def _layout(page: pymupdf.Page, area: pymupdf.Rect) -> list[pymupdf.Rect]:
    """`area` (displayed coordinates) cut into blocks to OCR one by one, in reading order.

    MuPDF runs Tesseract as one uniform block of text (no page segmentation), so on a
    two-column page it reads lines straight across both columns, and where the columns'
    lines don't line up it garbles them. Cut first, on a coarse rendering: a column gutter
    is a blank vertical strip at least LAYOUT_GUTTER_PT wide in the middle of the text,
    over at least LAYOUT_GUTTER_HEIGHT of it (and LAYOUT_GUTTER_MIN_PT), with text on both
    sides; above and below it the text runs full width and is cut again the same way.
    """
    import numpy as np
    import pymupdf

    if area.width < LAYOUT_MIN_PT or area.height < LAYOUT_MIN_PT:
        return [area]
    pix = page.get_pixmap(dpi=LAYOUT_DPI, clip=area, colorspace=pymupdf.csGRAY, alpha=False)
    grey = np.frombuffer(pix.samples, dtype=np.uint8).reshape(pix.height, pix.stride)[:, :pix.width]
    ink = grey < INK_LEVEL
    sx, sy = area.width / pix.width, area.height / pix.height
    width = max(1, round(LAYOUT_GUTTER_PT / sx))
    blocks: list[tuple[int, int, int, int]] = []
    _blocks(ink, 0, ink.shape[0], 0, ink.shape[1], width, round(LAYOUT_GUTTER_MIN_PT / sy), blocks)
    pad = LAYOUT_PAD_PT
    rects = [pymupdf.Rect(area.x0 + x0 * sx - pad, area.y0 + y0 * sy - pad, area.x0 + x1 * sx + pad,
                          area.y0 + y1 * sy + pad) & area for x0, y0, x1, y1 in blocks]
    return [r for r in rects if not r.is_empty] or [area]


def _blocks(ink, y0: int, y1: int, x0: int, x1: int, width: int, min_height: int,
            out: list[tuple[int, int, int, int]], depth: int = 0) -> None:
    """Append the blocks of ink[y0:y1, x0:x1] to `out` (pixel boxes): top, left column, right column, bottom."""
    import numpy as np

    sub = ink[y0:y1, x0:x1]
    rows, cols = np.flatnonzero(sub.any(axis=1)), np.flatnonzero(sub.any(axis=0))
    if not len(rows):
        return
    y0, y1, x0, x1 = y0 + rows[0], y0 + rows[-1] + 1, x0 + cols[0], x0 + cols[-1] + 1
    sub = ink[y0:y1, x0:x1].astype(np.int32)
    h, w = sub.shape
    if depth < 4 and w > 4 * width:
        # Ink in each window of `width` columns; a speck or two is scanner noise.
        sums = np.cumsum(np.pad(sub, ((0, 0), (1, 0))), axis=1)
        dark = (sums[:, width:] - sums[:, :-width]) >= 2
        lo, hi = int(w * 0.2), int(w * 0.8) - width
        if hi > lo:
            # Longest blank vertical run in each candidate window.
            run = np.zeros(hi - lo, dtype=np.int32)
            best = np.zeros(hi - lo, dtype=np.int32)
            end = np.zeros(hi - lo, dtype=np.int32)
            for y in range(h):
                run = np.where(dark[y, lo:hi], 0, run + 1)
                longer = run > best
                best = np.where(longer, run, best)
                end = np.where(longer, y, end)
            i = int(np.argmax(best))
            length = int(best[i])
            if length >= max(LAYOUT_GUTTER_HEIGHT * h, min_height):
                top, bottom = int(end[i]) - length + 1, int(end[i]) + 1
                gx = x0 + lo + i + width // 2
                band = ink[y0 + top:y0 + bottom]
                if band[:, x0:gx].any(axis=1).mean() > 0.3 and band[:, gx:x1].any(axis=1).mean() > 0.3:
                    _blocks(ink, y0, y0 + top, x0, x1, width, min_height, out, depth + 1)
                    _blocks(ink, y0 + top, y0 + bottom, x0, gx, width, min_height, out, depth + 1)
                    _blocks(ink, y0 + top, y0 + bottom, gx, x1, width, min_height, out, depth + 1)
                    _blocks(ink, y0 + bottom, y1, x0, x1, width, min_height, out, depth + 1)
                    return
    out.append((x0, y0, x1, y1))


def _recognise(page: pymupdf.Page, area: pymupdf.Rect, dpi: int, lang: str,
               tessdata: str) -> tuple[list[_Char], pymupdf.Matrix]:
    """Tesseract's characters in `area` (displayed coordinates) in the order it read them,
    and the matrix from their space to the page's (unrotated) coordinates."""
    import pymupdf

    # RGB: MuPDF's OCR writer recognises nothing in a grey pixmap (measured, PyMuPDF 1.28).
    pix = page.get_pixmap(dpi=dpi, clip=area, alpha=False)
    # Uncompressed: deflating the embedded page image would cost ~7% more and nobody reads it.
    with _lock:
        data = pix.pdfocr_tobytes(compress=False, language=lang, tessdata=tessdata)
    with pymupdf.open(stream=data) as doc:
        result = doc[0]
        sx, sy = area.width / result.rect.width, area.height / result.rect.height
        chars = [_Char(ch["c"], *ch["bbox"])
                 for block in result.get_text("rawdict", flags=0)["blocks"]
                 for line in block.get("lines", ()) if abs(line["dir"][1]) < 1e-3
                 for span in line["spans"] for ch in span["chars"] if not ch["c"].isspace()]
    return chars, pymupdf.Matrix(sx, 0, 0, sy, area.x0, area.y0) * page.derotation_matrix


def _assemble(chars: list[_Char], to_page: pymupdf.Matrix) -> list[OcrLine]:
    """Rows from Tesseract's reading order, split at the column gutter and wide gaps, ordered, spaced."""
    if not chars:
        return []
    # Tesseract sometimes stretches a word's box over the gap after it (up to the next
    # column); no character is much wider than it is tall.
    chars = [_Char(c.c, c.x0, c.y0, min(c.x1, c.x0 + MAX_WIDTH * (c.y1 - c.y0)), c.y1) for c in chars]
    height = statistics.median(c.y1 - c.y0 for c in chars)
    rows = _rows_of(chars, height)
    gutter = _gutter(rows, height)
    pieces = _merge([p for i, row in enumerate(rows) for p in _split(row, i, height, gutter)], height, gutter)
    pieces = _drop_stacks(pieces, height)
    lines = [_line(p, height, to_page) for p in _reading_order(pieces, gutter)]
    return [ln for ln in lines if ln is not None and plausible(ln.text)]


def _rows_of(chars: list[_Char], height: float) -> list[list[_Char]]:
    """Tesseract reads line by line: a character far above or below the row, or back to its left, starts a new one.

    Its boxes are sometimes wrong (a syllable's box two lines tall, or reaching over the
    next word), so rows follow the median centre of their characters, not any one box.
    Characters stay in Tesseract's order: neighbouring boxes overlap ("2017" and "년"),
    so sorting them by position would scramble them.
    """
    rows: list[list[_Char]] = []
    centre = 0.0
    for ch in chars:
        cy = (ch.y0 + ch.y1) / 2
        row = rows[-1] if rows else None
        if row and abs(cy - centre) <= ROW_TOLERANCE * height and ch.x0 >= row[-1].x0 - height:
            row.append(ch)
            centre = statistics.median((c.y0 + c.y1) / 2 for c in row[-8:])
        else:
            rows.append([ch])
            centre = cy
    return [_dedupe(row) for row in rows]


def _dedupe(row: list[_Char]) -> list[_Char]:
    """Drop a character read twice: Tesseract sometimes splits a short line in two and reads
    the syllable at the cut in both halves ("법|법률을"); the copies overlap."""
    out = [row[0]]
    for ch in row[1:]:
        prev = out[-1]
        overlap = min(prev.x1, ch.x1) - max(prev.x0, ch.x0)
        if ch.c == prev.c and overlap > 0.5 * min(prev.x1 - prev.x0, ch.x1 - ch.x0):
            continue
        out.append(ch)
    return out


def _gaps(row: list[_Char], height: float) -> list[tuple[float, float]]:
    """Empty x intervals at least GUTTER_GAP heights wide between a row's characters."""
    out, right = [], row[0].x1
    for ch in row[1:]:
        if ch.x0 - right >= GUTTER_GAP * height:
            out.append((right, ch.x0))
        right = max(right, ch.x1)
    return out


def _gutter(rows: list[list[_Char]], height: float) -> float | None:
    """The x of a two-column page's gutter, or None.

    Tesseract reads a two-column page as one block, so its lines run across both columns.
    The gutter is an x in the middle half of the text where many rows have a gap with a
    column's worth of text (GUTTER_SIDE characters) on both sides, and few rows have ink:
    at least GUTTER_ROWS of the rows and 8 of them, crossed by at most half as many rows
    (full-width titles and paragraphs cross it, and Tesseract stretches some boxes over it).
    Letter-spaced titles and form labels have gaps too, but not that much text beside them.
    """
    left = min(c.x0 for row in rows for c in row)
    right = max(c.x1 for row in rows for c in row)
    gaps = [_gaps(row, height) for row in rows]
    starts = [sorted(c.x0 for c in row) for row in rows]
    spans = [(x0s[0], max(c.x1 for c in row)) for x0s, row in zip(starts, rows)]
    best, xs = 0, []  # the most rows with a gap, at these x
    x = left + (right - left) / 4
    while x < right - (right - left) / 4:
        n_gap = n_ink = 0
        for (a, b), g, x0s in zip(spans, gaps, starts):
            if any(ga < x < gb for ga, gb in g):
                n_left = bisect.bisect_left(x0s, x)
                n_gap += min(n_left, len(x0s) - n_left) >= GUTTER_SIDE
            elif a < x < b:
                n_ink += 1
        if n_gap >= max(8, GUTTER_ROWS * len(rows)) and n_ink <= n_gap / 2 and n_gap >= best:
            xs = xs + [x] if n_gap == best else [x]
            best = n_gap
        x += height / 4
    return statistics.median(xs) if xs else None


def _split(row: list[_Char], index: int, height: float, gutter: float | None) -> list[_Piece]:
    """A row split at the gutter (if it has a gap there) and at gaps wider than COLUMN_GAP heights."""
    if gutter is not None:
        left = [c for c in row if _centre(c) < gutter]
        right = [c for c in row if _centre(c) >= gutter]
        inner = max((c.x1 for c in left if _TEXTY.match(c.c)), default=None)
        outer = min((c.x0 for c in right if _TEXTY.match(c.c)), default=None)
        if inner is not None and outer is not None and outer - inner >= GUTTER_GAP * height:
            # Tesseract reads specks in the gutter as marks ("、", "."): they go.
            left = [c for c in left if c.x1 <= inner or _TEXTY.match(c.c)]
            right = [c for c in right if c.x0 >= outer or _TEXTY.match(c.c)]
            return _cut(left, index, height) + _cut(right, index, height)
    return _cut(row, index, height)


def _cut(row: list[_Char], index: int, height: float) -> list[_Piece]:
    """A row split at gaps wider than COLUMN_GAP heights (table cells, form fields)."""
    if not row:
        return []
    pieces, start, right = [], 0, row[0].x1
    for i in range(1, len(row)):
        if row[i].x0 - right > COLUMN_GAP * height:
            pieces.append(_Piece(row[start:i], index))
            start = i
        right = max(right, row[i].x1)
    pieces.append(_Piece(row[start:], index))
    return pieces


def _merge(pieces: list[_Piece], height: float, gutter: float | None) -> list[_Piece]:
    """Join pieces of one visual line that Tesseract read as two lines (a skewed or broken line)."""
    out: list[_Piece] = []
    for p in sorted(pieces, key=lambda p: p.x0):
        for i, q in enumerate(out):
            apart = gutter is not None and q.x1 <= gutter <= p.x0
            follows = q.x0 + (q.x1 - q.x0) / 2 < p.x0 <= q.x1 + COLUMN_GAP * height
            if not apart and follows and _same_line(q, p):
                out[i] = _Piece(q.chars + p.chars, min(q.row, p.row))
                break
        else:
            out.append(p)
    return out


def _same_line(a: _Piece, b: _Piece) -> bool:
    # Centres, not overlap: Tesseract's boxes on some lines are twice the text's height.
    return abs((a.y0 + a.y1) - (b.y0 + b.y1)) / 2 < SAME_LINE * min(a.y1 - a.y0, b.y1 - b.y0)


def _reading_order(pieces: list[_Piece], gutter: float | None) -> list[_Piece]:
    """Tesseract's line order, each line left to right; on a two-column stretch the left
    column before the right one.

    Line order, not box positions: on some lines Tesseract's boxes are twice the text's
    height and overlap the next line. Pieces that cross the gutter (titles, full-width
    paragraphs, tables) cut the page into bands, each read left column first.
    """
    ordered = sorted(pieces, key=lambda p: (p.row, p.x0))
    if gutter is None:
        return ordered
    out: list[_Piece] = []
    band: list[_Piece] = []
    for p in [*ordered, None]:
        if p is None or p.x0 < gutter < p.x1:
            out.extend([q for q in band if q.x1 <= gutter] + [q for q in band if q.x1 > gutter])
            band = []
            if p is not None:
                out.append(p)
        else:
            band.append(p)
    return out


def _line(piece: _Piece, height: float, to_page: pymupdf.Matrix) -> OcrLine | None:
    """Words from the gaps between characters; boxes mapped to page coordinates."""
    import pymupdf

    chars = piece.chars
    pitch = _pitch(chars, height)
    words: list[list[_Char]] = [[chars[0]]]
    for prev, ch in zip(chars, chars[1:]):
        if _is_space(prev, ch, height, pitch):
            words.append([ch])
        else:
            words[-1].append(ch)
    out = []
    for w in words:
        text = unicodedata.normalize("NFC", "".join(c.c for c in w))
        box = pymupdf.Rect(min(c.x0 for c in w), min(c.y0 for c in w), max(c.x1 for c in w), max(c.y1 for c in w))
        out.append(OcrWord(text, tuple((box * to_page).normalize())))
    text = " ".join(w.text for w in out)
    if not _TEXTY.search(text):
        return None
    box = pymupdf.Rect(piece.x0, piece.y0, piece.x1, piece.y1) * to_page
    return OcrLine(text, tuple(box.normalize()), tuple(out), 1.0)


def _drop_stacks(pieces: list[_Piece], height: float) -> list[_Piece]:
    """Narrow pieces (one or two characters, no wider than tall) stacked three or more high:
    vertical text, which Tesseract reads as a column of unrelated syllables (side tabs,
    rotated axis titles)."""
    small = [p for p in pieces if len(p.chars) <= 2 and p.x1 - p.x0 <= 1.5 * (p.y1 - p.y0)]
    stacked = set()
    for p in small:
        column = [q for q in small if q is not p and min(p.x1, q.x1) - max(p.x0, q.x0) > 0
                  and abs((p.y0 + p.y1) - (q.y0 + q.y1)) / 2 < 4 * height]
        if len(column) >= 2:
            stacked.add(id(p))
    return [p for p in pieces if id(p) not in stacked]


def plausible(text: str) -> bool:
    """Does recognised text read as text? Tesseract's Hangul model reads rules, photos and
    chart marks as runs of short Latin "words" ("n nnnn n", "toons ma a") or symbols.

    Kept: lines that are mostly Hangul, digits and letters with at least two syllables;
    lines of digits (page numbers, dates, phone numbers); Latin lines whose letters mostly
    sit in word-like tokens (3+ letters with a vowel) that outnumber its 1-2 letter tokens.
    """
    chars = [c for c in text if not c.isspace()]
    if not chars:
        return False
    hangul = sum(1 for c in chars if _HANGUL.match(c))
    letters = sum(1 for c in chars if c.isascii() and c.isalpha())
    digits = sum(1 for c in chars if c.isdigit())
    if (hangul + letters + digits) / len(chars) < 0.5:
        return False
    if hangul >= 2 or (hangul == 1 and len(chars) <= 2):
        return True
    if not letters:
        return digits > 0
    tokens = _LATIN.findall(text)
    words = [w for w in tokens if len(w) >= 3 and _VOWEL.search(w) and len(set(w.lower())) > 1]
    short = [w for w in tokens if len(w) <= 2]
    return sum(map(len, words)) >= letters / 2 and len(short) <= len(words)


def _centre(c: _Char) -> float:
    return (c.x0 + c.x1) / 2


def _pitch(chars: list[_Char], height: float) -> float:
    """The usual step between neighbouring Hangul syllables' centres on this line (else about an em)."""
    steps = [_centre(b) - _centre(a) for a, b in zip(chars, chars[1:])
             if _HANGUL.match(a.c) and _HANGUL.match(b.c) and 0 < _centre(b) - _centre(a) < 2 * height]
    if len(steps) >= 3:
        return statistics.median(steps)
    # Too few steps to measure: about an em, which the tallest syllable's ink comes closest to.
    return max([height] + [c.y1 - c.y0 for c in chars if _HANGUL.match(c.c)])


def _is_space(prev: _Char, ch: _Char, height: float, pitch: float) -> bool:
    if prev.c in _OPENERS or ch.c in _CLOSERS:
        return False
    gap = ch.x0 - prev.x1
    if _HANGUL.match(prev.c) and _HANGUL.match(ch.c):
        return _centre(ch) - _centre(prev) > SPACE_PITCH * pitch and gap > SPACE_GAP * height
    if prev.c.isdigit() and ch.c.isdigit():
        return gap > DIGIT_GAP * height
    return gap > OTHER_GAP * height


def raster_regions(page: pymupdf.Page, min_share: float = 0.05) -> list[pymupdf.Rect]:
    """Raster images on `page` that may hold text worth OCR: charts pasted as pictures, scanned tables.

    Kept: images covering at least `min_share` of the page, clipped to it, largest first.
    Left out: images inside a larger kept one; images the page's own text covers (at least
    REGION_TEXT_COVER of their area: a background, or a scan under its own text layer, whose
    text is already there); banners inside the top or bottom REGION_MARGIN of the page
    (headers, footers, logos). Boxes in page coordinates (unrotated, like `page.get_text`).
    """
    import pymupdf

    bounds = page.rect * page.derotation_matrix
    page_area = abs(bounds)
    top, bottom = bounds.y0 + REGION_MARGIN * bounds.height, bounds.y1 - REGION_MARGIN * bounds.height
    words = [pymupdf.Rect(w[:4]) for w in page.get_text("words")]
    boxes = []
    for info in page.get_image_info():
        box = pymupdf.Rect(info["bbox"]) & bounds
        if box.is_empty or abs(box) < min_share * page_area or box.y1 <= top or box.y0 >= bottom:
            continue
        if sum(abs(w & box) for w in words) >= REGION_TEXT_COVER * abs(box):
            continue
        boxes.append(box)
    boxes.sort(key=lambda b: -abs(b))
    kept: list[pymupdf.Rect] = []
    for b in boxes:
        if not any(abs(b & k) >= 0.9 * abs(b) for k in kept):
            kept.append(b)
    return kept
