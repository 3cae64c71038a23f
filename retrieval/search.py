"""`Searcher.search()`: the one search entry for the app and the benchmarks.

question ─ "query: " + embed ─▶ dense top-k ─┐
question ─ Kiwi morphemes ───▶ BM25 top-k ───┴─ fuse ─▶ rerank ─▶ cited hits (texts fetched from the store)

Both retrievers score every live passage exactly, over the derived in-memory views
(retrieval.index), which follow the store's generation.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from docqa.config import Settings
from docqa.errors import SearchInputError
from docqa.models import Embedder
from docqa.store import Store
from docqa.types import Chunk, Hit, SearchResult
from retrieval.index import DerivedIndex
from retrieval.lexical import key_sentences, tokenize

log = logging.getLogger(__name__)

MODES = ("hybrid", "dense", "lexical")
MAX_QUERY_CHARS = 2000
EMPTY_INDEX_MESSAGE = "색인된 문서가 없습니다. 먼저 문서 페이지에서 PDF를 올려 주세요."


@dataclass(frozen=True)
class FusionConfig:
    """How dense and lexical candidates are combined (chosen by measurement, see README)."""

    method: str = "zscore"  # "zscore" or "minmax" (normalised weighted sum), or "rrf"
    dense_weight: float = 0.3
    rrf_k: int = 60
    pool: int = 50  # candidates taken from each retriever


def _minmax(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.ones_like(x)


def _zscore(x: np.ndarray) -> np.ndarray:
    sd = float(x.std())
    return (x - x.mean()) / sd if sd > 0 else np.zeros_like(x)


def _top(scores: np.ndarray, mask: np.ndarray | None, k: int) -> np.ndarray:
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    k = min(k, int(np.isfinite(scores).sum()))
    if k <= 0:
        return np.empty(0, dtype=int)
    idx = np.argpartition(-scores, k - 1)[:k]
    return idx[np.argsort(-scores[idx], kind="stable")]


class Searcher:
    """Hybrid retrieval over one store with one embedder, plus an optional reranker."""

    def __init__(self, store: Store, embedder: Embedder, reranker=None, fusion: FusionConfig | None = None):
        self.store = store
        self.embedder = embedder
        self.reranker = reranker
        self.fusion = fusion or FusionConfig()
        self.index = DerivedIndex(store)

    @classmethod
    def from_services(cls, store: Store, embedder: Embedder, settings: Settings | None = None,
                      reranker=None) -> Searcher:
        if settings is None:
            return cls(store, embedder, reranker)
        if reranker is None:
            from retrieval.rerank import load_reranker

            reranker = load_reranker(settings, embedder)
        if settings.fusion not in ("zscore", "minmax", "rrf"):
            raise SearchInputError(f"RAG_FUSION은 zscore, minmax, rrf 중 하나여야 합니다: {settings.fusion}")
        return cls(store, embedder, reranker, FusionConfig(settings.fusion, settings.dense_weight))

    def search(self, query: str, k: int = 10, *, domains: Sequence[str] = (), doc_ids: Sequence[str] = (),
               mode: str = "hybrid", rerank: bool = True) -> SearchResult:
        """Best passages for `query`, each cited by file and page. Never raises on bad input."""
        if mode not in MODES:
            raise SearchInputError(f"알 수 없는 검색 방식입니다: {mode}")
        query = " ".join((query or "").split())
        if not query:
            return SearchResult(query, (), {}, (), "질문을 입력하세요.")
        notes = []
        if len(query) > MAX_QUERY_CHARS:
            query = query[:MAX_QUERY_CHARS]
            notes.append(f"질문이 너무 길어 앞 {MAX_QUERY_CHARS}자만 사용했습니다.")
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        index = self.index
        index.refresh()
        timings["index"] = (time.perf_counter() - t0) * 1000
        stages: list[str] = []
        qvec = None
        if mode in ("hybrid", "dense"):  # the model runs outside the index lock
            t0 = time.perf_counter()
            qvec = self.embedder.embed_query(query)
            timings["dense"] = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        query_terms = tokenize([query])[0]
        timings["lexical"] = (time.perf_counter() - t0) * 1000

        with index.lock:
            if index.live_count() == 0:
                return SearchResult(query, (), timings, (), EMPTY_INDEX_MESSAGE)
            mask = index.mask(domains, doc_ids)
            if not mask.any():
                return SearchResult(query, (), timings, (), "선택한 조건(도메인·문서)에 맞는 문서가 없습니다.")
            dense = lexical = None
            if qvec is not None:
                t0 = time.perf_counter()
                dense = index.dense_scores(qvec)
                dense_top = _top(dense, mask, self.fusion.pool)
                timings["dense"] += (time.perf_counter() - t0) * 1000
                stages.append("dense")
            if mode in ("hybrid", "lexical"):
                t0 = time.perf_counter()
                lexical = index.lexical_scores(query_terms)
                lexical_top = _top(lexical, (lexical > 0) & mask, self.fusion.pool)  # no shared morpheme: no hit
                timings["lexical"] += (time.perf_counter() - t0) * 1000
                stages.append("lexical")
            t0 = time.perf_counter()
            if mode == "dense":
                cand, fused = dense_top, dense[dense_top]
            elif mode == "lexical":
                cand, fused = lexical_top, lexical[lexical_top]
            else:
                cand, fused = self._fuse(dense, dense_top, lexical, lexical_top)
                stages.append("fusion")
            timings["fusion"] = (time.perf_counter() - t0) * 1000
            ranks = {"dense": _rank_map(dense_top) if dense is not None else {},
                     "lexical": _rank_map(lexical_top) if lexical is not None else {}}
            record_ids = [index.record_ids[i] for i in cand.tolist()]
            idf = _IdfTable(index)
        if len(cand) == 0:
            return SearchResult(query, (), timings, tuple(stages), "질문과 맞는 내용을 찾지 못했습니다.")
        ranks = {name: {record_ids[p]: r for p, r in _positions(cand, m)} for name, m in ranks.items()}

        t0 = time.perf_counter()
        top = self.reranker.top if rerank and self.reranker is not None and mode == "hybrid" else 0
        chunks = self.store.fetch(record_ids[:max(top, 3 * k)])
        timings["fetch"] = (time.perf_counter() - t0) * 1000
        order = list(range(len(record_ids)))
        scores = np.asarray(fused, dtype=np.float64)
        if top:
            t0 = time.perf_counter()
            order, scores = self._rerank(query, record_ids, chunks, scores, query_terms, qvec, idf)
            timings["rerank"] = (time.perf_counter() - t0) * 1000
            stages.append(f"rerank:{self.reranker.name}")

        t0 = time.perf_counter()
        hits = self._cite(record_ids, order, scores, chunks, k, set(query_terms), idf, ranks)
        timings["cite"] = (time.perf_counter() - t0) * 1000
        return SearchResult(query, tuple(hits), timings, tuple(stages), " ".join(notes))

    def _rerank(self, query: str, record_ids: list[str], chunks: dict[str, Chunk], fused: np.ndarray,
                terms: list[str], qvec: np.ndarray, idf) -> tuple[list[int], np.ndarray]:
        """Reorder the reranker's `top` candidates by its scores; the rest follow in fused order,
        with scores shifted below the reranked ones."""
        n = self.reranker.top
        head_pos = [p for p in range(min(n, len(record_ids))) if record_ids[p] in chunks]
        head = np.asarray(self.reranker.rerank(query, [chunks[record_ids[p]] for p in head_pos], fused[head_pos],
                                               terms=terms, idf=idf, query_vector=qvec), dtype=np.float64)
        ranked = [head_pos[i] for i in np.argsort(-head, kind="stable")]
        tail = [p for p in range(len(record_ids)) if p not in set(head_pos)]
        scores = fused.copy()
        scores[ranked] = np.sort(head)[::-1]
        if tail:
            scores[tail] = fused[tail] - fused[tail].max() + head.min() - 1e-3
        return ranked + tail, scores

    def _fuse(self, dense: np.ndarray, dense_top: np.ndarray, lexical: np.ndarray,
              lexical_top: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cand = np.asarray(list(dict.fromkeys([*lexical_top.tolist(), *dense_top.tolist()])), dtype=int)
        if len(cand) == 0:
            return cand, np.empty(0)
        f = self.fusion
        if f.method == "rrf":
            dr, lr = _rank_map(dense_top), _rank_map(lexical_top)
            miss = f.pool + 1
            scores = np.asarray([1 / (f.rrf_k + dr.get(i, miss)) + 1 / (f.rrf_k + lr.get(i, miss)) for i in cand])
        else:
            norm = _zscore if f.method == "zscore" else _minmax
            scores = f.dense_weight * norm(dense[cand]) + (1 - f.dense_weight) * norm(lexical[cand])
        order = np.argsort(-scores, kind="stable")
        return cand[order], scores[order]

    def _cite(self, record_ids: list[str], order: list[int], scores: np.ndarray, chunks: dict[str, Chunk], k: int,
              terms: set[str], idf, ranks: dict[str, dict[str, int]]) -> list[Hit]:
        """Top-k hits in `order`; a passage overlapping a better one on the same page is dropped."""
        kept: list[tuple[str, float]] = []
        pos = 0
        while len(kept) < k and pos < len(order):
            rid = record_ids[order[pos]]
            if rid not in chunks:  # fetch more candidates when the first ones ran out (or vanished)
                missing = [record_ids[o] for o in order[pos:pos + 2 * k] if record_ids[o] not in chunks]
                chunks.update(self.store.fetch(missing))
            c = chunks.get(rid)
            if c is not None and not any(_overlaps(c, chunks[j]) for j, _ in kept):
                kept.append((rid, float(scores[order[pos]])))
            pos += 1
        keys = key_sentences([chunks[r].text for r, _ in kept], terms, idf)
        hits = []
        for rank, ((rid, score), key) in enumerate(zip(kept, keys), start=1):
            stage_ranks = {name: r[rid] for name, r in ranks.items() if rid in r}
            stage_ranks["final"] = rank
            hits.append(Hit(chunks[rid], score, key, stage_ranks))
        return hits


class _IdfTable:
    """Idf of query morphemes, computed under the index lock, usable after it is released."""

    def __init__(self, index: DerivedIndex):
        self._index = index
        self._live = index.live_count()
        self._cache: dict[str, float] = {}

    def __call__(self, term: str) -> float:
        if term not in self._cache:
            with self._index.lock:
                self._cache[term] = self._index.lexical.idf_of(term, self._live)
        return self._cache[term]


def _positions(cand: np.ndarray, rank_of_row: dict[int, int]):
    """(position in cand, stage rank) for the candidates a stage ranked."""
    for p, row in enumerate(cand.tolist()):
        if row in rank_of_row:
            yield p, rank_of_row[row]


def _rank_map(order: np.ndarray) -> dict[int, int]:
    return {int(i): r for r, i in enumerate(order.tolist(), start=1)}


def _overlaps(a: Chunk, b: Chunk) -> bool:
    return (a.doc_id == b.doc_id and a.page_start == b.page_start
            and a.char_start < b.char_end and b.char_start < a.char_end)
