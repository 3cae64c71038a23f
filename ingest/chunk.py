"""Split parsed pages into passages that fit the embedding model.

Sizes are counted with the embedding model's own tokenizer, including the
`passage: ` prefix and the special tokens. Running text (paragraphs, headings, list
items) is packed by sentences, boundaries on sentence and paragraph ends, with some
overlap. A table becomes passages of its own (`kind="table"`): its context line
(caption / section heading), then one line per row naming each value's column, split
by rows when it does not fit, the context repeated in every part; `Chunk.table` holds
the part's rows with the header rows. A figure becomes passages of its own too
(`kind="figure"`), its rectangle the figure's. A chunk never crosses a page, so every
passage cites exactly one page and can be highlighted on it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from docqa.config import CHUNKER_VERSION, PARSER_VERSION
from docqa.text import context_line, sentence_spans, table_row_lines
from docqa.types import Block, Chunk, Page, ParsedDocument, Table

_ATOMS = ("table", "figure")
_SAFETY = 4  # tokens kept free in table/figure parts: pieces counted apart can merge differently


@dataclass(frozen=True)
class _Unit:
    start: int  # offsets in page.text
    end: int
    tokens: int
    block: int


@dataclass(frozen=True)
class Piece:
    """One passage of a page before it becomes a Chunk."""

    start: int
    end: int
    text: str
    heading: str
    blocks: tuple[int, ...]
    kind: str = "text"
    table: Table | None = None


class Chunker:
    """Packs sentences of a page into ≤ `max_tokens` passages; tables and figures get their own."""

    def __init__(self, tokenize: Callable[[list[str]], list[list[int]]], max_tokens: int,
                 overlap: int, overhead: int):
        """`tokenize` maps texts to token ids without specials; `overhead` is the
        prefix + special tokens every passage carries."""
        if max_tokens - overhead < 32:
            raise ValueError("chunk size too small for the prefix")
        self.tokenize = tokenize
        self.max_tokens = max_tokens
        self.budget = max_tokens - overhead
        self.overlap = max(0, min(overlap, self.budget // 2))
        self.overhead = overhead

    @classmethod
    def for_embedder(cls, embedder, max_tokens: int, overlap: int) -> Chunker:
        def tokenize(texts: list[str]) -> list[list[int]]:
            return embedder.tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []

        return cls(tokenize, min(max_tokens, embedder.max_tokens), overlap, embedder.passage_tokens(""))

    def settings(self) -> dict[str, str | int]:
        return {"chunker": CHUNKER_VERSION, "parser": PARSER_VERSION, "chunk_tokens": self.max_tokens,
                "chunk_overlap": self.overlap}

    def _count(self, texts: list[str]) -> list[int]:
        return [len(ids) for ids in self.tokenize(texts)]

    # ------------------------------------------------------------------ running text
    def _units(self, page: Page, blocks: list[int], offsets: list[int]) -> list[_Unit]:
        spans: list[tuple[int, int, int]] = []  # start, end, block
        for i in blocks:
            spans.extend((s, e, i) for s, e in sentence_spans(page.blocks[i].text, offsets[i]))
        counts = self._count([page.text[s:e] for s, e, _ in spans])
        units: list[_Unit] = []
        for (start, end, block), n in zip(spans, counts):
            if n <= self.budget:
                units.append(_Unit(start, end, n, block))
            else:
                units.extend(_Unit(s, e, n, block) for s, e, n in self._split_long(page.text, start, end))
        return units

    def _split_long(self, text: str, start: int, end: int, budget: int | None = None) -> list[tuple[int, int, int]]:
        """A sentence longer than the budget: (start, end, tokens) parts cut at word ends by token count."""
        budget = budget or self.budget
        parts, s = [], start
        words = [m.span() for m in re.finditer(r"\S+\s*", text[start:end])]
        counts = self._count([text[start + a:start + b] for a, b in words])
        tokens = 0
        for (a, _), n in zip(words, counts):
            n = min(n, budget)
            if tokens and tokens + n > budget:
                parts.append((s, start + a, tokens))
                s, tokens = start + a, 0
            tokens += n
        if tokens:
            parts.append((s, end, tokens))
        return parts

    def _text_pieces(self, page: Page, blocks: list[int], offsets: list[int]) -> list[Piece]:
        units = self._units(page, blocks, offsets)
        out = []
        i = 0
        while i < len(units):
            j, tokens = i, 0
            while j < len(units) and tokens + units[j].tokens <= self.budget:
                tokens += units[j].tokens
                j += 1
            j = max(j, i + 1)
            group = units[i:j]
            text = page.text[group[0].start:group[-1].end]
            heading = _heading_before(page.blocks, group[0].block)
            out.append(Piece(group[0].start, group[-1].end, text.strip(), heading,
                             tuple(sorted({u.block for u in group}))))
            if j >= len(units):
                break
            back, k = 0, j
            while k - 1 > i and back + units[k - 1].tokens <= self.overlap:
                back += units[k - 1].tokens
                k -= 1
            i = k
        return out

    # ------------------------------------------------------------------ tables and figures
    def _line_pieces(self, page: Page, index: int, offset: int, context: str,
                     lines: list[tuple[int, int, str, int]], kind: str, table: Table | None,
                     lead: str = "") -> list[Piece]:
        """Parts of a table or figure: its context line, then as many of its lines as fit.

        `lines` are (start, end, text, row) with offsets in page.text; `lead` (a figure's
        caption) starts every part after the first as well.
        """
        heading = _heading_before(page.blocks, index)
        head = context
        counts = self._count([head] + [t for _, _, t, _ in lines] + [lead]) if lines else [0, 0]
        head_tokens = (counts[0] + 1) if head else 0
        lead_tokens = counts[-1] + 1 if lead else 0
        budget = self.budget - _SAFETY
        out: list[Piece] = []
        part: list[tuple[int, int, str, int]] = []
        tokens = 0

        def emit() -> None:
            nonlocal part, tokens
            if not part:
                return
            first = [lead] if lead and out and part[0][2] != lead else []
            text = "\n".join(([head] if head else []) + first + [t for _, _, t, _ in part])
            rows = None
            if table is not None:
                body = tuple(table.rows[r] for r in dict.fromkeys(r for _, _, _, r in part) if r >= table.header_rows)
                rows = Table(table.rows[:table.header_rows] + body, table.header_rows, table.caption)
            out.append(Piece(part[0][0], part[-1][1], text, heading, (index,), kind, rows))
            part, tokens = [], 0

        for (start, end, text, row), n in zip(lines, counts[1:len(lines) + 1]):
            extra = head_tokens + (lead_tokens if out else 0)
            if n + 1 + extra > budget:  # one line too long for a passage: cut at word ends
                emit()
                for s, e, _ in self._split_long(page.text, start, end, max(budget - extra, 16)):
                    part = [(s, e, page.text[s:e].strip(), row)]
                    emit()
                continue
            if part and tokens + n + 1 + extra > budget:
                emit()
            part.append((start, end, text, row))
            tokens += n + 1
        emit()
        return out

    def _table_pieces(self, page: Page, index: int, offset: int) -> list[Piece]:
        block = page.blocks[index]
        table = block.table
        if table is None:  # a table without cells (another parser): its lines as they are
            return self._plain_lines(page, index, offset, "table")
        heading = _heading_before(page.blocks, index)
        context = context_line(table.caption, heading)
        lines, pos = [], offset
        if table.caption.strip():
            pos += len(" ".join(table.caption.split())) + 1
        for row, text in table_row_lines(table.rows, table.header_rows):
            lines.append((pos, pos + len(text), text, row))
            pos += len(text) + 1
        return self._line_pieces(page, index, offset, context, lines, "table", table)

    def _plain_lines(self, page: Page, index: int, offset: int, kind: str) -> list[Piece]:
        block = page.blocks[index]
        heading = _heading_before(page.blocks, index)
        lines, pos = [], offset
        for text in block.text.split("\n"):
            if text.strip():
                lines.append((pos, pos + len(text), text.strip(), -1))
            pos += len(text) + 1
        if not lines:
            return []
        lead = lines[0][2] if kind == "figure" and len(lines) > 1 else ""
        context = heading if heading and heading not in block.text else ""
        return self._line_pieces(page, index, offset, context, lines, kind, None, lead)

    # ------------------------------------------------------------------ pages
    def chunk_page(self, page: Page) -> list[Piece]:
        """The passages of one page in reading order."""
        offsets, pos = [], 0
        for block in page.blocks:
            offsets.append(pos)
            pos += len(block.text) + 2
        out: list[Piece] = []
        run: list[int] = []
        for i, block in enumerate(page.blocks):
            if block.kind not in _ATOMS:
                run.append(i)
                continue
            if run:
                out.extend(self._text_pieces(page, run, offsets))
                run = []
            if block.kind == "table":
                out.extend(self._table_pieces(page, i, offsets[i]))
            else:
                out.extend(self._plain_lines(page, i, offsets[i], "figure"))
        if run:
            out.extend(self._text_pieces(page, run, offsets))
        return out

    def chunk(self, doc: ParsedDocument, domain: str = "") -> list[Chunk]:
        chunks: list[Chunk] = []
        for page in doc.pages:
            if page.status != "ok" or not page.text.strip():
                continue
            for piece in self.chunk_page(page):
                if not piece.text:
                    continue
                rects = tuple((page.number, *page.blocks[b].bbox) for b in piece.blocks)
                key = f"{doc.doc_id}:{page.number}:{piece.start}:{piece.end}:{piece.kind}"
                chunks.append(Chunk(
                    chunk_id=f"{doc.doc_id}-{hashlib.sha1(key.encode()).hexdigest()[:12]}",
                    doc_id=doc.doc_id, file_name=doc.file_name, text=piece.text,
                    page_start=page.number, page_end=page.number, char_start=piece.start, char_end=piece.end,
                    n_tokens=0, heading=piece.heading, domain=domain, rects=rects, kind=piece.kind,
                    table=piece.table, ocr=any(page.blocks[b].source == "ocr" for b in piece.blocks),
                ))
        return self._exact_counts(chunks)

    def _exact_counts(self, chunks: list[Chunk]) -> list[Chunk]:
        """Count each chunk exactly as the model will see it; re-split any that overflow."""
        counts = [len(ids) + self.overhead for ids in self.tokenize([c.text for c in chunks])]
        out = []
        for c, n in zip(chunks, counts):
            if n <= self.max_tokens:
                out.append(replace(c, n_tokens=n))
                continue
            half = len(c.text) // 2
            cut = c.text.rfind("\n", 0, half) + 1 or c.text.rfind(" ", 0, half) + 1 or half
            parts = [replace(c, text=c.text[:cut].strip(), chunk_id=c.chunk_id + "a"),
                     replace(c, text=c.text[cut:].strip(), chunk_id=c.chunk_id + "b")]
            out.extend(self._exact_counts(parts))
        return out


def _heading_before(blocks: tuple[Block, ...], index: int) -> str:
    for block in reversed(blocks[: index + 1]):
        if block.kind == "heading":
            return block.text[:200]
    return ""
