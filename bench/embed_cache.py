"""An on-disk embedding cache for the benchmarks only (the product never uses it).

Each parsing or chunking change re-indexes the whole corpus; most passages come out the
same text as before. The cache keys a vector by (model id, revision, prefix kind,
max tokens, exact text), so a vector is reused only where the model would compute the
very same one, and stores it in one SQLite file under the bench cache folder.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


class CachedEmbedder:
    """Wraps the product's Embedder: `embed_passages` / `embed_query` look vectors up first."""

    def __init__(self, embedder, path: Path):
        self._inner = embedder
        self._path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS vec (key TEXT PRIMARY KEY, v BLOB)")
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def uncached(self):
        """The product's embedder itself (to time what the product computes)."""
        return self._inner

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    def _key(self, kind: str, max_tokens: int, text: str) -> str:
        c = self._inner.choice
        path = getattr(getattr(self._inner, "encoder_choice", None), "path", "")  # int8 vectors differ from fp32
        raw = "\x00".join([c.model_id, c.revision, path, kind, str(max_tokens), text.strip()])
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()

    def _lookup(self, keys: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                part = keys[i:i + 500]
                marks = ",".join("?" * len(part))
                for key, blob in self._db.execute(f"SELECT key, v FROM vec WHERE key IN ({marks})", part):
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def _save(self, pairs: list[tuple[str, np.ndarray]]) -> None:
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO vec VALUES (?, ?)",
                                 [(k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in pairs])
            self._db.commit()

    def embed_passages(self, texts: list[str], progress: Callable[[int], None] | None = None,
                       max_tokens: int | None = None) -> np.ndarray:
        extra = {} if max_tokens is None else {"max_tokens": max_tokens}
        limit = max_tokens if max_tokens is not None else self._inner.max_tokens
        keys = [self._key("passage", limit, t) for t in texts]
        found = self._lookup(list(dict.fromkeys(keys)))
        todo = [i for i, k in enumerate(keys) if k not in found]
        self.hits += len(texts) - len(todo)
        self.misses += len(todo)
        if todo:
            done_before = len(texts) - len(todo)
            step = None if progress is None else (lambda n: progress(done_before + n))
            vectors = self._inner.embed_passages([texts[i] for i in todo], progress=step, **extra)
            fresh = [(keys[i], v) for i, v in zip(todo, vectors)]
            self._save(fresh)
            found.update(fresh)
        if progress is not None:
            progress(len(texts))
        if not texts:
            return np.zeros((0, self._inner.dim), dtype=np.float32)
        return np.stack([found[k] for k in keys])

    def embed_query(self, text: str) -> np.ndarray:
        key = self._key("query", self._inner.max_tokens, text)
        found = self._lookup([key])
        if key in found:
            return found[key]
        vector = self._inner.embed_query(text)
        self._save([(key, vector)])
        return vector
