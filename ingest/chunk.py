"""Split parsed pages into passages that fit the embedding model.

Sizes are counted with the embedding model's own tokenizer, including the
`passage: ` prefix and the special tokens. Boundaries fall on Korean sentence
and paragraph ends; a table stays whole when it fits, otherwise it is split by
rows with its header repeated. A chunk never crosses a page, so every passage
cites exactly one page and can be highlighted on it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from docqa.config import CHUNKER_VERSION
from docqa.text import sentence_spans
from docqa.types import Block, Chunk, Page, ParsedDocument


@dataclass(frozen=True)
class _Unit:
    start: int  # offsets in page.text
    end: int
    tokens: int
    block: int
    prefix: str = ""  # text not in the span (a repeated table header)


class Chunker:
    """Packs sentences (and whole tables) of a page into ≤ `max_tokens` passages."""

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
        return {"chunker": CHUNKER_VERSION, "chunk_tokens": self.max_tokens, "chunk_overlap": self.overlap}

    def _units(self, page: Page) -> list[_Unit]:
        spans: list[tuple[int, int, int, str]] = []  # start, end, block, prefix
        offset = 0
        for i, block in enumerate(page.blocks):
            if block.kind == "table":
                spans.append((offset, offset + len(block.text), i, ""))
            else:
                spans.extend((s, e, i, "") for s, e in sentence_spans(block.text, offset))
            offset += len(block.text) + 2
        counts = [len(ids) for ids in self.tokenize([page.text[s:e] for s, e, _, _ in spans])]
        units: list[_Unit] = []
        for (start, end, block, _), n in zip(spans, counts):
            if n <= self.budget:
                units.append(_Unit(start, end, n, block))
            elif page.blocks[block].kind == "table":
                units.extend(self._split_table(page.text, start, end, block))
            else:
                units.extend(self._split_long(page.text, start, end, block))
        return units

    def _split_table(self, text: str, start: int, end: int, block: int) -> list[_Unit]:
        """A table over the budget: parts of whole rows, each continued part led by the header."""
        rows = text[start:end].split("\n")
        head_rows = 2 if len(rows) > 2 and set(rows[1].strip()) <= set("|-: ") else 1
        header = "\n".join(rows[:head_rows]) + "\n"
        head_tokens = len(self.tokenize([header])[0]) + 1
        out: list[_Unit] = []
        part_start, pos, tokens = start, start, 0
        for row, ids in zip(rows, self.tokenize(rows)):
            extra = head_tokens if out else 0
            if tokens and tokens + len(ids) + 1 + extra > self.budget:
                out.append(_Unit(part_start, pos - 1, tokens + extra, block, header if out else ""))
                part_start, tokens = pos, 0
            tokens += len(ids) + 1
            pos += len(row) + 1
        extra = head_tokens if out else 0
        out.append(_Unit(part_start, end, tokens + extra, block, header if out else ""))
        return out

    def _split_long(self, text: str, start: int, end: int, block: int) -> list[_Unit]:
        """A sentence longer than the budget: cut it at word ends by token count."""
        units, s = [], start
        words = [m.span() for m in re.finditer(r"\S+\s*", text[start:end])]
        counts = [len(ids) for ids in self.tokenize([text[start + a:start + b] for a, b in words])]
        tokens = 0
        for (a, _), n in zip(words, counts):
            n = min(n, self.budget)
            if tokens and tokens + n > self.budget:
                units.append(_Unit(s, start + a, tokens, block))
                s, tokens = start + a, 0
            tokens += n
        if tokens:
            units.append(_Unit(s, end, tokens, block))
        return units

    def chunk_page(self, page: Page) -> list[tuple[int, int, str, str, tuple[int, ...]]]:
        """(start, end, text, heading, block indices) per chunk of one page."""
        units = self._units(page)
        out = []
        i = 0
        while i < len(units):
            j, tokens = i, 0
            while j < len(units) and tokens + units[j].tokens <= self.budget:
                if units[j].prefix and j > i:
                    break  # a continued table part starts its own chunk
                tokens += units[j].tokens
                j += 1
            j = max(j, i + 1)
            group = units[i:j]
            text = group[0].prefix + page.text[group[0].start:group[-1].end]
            heading = _heading_before(page.blocks, group[0].block)
            out.append((group[0].start, group[-1].end, text.strip(), heading,
                        tuple(sorted({u.block for u in group}))))
            if j >= len(units):
                break
            back, k = 0, j
            while k - 1 > i and back + units[k - 1].tokens <= self.overlap and not units[k - 1].prefix:
                back += units[k - 1].tokens
                k -= 1
            i = k
        return out

    def chunk(self, doc: ParsedDocument, domain: str = "") -> list[Chunk]:
        chunks: list[Chunk] = []
        for page in doc.pages:
            if page.status != "ok" or not page.text.strip():
                continue
            for start, end, text, heading, blocks in self.chunk_page(page):
                if not text:
                    continue
                rects = tuple((page.number, *page.blocks[b].bbox) for b in blocks)
                key = f"{doc.doc_id}:{page.number}:{start}:{end}"
                chunks.append(Chunk(
                    chunk_id=f"{doc.doc_id}-{hashlib.sha1(key.encode()).hexdigest()[:12]}",
                    doc_id=doc.doc_id, file_name=doc.file_name, text=text,
                    page_start=page.number, page_end=page.number, char_start=start, char_end=end,
                    n_tokens=0, heading=heading, domain=domain, rects=rects,
                ))
        return self._exact_counts(chunks)

    def _exact_counts(self, chunks: list[Chunk]) -> list[Chunk]:
        """Count each chunk exactly as the model will see it; re-split any that overflow."""
        from dataclasses import replace

        counts = [len(ids) + self.overhead for ids in self.tokenize([c.text for c in chunks])]
        out = []
        for c, n in zip(chunks, counts):
            if n <= self.max_tokens:
                out.append(replace(c, n_tokens=n))
                continue
            half = len(c.text) // 2
            cut = c.text.rfind(" ", 0, half) + 1 or half
            parts = [replace(c, text=c.text[:cut].strip(), chunk_id=c.chunk_id + "a"),
                     replace(c, text=c.text[cut:].strip(), chunk_id=c.chunk_id + "b")]
            out.extend(self._exact_counts(parts))
        return out


def _heading_before(blocks: tuple[Block, ...], index: int) -> str:
    for block in reversed(blocks[: index + 1]):
        if block.kind == "heading":
            return block.text[:200]
    return ""
