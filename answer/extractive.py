"""Extractive answer: the two or three sentences of the top passages that most likely answer the question.

Always available (no LLM). Each sentence keeps its citation: the card number (rank), the
passage, and its span in the passage text for highlighting.

Scoring (each part measured by `python -m bench.answers`, see README):
- coverage: the idf-weighted share of the question's content morphemes (Kiwi) found in the
  sentence's own morphemes;
- meaning: the cosine of the sentence's `passage: ` vector with the question's `query: ` vector
  (the product's embedder), for the lexically best candidates only;
- the passage's rank (the search already weighed the whole passage);
- answer-type cues: a number for 얼마/몇/규모 questions, a date for 언제/시기 questions;
then sentences are taken best first, skipping near-repeats of one already taken, within a
character budget.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from answer.citations import citation
from docqa.text import sentence_spans
from docqa.types import Chunk, Hit, SearchResult
from retrieval.lexical import tokenize

log = logging.getLogger(__name__)

Idf = Callable[[str], float]

_NUMBER_Q = re.compile(r"얼마|몇|금액|규모|비율|비중|수치|몇\s*[명개건년월일%]|퍼센트|증가율|감소율|성장률|수준은")
_DATE_Q = re.compile(r"언제|시기|날짜|기한|기간|며칠|몇\s*년|연도")
_NUMBER = re.compile(r"\d")
_DATE = re.compile(r"\d{2,4}\s*[년.]\s*\d{1,2}\s*[월.]|\d{1,2}\s*월|\d{4}\s*년|\d{1,2}\s*일|분기|상반기|하반기")


@dataclass(frozen=True)
class ExtractiveConfig:
    """Knobs of the sentence picker (defaults chosen by `python -m bench.answers` on allganize dev)."""

    passages: int = 1  # sentences come from the first N hits (measured: 2 lowers coverage at equal length)
    sentences: int = 3  # at most this many are shown
    max_chars: int = 280  # total characters shown (a sentence that would pass it is skipped)
    max_sentence_chars: int = 280  # a longer sentence (a table row run, a run-on line) is cut around its match
    min_chars: int = 8  # shorter units (list markers, page numbers) are never answers
    lexical_weight: float = 1.0
    match: str = "substring"  # how a question morpheme counts as present: "morpheme" (in the sentence's
    # own morphemes) or "substring" (anywhere in its text, as the key-sentence picker does: "인가" in "인가요건")
    dense_weight: float = 0.0  # sentence-vector weight; measured: no gain at this length, ~0.5 s per question
    dense_candidates: int = 12  # only the lexically best N sentences are embedded (speed)
    rank_weight: float = 0.3  # bonus of the first passage over later ones
    cue_weight: float = 0.3  # bonus when the sentence has what the question type asks for (number, date)
    position_weight: float = 0.0  # bonus of a passage's first sentences (1 / (1 + position))
    redundancy: float = 1.0  # skip a sentence sharing this share of its morphemes with one already taken
    # (1.0: only repeats; measured: 0.6 costs 0.009 coverage)


@dataclass(frozen=True)
class AnswerSentence:
    """One shown sentence with its source: card `rank` (1-based), the passage, and where in it."""

    text: str  # as shown (white space collapsed; cut with "…" when very long)
    rank: int
    chunk: Chunk
    start: int  # span in chunk.text
    end: int
    score: float

    @property
    def citation(self) -> str:
        """`파일명, p. N`."""
        return citation(self.chunk)

    @property
    def page(self) -> int:
        return self.chunk.page_start


@dataclass(frozen=True)
class ExtractiveAnswer:
    question: str
    sentences: tuple[AnswerSentence, ...] = ()
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The sentences with their card markers: "문장 [1] 문장 [2]" (for export and the CLI)."""
        return " ".join(f"{s.text} [{s.rank}]" for s in self.sentences)

    @property
    def chars(self) -> int:
        """Characters shown (markers not counted)."""
        return sum(len(s.text) for s in self.sentences)

    def by_rank(self) -> dict[int, tuple[str, ...]]:
        """Card number -> the exact passage substrings chosen there (to highlight on the card)."""
        out: dict[int, list[str]] = {}
        for s in self.sentences:
            out.setdefault(s.rank, []).append(s.chunk.text[s.start:s.end])
        return {k: tuple(v) for k, v in out.items()}


@dataclass
class _Unit:
    rank: int
    chunk: Chunk
    start: int
    end: int
    text: str
    terms: set[str]
    position: int
    lexical: float = 0.0
    dense: float = 0.0
    cue: float = 0.0
    score: float = 0.0


def candidate_units(hits: Sequence[Hit], config: ExtractiveConfig) -> list[_Unit]:
    """Sentences of the first `config.passages` hits, with their content morphemes."""
    raw: list[tuple[int, Chunk, int, int, str, int]] = []
    for rank, hit in enumerate(hits[:config.passages], start=1):
        text = hit.chunk.text
        for pos, (a, b) in enumerate(sentence_spans(text)):
            while a < b and text[a].isspace():
                a += 1
            while b > a and text[b - 1].isspace():
                b -= 1
            shown = " ".join(text[a:b].split())
            if len(shown) >= config.min_chars:
                raw.append((rank, hit.chunk, a, b, shown, pos))
    terms = tokenize([r[4] for r in raw])
    return [_Unit(rank, chunk, a, b, shown, set(t), pos) for (rank, chunk, a, b, shown, pos), t in zip(raw, terms)
            if t]


def _z(x: np.ndarray) -> np.ndarray:
    sd = float(x.std())
    return (x - x.mean()) / sd if sd > 0 else np.zeros_like(x)


def _cut(text: str, terms: Sequence[str], limit: int) -> str:
    """`text` cut to `limit` characters around its first question morpheme, with "…" where cut."""
    if len(text) <= limit:
        return text
    hits = [text.find(t) for t in terms if t and t in text]
    center = min(hits) if hits else 0
    start = max(0, min(center - limit // 4, len(text) - limit))
    piece = text[start:start + limit - 2].strip()
    return ("…" if start > 0 else "") + piece + ("…" if start + limit - 2 < len(text) else "")


def score_units(question: str, units: list[_Unit], config: ExtractiveConfig, *, idf: Idf | None = None,
                embedder=None, query_vector: np.ndarray | None = None) -> list[str]:
    """Fill each unit's score; returns the question's content morphemes."""
    q_terms = list(dict.fromkeys(tokenize([question])[0]))
    if not units:
        return q_terms
    weight = _weights(q_terms, units, idf)
    total = sum(weight.values()) or 1.0
    for u in units:
        if config.match == "substring":
            low = u.text.lower()
            u.lexical = sum(w for t, w in weight.items() if t in low) / total
        else:
            u.lexical = sum(w for t, w in weight.items() if t in u.terms) / total
    wants_number, wants_date = bool(_NUMBER_Q.search(question)), bool(_DATE_Q.search(question))
    for u in units:
        if wants_date and _DATE.search(u.text):
            u.cue = 1.0
        elif wants_number and _NUMBER.search(u.text):
            u.cue = 1.0
    lex = np.asarray([u.lexical for u in units])
    score = config.lexical_weight * _z(lex)
    if config.dense_weight and embedder is not None:
        order = np.argsort(-lex, kind="stable")[:config.dense_candidates]
        qv = query_vector if query_vector is not None else embedder.embed_query(question)
        vectors = embedder.embed_passages([units[i].text for i in order], max_tokens=128)
        dense = np.full(len(units), np.nan)
        dense[order] = vectors @ qv
        for i in order:
            units[i].dense = float(dense[i])
        # sentences not embedded count as the weakest embedded one
        dense = np.where(np.isnan(dense), np.nanmin(dense[order]), dense)
        score = score + config.dense_weight * _z(dense)
    ranks = np.asarray([u.rank for u in units], dtype=np.float64)
    score = score + config.rank_weight * (1.0 / ranks) + config.cue_weight * np.asarray([u.cue for u in units])
    if config.position_weight:
        score = score + config.position_weight / (1.0 + np.asarray([u.position for u in units], dtype=np.float64))
    for u, s in zip(units, score.tolist()):
        u.score = s if u.lexical > 0 or u.dense > 0 else s - 10.0  # a sentence sharing nothing is a last resort
    return q_terms


def _weights(q_terms: Sequence[str], units: Sequence[_Unit], idf: Idf | None) -> dict[str, float]:
    if idf is not None:
        weights = {t: idf(t) for t in q_terms}
        if any(w > 0 for w in weights.values()):
            # a morpheme the corpus never saw still counts, like the rarest one
            top = max(weights.values())
            return {t: (w if w > 0 else top) for t, w in weights.items()}
    n = len(units)
    return {t: float(np.log1p((n + 1) / (1 + sum(1 for u in units if t in u.terms)))) for t in q_terms}


def select(units: list[_Unit], q_terms: Sequence[str], config: ExtractiveConfig) -> list[AnswerSentence]:
    """Best first within the budget, skipping near-repeats."""
    chosen: list[tuple[_Unit, str]] = []
    used = 0
    for u in sorted(units, key=lambda u: -u.score):
        if len(chosen) == config.sentences:
            break
        if any(_overlap(u.terms, c.terms) >= config.redundancy for c, _ in chosen):
            continue
        shown = _cut(u.text, q_terms, config.max_sentence_chars)
        if used + len(shown) > config.max_chars:
            if chosen:
                continue
            shown = _cut(u.text, q_terms, config.max_chars)  # the best one always shows, cut if it must
        chosen.append((u, shown))
        used += len(shown)
    return [AnswerSentence(shown, u.rank, u.chunk, u.start, u.end, round(u.score, 4)) for u, shown in chosen]


def _overlap(a: set[str], b: set[str]) -> float:
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0


def extractive_answer(question: str, hits: Sequence[Hit] | SearchResult, *, embedder=None, idf: Idf | None = None,
                      config: ExtractiveConfig | None = None) -> ExtractiveAnswer:
    """The sentences of the top passages that most likely answer `question`, each with its card number.

    `embedder` (the product's `Embedder`) adds sentence-level meaning; without it the pick is
    lexical only. `idf` is the corpus' morpheme idf (e.g. the searcher's BM25 `idf_of`); without
    it the candidates' own document frequencies stand in.
    """
    import time

    if isinstance(hits, SearchResult):
        hits = hits.hits
    config = config or ExtractiveConfig()
    t0 = time.perf_counter()
    units = candidate_units(list(hits), config)
    q_terms = score_units(question, units, config, idf=idf, embedder=embedder)
    picked = select(units, q_terms, config)
    return ExtractiveAnswer(question, tuple(picked), {"extract": (time.perf_counter() - t0) * 1000})


def answer_from_searcher(searcher, result: SearchResult, config: ExtractiveConfig | None = None) -> ExtractiveAnswer:
    """`extractive_answer` with the searcher's own embedder and corpus idf (what the page and the CLI use).

    Reads `searcher.embedder` and the idf of the searcher's BM25 view (`searcher.index.idf`).
    """
    idf = searcher.index.idf if result.hits else None
    return extractive_answer(result.query, result, embedder=getattr(searcher, "embedder", None), idf=idf,
                             config=config)
