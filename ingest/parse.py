"""PDF bytes -> ParsedDocument: pages of blocks in reading order, with bboxes, tables and page status.

One MuPDF text pass per page ("rawdict" with vector paths) feeds everything:

- word spacing rebuilt from character positions (MuPDF drops the spaces between Korean
  words of some PDFs that position each word instead of writing a space);
- ruled tables found from the page's line and rectangle paths, rendered as markdown rows;
- running headers, footers and page numbers removed across the document;
- blocks ordered for one or two columns, short large/bold blocks marked as headings;
- pages without a usable text layer flagged "scanned", "empty" or "garbled".

Block boxes are in PyMuPDF page coordinates (points, unrotated: what page.draw_rect and
page.add_highlight_annot take); Page.width/height are the page as displayed (page.rect).
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import statistics
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pymupdf

from docqa.errors import CorruptPDFError, EmptyFileError, EncryptedPDFError, NoPagesError, NotPDFError
from docqa.types import BBox, Block, Page, ParsedDocument

log = logging.getLogger(__name__)

# No ligature preservation (expands "ﬁ"), no images (not needed), vector paths for tables.
# "Lazy" vectors are collected without splitting the text around them: eagerly collected,
# a PDF that strokes its glyph outlines (fake bold) comes out one character per block.
# Without that flag (old MuPDF) vectors are not collected and no tables are found.
_LAZY_VECTORS: int | None = getattr(pymupdf, "TEXT_LAZY_VECTORS", None)
_FLAGS = pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP
if _LAZY_VECTORS is not None:
    _FLAGS |= pymupdf.TEXT_COLLECT_VECTORS | _LAZY_VECTORS

# A gap between two glyphs wider than the line's usual glyph gap by this share of the font
# size is a word space. Measured on the 54 eval PDFs: gaps without a space cluster at
# 0.00 ± 0.05 em, gaps where the PDF does write a space start at 0.15 em.
_WORD_GAP = 0.15
_MARGIN = 0.1  # top/bottom share of the page where running headers and footers live
_REPEAT_SHARE = 0.3  # a header/footer recurs on at least this share of pages (and on 2+)
_REPEAT_TOLERANCE = 4.0  # points of vertical drift allowed between repeats
_GARBLED_SHARE = 0.3
_SCAN_MAX_CHARS = 10  # "almost no text": fewer non-space chars than this
_SCAN_MIN_COVER = 0.5  # share of the page covered by images on a scanned page
_OUTLINE_PATHS = 30  # vector paths on a text-less page whose text was drawn as outlines
_HEADING_SCALE = 1.15
_HEADING_MAX_CHARS = 80

_PUA = re.compile("[\ue000-\uf8ff]")
_CID = re.compile(r"\(cid:\d+\)")
_BAD = re.compile(r"[\ue000-\uf8ff\ufffd\x00-\x08\x0e-\x1f\x7f-\x9f]")  # broken text layer: PUA, U+FFFD, controls
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u3000]+")
_DIGITS = re.compile(r"\d+")
_PAGE_NUMBER = re.compile(
    r"^(?:[-–—]\s*\d{1,4}\s*[-–—]|\d{1,4}(?:\s*/\s*\d{1,4})?|(?:page|p\.)\s*\d{1,4}(?:\s*(?:/|of)\s*\d{1,4})?"
    r"|\d{1,4}\s*쪽|[ivx]{1,5})$",
    re.IGNORECASE,
)
_ITEM_START = re.compile(
    r"^(?:[•·‧∙◦▪▫■□▶▷►▸○●◎◇◆※☞✓✔➢➤❍❏\-*ㅇ]|\(?\d{1,2}[.)]\s|\(?[가-하][.)]\s|[①-⑳㉠-㉭㈀-㈜]"
    r"|[ⅠⅡⅢⅣⅤⅥⅦⅧⅨⅩⅰⅱⅲⅳⅴⅵⅶⅷⅸⅹ][.\s])"
)
_BOLD_FONT = re.compile(r"bold|black|heavy", re.IGNORECASE)


@dataclass
class _Line:
    """One text line: its characters (spaces recovered) with their boxes."""

    chars: list[tuple[str, float, float, float, float]]
    bbox: BBox
    size: float
    bold: bool
    block: int
    text: str = ""  # cleaned; for a garbage line the raw text (never output)
    visible: int = 0  # non-space characters
    bad: int = 0  # of which private-use, U+FFFD, control or "(cid:N)" noise

    @property
    def garbage(self) -> bool:
        return self.bad * 2 > self.visible

    @property
    def cy(self) -> float:
        return (self.bbox[1] + self.bbox[3]) / 2


@dataclass
class _RawPage:
    number: int
    width: float  # of the unrotated page, the space MuPDF reports text in
    height: float
    shown: tuple[float, float] = (0.0, 0.0)  # width, height as displayed (page.rect, after /Rotate)
    lines: list[_Line] = field(default_factory=list)
    vectors: list[tuple[BBox, bool, bool]] = field(default_factory=list)  # bbox, isrect, stroked
    failed: bool = False


@dataclass
class _Grid:
    bbox: BBox
    ys: list[float]  # horizontal rule positions, sorted
    vsegs: list[tuple[float, float, float]]  # vertical rules: x, y0, y1


# ---------------------------------------------------------------------------- public


def doc_id_of(data: bytes) -> str:
    """A document's id: sha256 of its bytes (hex, first 32 characters)."""
    return hashlib.sha256(data).hexdigest()[:32]


def parse_pdf(data: bytes, file_name: str) -> ParsedDocument:
    """Parse PDF bytes into pages of blocks; raise an IngestError with a Korean reason on bad input."""
    if not data:
        raise EmptyFileError(file_name, "파일이 비어 있습니다 (0바이트).")
    if b"%PDF-" not in data[:1024]:
        raise NotPDFError(file_name, "PDF 파일이 아닙니다 (PDF 머리글이 없습니다). PDF 형식의 파일을 올려 주세요.")
    try:
        doc = pymupdf.open(stream=data, filetype="pdf")
    except Exception as exc:
        log.warning("MuPDF cannot open %s: %r", file_name, exc)
        raise CorruptPDFError(file_name, "PDF 파일이 손상되어 열 수 없습니다.") from exc
    with doc:
        if doc.needs_pass and not doc.authenticate(""):
            raise EncryptedPDFError(file_name, "암호로 보호된 PDF입니다. 암호를 해제한 뒤 다시 올려 주세요.")
        if doc.page_count == 0:
            if doc.is_repaired:
                raise CorruptPDFError(file_name, "PDF 파일이 손상되어 페이지를 읽을 수 없습니다.")
            raise NoPagesError(file_name, "PDF에 페이지가 하나도 없습니다.")
        raw_pages = [_extract(doc, i, file_name) for i in range(doc.page_count)]
        if all(p.failed for p in raw_pages):
            raise CorruptPDFError(file_name, "PDF 파일이 손상되어 페이지 내용을 읽을 수 없습니다.")
        _drop_running_lines(raw_pages)
        pages = tuple(_build_page(doc, raw) for raw in raw_pages)
        # A file MuPDF had to repair, with pages that came out blank or unreadable, is cut short
        # (an interrupted download): refuse it rather than index part of it.
        if doc.is_repaired and any(raw.failed or page.status == "empty" for raw, page in zip(raw_pages, pages)):
            log.warning("%s: repaired by MuPDF with unreadable pages", file_name)
            raise CorruptPDFError(file_name, "PDF 파일이 잘렸거나 손상되어 일부 페이지를 읽을 수 없습니다.")
    return ParsedDocument(doc_id=doc_id_of(data), file_name=file_name, pages=pages)


def parse_pdf_path(path: str | Path) -> ParsedDocument:
    """Read a PDF file and parse it under its own file name."""
    path = Path(path)
    return parse_pdf(path.read_bytes(), path.name)


# ---------------------------------------------------------------------------- extraction


def _extract(doc: pymupdf.Document, index: int, file_name: str) -> _RawPage:
    """One MuPDF pass over a page: text lines (spaces recovered) and vector path boxes."""
    try:
        page = doc.load_page(index)
        box = page.cropbox
        raw = _RawPage(index + 1, box.width, box.height, (page.rect.width, page.rect.height))
        blocks = page.get_text("rawdict", flags=_FLAGS)["blocks"]
    except Exception as exc:
        log.warning("%s: page %d cannot be read: %r", file_name, index + 1, exc)
        return _RawPage(index + 1, 0.0, 0.0, failed=True)
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
                built.text = text if built.garbage else _clean(text)
                if built.text.strip():
                    raw.lines.append(built)
    return raw


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


def _make_line(fragments: list[dict], block: int) -> _Line | None:
    """One visual line from its MuPDF fragments, word spaces rebuilt from the glyph gaps."""
    chars: list[tuple[str, float, float, float, float]] = []
    sizes: list[float] = []
    weights: Counter[float] = Counter()
    bold_chars = 0
    for line in fragments:
        for span in line["spans"]:
            size = float(span["size"]) or 1.0
            bold = bool(span["flags"] & pymupdf.TEXT_FONT_BOLD) or bool(_BOLD_FONT.search(span["font"]))
            for ch in span["chars"]:
                x0, y0, x1, y1 = ch["bbox"]
                chars.append((ch["c"], x0, y0, x1, y1))
                sizes.append(size)
                if not ch["c"].isspace():
                    weights[round(size * 2) / 2] += 1
                    bold_chars += bold
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
    bbox = _union([tuple(line["bbox"]) for line in fragments])
    return _Line(chars, bbox, weights.most_common(1)[0][0], bold_chars * 2 > n, block)


def _drop_overprints(
    chars: list[tuple[str, float, float, float, float]], sizes: list[float]
) -> tuple[list[tuple[str, float, float, float, float]], list[float]]:
    """Drop a glyph printed again on (almost) the same spot: shadow and fake-bold effects."""
    kept: list[tuple[str, float, float, float, float]] = []
    kept_sizes: list[float] = []
    for ch, size in zip(chars, sizes):
        if kept and not ch[0].isspace():
            prev = kept[-1]
            near = min(0.3 * size, 0.5 * (prev[3] - prev[1]))  # well under one advance: "ll" stays
            if prev[0] == ch[0] and abs(prev[1] - ch[1]) < near and abs(prev[2] - ch[2]) < near:
                continue
        kept.append(ch)
        kept_sizes.append(size)
    return kept, kept_sizes


def _respace(
    chars: list[tuple[str, float, float, float, float]], sizes: list[float]
) -> list[tuple[str, float, float, float, float]]:
    """Spaces where the glyphs show them: put back where the gap is wide, dropped where there is none.

    A gap wider than the line's usual glyph gap by _WORD_GAP em is a word space; a space
    character whose neighbours touch (kerned back to nothing, as in "1 9 9 3") is no space.
    """
    solid = [i for i, ch in enumerate(chars) if not ch[0].isspace()]
    pairs = [(a, b, (chars[b][1] - chars[a][3]) / max(sizes[a], sizes[b])) for a, b in zip(solid, solid[1:])]
    tight = [g for a, b, g in pairs if b == a + 1]
    if not tight:
        return chars
    # The line's usual glyph gap (its tracking); on a short line the tightest gap, so that
    # text spread evenly over a table cell ("7 0 명") gets no spaces.
    usual = statistics.median(tight) if len(tight) >= 4 else min(tight)
    out: list[tuple[str, float, float, float, float]] = list(chars[: solid[0]])
    for a, b, gap in pairs:
        out.append(chars[a])
        if b == a + 1:
            if gap - usual > _WORD_GAP:
                left, right = chars[a], chars[b]
                out.append((" ", left[3], min(left[2], right[2]), right[1], max(left[4], right[4])))
        elif gap - usual > _WORD_GAP / 2:
            out.extend(chars[a + 1 : b])
    out.extend(chars[solid[-1] :])
    return out


def _clean(text: str) -> str:
    """NFC text with a bullet for a private-use glyph starting it, no control chars, single spaces.

    Other private-use glyphs (symbol-font pictograms, equation pieces) are dropped.
    """
    text = text.replace("\u00ad", "-") if text.rstrip().endswith("\u00ad") else text.replace("\u00ad", "")
    stripped = text.lstrip()
    if len(stripped) > 1 and _PUA.match(stripped) and not _PUA.match(stripped[1]):
        text = "• " + stripped[1:]
    text = _PUA.sub("", text)
    text = "".join(
        " " if ch in "\t\r\n" else ch
        for ch in text
        if ch != "\ufffd" and (unicodedata.category(ch) not in ("Cc", "Cf") or ch in "\t\r\n")
    )
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


# ---------------------------------------------------------------------------- headers, footers


def _margin_lines(raw: _RawPage) -> list[_Line]:
    top, bottom = raw.height * _MARGIN, raw.height * (1 - _MARGIN)
    return [ln for ln in raw.lines if ln.bbox[3] <= top or ln.bbox[1] >= bottom]


def _running_key(text: str) -> str:
    return _DIGITS.sub("#", text.replace(" ", "")).lower()


def _drop_running_lines(pages: list[_RawPage]) -> None:
    """Remove page numbers and lines repeated at the same height near the top/bottom of many pages."""
    seen: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for index, raw in enumerate(pages):
        for ln in _margin_lines(raw):
            seen[_running_key(ln.text)].append((index, ln.cy))
    need = max(2, math.ceil(_REPEAT_SHARE * len(pages)))
    running: dict[str, list[float]] = {}
    for key, hits in seen.items():
        if len({i for i, _ in hits}) < need:
            continue
        # Heights shared by enough pages (odd and even pages may place them differently).
        heights = Counter(round(y / _REPEAT_TOLERANCE) for _, y in hits)
        anchors = []
        for bucket in heights:
            near = {i for i, y in hits if abs(round(y / _REPEAT_TOLERANCE) - bucket) <= 1}
            if len(near) >= need:
                anchors.append(bucket * _REPEAT_TOLERANCE)
        if anchors:
            running[key] = anchors
    for raw in pages:
        drop = set()
        by_height = sorted(raw.lines, key=lambda ln: ln.bbox[1])
        for ln in by_height[:1] + by_height[-1:]:  # a lone page number first or last, even outside the margins
            if _PAGE_NUMBER.match(ln.text):
                drop.add(id(ln))
        for ln in _margin_lines(raw):
            anchors = running.get(_running_key(ln.text))
            if _PAGE_NUMBER.match(ln.text) or (
                anchors and any(abs(ln.cy - a) <= 2 * _REPEAT_TOLERANCE for a in anchors)
            ):
                drop.add(id(ln))
        if drop:
            raw.lines = [ln for ln in raw.lines if id(ln) not in drop]


# ---------------------------------------------------------------------------- page assembly


@dataclass
class _Para:
    """A block being assembled: its lines (none for a table), box and, for a table, its text."""

    lines: list[_Line]
    bbox: BBox
    table: str = ""


def _union(boxes: list[BBox]) -> BBox:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _build_page(doc: pymupdf.Document, raw: _RawPage) -> Page:
    status = _status(doc, raw)
    if status != "ok":
        return Page(raw.number, "", (), *raw.shown, status)
    rest = [ln for ln in raw.lines if not ln.garbage]
    body = _body_font(rest)
    paras: list[_Para] = []
    for grid in _find_grids(raw):
        inside = [ln for ln in rest if _contains(grid.bbox, ln)]
        table = _table_text(grid, inside)
        if table:
            paras.append(_Para([], grid.bbox, table))
            taken = {id(ln) for ln in inside}
            rest = [ln for ln in rest if id(ln) not in taken]
    by_block: dict[int, list[_Line]] = defaultdict(list)
    for ln in rest:
        by_block[ln.block].append(ln)
    paras += [_Para(lines, _union([ln.bbox for ln in lines])) for lines in by_block.values()]
    blocks: list[Block] = []
    for para in _merge_paragraphs(_reading_order(paras)):
        if para.table:
            blocks.append(Block(para.table, para.bbox, "table"))
            continue
        text = _join_lines(para.lines)
        if text:
            blocks.append(Block(text, para.bbox, "heading" if _is_heading(para.lines, text, body) else "text"))
    return Page(raw.number, "\n\n".join(b.text for b in blocks), tuple(blocks), *raw.shown, "ok")


def _merge_paragraphs(paras: list[_Para]) -> list[_Para]:
    """Join blocks that continue the previous one's paragraph (PDFs that make one block per line).

    The next block continues when it is set in the same font, starts at the previous block's
    left edge (no first-line indent, no list marker), follows at line spacing, and the
    previous block's last line runs to the right edge.
    """
    out: list[_Para] = []
    for para in paras:
        prev = out[-1] if out else None
        if prev is not None and _continues(prev, para):
            prev.lines.extend(para.lines)
            prev.bbox = _union([prev.bbox, para.bbox])
        else:
            out.append(_Para(list(para.lines), para.bbox, para.table))
    return out


def _continues(prev: _Para, para: _Para) -> bool:
    if prev.table or para.table or not prev.lines or not para.lines:
        return False
    last, first = prev.lines[-1], para.lines[0]
    size = last.size
    if abs(first.size - size) > 0.6 or first.bold != last.bold or _ITEM_START.match(first.text):
        return False
    height = last.bbox[3] - last.bbox[1]
    gap = first.bbox[1] - last.bbox[3]
    indent = first.bbox[0] - min(ln.bbox[0] for ln in prev.lines)  # < 0 after an indented first line
    hanging = 4 * size if _ITEM_START.match(prev.lines[0].text) else 0.5 * size  # "- item" text aligned past "- "
    full = last.bbox[2] >= max(prev.bbox[2], para.bbox[2]) - 1.5 * size  # the previous line ran to the edge
    return -0.3 * height <= gap <= 1.0 * height and -3 * size <= indent <= hanging and full


def _status(doc: pymupdf.Document, raw: _RawPage) -> str:
    """ok, empty, scanned or garbled (see docqa.types.Page)."""
    if raw.failed:
        return "garbled"
    visible = sum(ln.visible for ln in raw.lines)
    if visible and sum(ln.bad for ln in raw.lines) > _GARBLED_SHARE * visible:
        return "garbled"
    kept = sum(len(ln.text.replace(" ", "")) for ln in raw.lines if not ln.garbage)
    if kept >= _SCAN_MAX_CHARS:
        return "ok"
    # Drawn but not written: a page image, or text converted to outlines (many vector paths).
    if len(raw.vectors) >= _OUTLINE_PATHS or _image_cover(doc, raw) >= _SCAN_MIN_COVER:
        return "scanned"
    return "ok" if kept else "empty"


def _image_cover(doc: pymupdf.Document, raw: _RawPage) -> float:
    """Share of the page area covered by images (overlaps counted once, on a coarse grid)."""
    try:
        boxes = [info["bbox"] for info in doc.load_page(raw.number - 1).get_image_info()]
    except Exception as exc:
        log.warning("page %d: images cannot be listed: %r", raw.number, exc)
        return 0.0
    if not boxes or raw.width <= 0 or raw.height <= 0:
        return 0.0
    n = 20
    covered = 0
    for gy in range(n):
        y = (gy + 0.5) * raw.height / n
        for gx in range(n):
            x = (gx + 0.5) * raw.width / n
            covered += any(b[0] <= x <= b[2] and b[1] <= y <= b[3] for b in boxes)
    return covered / (n * n)


def _body_font(lines: list[_Line]) -> tuple[float, bool]:
    """The page's body text: the font size (and boldness) carrying most characters."""
    weights: Counter[tuple[float, bool]] = Counter()
    for ln in lines:
        weights[(ln.size, ln.bold)] += len(ln.text)
    return weights.most_common(1)[0][0] if weights else (0.0, False)


def _is_heading(lines: list[_Line], text: str, body: tuple[float, bool]) -> bool:
    """Short text set clearly larger than the page's body text, or bold where the body is not.

    A block ending a sentence ("...다.", "...was.") is text, whatever its font.
    """
    size, bold = body
    if len(lines) > 3 or len(text) > _HEADING_MAX_CHARS or not re.search(r"[^\W\d_]", text) or size <= 0:
        return False
    if re.search(r"[^\W\d_][.!?。]$", text):
        return False
    top = max(ln.size for ln in lines)
    if top >= size * _HEADING_SCALE:
        return True
    return not bold and len(lines) <= 2 and top >= size * 0.95 and all(ln.bold for ln in lines)


def _join_lines(lines: list[_Line]) -> str:
    """Lines of one block as a paragraph; list items keep their own line, English hyphen breaks heal."""
    out = ""
    for ln in lines:
        text = ln.text
        if not out:
            out = text
        elif _ITEM_START.match(text):
            out += "\n" + text
        elif re.search(r"\w-$", out) and re.match(r"\w", text):
            # "exam-" + "ple" -> "example"; "COVID-" + "19", "담배-" + "함유" keep their hyphen.
            out = out[:-1] + text if re.search(r"[a-z]-$", out) and text[0].islower() else out + text
        else:
            out += " " + text
    return out.strip()


# ---------------------------------------------------------------------------- tables


def _find_grids(raw: _RawPage) -> list[_Grid]:
    """Candidate ruled grids from the page's thin lines and outlined rectangles.

    Filled rectangles are left out: they are mostly panels and backgrounds of slides.
    """
    segs: list[tuple[float, float, float, float]] = []
    for (x0, y0, x1, y1), isrect, stroked in raw.vectors:
        w, h = x1 - x0, y1 - y0
        if h <= 3 and w >= 8:
            segs.append((x0, (y0 + y1) / 2, x1, (y0 + y1) / 2))
        elif w <= 3 and h >= 8:
            segs.append(((x0 + x1) / 2, y0, (x0 + x1) / 2, y1))
        elif isrect and stroked and w >= 8 and h >= 8:
            segs += [(x0, y0, x1, y0), (x0, y1, x1, y1), (x0, y0, x0, y1), (x1, y0, x1, y1)]
    grids = []
    for group in _touching(segs):
        hs = [s for s in group if s[1] == s[3]]
        vs = [(s[0], s[1], s[3]) for s in group if s[0] == s[2] and s[1] != s[3]]
        ys = _snap(sorted(s[1] for s in hs))
        if len(ys) < 3 or not vs:
            continue
        bbox = (min(s[0] for s in group), min(s[1] for s in group), max(s[2] for s in group), max(s[3] for s in group))
        grids.append(_Grid(bbox, ys, vs))
    return grids


def _touching(segs: list[tuple[float, float, float, float]], tol: float = 2.0) -> list[list]:
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


def _snap(values: list[float], tol: float = 2.0) -> list[float]:
    out: list[float] = []
    for v in values:
        if not out or v - out[-1] > tol:
            out.append(v)
    return out


def _contains(bbox: BBox, ln: _Line) -> bool:
    cx = (ln.bbox[0] + ln.bbox[2]) / 2
    return bbox[0] - 1 <= cx <= bbox[2] + 1 and bbox[1] - 1 <= ln.cy <= bbox[3] + 1


def _runs_across(ln: _Line, cuts: list[float]) -> bool:
    """Whether a vertical rule crosses a glyph or the tight gap inside a word of this line."""
    solid = [ch for ch in ln.chars if not ch[0].isspace()]
    for cut in cuts:
        for a, b in zip(solid, solid[1:]):
            if a[1] + 1 < cut < a[3] - 1 or (a[3] <= cut <= b[1] and b[1] - a[3] < 0.25 * ln.size):
                return True
    return False


def _table_text(grid: _Grid, lines: list[_Line]) -> str:
    """Markdown rows of the grid's cells (header separator after the first row); "" if not a table."""
    x0, _, x1, _ = grid.bbox
    rows: list[list[str]] = []
    for top, bottom in zip(grid.ys, grid.ys[1:]):
        if bottom - top < 4:
            continue
        mid = (top + bottom) / 2
        cuts = _snap(sorted([x0, x1] + [x for x, a, b in grid.vsegs if a - 2 <= mid <= b + 2 and x0 + 2 < x < x1 - 2]))
        cells: list[list[str]] = [[] for _ in cuts[:-1]]
        for ln in sorted(lines, key=lambda ln: (ln.bbox[1], ln.bbox[0])):
            if not top <= ln.cy <= bottom:
                continue
            if _runs_across(ln, cuts[1:-1]):
                return ""  # rules through running text: boxes or highlights, not cell borders
            parts: dict[int, str] = defaultdict(str)
            for ch in ln.chars:
                cx = (ch[1] + ch[3]) / 2
                col = next((k for k in range(len(cells)) if cuts[k] <= cx < cuts[k + 1]), None)
                if col is not None:
                    parts[col] += ch[0]
            for col, part in parts.items():
                part = _clean(part)
                if part:
                    cells[col].append(part)
        row = [" ".join(c).replace("|", "\\|") for c in cells]
        if any(row):
            rows.append(row)
    if sum(1 for r in rows if sum(1 for c in r if c) >= 2) < 2:  # a table has 2+ rows of 2+ filled cells
        return ""
    lines_out = ["| " + " | ".join(r) + " |" for r in rows]
    lines_out.insert(1, "| " + " | ".join("---" for _ in rows[0]) + " |")
    return "\n".join(lines_out)


# ---------------------------------------------------------------------------- reading order


def _reading_order(paras: list[_Para]) -> list[_Para]:
    """Top to bottom; on a two-column page the left column, then the right, between full-width blocks.

    The gutter is the vertical line in the middle half of the text area crossed by the least
    height of narrow blocks; blocks crossing it (titles, abstracts, wide tables) stay in
    place and split the page into bands read column by column.
    """
    if len(paras) < 4:
        return _rows(paras)
    cx0 = min(p.bbox[0] for p in paras)
    cx1 = max(p.bbox[2] for p in paras)
    cw = cx1 - cx0
    if cw <= 0:
        return _rows(paras)
    narrow = [p for p in paras if p.bbox[2] - p.bbox[0] <= 0.55 * cw]
    candidates = [cx0 + cw * (0.25 + 0.01 * k) for k in range(51)]
    gutter = min(
        candidates,
        key=lambda x: (sum(p.bbox[3] - p.bbox[1] for p in narrow if p.bbox[0] < x < p.bbox[2]), abs(x - cx0 - cw / 2)),
    )
    left = [p for p in paras if p.bbox[2] <= gutter]
    right = [p for p in paras if p.bbox[0] >= gutter]
    total = sum(p.bbox[3] - p.bbox[1] for p in paras)
    if not (_is_column(left, cw, total) and _is_column(right, cw, total)):
        return _rows(paras)
    spanning = sorted((p for p in paras if p.bbox[0] < gutter < p.bbox[2]), key=lambda p: p.bbox[1])
    edges = [(p.bbox[1] + p.bbox[3]) / 2 for p in spanning] + [math.inf]
    out: list[_Para] = []
    low = -math.inf
    for band, high in enumerate(edges):
        if band:
            out.append(spanning[band - 1])
        for side in (left, right):
            out.extend(_rows([p for p in side if low <= (p.bbox[1] + p.bbox[3]) / 2 < high]))
        low = high
    return out


def _is_column(side: list[_Para], cw: float, total: float) -> bool:
    """A text column: 2+ blocks, 30%+ of the text width wide, 15%+ of the page's text height."""
    return (
        len(side) >= 2
        and max(p.bbox[2] for p in side) - min(p.bbox[0] for p in side) >= 0.3 * cw
        and sum(p.bbox[3] - p.bbox[1] for p in side) >= 0.15 * total
    )


def _rows(paras: list[_Para]) -> list[_Para]:
    """Top to bottom; blocks starting on the same height (within 3 pt) left to right."""
    out: list[_Para] = []
    row: list[_Para] = []
    for p in sorted(paras, key=lambda p: p.bbox[1]):
        if row and p.bbox[1] - row[0].bbox[1] > 3:
            out.extend(sorted(row, key=lambda r: r.bbox[0]))
            row = []
        row.append(p)
    out.extend(sorted(row, key=lambda r: r.bbox[0]))
    return out
