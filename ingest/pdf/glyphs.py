"""Glyphs to lines: one MuPDF pass per page ("rawdict" with vector paths), word spaces rebuilt.

MuPDF drops the spaces between Korean words of some PDFs that position each word instead
of writing a space; spaces are put back from the glyph gaps. Fragments of one visual line
(Latin and Hangul runs written separately) are joined; shadow and fake-bold overprints
dropped; text normalised to NFC with private-use bullets mapped to "•".
"""

from __future__ import annotations

import logging
import re
import statistics
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

import pymupdf

from docqa.types import BBox
from ingest.pdf import params as P

log = logging.getLogger(__name__)

# No ligature preservation (expands "ﬁ"), no images (listed separately), vector paths for
# tables and figures. "Lazy" vectors are collected without splitting the text around them:
# eagerly collected, a PDF that strokes its glyph outlines (fake bold) comes out one character
# per block. Without that flag (old MuPDF) vectors are not collected and no ruled tables are found.
_LAZY_VECTORS: int | None = getattr(pymupdf, "TEXT_LAZY_VECTORS", None)
FLAGS = pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP
if _LAZY_VECTORS is not None:
    FLAGS |= pymupdf.TEXT_COLLECT_VECTORS | _LAZY_VECTORS

_PUA = re.compile("[\ue000-\uf8ff]")
_CID = re.compile(r"\(cid:\d+\)")
_BAD = re.compile(r"[\ue000-\uf8ff\ufffd\x00-\x08\x0e-\x1f\x7f-\x9f]")  # broken text layer: PUA, U+FFFD, controls
_SYMBOL_FONT = re.compile(r"(?i)wingding|webding|dingbat|zapf|^symbol|[+-]symbol")
_NUMBERISH = set("0123456789%)")
_NUMBER_START = set("0123456789-−+△▲▼(")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u3000]+")
# Bold by name: "…Bold", "…Black", "…Heavy"; Korean families name weights by a suffix
# ("KoPubBatangPB", "NanumSquareEB", "…SB") beside light "…PL" and medium "…PM".
_BOLD_FONT = re.compile(r"(?i:bold|black|heavy)|(?<=[a-z\-])P?[ESX]?B$")

Char = tuple[str, float, float, float, float]  # glyph, x0, y0, x1, y1


def union(boxes: list[BBox]) -> BBox:
    """The smallest box holding all `boxes`."""
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


class Boxed:
    """Centre coordinates of anything with a `bbox` (x0, y0, x1, y1)."""

    @property
    def cy(self) -> float:
        return (self.bbox[1] + self.bbox[3]) / 2  # type: ignore[attr-defined]

    @property
    def cx(self) -> float:
        return (self.bbox[0] + self.bbox[2]) / 2  # type: ignore[attr-defined]


@dataclass(eq=False)
class Line(Boxed):
    """One visual text line: its characters (spaces recovered) with their boxes."""

    chars: list[Char]
    bbox: BBox
    size: float
    bold: bool
    block: int  # MuPDF block number: lines of one block were laid out together
    text: str = ""  # cleaned; for a garbage line the raw text (never output)
    visible: int = 0  # non-space characters
    bad: int = 0  # of which private-use, U+FFFD, control or "(cid:N)" noise
    _pieces: list[tuple[str, BBox]] | None = field(default=None, repr=False)

    @property
    def garbage(self) -> bool:
        return self.bad * 2 > self.visible

    @property
    def height(self) -> float:
        return self.bbox[3] - self.bbox[1]

    def pieces(self) -> list[tuple[str, BBox]]:
        """The line cut where its glyphs are far apart (table cells, columns): (text, box) each."""
        if self._pieces is None:
            self._pieces = self._cut()
        return self._pieces

    def _cut(self) -> list[tuple[str, BBox]]:
        gap = P.CELL_GAP_EM * self.size
        number_gap = P.NUMBER_GAP_EM * self.size
        starts = [0]
        last = None
        for i, ch in enumerate(self.chars):
            if ch[0].isspace():
                continue
            if last is not None:
                step = ch[1] - last[3]
                # Figures in narrow columns stand closer than words in wide ones.
                if step > gap or (step > number_gap and last[0] in _NUMBERISH and ch[0] in _NUMBER_START):
                    starts.append(i)
            last = ch
        if len(starts) == 1:
            return [(self.text, self.bbox)] if self.text else []
        pieces = []
        for a, b in zip(starts, starts[1:] + [len(self.chars)]):
            group = [c for c in self.chars[a:b] if not c[0].isspace()]
            text = clean("".join(c[0] for c in self.chars[a:b]))
            if text and group:
                pieces.append((text, (group[0][1], min(c[2] for c in group), group[-1][3], max(c[4] for c in group))))
        return pieces


@dataclass(eq=False)
class RawPage:
    """What one MuPDF pass found on a page."""

    number: int
    width: float  # of the unrotated page, the space MuPDF reports text in
    height: float
    shown: tuple[float, float] = (0.0, 0.0)  # width, height as displayed (page.rect, after /Rotate)
    lines: list[Line] = field(default_factory=list)
    vectors: list[tuple[BBox, bool, bool]] = field(default_factory=list)  # bbox, isrect, stroked
    images: list[BBox] = field(default_factory=list)  # raster images drawn on the page, once placed
    has_images: bool = False  # the page uses image resources
    images_placed: bool = False
    failed: bool = False


def extract(doc: pymupdf.Document, index: int, file_name: str) -> RawPage:
    """One MuPDF pass over a page: text lines (spaces recovered), vector path boxes and image boxes."""
    try:
        page = doc.load_page(index)
        box = page.cropbox
        raw = RawPage(index + 1, box.width, box.height, (page.rect.width, page.rect.height))
        blocks = page.get_text("rawdict", flags=FLAGS)["blocks"]
    except Exception as exc:
        log.warning("%s: page %d cannot be read: %r", file_name, index + 1, exc)
        return RawPage(index + 1, 0.0, 0.0, failed=True)
    try:
        raw.has_images = bool(page.get_images())  # cheap; placing them takes another pass (place_images)
    except Exception as exc:
        log.warning("%s: page %d: images cannot be listed: %r", file_name, index + 1, exc)
    for number, block in enumerate(blocks):
        kind = block.get("type")
        if kind == 3:
            raw.vectors.append((tuple(block["bbox"]), bool(block.get("isrect")), bool(block.get("stroked"))))
        elif kind == 0:
            for row in _visual_rows(block["lines"]):
                built = _make_line(row, number)
                if built is None:
                    continue
                text = "".join(c[0] for c in built.chars)
                built.visible = len("".join(text.split()))
                built.bad = len(_BAD.findall(text)) + sum(len(m) for m in _CID.findall(text))
                built.text = text if built.garbage else clean(text)
                if built.text.strip():
                    raw.lines.append(built)
    return raw


def place_images(doc: pymupdf.Document, raw: RawPage) -> list[BBox]:
    """The boxes of the raster images drawn on the page (a text pass of its own: only when needed)."""
    if not raw.images_placed:
        raw.images_placed = True
        if raw.has_images:
            try:
                raw.images = [tuple(info["bbox"]) for info in doc.load_page(raw.number - 1).get_image_info()]
            except Exception as exc:
                log.warning("page %d: images cannot be placed: %r", raw.number, exc)
    return raw.images


def _visual_rows(lines: list[dict]) -> list[list[dict]]:
    """MuPDF lines of one block grouped into visual lines, each group left to right.

    Some PDFs write a line's Latin and digit runs separately from its Hangul; MuPDF then
    returns several fragments of one line, out of visual order. Fragments join a line when
    they share its baseline, or overlap it vertically without overlapping it horizontally
    (a superscript); stacked text (a two-line table header) stays apart.
    """
    rows: list[list[dict]] = []
    for line in lines:
        dx, dy = line["dir"]
        if abs(dy) < 0.01 and dx > 0:
            for members in rows:
                if members[0]["dir"] == line["dir"] and _joins(members, line["bbox"]):
                    members.append(line)
                    break
            else:
                rows.append([line])
        else:
            rows.append([line])
    return [sorted(members, key=lambda ln: ln["bbox"][0]) for members in rows]


def _joins(members: list[dict], box: BBox) -> bool:
    """Whether a fragment belongs to the visual line made of members."""
    near = False
    for m in members:
        a = m["bbox"]
        height = min(a[3] - a[1], box[3] - box[1])
        beside = a[2] <= box[0] + 1 or box[2] <= a[0] + 1
        if abs(a[3] - box[3]) <= 0.25 * height:  # same baseline (bottoms of same-size text)
            near = True
        elif not beside:
            return False  # stacked above or below a part of this line
        elif min(a[3], box[3]) - max(a[1], box[1]) > 0.5 * height:
            near = True
    return near


def _make_line(fragments: list[dict], block: int) -> Line | None:
    """One visual line from its MuPDF fragments, word spaces rebuilt from the glyph gaps."""
    chars: list[Char] = []
    sizes: list[float] = []
    weights: Counter[float] = Counter()
    bold_chars = 0
    for line in fragments:
        for span in line["spans"]:
            glyphs = span["chars"]
            if not glyphs:
                continue
            size = float(span["size"]) or 1.0
            if _SYMBOL_FONT.search(span["font"]):  # a bullet set in a symbol font reads "n", "l", "£"...
                chars.extend([(" " if ch["c"].isspace() else "•", *ch["bbox"]) for ch in glyphs])
            else:
                chars.extend([(ch["c"], *ch["bbox"]) for ch in glyphs])
            sizes.extend([size] * len(glyphs))
            solid = sum(1 for ch in glyphs if not ch["c"].isspace())
            if solid:
                weights[round(size * 2) / 2] += solid
                if span["flags"] & pymupdf.TEXT_FONT_BOLD or _BOLD_FONT.search(span["font"]):
                    bold_chars += solid
    if not weights:
        return None
    dx, dy = fragments[0]["dir"]
    if abs(dy) < 0.01 and dx > 0:
        if len(fragments) > 1:  # fragments may interleave: "참조" + ")" + "을"
            order = sorted(range(len(chars)), key=lambda i: chars[i][1] + chars[i][3])
            chars, sizes = [chars[i] for i in order], [sizes[i] for i in order]
        chars, sizes = _drop_overprints(chars, sizes)
        chars = _respace(chars, sizes)
    n = sum(weights.values())
    bbox = union([tuple(line["bbox"]) for line in fragments])
    return Line(chars, bbox, weights.most_common(1)[0][0], bold_chars * 2 > n, block)


def _drop_overprints(chars: list[Char], sizes: list[float]) -> tuple[list[Char], list[float]]:
    """Drop a glyph printed again on (almost) the same spot: shadow and fake-bold effects."""
    if not any(a[0] == b[0] for a, b in zip(chars, chars[1:])):
        return chars, sizes  # no glyph follows itself: nothing printed twice
    kept: list[Char] = []
    kept_sizes: list[float] = []
    for ch, size in zip(chars, sizes):
        if kept and kept[-1][0] == ch[0] and not ch[0].isspace():
            prev = kept[-1]
            near = min(P.OVERPRINT_EM * size, 0.5 * (prev[3] - prev[1]))  # well under one advance: "ll" stays
            if abs(prev[1] - ch[1]) < near and abs(prev[2] - ch[2]) < near:
                continue
        kept.append(ch)
        kept_sizes.append(size)
    return kept, kept_sizes


def _respace(chars: list[Char], sizes: list[float]) -> list[Char]:
    """Spaces where the glyphs show them: put back where the gap is wide, dropped where there is none.

    A gap wider than the line's usual glyph gap by WORD_GAP_EM is a word space; a space
    character whose neighbours touch (kerned back to nothing, as in "1 9 9 3") is no space.
    """
    solid = [i for i, ch in enumerate(chars) if not ch[0].isspace()]
    if len(solid) < 2:
        return chars
    pairs = []
    tight = []
    for a, b in zip(solid, solid[1:]):
        sa, sb = sizes[a], sizes[b]
        gap = (chars[b][1] - chars[a][3]) / (sa if sa > sb else sb)
        pairs.append((a, b, gap))
        if b == a + 1:
            tight.append(gap)
    if not tight:
        return chars
    # The line's usual glyph gap (its tracking); on a short line the tightest gap, so that
    # text spread evenly over a table cell ("7 0 명") gets no spaces.
    usual = statistics.median(tight) if len(tight) >= 4 else min(tight)
    word, half = usual + P.WORD_GAP_EM, usual + P.WORD_GAP_EM / 2
    out: list[Char] = list(chars[: solid[0]])
    for a, b, gap in pairs:
        out.append(chars[a])
        if b == a + 1:
            if gap > word:
                left, right = chars[a], chars[b]
                out.append((" ", left[3], min(left[2], right[2]), right[1], max(left[4], right[4])))
        elif gap > half:
            out.extend(chars[a + 1 : b])
    out.extend(chars[solid[-1] :])
    return out


# Control (Cc) and format (Cf) characters, but tab and line breaks (they become spaces).
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\ufffd\U000110bd\U000110cd"
    "\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]"
)


def clean(text: str) -> str:
    """NFC text with a bullet for a private-use glyph starting it, no control chars, single spaces.

    Other private-use glyphs (symbol-font pictograms, equation pieces) are dropped.
    """
    text = text.replace("\u00ad", "-") if text.rstrip().endswith("\u00ad") else text.replace("\u00ad", "")
    stripped = text.lstrip()
    if len(stripped) > 1 and _PUA.match(stripped) and not _PUA.match(stripped[1]):
        text = "• " + stripped[1:]
    text = _INVISIBLE.sub("", _PUA.sub("", text)).replace("\t", " ").replace("\r", " ").replace("\n", " ")
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    return _SPACES.sub(" ", text).strip()


def text_of(chars: list[Char]) -> str:
    """Cleaned text of some of a line's characters."""
    return clean("".join(c[0] for c in chars))


def without(line: Line, boxes: list[BBox]) -> Line | None:
    """The line minus the characters centred in `boxes` (pieces taken as a caption); None if nothing is left."""

    def taken(ch: Char) -> bool:
        cx, cy = (ch[1] + ch[3]) / 2, (ch[2] + ch[4]) / 2
        return any(b[0] - 0.5 <= cx <= b[2] + 0.5 and b[1] - 0.5 <= cy <= b[3] + 0.5 for b in boxes)

    chars = [ch for ch in line.chars if not taken(ch)]
    text = text_of(chars)
    if not text:
        return None
    solid = [ch for ch in chars if not ch[0].isspace()] or chars
    bbox = (min(c[1] for c in solid), min(c[2] for c in solid), max(c[3] for c in solid), max(c[4] for c in solid))
    return Line(chars, bbox, line.size, line.bold, line.block, text, len("".join(text.split())), 0)
