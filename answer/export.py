"""Evidence export: the question, the answer and every cited passage as CSV or XLSX bytes.

One row per passage; the question and answer sit on every row so a filtered or sorted
sheet still says what was asked. CSV is UTF-8 with a BOM so Excel opens Korean text right.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from answer.citations import citation
from docqa.types import Hit, SearchResult

COLUMNS = ("질문", "답변", "답변 종류", "순위", "파일", "쪽", "인용", "점수", "핵심 문장", "본문")
ANSWER_KINDS = {"generated": "생성 답변", "extractive": "발췌 답변", "": ""}
# Excel refuses cells longer than this; a passage is far shorter, but a pasted answer might not be.
XLSX_CELL_MAX = 32_767


def evidence_rows(question: str, hits: Sequence[Hit] | SearchResult, answer: str = "",
                  answer_kind: str = "") -> list[list[object]]:
    """The rows of the export (without the header), one per passage, in rank order.

    `answer_kind` is "generated", "extractive" or "" (no answer). A question with no hits
    still gives one row, so the file records what was asked and that nothing was found.
    """
    if isinstance(hits, SearchResult):
        hits = hits.hits
    kind = ANSWER_KINDS.get(answer_kind, answer_kind)
    rows: list[list[object]] = []
    for rank, hit in enumerate(hits, start=1):
        c = hit.chunk
        page = str(c.page_start) if c.page_start == c.page_end else f"{c.page_start}-{c.page_end}"
        rows.append([question, answer, kind, rank, c.file_name, page, citation(hit), round(float(hit.score), 4),
                     "\n".join(hit.key_sentences), c.text])
    if not rows:
        rows.append([question, answer, kind, "", "", "", "", "", "", ""])
    return rows


def evidence_csv(question: str, hits: Sequence[Hit] | SearchResult, answer: str = "", answer_kind: str = "") -> bytes:
    """CSV bytes (UTF-8 with BOM, CRLF rows: what Excel expects)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in evidence_rows(question, hits, answer, answer_kind):
        writer.writerow([_no_formula(v) for v in row])
    return buf.getvalue().encode("utf-8-sig")


def evidence_xlsx(question: str, hits: Sequence[Hit] | SearchResult, answer: str = "",
                  answer_kind: str = "") -> bytes:
    """XLSX bytes: one sheet "근거", a bold frozen header, wrapped long text."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    wb = Workbook()
    ws = wb.active
    ws.title = "근거"
    ws.append(list(COLUMNS))
    for row in evidence_rows(question, hits, answer, answer_kind):
        ws.append([_xlsx_cell(v) for v in row])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "A2"
    widths = {"질문": 30, "답변": 50, "답변 종류": 10, "순위": 6, "파일": 30, "쪽": 6, "인용": 34, "점수": 8,
              "핵심 문장": 50, "본문": 80}
    wrap = Alignment(wrap_text=True, vertical="top")
    for i, name in enumerate(COLUMNS, start=1):
        letter = ws.cell(row=1, column=i).column_letter
        ws.column_dimensions[letter].width = widths[name]
        for cell in ws[letter][1:]:
            cell.alignment = wrap
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _no_formula(value: object) -> object:
    """A cell text starting with = + - @ would run as a formula in Excel (CSV injection): quote it."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _xlsx_cell(value: object) -> object:
    value = _no_formula(value)
    if isinstance(value, str):
        # openpyxl rejects control characters that PDF text sometimes carries
        value = "".join(ch for ch in value if ch in "\t\n" or ord(ch) >= 32)[:XLSX_CELL_MAX]
    return value
