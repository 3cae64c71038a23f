"""HWP 5 (.hwp) and HWPX (.hwpx) bytes -> ParsedDocument, cited by printed page like a PDF.

1. The container is checked first, so a damaged, cut-short, password-protected or
   distribution-only (배포용) file is refused with a Korean reason before anything is read:
   an HWP's OLE structure, FileHeader signature, version and flags, and every body stream
   inflating to its end; an HWPX's zip, `mimetype`, manifest encryption, CRCs and section XML.
2. rhwp lays the document out and ingest.hwp_render draws its pages into a PDF with a text
   layer; the PDF parser reads that PDF like any other (blocks with rectangles, tables,
   headings), and the PDF travels with the document as `page_pdf` for page images.
3. The file's own text, read straight from it (HWPX: the OWPML XML, here; HWP: unhwp), then
   corrects what drawing with a stand-in font blurs: word spaces and paragraphs (respace) and
   tables drawn without rules (restore_tables).
4. When the rendered pages hold too little of that text (a layout that dropped content), or
   rhwp fails, the document is indexed from that text alone (HWPX: per page as the file
   records it; HWP: per section), `page_pdf=None`, with a note that page images are missing.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import re
import struct
import unicodedata
import zipfile
import zlib
from collections import Counter
from dataclasses import replace
from typing import Any

from docqa.errors import CorruptDocumentError, EncryptedDocumentError, IngestError, UnsupportedFormatError
from docqa.text import table_text
from docqa.types import Block, Page, ParsedDocument, Table
from ingest.hwp_render import RenderError, render_pdf
from ingest.parse import doc_id_of, parse_pdf

log = logging.getLogger(__name__)

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
HWP_SIGNATURE = b"HWP Document File"  # HWP 5 FileHeader; HWP 3 files start with "HWP Document File V3.00"
HWPX_MIMETYPE = b"application/hwp+zip"

# FileHeader property bits (HWP 5.0 spec, "파일 인식 정보")
_COMPRESSED, _PASSWORD, _DISTRIBUTION = 0x01, 0x02, 0x04

# Share of the file's own text (counted by character) the rendered pages must show; measured
# 0.998-1.000 on the eval files; below this the layout lost content and the text is used.
MIN_RENDER_COVERAGE = 0.9

TEXT_ONLY_NOTE = ("쪽 배치를 만들 수 없어 쪽 이미지 없이 텍스트만 색인했습니다. 인용의 쪽 번호는 "
                  "파일에 저장된 쪽 나눔(HWPX) 또는 구역 번호(HWP)를 따릅니다.")

_A4 = (595.28, 841.89)
_NO_BOX = (0.0, 0.0, 0.0, 0.0)
_SECTION = re.compile(r"Contents/section(\d+)\.xml")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u3000]+")
_ITEM = re.compile(r"^(?:[•·‧∙◦▪▫■□▶▷►▸‣○●◎◇◆※☞✓➢➤❍❏\-*ㅇ]|\(?\d{1,2}[.)]\s|\(?[가-하][.)]\s|[①-⑳㉠-㉭㈀-㈜])")
_DOTS = str.maketrans({"ㆍ": "·", "ᆞ": "·", "․": "·", "∙": "·", "‧": "·", "•": "·"})


# ---------------------------------------------------------------------------- public


def parse_hwp(data: bytes, file_name: str, fmt: str, **pdf_options: Any) -> ParsedDocument:
    """Parse HWP ("hwp") or HWPX ("hwpx") bytes; an IngestError with a Korean reason on bad input.

    `pdf_options` go to the PDF parser that reads the rendered pages.
    """
    if fmt == "hwp":
        check_hwp(data, file_name)
    elif fmt == "hwpx":
        check_hwpx(data, file_name)
    else:
        raise ValueError(f"not an HWP format: {fmt}")
    try:
        sections = read_sections(data, fmt)
    except ValueError as exc:
        log.warning("%s: text extractor failed: %s", file_name, exc)
        sections = None
    try:
        pdf = render_pdf(data)
        parsed = parse_pdf(pdf, file_name, **pdf_options)
    except (RenderError, IngestError) as exc:
        log.warning("%s: pages cannot be laid out (%s); indexing its text only", file_name, exc)
    else:
        source = _source_text(sections) if sections else ""
        shown = coverage(source, "".join(p.text for p in parsed.pages)) if source else 1.0
        if shown >= MIN_RENDER_COVERAGE:
            pages = respace(restore_tables(parsed.pages, tables_of(sections)), source) if source else parsed.pages
            return replace(parsed, doc_id=doc_id_of(data), file_name=file_name, format=fmt, page_pdf=pdf,
                           pages=pages)
        log.warning("%s: the laid-out pages show %.0f%% of its text; indexing its text only", file_name, 100 * shown)
    if sections is None:
        raise CorruptDocumentError(file_name, f"{fmt.upper()} 문서의 내용을 읽을 수 없습니다 "
                                              "(손상되었거나 지원하지 않는 구조).")
    return text_document(data, file_name, fmt, sections)


def check_hwp(data: bytes, file_name: str) -> None:
    """Refuse an HWP 5 file that is not intact or whose text is encrypted (Korean IngestError)."""
    import olefile

    try:
        ole = olefile.OleFileIO(io.BytesIO(data), raise_defects=olefile.DEFECT_INCORRECT)
    except Exception as exc:  # noqa: BLE001 - olefile raises several types for broken containers
        # A file cut short usually breaks the allocation table; a container with a minor defect
        # from another writer is still read leniently, and its body streams must then inflate
        # to their end (below), which a cut-short body never does.
        log.warning("%s: OLE container defective (%r); reading it leniently", file_name, exc)
        try:
            ole = olefile.OleFileIO(io.BytesIO(data))
        except Exception as again:  # noqa: BLE001
            raise CorruptDocumentError(file_name, "HWP 파일이 잘렸거나 손상되어 열 수 없습니다.") from again
    with ole:
        if not ole.exists("FileHeader"):
            if file_name.lower().endswith(".hwp"):
                raise CorruptDocumentError(file_name, "HWP 파일이 잘렸거나 손상되어 파일 머리글이 없습니다.")
            raise UnsupportedFormatError(file_name, "HWP 문서가 아닌 OLE 파일입니다(예: 예전 MS Office 문서). "
                                                    "PDF, HWP, HWPX 파일만 색인할 수 있습니다.")
        try:
            header = ole.openstream("FileHeader").read()
        except Exception as exc:  # noqa: BLE001
            raise CorruptDocumentError(file_name, "HWP 파일이 잘렸거나 손상되어 머리글을 읽을 수 없습니다.") from exc
        if len(header) < 40 or not header.startswith(HWP_SIGNATURE):
            raise CorruptDocumentError(file_name, "HWP 파일이 잘렸거나 손상되어 파일 머리글이 올바르지 않습니다.")
        version, flags = struct.unpack_from("<II", header, 32)
        major = version >> 24
        if major != 5:
            raise UnsupportedFormatError(file_name, f"HWP {major}.x 형식은 지원하지 않습니다. "
                                                    "한글에서 HWP(5.0) 또는 HWPX로 다시 저장해 올려 주세요.")
        if flags & _PASSWORD:
            raise EncryptedDocumentError(file_name, "암호로 보호된 HWP 문서입니다. 한글에서 암호를 해제해 "
                                                    "저장한 뒤 다시 올려 주세요.")
        if flags & _DISTRIBUTION:
            raise EncryptedDocumentError(file_name, "배포용 HWP 문서라 본문이 암호화되어 읽을 수 없습니다. "
                                                    "한글에서 일반 문서로 저장한 뒤 다시 올려 주세요.")
        streams = ["/".join(path) for path in ole.listdir()]
        sections = [s for s in streams if re.fullmatch(r"BodyText/Section\d+", s)]
        if not sections or "DocInfo" not in streams:
            raise CorruptDocumentError(file_name, "HWP 파일이 잘렸거나 손상되어 본문을 찾을 수 없습니다.")
        for name in ["DocInfo", *sections]:
            try:
                raw = ole.openstream(name).read()
            except Exception as exc:  # noqa: BLE001
                raise CorruptDocumentError(file_name, "HWP 파일이 잘렸거나 손상되어 본문을 읽을 수 없습니다.") from exc
            if flags & _COMPRESSED and not _inflates(raw):
                log.warning("%s: %s does not inflate to its end", file_name, name)
                raise CorruptDocumentError(file_name, "HWP 파일이 잘렸거나 손상되어 본문을 끝까지 읽을 수 없습니다.")


def check_hwpx(data: bytes, file_name: str) -> None:
    """Refuse a zip that is not OWPML, a damaged HWPX, or one whose parts are encrypted."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CorruptDocumentError(file_name, "HWPX(ZIP) 파일이 손상되었거나 잘려서 열 수 없습니다.") from exc
    with archive:
        names = set(archive.namelist())
        try:
            mimetype = archive.read("mimetype").strip() if "mimetype" in names else b""
            manifest = archive.read("META-INF/manifest.xml") if "META-INF/manifest.xml" in names else b""
            package = archive.read("Contents/content.hpf") if "Contents/content.hpf" in names else b""
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
            raise CorruptDocumentError(file_name, "HWPX 파일이 손상되어 읽을 수 없습니다.") from exc
        if mimetype != HWPX_MIMETYPE:
            raise UnsupportedFormatError(file_name, "HWPX(OWPML) 문서가 아닌 ZIP 파일입니다. "
                                                    "PDF, HWP, HWPX 파일만 색인할 수 있습니다.")
        if b"encryption-data" in manifest:
            if re.search(rb'distribution="(1|true)"', package):
                raise EncryptedDocumentError(file_name, "배포용 HWPX 문서라 본문이 암호화되어 읽을 수 없습니다. "
                                                        "한글에서 일반 문서로 저장한 뒤 다시 올려 주세요.")
            raise EncryptedDocumentError(file_name, "암호로 보호된 HWPX 문서입니다. 한글에서 암호를 해제해 "
                                                    "저장한 뒤 다시 올려 주세요.")
        sections = sorted(n for n in names if _SECTION.fullmatch(n))
        if not sections:
            raise CorruptDocumentError(file_name, "HWPX 파일에 본문(Contents/section0.xml)이 없습니다.")
        try:
            broken = archive.testzip()
            for name in sections:
                _check_xml(archive.read(name))
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
            log.warning("%s: HWPX part unreadable: %r", file_name, exc)
            raise CorruptDocumentError(file_name, "HWPX 파일이 잘렸거나 손상되어 본문을 읽을 수 없습니다.") from exc
        if broken is not None:
            raise CorruptDocumentError(file_name, f"HWPX 파일이 손상되었습니다 ('{broken}' 검사합 오류).")


def read_sections(data: bytes, fmt: str) -> list[list[dict]]:
    """The file's own content, straight from the file: an HWPX per page as last laid out by the
    program that saved it (read_owpml), an HWP per section (read_unhwp). ValueError on failure."""
    if fmt == "hwpx":
        try:
            return read_owpml(data)
        except ValueError as exc:
            log.warning("OWPML reader failed (%s); trying unhwp", exc)
    return read_unhwp(data)


def read_unhwp(data: bytes) -> list[list[dict]]:
    """The content per section as unhwp (MIT) reads it; HWP 5 and HWPX alike.

    Items are {"Paragraph": ...} or {"Table": ...} as in unhwp's JSON (tables nested in a
    cell are left out by unhwp); ValueError on failure.
    """
    try:
        import unhwp

        with unhwp.parse_bytes(data) as result:
            parsed = json.loads(result.json)
    except Exception as exc:  # noqa: BLE001 - unhwp raises its own types and OSError when its library is missing
        raise ValueError(f"unhwp: {type(exc).__name__}: {exc}") from exc
    return [list(section.get("content") or []) for section in parsed.get("sections") or []]


_HP = "{http://www.hancom.co.kr/hwpml/2011/paragraph}"


def read_owpml(data: bytes) -> list[list[dict]]:
    """An HWPX's content per printed page, in read_unhwp's item form; ValueError on failure.

    OWPML keeps the line positions of the last layout (`hp:lineseg vertpos`, from the top of
    the page): a paragraph starting above where the previous one ended, or marked
    `pageBreak="1"`, starts a new page, and so does every section. A paragraph broken over
    two pages counts on the first. Tables nested in a cell join that cell's text; text boxes
    and notes anchored in a paragraph follow it.
    """
    import xml.etree.ElementTree as ET

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = sorted((n for n in archive.namelist() if _SECTION.fullmatch(n)),
                           key=lambda n: int(_SECTION.fullmatch(n).group(1)))  # type: ignore[union-attr]
            roots = [ET.fromstring(archive.read(n)) for n in names]
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ET.ParseError) as exc:
        raise ValueError(f"OWPML: {type(exc).__name__}: {exc}") from exc
    pages: list[list[dict]] = []
    for root in roots:
        pages.append([])
        last: int | None = None
        for paragraph in root.findall(_HP + "p"):
            lines = [int(seg.get("vertpos") or 0) for seg in paragraph.findall(f"{_HP}linesegarray/{_HP}lineseg")]
            if pages[-1] and (paragraph.get("pageBreak") == "1" or (lines and last is not None and lines[0] < last)):
                pages.append([])
            pages[-1].extend(_owpml_items(paragraph))
            if lines:
                last = lines[-1]
                if any(b < a for a, b in zip(lines, lines[1:])):  # the paragraph runs onto the next page
                    pages.append([])
    while len(pages) > 1 and not pages[-1]:
        pages.pop()
    return pages


def _owpml_items(paragraph) -> list[dict]:
    """A paragraph as items: its text (split around tables), its tables, then anchored text boxes."""
    items: list[dict] = []
    text: list[str] = []
    later: list[dict] = []

    def flush() -> None:
        if "".join(text).strip():
            items.append(_paragraph_item("".join(text)))
        text.clear()

    for run in paragraph.findall(_HP + "run"):
        for child in run:
            if child.tag == _HP + "t":
                text.append(child.text or "")
                for part in child:
                    text.append("\n" if part.tag == _HP + "lineBreak" else " " if part.tag == _HP + "tab" else "")
                    text.append(part.tail or "")
            elif child.tag == _HP + "tbl":
                flush()
                items.append(_owpml_table(child))
            else:
                for sub in _sublists(child):
                    for inner in sub.findall(_HP + "p"):
                        later.extend(_owpml_items(inner))
    flush()
    return items + later


def _sublists(element):
    """The outermost hp:subList elements under an element (text boxes, notes, captions)."""
    for child in element:
        if child.tag == _HP + "subList":
            yield child
        else:
            yield from _sublists(child)


def _owpml_table(table) -> dict:
    rows = []
    for tr in table.findall(_HP + "tr"):
        cells = []
        for tc in tr.findall(_HP + "tc"):
            content = []
            for sub in tc.findall(_HP + "subList"):
                for inner in sub.findall(_HP + "p"):
                    for item in _owpml_items(inner):
                        if "Table" in item:  # a nested table: its rows as lines of the cell
                            content.extend(_paragraph_item(" ".join(c for c in row if c))["Paragraph"]
                                           for row in _nested_rows(item["Table"]))
                        else:
                            content.append(item["Paragraph"])
            span = tc.find(_HP + "cellSpan")
            cells.append({"content": content,
                          "rowspan": int(span.get("rowSpan") or 1) if span is not None else 1,
                          "colspan": int(span.get("colSpan") or 1) if span is not None else 1})
        rows.append({"cells": cells})
    return {"Table": {"rows": rows, "has_header": True}}


def _nested_rows(table: dict) -> list[list[str]]:
    return [[" ".join(_runs(p) for p in cell["content"]).strip() for cell in row["cells"]] for row in table["rows"]]


def _paragraph_item(text: str) -> dict:
    return {"Paragraph": {"style": {}, "content": [{"Text": {"text": text, "style": {}}}]}}


def text_document(data: bytes, file_name: str, fmt: str, sections: list[list[dict]]) -> ParsedDocument:
    """A document of the file's own text, one page per entry of read_sections, without page images."""
    pages = []
    for number, items in enumerate(sections or [[]], start=1):
        blocks = tuple(b for item in items for b in _blocks(item))
        text = "\n\n".join(b.text for b in blocks)
        pages.append(Page(number, text, blocks, *_A4, "ok" if text.strip() else "empty"))
    return ParsedDocument(doc_id_of(data), file_name, tuple(pages), format=fmt, page_pdf=None,
                          notes=(TEXT_ONLY_NOTE,))


def coverage(reference: str, shown: str) -> float:
    """Share of the reference's characters (with repeats, spaces ignored) that `shown` also has."""
    want, have = _chars(reference), _chars(shown)
    total = sum(want.values())
    return sum(min(n, have[c]) for c, n in want.items()) / total if total else 1.0


def plain_text(sections: list[list[dict]]) -> str:
    """All text of read_sections' output (paragraphs and table cells), for comparisons."""
    return _source_text(sections)


def tables_of(sections: list[list[dict]]) -> list[Table]:
    """The tables of read_sections' output (merged cells spread over their span)."""
    return [t for items in sections for item in items if "Table" in item for t in [_table(item["Table"])] if t]


def restore_tables(pages: tuple[Page, ...], tables: list[Table]) -> tuple[Page, ...]:
    """Pages whose tables are the file's own tables wherever the layout analysis lost their grid.

    A table drawn with shaded cells and no rules (common in press releases) comes out of the
    PDF parser as scattered text blocks: a header cell per block, a row per line. For each
    table of the file (2+ rows and columns, in document order), the first run of consecutive
    blocks on a page made only of that table's words, and holding most of its text (a table
    split over two pages is left alone), becomes one table block: the file's cells, the run's
    rectangle. Blocks holding anything the table lacks (a nested table's text) are never taken.
    """
    out = [list(p.blocks) for p in pages]
    start = 0
    for table in tables:
        if len(table.rows) < 2 or len(table.rows[0]) < 2:
            continue
        cells = _squeeze(" ".join(c for row in table.rows for c in row if c))[0]
        for index in range(start, len(out)):
            run = _table_run(out[index], cells)
            if run is not None:
                i, j = run
                box = functools.reduce(_union, (b.bbox for b in out[index][i:j]))
                out[index][i:j] = [Block(_table_text(table), box, "table", table)]
                start = index
                break
    return tuple(replace(page, blocks=tuple(blocks), text="\n\n".join(b.text for b in blocks))
                 if len(blocks) != len(page.blocks) or any(a is not b for a, b in zip(blocks, page.blocks)) else page
                 for page, blocks in zip(pages, out))


_TABLE_SHARE = 0.7  # a run of blocks must hold this share of the table's characters (and at most 1/share)


def _table_run(blocks: list[Block], cells: str) -> tuple[int, int] | None:
    """(start, end) of the first run of blocks made of the table's words holding most of its text."""
    i = 0
    while i < len(blocks):
        j, size = i, 0
        while j < len(blocks) and _made_of(blocks[j], cells):
            size += len(_squeeze(blocks[j].text)[0])
            j += 1
        if j > i and _TABLE_SHARE * len(cells) <= size <= len(cells) / _TABLE_SHARE:
            return i, j
        i = max(j, i + 1)
    return None


def _made_of(block: Block, cells: str) -> bool:
    """Whether every word of the block (table bars and rules aside) is part of the table's text."""
    words = [w for w in block.text.split() if set(w) - set("|-:")]
    return bool(words) and all(_squeeze(w)[0] in cells for w in words)


def respace(pages: tuple[Page, ...], source: str) -> tuple[Page, ...]:
    """Pages whose word spaces and paragraphs are the document's own, wherever `source` has their text.

    The rendered pages draw each glyph at its laid-out place, but with a stand-in font whose
    widths differ from the document's (a "(" or "｢" narrower than its layout cell), so spaces
    read from glyph gaps come out both missing and extra. Each line of a block (each cell of a
    table) is looked up, spaces ignored, in the file's own text (searching onward from the
    previous match: reading order) and takes that text's spaces; a line not found is kept.
    Consecutive text blocks of a page that continue one paragraph of the source (a paragraph
    the layout analysis cut in two) are joined again.
    """
    text = _Source(source)
    out = []
    for page in pages:
        blocks: list[Block] = []
        ends: list[int | None] = []
        for block in page.blocks:
            fixed, start, end = text.fix_block(block)
            prev = blocks[-1] if blocks else None
            if (prev is not None and ends[-1] is not None and start == ends[-1] and fixed.kind == "text"
                    and prev.kind in ("text", "item") and text.breaks[start - 1] != _NEWLINE):
                joint = " " if text.breaks[start - 1] == _SPACE else ""
                blocks[-1] = replace(prev, text=prev.text + joint + fixed.text, bbox=_union(prev.bbox, fixed.bbox))
                ends[-1] = end
                continue
            blocks.append(fixed)
            ends.append(end)
        out.append(replace(page, blocks=tuple(blocks), text="\n\n".join(b.text for b in blocks)))
    return tuple(out)


_SPACE, _NEWLINE = 1, 2


class _Source:
    """The file's own text without spaces (compared loosely: NFKC, one middle dot), what
    followed each character (nothing, a space or a line end), and a reading-order cursor."""

    def __init__(self, source: str):
        self.chars, _, self.breaks = _squeeze(source)
        self.cursor = 0

    def fix_block(self, block: Block) -> tuple[Block, int | None, int | None]:
        """The block respaced, and where its text starts and ends in the source (None: not found)."""
        spans: list[tuple[int, int] | None] = []
        in_table = block.kind == "table"  # a cell keeps to one line

        def fix(segment: str) -> str:
            new, span = self.fix(segment, paragraphs=not in_table)
            spans.append(span)
            return new

        if in_table:
            # Markdown rows: respace each cell between unescaped bars; the "| --- |" rule stays.
            lines = []
            for line in block.text.split("\n"):
                parts = re.split(r"((?:^|(?<=[^\\]))\|)", line)
                lines.append("".join(part if part == "|" else _keep_pad(part, fix) for part in parts))
            table = block.table
            if table is not None:
                table = replace(table, rows=tuple(tuple(fix(cell) for cell in row) for row in table.rows),
                                caption=fix(table.caption) if table.caption else "")
            return replace(block, text="\n".join(lines), table=table), None, None
        fixed = replace(block, text="\n".join(fix(line) for line in block.text.split("\n")))
        found = [span for span in spans if span is not None]
        whole = found and len(found) == len(spans)
        return fixed, found[0][0] if whole else None, found[-1][1] if whole else None

    def fix(self, segment: str, paragraphs: bool = True) -> tuple[str, tuple[int, int] | None]:
        """The segment with the source's spaces, and its span in the source (None: not found).

        With `paragraphs`, a paragraph end of the source inside the segment becomes a line end
        (two paragraphs the layout analysis read as one block stay two paragraphs of its text).
        """
        squeezed, origin, _ = _squeeze(segment)
        if len(squeezed) < 2:
            return segment, None
        at = self.chars.find(squeezed, self.cursor)
        if at < 0:
            at = self.chars.find(squeezed)
            if at < 0:
                return segment, None
        last_of: dict[int, int] = {}  # index in segment -> its last squeezed position
        for k, i in enumerate(origin):
            last_of[i] = k
        kept = sorted(last_of)
        out = []
        for n, i in enumerate(kept):
            out.append(segment[i])
            if n + 1 < len(kept):  # characters squeezed to nothing (spaces, marks) are dropped
                joint = self.breaks[at + last_of[i]]
                out.append("\n" if joint == _NEWLINE and paragraphs else " " if joint else "")
        self.cursor = at + len(squeezed)
        return "".join(out), (at, self.cursor)


def _keep_pad(part: str, fix) -> str:
    core = part.strip()
    if not core or set(core) <= set("-: "):
        return part
    return part[: len(part) - len(part.lstrip())] + fix(core) + part[len(part.rstrip()):]


def _union(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> tuple[float, ...]:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _squeeze(text: str) -> tuple[str, list[int], list[int]]:
    """Text without spaces, compared loosely (NFKC, one middle dot): the characters, the index
    in `text` each came from, and what followed each (0 nothing, _SPACE, _NEWLINE)."""
    chars: list[str] = []
    origin: list[int] = []
    breaks: list[int] = []
    for i, ch in enumerate(text):
        if ch.isspace():
            if breaks:
                breaks[-1] = max(breaks[-1], _NEWLINE if ch == "\n" else _SPACE)
            continue
        for c in _loose(ch):
            chars.append(c)
            origin.append(i)
            breaks.append(0)
    return "".join(chars), origin, breaks


@functools.cache
def _loose(ch: str) -> str:
    """A character as compared with the file's text: NFKC, one middle dot, no spaces."""
    return "".join(c for c in unicodedata.normalize("NFKC", ch.translate(_DOTS)).translate(_DOTS) if not c.isspace())


# ---------------------------------------------------------------------------- text reading


def _inflates(raw: bytes) -> bool:
    """Whether a raw-deflate stream is complete (a cut-short one never reaches its end)."""
    inflater = zlib.decompressobj(-15)
    try:
        while raw:
            inflater.decompress(raw, 1 << 22)
            raw = inflater.unconsumed_tail
            if inflater.eof:
                break
    except zlib.error:
        return False
    return inflater.eof


def _check_xml(raw: bytes) -> None:
    import xml.etree.ElementTree as ET

    try:
        ET.fromstring(raw)
    except ET.ParseError as exc:
        raise ValueError(f"section XML: {exc}") from exc


def _chars(text: str) -> Counter[str]:
    return Counter(c for ch in text if ch != "|" for c in _loose(ch))


def _source_text(sections: list[list[dict]]) -> str:
    """Every paragraph and table cell of the file, one per line (a line end is a word boundary)."""
    out = []
    for items in sections:
        for item in items:
            for block in _blocks(item):
                if block.table is not None:
                    out.extend(cell for row in block.table.rows for cell in row if cell)
                else:
                    out.append(block.text)
    return "\n".join(out)


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf", "Co"))
    return "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n")).strip()


def _runs(paragraph: dict) -> str:
    out = []
    for run in paragraph.get("content") or []:
        if isinstance(run, dict) and "Text" in run:
            out.append(run["Text"].get("text") or "")
        elif run == "LineBreak":
            out.append("\n")
        elif run == "Tab":
            out.append(" ")
    return "".join(out)


def _blocks(item: dict) -> list[Block]:
    """Blocks of one section item: a paragraph (text, heading or list item) or a table."""
    if "Paragraph" in item:
        paragraph = item["Paragraph"]
        text = _clean(_runs(paragraph))
        if not text:
            return []
        return [Block(text, _NO_BOX, _paragraph_kind(paragraph, text))]
    if "Table" in item:
        table = _table(item["Table"])
        if table is None:
            return []
        return [Block(_table_text(table), _NO_BOX, "table", table)]
    return []


def _paragraph_kind(paragraph: dict, text: str) -> str:
    style = paragraph.get("style") or {}
    if style.get("list_style") or _ITEM.match(text):
        return "item"
    if (style.get("heading_level") or 0) > 0:
        return "heading"
    runs = [r["Text"] for r in paragraph.get("content") or [] if isinstance(r, dict) and "Text" in r]
    bold = bool(runs) and all((r.get("style") or {}).get("bold") for r in runs if (r.get("text") or "").strip())
    if bold and len(text) <= 80 and "\n" not in text and not re.search(r"[^\W\d_][.!?]$", text):
        return "heading"
    return "text"


def _table(table: dict) -> Table | None:
    """A Table from unhwp's rows of cells; merged cells fill their whole span (first cell keeps the text)."""
    grid: dict[tuple[int, int], str] = {}
    width = 0
    for r, row in enumerate(table.get("rows") or []):
        c = 0
        for cell in row.get("cells") or []:
            while (r, c) in grid:
                c += 1
            parts = [_clean(_runs(p)).replace("\n", " ") for p in cell.get("content") or [] if isinstance(p, dict)]
            text = " ".join(p for p in parts if p)
            span_r, span_c = max(1, int(cell.get("rowspan") or 1)), max(1, int(cell.get("colspan") or 1))
            for dr in range(span_r):
                for dc in range(span_c):
                    grid[(r + dr, c + dc)] = text.strip() if dr == dc == 0 else ""
            c += span_c
            width = max(width, c)
    if not grid or not any(grid.values()):
        return None
    height = max(r for r, _ in grid) + 1
    rows = tuple(tuple(grid.get((r, c), "") for c in range(width)) for r in range(height))
    return Table(rows, header_rows=1 if table.get("has_header", True) and height > 1 else 0)


def _table_text(table: Table) -> str:
    """The table block's text, as the PDF parser writes it (caption line, then one line per body row)."""
    return table_text(table.caption, table.rows, table.header_rows)
