"""PDF bytes -> ParsedDocument: the parser's stages in order.

1. glyphs: one MuPDF pass per page (text lines with word spaces rebuilt, vector paths, images);
2. furniture: running headers, footers and page numbers dropped across the document;
3. status: pages without a usable text layer flagged "scanned", "empty" or "garbled";
4. OCR (when available): scanned pages read whole, large images on text pages read;
5. per page: ruled tables, figures, borderless tables, their captions; then the rest of the
   text in reading order (columns, margin notes), rebuilt into paragraphs.

Block boxes are in PyMuPDF page coordinates (points, unrotated: what page.draw_rect and
page.add_highlight_annot take); Page.width/height are the page as displayed (page.rect).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

import pymupdf

from docqa.config import PARSER_VERSION  # noqa: F401 - re-exported by ingest.pdf
from docqa.errors import CorruptPDFError, EmptyFileError, EncryptedPDFError, NoPagesError, NotPDFError
from docqa.text import split_sentences, table_text
from docqa.types import BBox, Block, Page, ParsedDocument, Table
from ingest.pdf import captions, ocrtext
from ingest.pdf import params as P
from ingest.pdf.figures import Figure, find_figures, label_rows
from ingest.pdf.furniture import drop_running_lines
from ingest.pdf.glyphs import Line, RawPage, extract, place_images, union
from ingest.pdf.layout import Unit, reading_order, text_units, vertical_stacks
from ingest.pdf.paragraphs import body_font, build_blocks, line_gaps
from ingest.pdf.status import page_status
from ingest.pdf.tables import Found, borderless_tables, find_grids, join_continued, ruled_table

log = logging.getLogger(__name__)


ProgressFn = Callable[[float], None]


def doc_id_of(data: bytes) -> str:
    """A document's id: sha256 of its bytes (hex, first 32 characters)."""
    return hashlib.sha256(data).hexdigest()[:32]


def parse_pdf(data: bytes, file_name: str, *, ocr: bool = True, settings=None,
              progress: ProgressFn | None = None) -> ParsedDocument:
    """Parse PDF bytes into pages of blocks; raise an IngestError with a Korean reason on bad input.

    With `ocr` (and `settings.ocr`, and OCR available here: ingest.ocr.ocr_status) scanned
    pages and large raster images are read by OCR; `progress(fraction)` is called as OCR
    proceeds, and the OCR time is in `ParsedDocument.seconds["ocr"]`. When OCR is wanted but
    unavailable the parse still succeeds: scanned pages stay flagged and a Korean note in
    `ParsedDocument.notes` says why.
    """
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
        raw_pages = [extract(doc, i, file_name) for i in range(doc.page_count)]
        if all(p.failed for p in raw_pages):
            raise CorruptPDFError(file_name, "PDF 파일이 손상되어 페이지 내용을 읽을 수 없습니다.")
        drop_running_lines(raw_pages)
        statuses = [page_status(doc, raw) for raw in raw_pages]
        # A file MuPDF had to repair, with pages that came out blank or unreadable, is cut short
        # (an interrupted download): refuse it rather than index part of it.
        if doc.is_repaired and any(raw.failed or s == "empty" for raw, s in zip(raw_pages, statuses)):
            log.warning("%s: repaired by MuPDF with unreadable pages", file_name)
            raise CorruptPDFError(file_name, "PDF 파일이 잘렸거나 손상되어 일부 페이지를 읽을 수 없습니다.")
        gaps = line_gaps([[ln for ln in raw.lines if not ln.garbage] for raw in raw_pages])
        wanted = ocr and getattr(settings, "ocr", True)  # switched off by the caller or by RAG_OCR=0
        read, notes, seconds = _run_ocr(doc, raw_pages, statuses, wanted, settings, progress, file_name)
        pages = []
        for raw, status in zip(raw_pages, statuses):
            whole = read.get((raw.number - 1, None))
            if status == "scanned" and whole:
                pages.append(_build_page(raw, whole, gaps, read, source="ocr"))
            elif status != "ok":
                pages.append(Page(raw.number, "", (), *raw.shown, status))
            else:
                lines = [ln for ln in raw.lines if not ln.garbage]
                pages.append(_build_page(raw, lines, gaps, read))
    return ParsedDocument(doc_id=doc_id_of(data), file_name=file_name, pages=tuple(lead_ins(carry_over(pages))),
                          notes=tuple(notes), seconds=seconds)


def parse_pdf_path(path: str | Path, **options) -> ParsedDocument:
    """Read a PDF file and parse it under its own file name."""
    path = Path(path)
    return parse_pdf(path.read_bytes(), path.name, **options)


# ---------------------------------------------------------------------------- OCR


def _run_ocr(doc: pymupdf.Document, raw_pages: list[RawPage], statuses: list[str], wanted: bool, settings,
             progress: ProgressFn | None, file_name: str
             ) -> tuple[dict[tuple[int, BBox | None], list[Line]], list[str], dict[str, float]]:
    """OCR every scanned page and every large image of the text pages; (results by job, notes, seconds)."""
    scanned = [raw for raw, s in zip(raw_pages, statuses) if s == "scanned"]
    pictured = [raw for raw, s in zip(raw_pages, statuses) if s == "ok" and raw.has_images]
    if not wanted or (not scanned and not pictured):
        return {}, [], {}  # (scanned pages stay flagged: the ingest report names them)
    usable, reason = ocrtext.ocr_state(settings, wanted)
    if not usable:
        if scanned:
            pages = ", ".join(str(raw.number) for raw in scanned[:10]) + (" 등" if len(scanned) > 10 else "")
            return {}, [f"OCR을 사용할 수 없어 스캔된 쪽({pages}쪽)은 색인하지 않았습니다: {reason}"], {}
        return {}, [f"OCR을 사용할 수 없어 그림 속 글자는 읽지 않았습니다: {reason}"], {}
    t0 = time.perf_counter()
    jobs = [ocrtext.Job(raw.number - 1) for raw in scanned]
    for raw in pictured:  # placing the images is part of the OCR stage: without OCR they are not read
        place_images(doc, raw)
        try:
            jobs += ocrtext.image_jobs(doc, raw)
        except Exception as exc:  # noqa: BLE001 - a page whose images can't be listed is read without them
            log.warning("%s: page %d: images cannot be listed for OCR: %r", file_name, raw.number, exc)
    out: dict[tuple[int, BBox | None], list[Line]] = {}
    failed = 0
    for k, job in enumerate(jobs):
        try:
            out[(job.page, job.clip)] = ocrtext.even_sizes(ocrtext.run_job(doc, job, settings))
        except Exception as exc:  # noqa: BLE001 - one image OCR cannot read never stops the document
            failed += 1
            log.warning("%s: OCR of page %d %s failed: %r", file_name, job.page + 1, job.clip or "", exc)
        if progress:
            progress((k + 1) / len(jobs))
    seconds = {"ocr": time.perf_counter() - t0}
    log.info("%s: OCR of %d page(s) and %d image(s) in %.1fs", file_name, len(scanned), len(jobs) - len(scanned),
             seconds["ocr"])
    notes = [f"OCR로 읽지 못한 부분이 {failed}곳 있습니다."] if failed else []
    return out, notes, seconds


# ---------------------------------------------------------------------------- page assembly


def _build_page(raw: RawPage, lines: list[Line], gaps: dict[float, float],
                read: dict[tuple[int, BBox | None], list[Line]], source: str = "text") -> Page:
    body = body_font(lines)
    size = body[0] or 10.0
    atoms: list[Unit] = []
    found: list[Found] = []
    rest = list(lines)
    for grid in find_grids(raw) if source == "text" else []:
        table = ruled_table(grid, rest)
        if table is not None:
            found.append(table)
            rest = _minus(rest, table.lines)
    found = join_continued(found, size)
    stacks, rest = vertical_stacks(rest)
    figures = find_figures(raw, rest, [f.bbox for f in found]) if source == "text" else []
    for fig in figures:
        rest = _minus(rest, fig.lines)
    for table in borderless_tables(rest):
        found.append(table)
        rest = _minus(rest, table.lines)
    # Captions: tables first (their titles are numbered or bracketed), then figures.
    pieces = captions.caption_pieces(rest)
    taken_all: list[captions.Piece] = []
    table_captions = []
    for table in found:
        taken = captions.take_caption(table.bbox, pieces, size, figure=False)
        taken_all += taken
        table_captions.append((captions.caption_text(taken), [p.bbox for p in taken]))
    for fig in list(figures):
        taken = captions.take_caption(fig.bbox, pieces, size, figure=True)
        if taken and captions.TABLE_CAPTION.match(taken[0].text) and not fig.raster:
            # Rules around a table's first row (its rows go on over the page): no figure.
            pieces.extend(taken)
            figures.remove(fig)
            rest += fig.lines
            continue
        taken_all += taken
        fig.caption, fig.caption_boxes = captions.caption_text(taken), [p.bbox for p in taken]
    # OCR'd images: each goes with the figure holding it; one no figure holds (a picture under a
    # table, say) is a figure of its own.
    for (page, clip), ocr_lines in read.items():
        if page != raw.number - 1 or clip is None or not ocr_lines:
            continue
        holder = next((f for f in figures if _within(clip, f.bbox)), None)
        if holder is None:
            holder = Figure(clip, True)
            figures.append(holder)
        holder.ocr += ocr_lines
    rest = captions.remove_pieces(rest, taken_all)
    for table, (caption, boxes) in zip(found, table_captions):
        t = Table(table.table.rows, table.table.header_rows, caption)
        text = table_text(caption, t.rows, t.header_rows)
        atoms.append(Unit([], union([table.bbox, *boxes]), Block(text, union([table.bbox, *boxes]), "table", t,
                                                                  source)))
    for fig in figures:
        block = _figure_block(fig, source)
        if block is not None:
            atoms.append(Unit([], block.bbox, block))
        else:
            rest += fig.lines  # a figure with nothing to say: its few words stay text
    # The page's own line spacing counts too (an appendix set apart from the body).
    here = line_gaps([rest])
    gaps = {size: max(gaps.get(size, gap), gap) for size, gap in here.items()} | \
        {size: gap for size, gap in gaps.items() if size not in here}
    units = text_units(rest) + atoms
    tabs = [Unit([ln], ln.bbox, notes=True) for ln in stacks]  # side tabs: read last, each alone
    blocks = build_blocks(reading_order(units) + tabs, body, gaps)
    if source == "ocr":
        blocks = [Block(b.text, b.bbox, b.kind, b.table, "ocr") for b in blocks]
    return Page(raw.number, "\n\n".join(b.text for b in blocks), tuple(blocks), *raw.shown, "ok")


def carry_over(pages: list[Page]) -> list[Page]:
    """A table at the top of a page without a caption takes the caption left at the foot of the page
    before ("<표 2> 원고 일반현황" printed above a table that starts overleaf), or, continuing the
    last table of that page with the same columns, its caption and header rows."""
    out = list(pages)
    for k in range(1, len(out)):
        page, before = out[k], out[k - 1]
        first = next((i for i, b in enumerate(page.blocks) if b.kind != "heading"), None)
        if first is None or page.blocks[first].table is None or page.blocks[first].table.caption:
            continue
        table = page.blocks[first].table
        tail = list(before.blocks[-6:])  # (footnotes may follow the caption)
        titled = [i for i, b in enumerate(tail) if b.kind != "table" and b.kind != "figure"
                  and (captions.NUMBERED.match(b.text) or captions.TITLE.match(b.text))]
        caption, rows, header = "", table.rows, table.header_rows
        if titled and not any(b.kind == "table" for b in tail[titled[-1] + 1:]):
            at = titled[-1]
            caption = " ".join([tail[at].text] + [b.text for b in tail[at + 1:] if captions.UNIT.match(b.text)])
        else:
            last = next((b.table for b in reversed(tail) if b.table is not None), None)
            if last is None or len(last.rows[0]) != len(table.rows[0]):
                continue
            caption = last.caption
            head = last.rows[:last.header_rows]
            if head and table.rows[:header] != head:  # (an exact repeat of the header is kept as it is)
                rows, header = head + table.rows, len(head)  # rows read as header overleaf stay rows
        if not caption and rows is table.rows:
            continue
        blocks = list(page.blocks)
        blocks[first] = _table_block(blocks[first], caption, rows, header)
        out[k] = _with_blocks(page, blocks)
    return out


def _table_block(block: Block, caption: str, rows, header_rows: int) -> Block:
    """`block` (a table) with this caption and these rows, its text made again."""
    return Block(table_text(caption, rows, header_rows), block.bbox, "table", Table(rows, header_rows, caption),
                 block.source)


def _with_blocks(page: Page, blocks: list[Block]) -> Page:
    return Page(page.number, "\n\n".join(b.text for b in blocks), tuple(blocks), page.width, page.height,
                page.status)


def lead_ins(pages: list[Page]) -> list[Page]:
    """A table without a title, or a figure, takes the sentence that introduces it ("… 내역은 아래와
    같다."): the last of the paragraph before it (and before the tables and figures between) on its
    page or at the foot of the page before. A table gets it as its caption, a figure as its first
    line. The sentence stays in its paragraph too; the rectangles are unchanged."""
    out = list(pages)
    for k, page in enumerate(out):
        blocks, changed = list(page.blocks), False
        for i, block in enumerate(blocks):
            if block.kind not in ("table", "figure") or (block.table is not None and block.table.caption):
                continue
            j = i - 1
            while j >= 0 and blocks[j].kind in ("table", "figure"):  # "… 내역은 아래와 같다." before two tables
                j -= 1
            if j >= 0:
                before = blocks[j]
            elif k and out[k - 1].blocks:
                before = out[k - 1].blocks[-1]
            else:
                continue
            sentences = split_sentences(before.text) if before.kind in ("text", "item") else []
            lead = " ".join(sentences[-1].split()) if sentences else ""
            if not lead or len(lead) > P.LEAD_IN_MAX_CHARS or not captions.LEAD_IN.search(lead):
                continue
            if block.table is not None:
                blocks[i] = _table_block(block, lead, block.table.rows, block.table.header_rows)
            elif lead not in block.text:
                blocks[i] = Block(f"{lead}\n{block.text}", block.bbox, "figure", None, block.source)
            changed = True
        if changed:
            out[k] = _with_blocks(page, blocks)
    return out


def _within(inner: BBox, outer: BBox, slack: float = 1.0) -> bool:
    return (outer[0] - slack <= inner[0] and inner[2] <= outer[2] + slack
            and outer[1] - slack <= inner[1] and inner[3] <= outer[3] + slack)


def _figure_block(fig: Figure, source: str) -> Block | None:
    rows = label_rows(fig.lines) + label_rows(fig.ocr)
    if not rows and not fig.caption:
        return None
    if not rows and not fig.raster:
        return None
    text = "\n".join([fig.caption, *rows] if fig.caption else rows)
    if not text.strip():
        return None
    bbox = union([fig.bbox, *fig.caption_boxes])
    return Block(text, bbox, "figure", None, "ocr" if fig.ocr else source)


def _minus(lines: list[Line], taken: list[Line]) -> list[Line]:
    ids = {id(ln) for ln in taken}
    return [ln for ln in lines if id(ln) not in ids]
