"""The in-memory views derived from the store: passage vectors and Korean BM25, kept per document.

The views follow the store's generation: when another process (or this one) commits, the
registry is compared with what is loaded, and only the documents that were added, replaced
or deleted are read or dropped. Nothing is rebuilt from the whole store after a change.
Passage texts stay in the store (fetched for the few candidates a search returns), so memory
grows with vectors and term counts only. Morphemes are computed once at ingest and kept in
each passage's metadata ("lex").
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from docqa.store import Store
from retrieval.lexical import PAIR_BITS, PAIR_WEIGHT, index_terms, term_pairs

log = logging.getLogger(__name__)

K1, B = 1.2, 0.75
_CHECK_EVERY_S = 0.25  # at most this often a search asks the store for its generation
_TAIL_SHARE = 0.2  # rebuild the lexical matrices when rows added since the last build exceed this share
_DEAD_SHARE = 0.25  # compact when this share of rows belongs to deleted documents
# How row files count terms (retrieval.lexical.index_terms and term_pairs): a file of another
# version is read from the store again.
ROW_FILE_VERSION = "terms-dates-pairs-1"


@dataclass
class Counts:
    """Term counts of consecutive rows: column ids row after row, aligned counts, distinct terms per row."""

    cols: np.ndarray  # int32
    tfs: np.ndarray  # uint16
    row_nnz: np.ndarray  # int32

    @classmethod
    def of(cls, rows: list[list[int]] | list[np.ndarray]) -> Counts:
        cols: list[int] = []
        tfs: list[int] = []
        row_nnz = np.zeros(len(rows), dtype=np.int32)
        for r, ids in enumerate(rows):
            counts = Counter(ids.tolist() if isinstance(ids, np.ndarray) else ids)
            cols.extend(counts)
            tfs.extend(counts.values())
            row_nnz[r] = len(counts)
        return cls(np.asarray(cols, dtype=np.int32),
                   np.minimum(np.asarray(tfs, dtype=np.int64), 65535).astype(np.uint16), row_nnz)


@dataclass
class _Doc:
    build: str
    start: int  # first row
    count: int
    domain: str
    words: Counts  # ids into the view's vocabulary
    pairs: Counts  # hashed ids of adjacent morpheme pairs


@dataclass
class LocalTerms:
    """One document's term counts with ids into its own term list (merged into a view's vocabulary
    without reading every morpheme again), and its morpheme pairs' counts."""

    terms: list[str]
    words: Counts  # ids into `terms`
    pairs: Counts  # retrieval.lexical.term_pairs ids
    lengths: np.ndarray  # float32 morphemes per row


def local_terms(lexes: list[str]) -> LocalTerms:
    vocab: dict[str, int] = {}
    rows = [index_terms(lex.split()) for lex in lexes]
    words = Counts.of([[vocab.setdefault(t, len(vocab)) for t in terms] for terms in rows])
    pairs = Counts.of([term_pairs(terms) for terms in rows])
    return LocalTerms(list(vocab), words, pairs, np.asarray([len(t) for t in rows], dtype=np.float32))


class RowFiles:
    """The derived rows of each committed build, as one file per build under `folder`.

    A build's passages never change once committed (a new version is a new build), so a file
    is valid for as long as the registry names its build: a process starting on a large index
    reads these instead of asking the store for every vector and morpheme. Written atomically by
    whichever process read the build first; removed when the build is dropped. Unreadable or
    missing files are simply read from the store again.
    """

    def __init__(self, folder: Path | None):
        self.folder = folder

    @classmethod
    def of(cls, store: Store) -> RowFiles:
        return cls(store.settings.data_dir / "derived" if store.settings.data_dir else None)

    def save_written(self, doc_id: str, build: str, chunk_ids: list[str], vectors: np.ndarray,
                     lexical: list[str]) -> None:
        """The writer's copy of a build it just committed (so that no reader has to ask the store);
        rows in record-id order, as a reader would read them."""
        try:
            ids = [f"{c}@{build}" for c in chunk_ids]
            order = sorted(range(len(ids)), key=ids.__getitem__)
            self.save(doc_id, build, [ids[i] for i in order], np.asarray(vectors, dtype=np.float32)[order],
                      local_terms([lexical[i] for i in order]))
        except Exception as exc:  # noqa: BLE001 - only an optimisation: readers fall back to the store
            log.info("row file for %s not written: %s", doc_id, exc)

    def _path(self, doc_id: str, build: str) -> Path | None:
        if self.folder is None:
            return None
        return self.folder / f"{doc_id}-{build}.npz"

    def load(self, doc_id: str, build: str, dim: int) -> tuple[list[str], np.ndarray, LocalTerms] | None:
        path = self._path(doc_id, build)
        if path is None or not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["version"]) != ROW_FILE_VERSION:
                    raise ValueError(f"row file version {z['version']}")
                ids = z["record_ids"].tolist()
                vectors = z["vectors"].astype(np.float32).reshape(len(ids), dim)
                local = LocalTerms(z["terms"].tolist(), Counts(z["cols"], z["tfs"], z["row_nnz"]),
                                   Counts(z["pair_cols"], z["pair_tfs"], z["pair_nnz"]), z["lengths"])
            return ids, vectors, local
        except Exception as exc:  # noqa: BLE001 - a damaged file is read from the store again
            log.info("row file %s unreadable (%s); reading the store", path.name, exc)
            return None

    def save(self, doc_id: str, build: str, ids: list[str], vectors: np.ndarray, local: LocalTerms) -> None:
        path = self._path(doc_id, build)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
            w, p = local.words, local.pairs
            np.savez(tmp, version=np.asarray(ROW_FILE_VERSION), record_ids=np.asarray(ids, dtype=str),
                     vectors=vectors.astype(np.float32),
                     terms=np.asarray(local.terms, dtype=str), cols=w.cols, tfs=w.tfs, row_nnz=w.row_nnz,
                     pair_cols=p.cols, pair_tfs=p.tfs, pair_nnz=p.row_nnz, lengths=local.lengths)
            os.replace(tmp, path)
        except OSError as exc:  # a read-only data dir: the views still work, starts are slower
            log.info("row file %s not written: %s", path.name, exc)

    def remove(self, doc_id: str, build: str) -> None:
        path = self._path(doc_id, build)
        if path is not None:
            path.unlink(missing_ok=True)


class _Postings:
    """BM25 term weights of one kind of term (morphemes, or morpheme pairs) over the view's rows."""

    def __init__(self, width: int = 0) -> None:
        self.df = np.zeros(width, dtype=np.int32)  # width: a fixed number of columns (hashed ids), or 0
        self.matrix: sparse.csc_matrix | None = None  # rows [0, built_rows)
        self.built_rows = 0
        self.tail: sparse.csc_matrix | None = None  # rows [built_rows, n), rebuilt when dirty
        self._tail: list[tuple[int, int, Counts]] = []

    def add(self, start: int, count: int, counts: Counts, n_cols: int = 0) -> None:
        """Rows [start, start + count); `n_cols`: the vocabulary's size now, when it grows."""
        if n_cols > len(self.df):
            self.df = np.concatenate([self.df, np.zeros(n_cols - len(self.df), dtype=np.int32)])
        np.add.at(self.df, counts.cols, 1)
        self._tail.append((start, count, counts))
        self.tail = None

    def drop(self, counts: Counts) -> None:
        np.subtract.at(self.df, counts.cols, 1)

    def rebuild(self, rows: list[tuple[int, int, Counts]], n_rows: int) -> None:
        self.matrix = _csc(rows, 0, n_rows, len(self.df))
        self.built_rows = n_rows
        self._tail = []
        self.tail = None

    def idf(self, cols: np.ndarray | list[int], live: int) -> np.ndarray:
        df = self.df[np.asarray(cols, dtype=np.int64)].astype(np.float64)
        return np.log1p((live - df + 0.5) / (df + 0.5))

    def scores(self, cols: list[int], lengths: np.ndarray, avg: float, alive: np.ndarray, live: int) -> np.ndarray:
        """BM25 of every row for the distinct `cols` (`avg`: mean length of the `live` rows)."""
        n = len(alive)
        out = np.zeros(n, dtype=np.float32)
        if not cols:
            return out
        if self.tail is None and self._tail:
            self.tail = _csc(self._tail, self.built_rows, n, len(self.df))
        for c, idf in zip(cols, self.idf(cols, live)):
            for matrix, offset in ((self.matrix, 0), (self.tail, self.built_rows)):
                if matrix is None or c >= matrix.shape[1]:
                    continue
                lo, hi = matrix.indptr[c], matrix.indptr[c + 1]
                if lo == hi:
                    continue
                rows = matrix.indices[lo:hi] + offset
                tf = matrix.data[lo:hi]
                norm = K1 * (1 - B + B * lengths[rows] / avg)
                out[rows] += (idf * tf * (K1 + 1) / (tf + norm)).astype(np.float32)
        out[~alive] = 0.0
        return out


class LexicalView:
    """Okapi BM25 (k1 1.2, b 0.75) over morphemes, plus PAIR_WEIGHT times the BM25 of adjacent
    morpheme pairs, with rows added and dropped per document.

    Scores use the statistics of the live rows only (document frequency, average length),
    exactly as if the index had been built from them.
    """

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self.lengths = np.zeros(0, dtype=np.float32)
        self.words = _Postings()
        self.pairs = _Postings(1 << PAIR_BITS)

    @property
    def built_rows(self) -> int:
        return self.words.built_rows

    def globalize(self, terms: list[str], cols: np.ndarray) -> np.ndarray:
        """A document's term ids (into its own `terms`) as ids of this view's vocabulary."""
        ids = np.fromiter((self.vocab.setdefault(t, len(self.vocab)) for t in terms), dtype=np.int32,
                          count=len(terms))
        return ids[cols] if len(cols) else np.zeros(0, dtype=np.int32)

    def add(self, doc: _Doc, lengths: np.ndarray) -> None:
        self.words.add(doc.start, doc.count, doc.words, len(self.vocab))
        self.pairs.add(doc.start, doc.count, doc.pairs)
        self.lengths = np.concatenate([self.lengths, lengths])

    def drop(self, doc: _Doc) -> None:
        self.words.drop(doc.words)
        self.pairs.drop(doc.pairs)

    def rebuild(self, docs: list[_Doc], n_rows: int) -> None:
        """One matrix over every row (after a compaction or when the tail grew large)."""
        self.words.rebuild([(d.start, d.count, d.words) for d in docs], n_rows)
        self.pairs.rebuild([(d.start, d.count, d.pairs) for d in docs], n_rows)

    def scores(self, terms: list[str], alive: np.ndarray) -> np.ndarray:
        """BM25 score of every row for the query's morphemes and their pairs (a repeated term counts once)."""
        terms = index_terms(terms)
        words = sorted({self.vocab[t] for t in terms if t in self.vocab})
        live = int(alive.sum())
        if not words or live == 0:
            return np.zeros(len(alive), dtype=np.float32)
        avg = float(self.lengths[:len(alive)][alive].mean()) or 1.0
        out = self.words.scores(words, self.lengths, avg, alive, live)
        pairs = sorted(set(term_pairs(terms).tolist()))
        if pairs:
            out += np.float32(PAIR_WEIGHT) * self.pairs.scores(pairs, self.lengths, avg, alive, live)
        return out

    def idf_of(self, term: str, live: int) -> float:
        j = self.vocab.get(term)
        if j is None or j >= len(self.words.df) or live == 0:
            return 0.0
        return float(self.words.idf([j], live)[0])


def _csc(docs: list[tuple[int, int, Counts]], first_row: int, end_row: int, n_cols: int) -> sparse.csc_matrix:
    rows, cols, vals = [], [], []
    for start, count, c in docs:
        local = np.repeat(np.arange(start - first_row, start - first_row + count, dtype=np.int32), c.row_nnz)
        rows.append(local)
        cols.append(c.cols)
        vals.append(c.tfs.astype(np.float32))
    if not rows:
        return sparse.csc_matrix((end_row - first_row, n_cols), dtype=np.float32)
    coo = sparse.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                            shape=(end_row - first_row, n_cols))
    return coo.tocsc()


class DerivedIndex:
    """Vectors and BM25 for every committed passage, following the store's generation.

    Thread-safe: `lock` guards the arrays; `refresh()` is cheap when nothing changed.
    Row fields: `record_ids` (store ids), `doc_ix`/`domain_ix` (ints), `alive`.
    """

    def __init__(self, store: Store, dim: int | None = None):
        self.store = store
        self.lock = threading.RLock()
        self.dim = int(dim or store.signature.get("dim", 0) or 0)
        self.files = RowFiles.of(store)
        self.docs: dict[str, _Doc] = {}
        self.record_ids: list[str] = []
        self.vectors = np.zeros((0, self.dim), dtype=np.float32)
        self.n = 0
        self.alive = np.zeros(0, dtype=bool)
        self.doc_ix = np.zeros(0, dtype=np.int32)
        self.domain_ix = np.zeros(0, dtype=np.int32)
        self.doc_names: list[str] = []  # doc_ix -> doc id
        self.domain_names: list[str] = []
        self.lexical = LexicalView()
        self.generation: tuple[str, int] | None = None
        self.incomplete: set[str] = set()  # docs whose passages could not be read yet
        self._checked = 0.0
        self._local_commits = -1
        self.last_refresh_s = 0.0

    # --- following the store ---------------------------------------------------------
    def refresh(self, force: bool = False) -> bool:
        """Catch up with the store; True when anything changed."""
        now = time.monotonic()
        local = self.store.local_commits()
        if (not force and now - self._checked < _CHECK_EVERY_S and not self.incomplete
                and local == self._local_commits):
            return False
        with self.lock:
            self._checked = time.monotonic()
            self._local_commits = local
            gen = self.store.generation()
            if gen == self.generation and not self.incomplete:
                return False
            t0 = time.perf_counter()
            if self.generation is not None and gen[0] != self.generation[0]:
                self._reset()  # a re-index switched to new collections
            self.store.follow()
            gen = self.store.generation()
            registry = self.store.registry()
            gone = [d for d in self.docs if d not in registry or registry[d][0] != self.docs[d].build]
            for doc_id in gone:
                self._drop(doc_id)
            todo = [(d, build, info.domain) for d, (build, info) in registry.items()
                    if d not in self.docs]
            self.incomplete = set()
            for doc_id, build, domain in todo:
                cached = self.files.load(doc_id, build, self.dim)
                if cached is None:
                    try:
                        rows = self.store.passage_rows(doc_id, build)
                    except Exception as exc:  # noqa: BLE001 - a commit racing this read: try again next time
                        log.info("passages of %s not readable yet: %s", doc_id, exc)
                        self.incomplete.add(doc_id)
                        continue
                    vectors = (np.stack([r.vector for r in rows]).reshape(len(rows), self.dim) if rows
                               else np.zeros((0, self.dim), dtype=np.float32))
                    cached = [r.record_id for r in rows], vectors, local_terms([r.lex for r in rows])
                    if rows:
                        self.files.save(doc_id, build, *cached)
                self._add(doc_id, build, domain, *cached)
            self._maybe_compact()
            self.generation = gen
            self.last_refresh_s = time.perf_counter() - t0
            if todo or gone:
                log.info("derived index: +%d -%d documents, %d live passages in %.2f s", len(todo),
                         len(gone), int(self.alive[:self.n].sum()), self.last_refresh_s)
            return True

    def _reset(self) -> None:
        self.__init__(self.store, self.dim)  # type: ignore[misc]

    def _add(self, doc_id: str, build: str, domain: str, ids: list[str], vectors: np.ndarray,
             local: LocalTerms) -> None:
        start = self.n
        count = len(ids)
        words = local.words
        doc = _Doc(build, start, count, domain,
                   Counts(self.lexical.globalize(local.terms, words.cols), words.tfs, words.row_nnz), local.pairs)
        self._grow(start + count)
        if count:
            self.vectors[start:start + count] = vectors
        self.record_ids.extend(ids)
        self.alive[start:start + count] = True
        self.doc_ix[start:start + count] = self._intern(self.doc_names, doc_id)
        self.domain_ix[start:start + count] = self._intern(self.domain_names, domain)
        self.n += count
        self.docs[doc_id] = doc
        self.lexical.add(doc, local.lengths)

    def _drop(self, doc_id: str) -> None:
        doc = self.docs.pop(doc_id)
        self.files.remove(doc_id, doc.build)  # that build is gone from the registry
        self.alive[doc.start:doc.start + doc.count] = False
        self.lexical.drop(doc)

    @staticmethod
    def _intern(names: list[str], name: str) -> int:
        try:
            return names.index(name)
        except ValueError:
            names.append(name)
            return len(names) - 1

    def _grow(self, need: int) -> None:
        cap = len(self.alive)
        if need <= cap:
            return
        cap = max(need, 2 * cap, 1024)
        vectors = np.zeros((cap, self.dim), dtype=np.float32)
        vectors[:self.n] = self.vectors[:self.n]
        self.vectors = vectors
        for name in ("alive", "doc_ix", "domain_ix"):
            old = getattr(self, name)
            new = np.zeros(cap, dtype=old.dtype)
            new[:self.n] = old[:self.n]
            setattr(self, name, new)

    def _maybe_compact(self) -> None:
        dead = self.n - int(self.alive[:self.n].sum())
        if self.n and dead > _DEAD_SHARE * self.n:
            self._compact()
        elif self.n - self.lexical.built_rows > max(2000, _TAIL_SHARE * self.lexical.built_rows):
            self.lexical.rebuild(list(self.docs.values()), self.n)

    def _compact(self) -> None:
        """Drop the rows of deleted documents and renumber the rest."""
        keep = np.flatnonzero(self.alive[:self.n])
        docs = sorted(self.docs.items(), key=lambda kv: kv[1].start)
        self.vectors = np.ascontiguousarray(self.vectors[keep])
        self.record_ids = [self.record_ids[i] for i in keep]
        self.doc_ix, self.domain_ix = self.doc_ix[keep], self.domain_ix[keep]
        self.alive = np.ones(len(keep), dtype=bool)
        self.lexical.lengths = self.lexical.lengths[keep]
        start = 0
        for _, doc in docs:
            doc.start = start
            start += doc.count
        self.n = len(keep)
        self.lexical.rebuild([d for _, d in docs], self.n)

    # --- reading (callers hold `lock`) ----------------------------------------------
    def live_count(self) -> int:
        return int(self.alive[:self.n].sum())

    def mask(self, domains=(), doc_ids=()) -> np.ndarray:
        """Live rows, restricted to the given domains and documents (empty: all)."""
        m = self.alive[:self.n].copy()
        for names, ix, chosen in ((self.domain_names, self.domain_ix, domains), (self.doc_names, self.doc_ix, doc_ids)):
            if chosen:
                chosen = set(chosen)
                m &= np.isin(ix[:self.n], [i for i, name in enumerate(names) if name in chosen])
        return m

    def dense_scores(self, query_vector: np.ndarray) -> np.ndarray:
        return self.vectors[:self.n] @ query_vector.astype(np.float32)

    def lexical_scores(self, terms: list[str]) -> np.ndarray:
        return self.lexical.scores(terms, self.alive[:self.n])

    def idf(self, term: str) -> float:
        return self.lexical.idf_of(term, self.live_count())
