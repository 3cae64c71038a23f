"""Korean sentence splitting shared by the chunker and the key-sentence picker."""

from __future__ import annotations

import re

# A sentence ends at . ! ? (and their full-width forms) followed by white space, or at a line break.
# "2.1조", "’24.3월" and "3.5%" stay whole because no space follows the dot.
_SENTENCE_END = re.compile(r"(?<=[.!?。？！])\s+|\n+")


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
