"""Rendering helpers for cited passages: escaped HTML with the key sentence marked, tables, page images.

No Streamlit here (the pages cache these results), so they can be tested directly.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence

import pymupdf

from docqa.types import Table

Rect = tuple[int, float, float, float, float]  # (page, x0, y0, x1, y1), as in Chunk.rects

DPI = 110
_KEY_COLOR = (1.0, 0.84, 0.0)  # yellow: the key sentence
_PASSAGE_COLOR = (0.12, 0.45, 0.85)  # blue: the whole passage

# Characters Markdown (and Streamlit's extensions: $math$, :emoji:) would interpret.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&])")


def md(text: str) -> str:
    """`text` escaped for st.markdown/st.error and friends: shown literally, never as formatting."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def _spans(text: str, sentences: Iterable[str]) -> list[tuple[int, int]]:
    """Merged (start, end) spans of each sentence's first occurrence in `text`."""
    found = []
    for sentence in sentences:
        sentence = sentence.strip()
        if not sentence:
            continue
        start = text.find(sentence)
        if start < 0:  # the same words with other white space
            pattern = r"\s+".join(map(re.escape, sentence.split()))
            m = re.search(pattern, text)
            if not m:
                continue
            start, end = m.span()
        else:
            end = start + len(sentence)
        found.append((start, end))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _escape(text: str) -> str:
    # `$` would start KaTeX in Streamlit's Markdown; line breaks become tags so the HTML stays one block
    # (a blank line would end the HTML block and hand the rest to the Markdown parser).
    text = html.escape(text).replace("$", "&#36;")
    text = re.sub(r"[ \t]*\n(?:[ \t]*\n)+[ \t]*", '<br><span class="gap"></span>', text)
    return text.replace("\n", "<br>")


def passage_html(text: str, sentences: Sequence[str]) -> str:
    """The passage as safe HTML: every character escaped, the key sentences wrapped in <mark>."""
    out, pos = [], 0
    for start, end in _spans(text, sentences):
        out.append(_escape(text[pos:start]))
        out.append(f"<mark>{_escape(text[start:end])}</mark>")
        pos = end
    out.append(_escape(text[pos:]))
    return f'<div class="passage">{"".join(out)}</div>'


def table_html(table: Table) -> str:
    """A table passage as a safe HTML table: caption, header rows as <th>, every cell escaped."""
    esc = _escape
    rows = []
    for i, row in enumerate(table.rows):
        tag = "th" if i < table.header_rows else "td"
        rows.append("<tr>" + "".join(f"<{tag}>{esc(cell)}</{tag}>" for cell in row) + "</tr>")
    head = "".join(rows[:table.header_rows])
    body = "".join(rows[table.header_rows:])
    caption = f"<caption>{esc(table.caption)}</caption>" if table.caption else ""
    return f'<div class="passage table-wrap"><table>{caption}<thead>{head}</thead><tbody>{body}</tbody></table></div>'


def _near(rect: pymupdf.Rect, boxes: Sequence[pymupdf.Rect]) -> bool:
    return not boxes or any(rect.intersects(box + (-2, -2, 2, 2)) for box in boxes)


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _overlap(line: str, key: str) -> str:
    """The part of `line` that a key sentence starting or ending inside it covers ("" if none)."""
    for n in range(min(len(line), len(key)) - 1, 3, -1):
        if line.endswith(key[:n]) or line.startswith(key[-n:]):
            return key[:n] if line.endswith(key[:n]) else key[-n:]
    return ""


def key_line_rects(pg: pymupdf.Page, sentences: Sequence[str],
                   boxes: Sequence[pymupdf.Rect] = ()) -> list[pymupdf.Rect]:
    """Rectangles covering the key sentences, line by line.

    Lines are matched on their text without white space: some PDFs (HWP exports,
    justified Korean) report glyph widths that make a character-level search drift
    along the line, while line boxes stay exact. A line the sentence only starts or
    ends in is narrowed with the page's text search inside that line.
    """
    keys = [k for k in map(_squash, sentences) if len(k) >= 4]
    found = []
    for block in pg.get_text("dict")["blocks"]:
        for line in block.get("lines", []):
            raw = "".join(span["text"] for span in line["spans"])
            text = _squash(raw)
            rect = pymupdf.Rect(line["bbox"])
            if len(text) < 2 or not _near(rect, boxes):
                continue
            if any(text in k or (len(k) >= 8 and k in text) for k in keys):
                found.append(rect)
                continue
            part = max((_overlap(text, k) for k in keys), key=len, default="")
            if len(part) >= 4:
                hits = _search_squashed(pg, raw, part, rect)
                found.extend(hits or [rect])
    return found


def _search_squashed(pg: pymupdf.Page, raw: str, part: str, clip: pymupdf.Rect) -> list[pymupdf.Rect]:
    """Rectangles of `part` (white space removed) within one line, found with its original spacing."""
    pattern = r"\s*".join(map(re.escape, part))
    m = re.search(pattern, raw)
    if not m:
        return []
    return [q.rect for q in pg.search_for(m.group(0), clip=clip + (-1, -1, 1, 1), quads=True)]


def page_png(pdf_path: str, page: int, rects: Sequence[Rect] = (), sentences: Sequence[str] = (),
             dpi: int = DPI) -> bytes:
    """PNG of one page (1-based) with the passage's rectangles tinted and its key sentences highlighted.

    Key sentences are located on the page itself: by whole text lines, else by the
    page's own text search; matches outside the passage are ignored.
    """
    with pymupdf.open(pdf_path) as doc:
        pg = doc[page - 1]
        boxes = [pymupdf.Rect(x0, y0, x1, y1) for p, x0, y0, x1, y1 in rects if p == page]
        for box in boxes:
            pg.draw_rect(box, color=_PASSAGE_COLOR, fill=_PASSAGE_COLOR, fill_opacity=0.10, stroke_opacity=0.5,
                         width=0.6, overlay=True)
        marks: list = key_line_rects(pg, sentences, boxes)
        if not marks:
            for sentence in sentences:
                if sentence.strip():
                    marks += [q for q in pg.search_for(sentence.strip(), quads=True) if _near(q.rect, boxes)]
        if marks:
            annot = pg.add_highlight_annot(marks)
            annot.set_colors(stroke=_KEY_COLOR)
            annot.update()
        return pg.get_pixmap(dpi=dpi).tobytes("png")


def page_pdf(pdf_path: str, page: int) -> bytes:
    """One page (1-based) of the PDF as a PDF of its own."""
    with pymupdf.open(pdf_path) as src, pymupdf.open() as out:
        out.insert_pdf(src, from_page=page - 1, to_page=page - 1)
        return out.tobytes(garbage=3, deflate=True)


def download_name(file_name: str, page: int | None = None) -> str:
    """A download file name derived from a document name (no path parts, no control characters):
    the document itself keeps its extension, one page of it becomes "<stem>_<page>쪽.pdf"."""
    base = re.sub(r"[\x00-\x1f/\\]+", "_", file_name).strip() or "document.pdf"
    if page is None:
        return base if "." in base else f"{base}.pdf"
    stem = re.sub(r"\.(pdf|hwpx?)$", "", base, flags=re.IGNORECASE)
    return f"{stem}_{page}쪽.pdf"
