"""Korean sentence splitting shared by the chunker and the key-sentence picker; tables as lines of text."""

from __future__ import annotations

import re
from collections.abc import Sequence

# A sentence ends at . ! ? (and their full-width forms) followed by white space, or at a line break.
# "2.1조", "’24.3월" and "3.5%" stay whole because no space follows the dot; nor does a period
# after a number end one: Korean dates are written "2012. 7. 20." inside sentences.
_SENTENCE_END = re.compile(r"(?<=[.!?。？！])(?<!\d\.)\s+|\n+")


def sentence_spans(text: str, base: int = 0) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences of `text`, shifted by `base`."""
    spans, pos = [], 0
    for m in _SENTENCE_END.finditer(text):
        if m.start() > pos:
            spans.append((base + pos, base + m.start()))
        pos = m.end()
    if pos < len(text):
        spans.append((base + pos, base + len(text)))
    return spans


def split_sentences(text: str) -> list[str]:
    return [s for s in (text[a:b].strip() for a, b in sentence_spans(text)) if s]


# --------------------------------------------------------------------------- tables as text
# A table is indexed and embedded as lines a reader (or an embedding model) can take alone:
# its context line (caption / section heading), then one line per row naming each value's
# column: "구분: 매출액 · 2023년: 1,200억원 · 2024년: 1,350억원". No markdown pipes.
CELL_SEPARATOR = " · "


def column_names(rows: Sequence[Sequence[str]], header_rows: int) -> list[str]:
    """Each column's name: its header cells top to bottom, repeats (merged cells) once."""
    width = max((len(r) for r in rows), default=0)
    names = []
    for col in range(width):
        parts: list[str] = []
        for row in rows[:header_rows]:
            cell = row[col].strip() if col < len(row) else ""
            if cell and cell not in parts:
                parts.append(cell)
        names.append(" ".join(parts))
    # A header cell merged over several columns (a corner label "구분" over two label columns)
    # names the first of them only.
    return [n if not k or n != names[k - 1] else "" for k, n in enumerate(names)]


def table_row_text(row: Sequence[str], names: Sequence[str]) -> str:
    """One body row as "name: value · name: value"; a value without a column name stands alone."""
    parts: list[str] = []
    for col, value in enumerate(row):
        value = " ".join(value.split())
        if not value:
            continue
        name = names[col] if col < len(names) else ""
        parts.append(f"{name}: {value}" if name and name != value else value)
    if len(parts) == 2 and not any(names) and ": " not in parts[0]:  # a key-value table without a header
        return f"{parts[0]}: {parts[1]}"
    return CELL_SEPARATOR.join(parts)


def table_row_lines(rows: Sequence[Sequence[str]], header_rows: int) -> list[tuple[int, str]]:
    """(row index, linear form) of every body row with text; the header goes into each line."""
    names = column_names(rows, header_rows)
    out = []
    for i in range(header_rows, len(rows)):
        line = table_row_text(rows[i], names)
        if line:
            out.append((i, line))
    if not out and header_rows:  # a header alone (a table cut to its first row)
        out = [(0, CELL_SEPARATOR.join(n for n in names if n))]
    return out


def table_body_lines(rows: Sequence[Sequence[str]], header_rows: int) -> list[str]:
    """The linear form of the body rows, one line per row with text."""
    return [line for _, line in table_row_lines(rows, header_rows)]


def table_text(caption: str, rows: Sequence[Sequence[str]], header_rows: int) -> str:
    """A table block's text: its caption line, then one line per body row."""
    return "\n".join([" ".join(caption.split())] * bool(caption.strip()) + table_body_lines(rows, header_rows))


def context_line(caption: str, heading: str = "") -> str:
    """"<표 1> 지역별 현황 / 2. 추진 현황": what a table or figure is, for a passage read alone."""
    parts = [p for p in (" ".join(caption.split()), " ".join(heading.split())) if p]
    if len(parts) == 2 and parts[1] in parts[0]:
        parts = parts[:1]
    return " / ".join(parts)
