"""In-memory views derived from the store: BM25 over morphemes and the passage vectors.

Rebuilt whenever the store's fingerprint changes (documents added or deleted, by
this process or another one sharing the Chroma server), so it is never stale.
Morphemes are computed once at ingest and kept in each passage's metadata
("lex"), so a rebuild only reads the store.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import numpy as np

from docqa.store import Store, chunk_from_record
from docqa.types import Chunk
from retrieval.lexical import BM25

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    version: tuple[int, int]
    chunks: tuple[Chunk, ...]
    position: dict[str, int]  # chunk_id -> row
    vectors: np.ndarray  # (n, dim), L2-normalised
    bm25: BM25
    domains: np.ndarray  # per row
    doc_ids: np.ndarray  # per row


class DerivedIndex:
    """Thread-safe cache of a `Snapshot` of the store."""

    def __init__(self, store: Store):
        self.store = store
        self._lock = threading.Lock()
        self._snap: Snapshot | None = None

    def get(self) -> Snapshot:
        version = self.store.version()
        snap = self._snap
        if snap is not None and snap.version == version:
            return snap
        with self._lock:
            if self._snap is None or self._snap.version != version:
                self._snap = self._build(version)
            return self._snap

    def _build(self, version: tuple[int, int]) -> Snapshot:
        t0 = time.perf_counter()
        rows = self.store.visible_records(embeddings=True)
        chunks = tuple(chunk_from_record(i, t, m) for i, t, m, _ in rows)
        dim = int(self.store.signature.get("dim", 0)) or (len(rows[0][3]) if rows else 0)
        vectors = np.asarray([e for *_, e in rows], dtype=np.float32).reshape(len(rows), dim)
        bm25 = BM25((m.get("lex") or "").split() for _, _, m, _ in rows)
        snap = Snapshot(
            version=version, chunks=chunks, position={c.chunk_id: n for n, c in enumerate(chunks)},
            vectors=vectors, bm25=bm25,
            domains=np.asarray([c.domain for c in chunks], dtype=object),
            doc_ids=np.asarray([c.doc_id for c in chunks], dtype=object),
        )
        log.info("derived index: %d passages in %.2f s", len(chunks), time.perf_counter() - t0)
        return snap
