"""`Searcher.search()`: the one search entry for the app and the benchmarks.

question ─ "query: " + embed ─▶ dense top-k (Chroma) ─┐
question ─ Kiwi morphemes ───▶ BM25 top-k ────────────┴─ fuse ─▶ rerank ─▶ cited hits
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
from retrieval.index import DerivedIndex, Snapshot
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
        snap = self.index.get()
        timings["index"] = (time.perf_counter() - t0) * 1000
        if not snap.chunks:
            return SearchResult(query, (), timings, (), EMPTY_INDEX_MESSAGE)
        mask = self._mask(snap, domains, doc_ids)
        if mask is not None and not mask.any():
            return SearchResult(query, (), timings, (), "선택한 조건(도메인·문서)에 맞는 문서가 없습니다.")

        stages: list[str] = []
        dense = lexical = None
        query_terms: list[str] = []
        if mode in ("hybrid", "dense"):
            t0 = time.perf_counter()
            qvec = self.embedder.embed_query(query)
            dense = snap.vectors @ qvec
            hits = self.store.query(qvec, self.fusion.pool, where=self._where(domains, doc_ids))
            dense_top = np.asarray([snap.position[h.chunk.chunk_id] for h in hits if h.chunk.chunk_id in snap.position],
                                   dtype=int)
            timings["dense"] = (time.perf_counter() - t0) * 1000
            stages.append("dense")
        if mode in ("hybrid", "lexical"):
            t0 = time.perf_counter()
            query_terms = tokenize([query])[0]
            lexical = snap.bm25.scores(query_terms)
            matched = lexical > 0  # a passage sharing no morpheme with the question is no lexical hit
            lexical_top = _top(lexical, matched if mask is None else matched & mask, self.fusion.pool)
            timings["lexical"] = (time.perf_counter() - t0) * 1000
            stages.append("lexical")
        if not query_terms:
            query_terms = tokenize([query])[0]

        t0 = time.perf_counter()
        if mode == "dense":
            cand, fused = dense_top, dense[dense_top]
        elif mode == "lexical":
            cand, fused = lexical_top, lexical[lexical_top]
        else:
            cand, fused = self._fuse(dense, dense_top, lexical, lexical_top)
            stages.append("fusion")
        timings["fusion"] = (time.perf_counter() - t0) * 1000
        if len(cand) == 0:
            return SearchResult(query, (), timings, tuple(stages), "질문과 맞는 내용을 찾지 못했습니다.")
        ranks = {"dense": _rank_map(dense_top) if dense is not None else {},
                 "lexical": _rank_map(lexical_top) if lexical is not None else {}}

        if rerank and self.reranker is not None and mode == "hybrid":
            t0 = time.perf_counter()
            cand, fused = self._rerank(query, snap, cand, fused, query_terms, qvec)
            timings["rerank"] = (time.perf_counter() - t0) * 1000
            stages.append(f"rerank:{self.reranker.name}")

        t0 = time.perf_counter()
        hits = self._cite(snap, cand, fused, k, set(query_terms), ranks)
        timings["cite"] = (time.perf_counter() - t0) * 1000
        return SearchResult(query, tuple(hits), timings, tuple(stages), " ".join(notes))

    def _rerank(self, query: str, snap: Snapshot, cand: np.ndarray, fused: np.ndarray, terms: list[str],
                qvec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Reorder the reranker's `top` candidates by its scores; the rest follow in fused order,
        with scores shifted below the reranked ones."""
        n = self.reranker.top
        head = np.asarray(self.reranker.rerank(query, [snap.chunks[i] for i in cand[:n]], fused[:n], terms=terms,
                                               idf=snap.bm25.idf_of, query_vector=qvec), dtype=np.float64)
        order = np.argsort(-head, kind="stable")
        tail = np.asarray(fused[n:], dtype=np.float64)
        if len(tail):
            tail = tail - tail.max() + head.min() - 1e-3
        return np.concatenate([cand[:n][order], cand[n:]]), np.concatenate([head[order], tail])

    @staticmethod
    def _mask(snap: Snapshot, domains: Sequence[str], doc_ids: Sequence[str]) -> np.ndarray | None:
        mask = None
        if domains:
            mask = np.isin(snap.domains, list(domains))
        if doc_ids:
            m = np.isin(snap.doc_ids, list(doc_ids))
            mask = m if mask is None else mask & m
        return mask

    @staticmethod
    def _where(domains: Sequence[str], doc_ids: Sequence[str]) -> dict | None:
        clauses = []
        if domains:
            clauses.append({"domain": {"$in": list(domains)}})
        if doc_ids:
            clauses.append({"doc_id": {"$in": list(doc_ids)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

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

    def _cite(self, snap: Snapshot, cand: np.ndarray, scores: np.ndarray, k: int, terms: set[str],
              ranks: dict[str, dict[int, int]]) -> list[Hit]:
        """Top-k hits; a passage overlapping a better one on the same page is dropped."""
        kept: list[tuple[int, float]] = []
        for i, score in zip(cand.tolist(), scores.tolist()):
            c = snap.chunks[i]
            if any(_overlaps(c, snap.chunks[j]) for j, _ in kept):
                continue
            kept.append((i, score))
            if len(kept) == k:
                break
        keys = key_sentences([snap.chunks[i].text for i, _ in kept], terms, snap.bm25.idf_of)
        hits = []
        for pos, ((i, score), key) in enumerate(zip(kept, keys), start=1):
            stage_ranks = {name: r[i] for name, r in ranks.items() if i in r}
            stage_ranks["final"] = pos
            hits.append(Hit(snap.chunks[i], float(score), key, stage_ranks))
        return hits


def _rank_map(order: np.ndarray) -> dict[int, int]:
    return {int(i): r for r, i in enumerate(order.tolist(), start=1)}


def _overlaps(a: Chunk, b: Chunk) -> bool:
    return (a.doc_id == b.doc_id and a.page_start == b.page_start
            and a.char_start < b.char_end and b.char_start < a.char_end)
