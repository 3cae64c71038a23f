"""Korean BM25 over Kiwi morphemes (content words only), never whitespace tokens."""

from __future__ import annotations

import logging
import re
import threading
import zlib
from collections.abc import Sequence
from functools import cache

import numpy as np

from docqa.config import LEXICAL_VERSION
from docqa.text import column_names, split_sentences

log = logging.getLogger(__name__)

CONTENT_TAGS = frozenset({"NNG", "NNP", "NNB", "NR", "SL", "SN", "SH", "XR", "VV", "VA"})
TOKENIZER_VERSION = LEXICAL_VERSION
# Adjacent content morphemes ("공무원 연금", "연금 법") are indexed too, hashed into 2**PAIR_BITS
# columns, and scored as a second BM25 with weight PAIR_WEIGHT: a phrase written as in the
# question outranks the same words scattered (see README, Benchmarks).
PAIR_BITS = 20
PAIR_WEIGHT = 0.25
_DATE_UNITS = frozenset({"년", "월", "일"})
_DIGITS = re.compile(r"\d+")


@cache
def _kiwi():
    from kiwipiepy import Kiwi

    # Without the multi-word dictionary (its entries join several words into one proper noun):
    # 183 MB less resident, and 7 of 53,560 morphemes differ on 133 pages of the eval PDFs.
    return Kiwi(load_multi_dict=False)


_kiwi_lock = threading.Lock()


def _terms(tokens) -> list[str]:
    out = []
    for t in tokens:
        tag = t.tag.split("-")[0]  # "VV-R" / "VA-I" carry a conjugation suffix
        if tag == "W_SERIAL":  # "2020. 3. 24.", "2-5", "010-1234-5678": its numbers, as written
            out.extend(_DIGITS.findall(t.form))
        elif tag in CONTENT_TAGS:
            form = t.form.lower() if tag == "SL" else t.form.replace(",", "") if tag == "SN" else t.form
            out.append(form)
    return out


_LOCK_BATCH = 32  # texts per hold of the Kiwi lock, so a question never waits for a whole document


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Content morphemes of each text (nouns, verb/adjective stems, roots, numbers, foreign words)."""
    texts = list(texts)
    out: list[list[str]] = []
    for i in range(0, len(texts), _LOCK_BATCH):
        with _kiwi_lock:
            out.extend(_terms(tokens) for tokens in _kiwi().tokenize(texts[i:i + _LOCK_BATCH]))
    return out


def index_terms(terms: Sequence[str]) -> list[str]:
    """The morphemes BM25 counts, from `tokenize`'s: a date unit right after a number is dropped,
    so "2020년 3월 24일" (as questions write dates) and "2020. 3. 24." (as rulings and official
    documents do) give the same terms and pairs."""
    return [t for i, t in enumerate(terms) if not (t in _DATE_UNITS and i and terms[i - 1].isdigit())]


def term_pairs(terms: Sequence[str]) -> np.ndarray:
    """Column ids of the adjacent morpheme pairs of `terms` (a stable hash: ids are stored on disk)."""
    mask = (1 << PAIR_BITS) - 1
    return np.fromiter((zlib.crc32(f"{a} {b}".encode()) & mask for a, b in zip(terms, terms[1:])),
                       dtype=np.int32, count=max(len(terms) - 1, 0))


def lexical_text(chunk) -> str:
    """What BM25 indexes for a passage: its section heading and its text.

    For a table, its heading, caption, column names and cells, each once: the linear form
    names every value's column, which would count the column names once per row.
    """
    table = getattr(chunk, "table", None)
    if getattr(chunk, "kind", "text") == "table" and table is not None:
        names = " ".join(n for n in column_names(table.rows, table.header_rows) if n)
        cells = [" ".join(c for c in row if c) for row in table.rows[table.header_rows:]]
        return "\n".join(p for p in (chunk.heading, table.caption, names, *cells) if p)
    return f"{chunk.heading}\n{chunk.text}" if chunk.heading else chunk.text


def ranked_sentences(text: str, weights: dict[str, float]) -> list[tuple[int, str, float]]:
    """(position, sentence, idf-weighted query-morpheme match) for the sentences of `text`, best
    first, ties in text order.

    Morphemes are matched as substrings of the sentence: nouns, numbers and roots appear
    verbatim in Korean text, and this keeps the step to about a millisecond per query.
    """
    sentences = [s for s in split_sentences(text) if len(s) > 1]
    scored = [(i, s, _match(s.lower(), weights)) for i, s in enumerate(sentences)]
    return sorted(scored, key=lambda x: -x[2])


def _match(sentence: str, weights: dict[str, float]) -> float:
    return sum(w for t, w in weights.items() if t in sentence)


def key_sentences(texts: Sequence[str], terms: set[str], idf, n: int = 2) -> list[tuple[str, ...]]:
    """For each text, the `n` sentences holding the most (idf-weighted) query morphemes, in text order."""
    weights = {t: idf(t) for t in terms}
    out = []
    for text in texts:
        ranked = ranked_sentences(text, weights)
        best = sorted((i, s) for i, s, score in ranked[:n] if score > 0) or sorted((i, s) for i, s, _ in ranked)[:1]
        out.append(tuple(s for _, s in best))
    return out
