"""Paragraphs rebuilt from lines, and each one's kind: "text", "heading" or "item".

Lines are read in reading order; a line continues the paragraph before it when it is set
in the same font, follows at the page's line spacing, lines up with the paragraph's left
edge (a first-line indent, an item's hanging indent allowed) and the line before it either
runs to the column's right edge without closing the paragraph, or stops short in the middle
of a sentence. A list marker starts a new paragraph (an item); so do a font change, extra
space and a short line that ends a sentence. A paragraph cut by a table or figure (text
that flows on below it) is rejoined, the table or figure following the paragraph.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from docqa.types import Block
from ingest.pdf import params as P
from ingest.pdf.glyphs import Line, union
from ingest.pdf.layout import Unit

ITEM_START = re.compile(
    r"^(?:[•·‧∙◦▪▫■□▶▷►▸○●◎◇◆※☞✓✔➢➤❍❏\-*ㅇ→⇒⇨➜]|\(?\d{1,2}[.)]\s|\(?[가-하][.)]\s|[①-⑳㉠-㉭㈀-㈜]"
    r"|[ⅠⅡⅢⅣⅤⅥⅦⅧⅨⅩⅰⅱⅲⅳⅴⅵⅶⅷⅸⅹ][.\s]|\[\d{1,2}\]|【\d)"
)
# Bullets mark list items, never headings; numbered markers ("1.", "가.", "Ⅱ.", "□") also
# number section headings.
_BULLET = re.compile(r"^[•·‧∙◦▪▫▶▷►▸○●◎◇◆※☞✓✔➢➤❍❏\-*ㅇ→⇒⇨➜]")
# A sentence ends with . ! ? after a word (not after a number: "2011.", "1."), or with their
# full-width forms, perhaps inside closing quotes or brackets.
SENTENCE_END = re.compile(r"(?:(?<=[^\W\d_])[.!?]|[)\]”’\"'][.!?]|[。？！…])[\"'”’)\]」』〉》]*$")
# Numbered markers ("1.", "가.", "다.") also start the words after a wrapped date or sentence end.
_NUMBERED = re.compile(r"^\(?(?:\d{1,2}|[가-하])[.)]\s")
# A short line ending with one of these stops in the middle of a sentence: a comma, a particle
# or a connective ending ("…환자의", "…하였으며", "…에 따라").
_CONTINUES = re.compile(
    r"(?:[,·∙‧、(\[‘“「『]|(?<=[가-힣])(?:은|는|을|를|의|에|에서|에게|으로|로|와|과|및|또는|하고|하며|하여|되어"
    r"|으며|이며|며|고|서|면|지만|는데|도|만|까지|부터|보다|처럼|대한|관한|위한|통한|따른|인한|있는|없는|하는|되는"
    r"|된|한|할|될|인|및|등의|등을|등이|등은|에는|에도|으로써|로써|으로서|로서|이나|나))$"
)
# A line starting with a particle or an ending continues a word broken at the line end.
_WORD_TAIL = re.compile(
    r"^(?:은|는|을|를|의|에|와|과|도|만|로|으로|에서|에게|께서|다|며|고|서|면|여|야|게|지)(?=[\s,.)]|$)")


@dataclass(eq=False)
class Para:
    """A paragraph being assembled: its lines and the unit each came from."""

    lines: list[Line]
    units: list[Unit]
    atoms: list[Block] = field(default_factory=list)  # tables/figures that cut it, emitted after it
    column_start: int = 0  # index of its first line in the column it now runs in

    @property
    def first(self) -> Line:
        return self.lines[0]

    @property
    def last(self) -> Line:
        return self.lines[-1]

    @property
    def notes(self) -> bool:
        return self.units[-1].notes

    def left(self) -> float:
        """Where continuation lines start (the first line may be indented or outdented)."""
        lines = self.lines[self.column_start:]
        return lines[1].bbox[0] if len(lines) > 1 else lines[0].bbox[0]

    def add(self, ln: Line, unit: Unit) -> None:
        if ln.bbox[3] < self.last.bbox[1]:  # flowed on to the top of the next column
            self.column_start = len(self.lines)
        self.lines.append(ln)
        self.units.append(unit)


def line_gaps(lines_by_page: list[list[Line]]) -> dict[float, float]:
    """The usual line pitch (centre to centre) of stacked lines of one paragraph, per font size.

    Centres, not boxes: some fonts report boxes taller than the line spacing, so that boxes of
    consecutive lines overlap.
    """
    gaps: dict[float, Counter[int]] = {}
    for lines in lines_by_page:
        ordered = sorted(lines, key=lambda ln: ln.cy)
        for i, ln in enumerate(ordered):
            reach = ln.cy + 4 * ln.size
            for nxt in ordered[i + 1:]:
                if nxt.cy > reach:
                    break
                overlap = min(ln.bbox[2], nxt.bbox[2]) - max(ln.bbox[0], nxt.bbox[0])
                if abs(nxt.size - ln.size) > P.SIZE_TOLERANCE or overlap < 0.5 * min(
                        ln.bbox[2] - ln.bbox[0], nxt.bbox[2] - nxt.bbox[0]):
                    continue
                pitch = nxt.cy - ln.cy
                if pitch >= 0.6 * ln.size:
                    gaps.setdefault(_size_key(ln.size), Counter())[round(pitch)] += 1
                break
    return {size: float(counts.most_common(1)[0][0]) for size, counts in gaps.items() if counts.total() >= 3}


def _size_key(size: float) -> float:
    return round(size * 2) / 2


def body_font(lines: list[Line]) -> tuple[float, bool]:
    """The page's body text: the font size (and boldness) carrying most characters."""
    weights: Counter[tuple[float, bool]] = Counter()
    for ln in lines:
        weights[(ln.size, ln.bold)] += len(ln.text)
    return weights.most_common(1)[0][0] if weights else (0.0, False)


def build_blocks(units: list[Unit], body: tuple[float, bool], gaps: dict[float, float]) -> list[Block]:
    """Blocks in reading order from ordered units: paragraphs joined from lines, atoms in place."""
    out: list[Block] = []
    para: Para | None = None

    def close() -> None:
        nonlocal para
        if para is not None:
            block = _block(para, body)
            if block is not None:
                out.append(block)
            out.extend(para.atoms)
            para = None

    for unit in units:
        if unit.atom is not None:
            # A table or figure inside a sentence (text flowing on below it) waits for the paragraph's end.
            if para is not None and not unit.notes and not ends_sentence(para.last.text) and _full(para):
                para.atoms.append(unit.atom)
            else:
                close()
                out.append(unit.atom)
            continue
        for ln in unit.lines:
            if para is not None and para.notes == unit.notes and continues(para, ln, unit, gaps):
                para.add(ln, unit)
            else:
                close()
                para = Para([ln], [unit])
    close()
    return out


def ends_sentence(text: str) -> bool:
    return bool(SENTENCE_END.search(text.rstrip()))


def _full(para: Para, near: float = P.FULL_LINE_EM) -> bool:
    """Whether the paragraph's last line runs to (within `near` em of) the right edge of its column.

    The edge is the column's (from the layout); inside a MuPDF block of three or more lines,
    a line other than the last reaching the block's edge runs full too (text set narrower than
    the column: beside a figure, in a box).
    """
    prev, unit = para.last, para.units[-1]
    tol = near * prev.size
    if unit.right and prev.bbox[2] >= unit.right - tol:
        return True
    return len(unit.lines) >= 3 and prev is not unit.lines[-1] and prev.bbox[2] >= unit.bbox[2] - tol


def continues(para: Para, ln: Line, unit: Unit, gaps: dict[float, float]) -> bool:
    """Whether line `ln` continues paragraph `para` (see the module docstring)."""
    prev = para.last
    size = prev.size
    if abs(ln.size - size) > P.SIZE_TOLERANCE:
        return False
    if ln.bold != prev.bold and (ends_sentence(prev.text) or not _full(para)):
        return False  # (a sentence running on through a full line may change to or from bold)
    if ITEM_START.match(ln.text):
        # "다. 신문기사에" after "…표현하고 있" (full, mid-sentence) ends a sentence: no list item.
        if not (_NUMBERED.match(ln.text) and not ends_sentence(prev.text) and _full(para)
                and abs(ln.bbox[0] - para.left()) <= P.INDENT_EM * size):
            return False
    pitch = ln.cy - prev.cy
    if pitch < 0.6 * min(ln.size, size):
        # Above the previous line: the top of the next column, when the paragraph ran to the
        # bottom of the one before without ending its sentence.
        return (ln.bbox[0] >= prev.bbox[2] - 2 and ln.bbox[3] < prev.bbox[1] and _full(para)
                and not ends_sentence(prev.text) and not _looks_like_heading(ln.text))
    usual = gaps.get(_size_key(size))
    allowed = usual + P.PARA_GAP_EM * size if usual is not None else P.MAX_LINE_PITCH_EM * size
    if para.atoms:  # a table or figure between the two lines takes the space between them
        allowed = max(allowed, pitch)
    if pitch > max(allowed, 1.5 * size):
        return False
    x = ln.bbox[0]
    if _full(para, P.NEAR_FULL_EM) and not ends_sentence(prev.text):
        # A (nearly) full line in the middle of a sentence goes on in the next line below it,
        # wherever that starts (a numbered paragraph's lines wrap to the margin, or under its text).
        return x < prev.bbox[2] and ln.bbox[2] > prev.bbox[0]
    # Horizontal place: a continuation line starts at the paragraph's left edge.
    if len(para.lines) - para.column_start == 1:
        first = para.lines[para.column_start].bbox[0]
        hanging = P.HANGING_EM if ITEM_START.match(para.first.text) else P.INDENT_EM
        if not first - P.OUTDENT_EM * size <= x <= first + hanging * size:
            return False
    elif abs(x - para.left()) > P.INDENT_EM * size:
        return False
    if _full(para):
        # A full line closing a sentence, then an indented line: a new paragraph.
        indented = len(para.lines) - para.column_start > 1 and x > para.left() + P.INDENT_EM * size
        return not (ends_sentence(prev.text) and indented)
    if ends_sentence(prev.text):
        return False
    # A line stopping a little short (ragged right), anywhere on a particle, comma or hyphen, or
    # laid out in one block with the next (MuPDF's grouping) at half the column or more goes on.
    if _full(para, P.NEAR_FULL_EM) or _CONTINUES.search(prev.text) or re.search(r"\w-$", prev.text):
        return True
    same_block = unit is para.units[-1]
    return same_block and (prev.bbox[2] - prev.bbox[0]) >= 0.5 * (unit.right - unit.bbox[0])


def _looks_like_heading(text: str) -> bool:
    return bool(ITEM_START.match(text)) or len(text) < 15


def join_lines(lines: list[Line]) -> str:
    """Lines of a paragraph as one string; hyphen breaks heal, words broken at a line end rejoin."""
    out = ""
    for ln in lines:
        text = ln.text
        if not out:
            out = text
        elif re.search(r"\w-$", out) and re.match(r"\w", text):
            # "exam-" + "ple" -> "example"; "COVID-" + "19", "담배-" + "함유" keep their hyphen.
            out = out[:-1] + text if re.search(r"[a-z]-$", out) and text[0].islower() else out + text
        elif re.search(r"[가-힣]$", out) and _WORD_TAIL.match(text):
            out += text  # "사정" + "은 보이지" -> "사정은 보이지"
        else:
            out += " " + text
    return out.strip()


def _block(para: Para, body: tuple[float, bool]) -> Block | None:
    text = join_lines(para.lines)
    if not text:
        return None
    bbox = union([ln.bbox for ln in para.lines])
    if is_heading(para.lines, text, body):
        kind = "heading"
    elif ITEM_START.match(text):
        kind = "item"
    else:
        kind = "text"
    return Block(text, bbox, kind)


def is_heading(lines: list[Line], text: str, body: tuple[float, bool]) -> bool:
    """Short text set clearly larger than the page's body text, or bold where the body is not.

    A block ending a sentence ("...다.", "...was.") is text, whatever its font; a bulleted
    one is an item.
    """
    size, bold = body
    if (len(lines) > P.HEADING_MAX_LINES or len(text) > P.HEADING_MAX_CHARS or size <= 0
            or not re.search(r"[^\W\d_]", text) or _BULLET.match(text)):
        return False
    if re.search(r"[^\W\d_][.!?。]$", text):
        return False
    top = max(ln.size for ln in lines)
    if top >= size * P.HEADING_SCALE:
        return True
    return not bold and len(lines) <= 2 and top >= size * 0.95 and all(ln.bold for ln in lines)
