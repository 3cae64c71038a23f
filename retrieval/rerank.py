"""Reranking of fused candidates.

A cross-encoder (sentence-transformers `CrossEncoder`) when its weights can be
loaded (local folder, Hugging Face cache, or the hub when reachable); none ship
in any package installable here, so offline the searcher runs without this stage.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from docqa.config import Settings
from docqa.models import _cached_snapshot, hub_reachable
from docqa.types import Chunk

log = logging.getLogger(__name__)


class CrossEncoderReranker:
    """Scores (question, passage) pairs with a cross-encoder, in batches, truncated to `max_length`."""

    def __init__(self, model, name: str, batch_size: int = 8, max_length: int = 512):
        self.model = model
        self.name = name
        self.batch_size = batch_size
        self.model.max_length = max_length

    @classmethod
    def load(cls, path_or_id: str, max_length: int = 512) -> CrossEncoderReranker:
        from sentence_transformers import CrossEncoder

        return cls(CrossEncoder(path_or_id, device="cpu", max_length=max_length), Path(path_or_id).name)

    def rerank(self, query: str, query_terms: Sequence[str], chunks: Sequence[Chunk],
               fused: np.ndarray) -> np.ndarray:
        pairs = [(query, c.text) for c in chunks]
        return np.asarray(self.model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False),
                          dtype=np.float64).reshape(len(chunks))


def load_reranker(settings: Settings, embedder=None) -> CrossEncoderReranker | None:
    """The configured cross-encoder, or None (with the reason logged) when it can't be loaded."""
    name = settings.reranker
    if name.lower() in ("", "none", "off"):
        return None
    try:
        if Path(name).expanduser().is_dir():
            return CrossEncoderReranker.load(str(Path(name).expanduser()))
        snapshot = _cached_snapshot(name)
        if snapshot is not None:
            return CrossEncoderReranker.load(str(snapshot))
        if hub_reachable():
            return CrossEncoderReranker.load(name)
    except Exception as exc:  # noqa: BLE001 - a reranker that can't load is skipped, with the reason logged
        log.warning("reranker %r could not be loaded: %s", name, exc)
        return None
    log.info("reranker %r is not available offline; searching without a cross-encoder", name)
    return None
