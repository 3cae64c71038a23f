"""Reranking of fused candidates.

A cross-encoder (sentence-transformers `CrossEncoder`) when its weights can be
loaded (local folder, Hugging Face cache, or the hub when reachable). None ship in
any package installable here, so offline the searcher falls back to
`SentenceReranker`: the embedding model scores the candidates' best sentences.

Every reranker scores the first `top` fused candidates:
`rerank(query, chunks, fused, terms=, idf=, query_vector=)` -> one score per chunk.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from docqa.config import Settings
from docqa.models import locate_model
from docqa.types import Chunk
from retrieval.lexical import ranked_sentences

log = logging.getLogger(__name__)


class CrossEncoderReranker:
    """Scores (question, passage) pairs with a cross-encoder, in batches, truncated to `max_length`."""

    top = 30

    def __init__(self, model, name: str, batch_size: int = 8, max_length: int = 512):
        self.model = model
        self.name = name
        self.batch_size = batch_size
        self.model.max_length = max_length

    @classmethod
    def load(cls, path_or_id: str, max_length: int = 512) -> CrossEncoderReranker:
        from sentence_transformers import CrossEncoder

        return cls(CrossEncoder(path_or_id, device="cpu", max_length=max_length), Path(path_or_id).name)

    def rerank(self, query: str, chunks: Sequence[Chunk], fused: np.ndarray, **_context) -> np.ndarray:
        pairs = [(query, c.text) for c in chunks]
        return np.asarray(self.model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False),
                          dtype=np.float64).reshape(len(chunks))


def _z(x: np.ndarray) -> np.ndarray:
    sd = float(x.std())
    return (x - x.mean()) / sd if sd > 0 else np.zeros_like(x, dtype=np.float64)


class SentenceReranker:
    """Offline reranking by the embedding model at sentence level.

    A passage's fused score says it shares words and topic with the question; this
    stage asks whether one or two of its sentences say what the question asks. For each
    of the first `top` candidates, the `per_passage` sentences with the most
    idf-weighted query morphemes are embedded (with `passage: `, at most `max_tokens`,
    cached by text) and compared with the question's `query: ` vector; the mean of the
    best two cosines, z-scored over the candidates, is added with `weight` to the
    z-scored fused score. Chosen on all three eval sets (see README): every setting
    tried raised MRR@10 on each of them; `max_tokens` trades a little of it for speed.
    """

    name = "sentence-e5"
    top = 10

    def __init__(self, embedder, per_passage: int = 3, weight: float = 0.25, max_tokens: int = 64,
                 cache_size: int = 20_000):
        self.embedder = embedder
        self.per_passage = per_passage
        self.max_tokens = max_tokens
        self.weight = weight
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def rerank(self, query: str, chunks: Sequence[Chunk], fused: np.ndarray, *, terms: Sequence[str],
               idf: Callable[[str], float], query_vector: np.ndarray, **_context) -> np.ndarray:
        weights = {t: idf(t) for t in set(terms)}
        picks = [[s for _, s, _ in ranked_sentences(c.text, weights)[:self.per_passage]] for c in chunks]
        vectors = self._vectors(list(dict.fromkeys(s for p in picks for s in p)))
        best = np.asarray([np.mean(sorted(float(vectors[s] @ query_vector) for s in p)[-2:]) if p else np.nan
                           for p in picks])
        best = np.where(np.isnan(best), np.nanmin(best) if np.isfinite(best).any() else 0.0, best)
        return _z(np.asarray(fused, dtype=np.float64)) + self.weight * _z(best)

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def _vectors(self, sentences: list[str]) -> dict[str, np.ndarray]:
        with self._lock:
            found = {s: self._cache[s] for s in sentences if s in self._cache}
        missing = [s for s in sentences if s not in found]
        if missing:
            found.update(zip(missing, self.embedder.embed_passages(missing, max_tokens=self.max_tokens)))
        with self._lock:
            for s in sentences:
                self._cache[s] = found[s]
                self._cache.move_to_end(s)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return found


def load_reranker(settings: Settings, embedder=None) -> CrossEncoderReranker | SentenceReranker | None:
    """The configured cross-encoder; when it can't be loaded, the offline sentence reranker
    (needs `embedder`). None when switched off (`none`)."""
    name = settings.reranker
    if name.lower() in ("", "none", "off"):
        return None
    fallback = SentenceReranker(embedder) if embedder is not None else None
    if name.lower() == "sentence":
        return fallback
    try:
        found = locate_model(name)
        if found is not None:
            return CrossEncoderReranker.load(str(found.path))
    except Exception as exc:  # noqa: BLE001 - a reranker that can't load is replaced, with the reason logged
        log.warning("reranker %r could not be loaded (%s); using the offline sentence reranker", name, exc)
        return fallback
    log.info("reranker %r is not available offline; using the offline sentence reranker", name)
    return fallback
