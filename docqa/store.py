"""The Chroma store: passages, a registry of documents, write leases and a change log.

The store is the source of truth; everything else (BM25, vector views, caches) is derived.
Chroma never embeds anything itself (`embedding_function=None`).

Collections, for a base name B (`RAG_COLLECTION`) and the live build prefix P:

    B_meta     which prefix is live ("active"); a re-index builds a new prefix and switches
    P          passages: vector, text and metadata (doc id, build, page, rects, morphemes...)
    P_docs     registry: one record per committed document, naming its live build
    P_leases   writes in progress: one record per build (owner, heartbeat)
    P_log      append-only, one record per committed change; (P, its count) is the generation

A write stores its passages under a fresh build id, then commits by pointing the registry
record at that build, then drops the passages of older builds. Readers only see passages
whose (doc id, build) the registry names, so a half-written document is invisible and a
re-indexed one switches over at once. A writer that dies leaves a lease whose heartbeat
stops; any later writer sweeps stale leases (never on open), so nobody deletes another
writer's document in progress.

Embedded mode: writers hold a cross-process file lock (one writer at a time per data
directory), and a process reopens its Chroma client when another process has committed,
because an embedded client keeps a private in-memory view of the vectors. Every read is
paged: no `get()` of the whole collection.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from docqa.config import Settings
from docqa.errors import ModelMismatchError, StoreError
from docqa.types import Chunk, DocumentInfo, Table

log = logging.getLogger(__name__)

PAGE = 1000  # records per paged read
_ID_BATCH = 400  # ids per get/delete by id (SQLite's variable limit is the ceiling)
_WRITE_BATCH = 256
_UNIT_VECTOR = [1.0]  # registry, lease and log records carry no meaning in vector space
OWNER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Cancelled(StoreError):
    """A write was cancelled by its caller; nothing of it stays."""

    def __init__(self) -> None:
        super().__init__("작업이 취소되었습니다.")


def make_client(settings: Settings):
    """An embedded PersistentClient, or an HttpClient when RAG_CHROMA_HOST is set."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_host:
        host, _, port = settings.chroma_host.rpartition(":")
        if not host or not port.isdigit():
            raise StoreError(f"RAG_CHROMA_HOST는 '호스트:포트' 형식이어야 합니다: {settings.chroma_host}")
        try:
            return chromadb.HttpClient(host=host, port=int(port), settings=chroma_settings)
        except Exception as exc:
            raise StoreError(f"Chroma 서버({settings.chroma_host})에 연결할 수 없습니다: {exc}") from exc
    settings.chroma_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.chroma_dir), settings=chroma_settings)


class _Connection:
    """This process's one Chroma client for a location, shared by every Store on it.

    All calls go through `lock`. `reopen` (embedded only) drops the client's private view so
    that what other processes committed becomes readable; `epoch` tells Stores to re-fetch
    their collection handles.
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self.embedded = not settings.chroma_host
        self.lock = threading.RLock()
        self.client = make_client(settings)
        self.epoch = 0
        self.seen: dict[str, int] = {}  # prefix -> log count as of this client's view
        self.fresh = True  # just opened: its view is current for whatever it reads first
        self.commits = 0  # changes this process committed here (readers check them without delay)
        lock_dir = settings.data_dir / "locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        from filelock import FileLock

        # One writer at a time per data directory (embedded: the files themselves; server: this
        # machine's writers; other machines are kept apart by leases).
        self.write_lock = FileLock(str(lock_dir / "store-write.lock"), thread_local=False)

    def reopen(self) -> None:
        if not self.embedded:
            return
        with self.lock:
            try:
                self.client.close()
            except Exception as exc:  # noqa: BLE001 - a client that can't close is replaced anyway
                log.info("closing the Chroma client: %s", exc)
            self.client = make_client(self.settings)
            self.epoch += 1
            self.seen = {}


_connections: dict[str, _Connection] = {}
_connections_lock = threading.Lock()


def _connection(settings: Settings) -> _Connection:
    key = settings.chroma_host or str(settings.chroma_dir.resolve())
    with _connections_lock:
        conn = _connections.get(key)
        if conn is None:
            conn = _connections[key] = _Connection(settings)
        return conn


def close_connections() -> None:
    """Close every client this process opened (tests that delete data directories)."""
    with _connections_lock:
        for conn in _connections.values():
            with conn.lock:
                try:
                    conn.client.close()
                except Exception as exc:  # noqa: BLE001
                    log.info("closing the Chroma client: %s", exc)
        _connections.clear()


# --------------------------------------------------------------------------- records
def table_to_json(table: Table | None) -> str:
    if table is None:
        return ""
    return json.dumps({"rows": [list(r) for r in table.rows], "header_rows": table.header_rows,
                       "caption": table.caption}, ensure_ascii=False)


def table_from_json(raw: str | None) -> Table | None:
    if not raw:
        return None
    data = json.loads(raw)
    return Table(tuple(tuple(r) for r in data["rows"]), int(data.get("header_rows", 1)), data.get("caption", ""))


def _chunk_metadata(chunk: Chunk, lex: str, build: str) -> dict[str, str | int | bool]:
    return {
        "lex": lex,
        "cid": chunk.chunk_id,
        "build": build,
        "doc_id": chunk.doc_id,
        "file_name": chunk.file_name,
        "domain": chunk.domain,
        "page_start": chunk.page_start,
        "page_end": chunk.page_end,
        "char_start": chunk.char_start,
        "char_end": chunk.char_end,
        "n_tokens": chunk.n_tokens,
        "heading": chunk.heading,
        "rects": json.dumps(chunk.rects),
        "kind": chunk.kind,
        "table": table_to_json(chunk.table),
        "ocr": chunk.ocr,
    }


def chunk_from_record(record_id: str, text: str, meta: dict) -> Chunk:
    return Chunk(
        chunk_id=meta.get("cid") or record_id, doc_id=meta["doc_id"], file_name=meta["file_name"], text=text,
        page_start=int(meta["page_start"]), page_end=int(meta["page_end"]),
        char_start=int(meta["char_start"]), char_end=int(meta["char_end"]),
        n_tokens=int(meta["n_tokens"]), heading=meta.get("heading", ""), domain=meta.get("domain", ""),
        rects=tuple(tuple(r) for r in json.loads(meta.get("rects") or "[]")),
        kind=meta.get("kind") or "text", table=table_from_json(meta.get("table")), ocr=bool(meta.get("ocr", False)),
    )


def _info(doc_id: str, name: str, m: dict) -> DocumentInfo:
    return DocumentInfo(doc_id=doc_id, file_name=name, domain=m.get("domain", ""), pages=int(m.get("pages", 0)),
                        chunks=int(m.get("chunks", 0)), added_at=m.get("added_at", ""),
                        flagged_pages=m.get("flagged_pages", ""), source=m.get("source", "") or name,
                        format=m.get("format", "pdf") or "pdf", page_images=bool(m.get("page_images", True)))


@dataclass(frozen=True)
class NewDocument:
    """What the registry records about a document being written."""

    doc_id: str
    file_name: str
    domain: str = ""
    pages: int = 0
    flagged_pages: str = ""
    source: str = ""  # the CLI path or the upload's name; a new version of a source replaces the old
    format: str = "pdf"


@dataclass(frozen=True)
class PassageRow:
    """A passage as the derived views need it: no text, its vector and its morphemes."""

    record_id: str
    doc_id: str
    domain: str
    page: int
    lex: str
    vector: np.ndarray


# --------------------------------------------------------------------------- the store
class Store:
    """One index (live build prefix) in one Chroma, plus the stored source files."""

    def __init__(self, settings: Settings, signature: dict[str, str | int], check: bool = True,
                 prefix: str | None = None):
        """Open (or create) the live index; `check=False` skips the build check (to list documents
        before a re-index). `prefix` binds the store to one build prefix (a re-index in progress)."""
        self.settings = settings
        self.base = settings.collection
        self.signature = dict(signature)
        self.files_dir = settings.files_dir
        self._conn = _connection(settings)
        self._pinned = prefix is not None
        self._cols: dict[str, object] = {}
        self._epoch = -1
        self.prefix = prefix or self._active_prefix()
        self._ensure_collections()
        with self._conn.lock:
            if self._conn.fresh:
                self._conn.seen[self.prefix] = self._col("_log").count()
                self._conn.fresh = False
        if check:
            self._check_signature()

    def check(self) -> None:
        """Raise ModelMismatchError unless the live index was built like this store's signature."""
        self.follow()
        self._check_signature()

    @classmethod
    def open(cls, settings: Settings, signature: dict[str, str | int], check: bool = True) -> Store:
        return cls(settings, signature, check)

    # --- collections -----------------------------------------------------------------
    def _col(self, suffix: str = ""):
        """The collection `<prefix><suffix>` ("" passages, "_docs", "_leases", "_log"; "meta" is global)."""
        conn = self._conn
        with conn.lock:
            if self._epoch != conn.epoch:
                self._cols, self._epoch = {}, conn.epoch
            name = f"{self.base}_meta" if suffix == "meta" else f"{self.prefix}{suffix}"
            col = self._cols.get(name)
            if col is None:
                col = self._cols[name] = self._get_or_create(name, passages=suffix == "")
            return col

    def _get_or_create(self, name: str, passages: bool):
        """The collection, created if missing; another process creating it at the same moment is fine."""
        kwargs = {"metadata": self.signature or None,
                  "configuration": {"hnsw": {"space": "cosine", "ef_search": 200}}} if passages else {}
        for attempt in range(5):
            try:
                return self._conn.client.get_or_create_collection(name, embedding_function=None, **kwargs)
            except Exception as exc:  # noqa: BLE001 - a concurrent create: look again
                if attempt == 4:
                    raise StoreError(f"색인 저장소를 열 수 없습니다: {exc}") from exc
                log.info("creating %s raced another process (%s); retrying", name, exc)
                time.sleep(0.2 * (attempt + 1))

    def _ensure_collections(self) -> None:
        for suffix in ("", "_docs", "_leases", "_log"):
            self._col(suffix)

    def _active_prefix(self) -> str:
        with self._conn.lock:
            got = self._col("meta").get(ids=["active"], include=["metadatas"])
        metas = got["metadatas"] or []
        return (metas[0] or {}).get("prefix", self.base) if metas else self.base

    def _check_signature(self) -> None:
        with self._conn.lock:
            built_meta = self._col("").metadata or {}
        built = {k: v for k, v in built_meta.items() if k in self.signature}
        diff = {k: (built.get(k), v) for k, v in self.signature.items() if built.get(k) != v}
        if diff:
            details = ", ".join(f"{k}: 색인={a!r} / 현재={b!r}" for k, (a, b) in diff.items())
            raise ModelMismatchError(
                f"이 색인은 다른 설정으로 만들어졌습니다({details}). 섞어 쓰면 검색 결과가 틀리므로 "
                "열지 않았습니다. 같은 모델·설정으로 실행하거나, 색인을 다시 만드세요(재색인)."
            )

    @property
    def passages(self):
        """The passages collection (Chroma) of the live build."""
        return self._col("")

    def audit(self) -> dict[str, dict[str, int]]:
        """doc id -> {build: passages} over every stored passage, visible or not (paged; for tests
        and consistency checks)."""
        out: dict[str, dict[str, int]] = {}
        for got in self.paged("", include=["metadatas"]):
            for m in got["metadatas"]:
                per = out.setdefault(m["doc_id"], {})
                per[m.get("build", "")] = per.get(m.get("build", ""), 0) + 1
        return out

    # --- generation ------------------------------------------------------------------
    def local_commits(self) -> int:
        """How many changes this process has committed at this location (no Chroma call)."""
        return self._conn.commits

    def generation(self) -> tuple[str, int]:
        """(live prefix, committed changes): changes whenever any process commits or re-indexes."""
        prefix = self.prefix if self._pinned else self._active_prefix()
        if prefix != self.prefix:
            return prefix, -1
        with self._conn.lock:
            return prefix, self._col("_log").count()

    def follow(self) -> bool:
        """Catch up with other processes: reopen the embedded client when someone else committed,
        and move to a new live prefix after a re-index (checking its build signature).
        Returns True when anything changed since this process last looked."""
        gen = self.generation()
        conn = self._conn
        if conn.seen.get(gen[0]) == gen[1]:
            return False
        conn.reopen()
        if gen[0] != self.prefix and not self._pinned:
            log.info("index switched from %s to %s", self.prefix, gen[0])
            self.prefix = gen[0]
            self._cols = {}
            self._check_signature()
            gen = self.generation()
        conn.seen[gen[0]] = gen[1]
        return True

    # --- reading ---------------------------------------------------------------------
    def paged(self, suffix: str = "", **kwargs) -> Iterator[dict]:
        """`get(**kwargs)` of collection `<prefix><suffix>` page by page (PAGE records at a time)."""
        offset = 0
        while True:
            with self._conn.lock:
                got = self._col(suffix).get(limit=PAGE, offset=offset, **kwargs)
            if not got["ids"]:
                return
            yield got
            if len(got["ids"]) < PAGE:
                return
            offset += PAGE

    def registry(self) -> dict[str, tuple[str, DocumentInfo]]:
        """doc id -> (live build, info) of every committed document (paged; retried if it changed
        while being read)."""
        for _ in range(5):
            before = self.generation()
            out: dict[str, tuple[str, DocumentInfo]] = {}
            for got in self.paged("_docs", include=["documents", "metadatas"]):
                for i, name, m in zip(got["ids"], got["documents"], got["metadatas"]):
                    out[i] = ((m or {}).get("build", ""), _info(i, name, m or {}))
            if self.generation() == before:
                return out
        return out

    def documents(self) -> list[DocumentInfo]:
        """Every committed document, newest first."""
        return sorted((info for _, info in self.registry().values()), key=lambda d: d.added_at, reverse=True)

    def document(self, doc_id: str) -> DocumentInfo | None:
        with self._conn.lock:
            got = self._col("_docs").get(ids=[doc_id], include=["documents", "metadatas"])
        if not got["ids"]:
            return None
        return _info(doc_id, got["documents"][0], got["metadatas"][0] or {})

    def doc_ids(self) -> set[str]:
        return set(self.registry())

    def count_chunks(self) -> int:
        """Passages of committed documents."""
        return sum(info.chunks for _, info in self.registry().values())

    def passage_rows(self, doc_id: str, build: str) -> list[PassageRow]:
        """The passages of one committed build, with vectors and morphemes (no text)."""
        where = {"$and": [{"doc_id": doc_id}, {"build": build}]}
        rows = []
        for got in self.paged("", where=where, include=["metadatas", "embeddings"]):
            for i, m, e in zip(got["ids"], got["metadatas"], got["embeddings"]):
                rows.append(PassageRow(i, m["doc_id"], m.get("domain", ""), int(m["page_start"]),
                                       m.get("lex") or "", np.asarray(e, dtype=np.float32)))
        rows.sort(key=lambda r: r.record_id)
        return rows

    def fetch(self, record_ids: Sequence[str]) -> dict[str, Chunk]:
        """record id -> Chunk (with text) for the given passages; missing ones are left out."""
        out: dict[str, Chunk] = {}
        ids = list(dict.fromkeys(record_ids))
        for i in range(0, len(ids), _ID_BATCH):
            with self._conn.lock:
                got = self._col("").get(ids=ids[i:i + _ID_BATCH], include=["documents", "metadatas"])
            for rid, text, m in zip(got["ids"], got["documents"], got["metadatas"]):
                out[rid] = chunk_from_record(rid, text, m)
        return out

    def all_chunks(self) -> list[Chunk]:
        """Every visible passage (small stores: tests, exports)."""
        out: list[Chunk] = []
        for doc_id, (build, _) in sorted(self.registry().items()):
            where = {"$and": [{"doc_id": doc_id}, {"build": build}]}
            for got in self.paged("", where=where, include=["documents", "metadatas"]):
                out.extend(chunk_from_record(i, t, m) for i, t, m in zip(got["ids"], got["documents"],
                                                                          got["metadatas"]))
        return out

    def document_of_source(self, source: str) -> DocumentInfo | None:
        """The committed document that came from `source` (a path or an upload's name), if any."""
        with self._conn.lock:
            got = self._col("_docs").get(where={"source": source}, include=["documents", "metadatas"])
        infos = [_info(i, n, m or {}) for i, n, m in zip(got["ids"], got["documents"], got["metadatas"])]
        return max(infos, key=lambda d: d.added_at) if infos else None

    # --- writing ---------------------------------------------------------------------
    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold this data directory's writer lock; catch up with other writers first."""
        conn = self._conn
        waited = time.monotonic()
        with conn.write_lock:
            if time.monotonic() - waited > 1:
                log.info("waited %.1f s for the store's write lock", time.monotonic() - waited)
            self.follow()
            yield

    def _lease(self, build: str, doc_id: str, op: str) -> None:
        with self._conn.lock:
            self._col("_leases").upsert(ids=[build], embeddings=[_UNIT_VECTOR], documents=[doc_id],
                                        metadatas=[{"doc_id": doc_id, "op": op, "owner": OWNER,
                                                    "heartbeat": time.time()}])

    def _unlease(self, build: str) -> None:
        with self._conn.lock:
            self._col("_leases").delete(ids=[build])

    def _append_log(self, op: str, doc_id: str, build: str = "") -> None:
        with self._conn.lock:
            self._col("_log").add(ids=[f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"], embeddings=[_UNIT_VECTOR],
                                  metadatas=[{"op": op, "doc_id": doc_id, "build": build, "owner": OWNER,
                                              "at": time.time()}])
            self._conn.seen[self.prefix] = self._col("_log").count()
            self._conn.commits += 1

    def _delete_where(self, where: dict) -> None:
        with self._conn.lock:
            self._col("").delete(where=where)

    def add_document(self, chunks: list[Chunk], vectors: np.ndarray, lexical: list[str], doc: NewDocument, *,
                     data: bytes | None = None, page_pdf: bytes | None = None, replaces: Sequence[str] = (),
                     cancelled: Callable[[], bool] | None = None) -> str:
        """Write a document's passages under a new build and commit it (atomically for readers);
        returns the build id (a passage's record id is `<chunk id>@<build>`).

        `lexical` holds each passage's morphemes (space-separated) for the BM25 view. `data` is the
        original file and `page_pdf` a printable PDF of it when it isn't one. The documents in
        `replaces` (older versions of the same source) are removed once this one is committed.
        On failure or cancellation nothing of the new build stays; a re-indexed document keeps its
        previous build.
        """
        if not len(chunks) == len(vectors) == len(lexical):
            raise StoreError("내부 오류: 조각 수와 벡터 수가 다릅니다.")
        build = uuid.uuid4().hex[:12]
        with self.writing():
            self.sweep_leases()
            self._lease(build, doc.doc_id, "write")
            committed = False
            try:
                for i in range(0, len(chunks), _WRITE_BATCH):
                    if cancelled is not None and cancelled():
                        raise Cancelled()
                    part, lex = chunks[i:i + _WRITE_BATCH], lexical[i:i + _WRITE_BATCH]
                    with self._conn.lock:
                        self._col("").upsert(
                            ids=[f"{c.chunk_id}@{build}" for c in part],
                            embeddings=np.asarray(vectors[i:i + _WRITE_BATCH], dtype=np.float32),
                            documents=[c.text for c in part],
                            metadatas=[_chunk_metadata(c, terms, build) for c, terms in zip(part, lex)],
                        )
                    self._lease(build, doc.doc_id, "write")  # heartbeat
                if cancelled is not None and cancelled():
                    raise Cancelled()
                self._save_files(doc, data, page_pdf)
                meta = {"domain": doc.domain, "pages": doc.pages, "chunks": len(chunks),
                        "added_at": datetime.now(UTC).isoformat(timespec="seconds"),
                        "flagged_pages": doc.flagged_pages, "build": build, "source": doc.source or doc.file_name,
                        "format": doc.format, "page_images": self.page_pdf_path(doc.doc_id).exists()}
                with self._conn.lock:
                    self._col("_docs").upsert(ids=[doc.doc_id], documents=[doc.file_name],
                                              embeddings=[_UNIT_VECTOR], metadatas=[meta])
                committed = True
                self._append_log("add", doc.doc_id, build)
                self._delete_where({"$and": [{"doc_id": doc.doc_id}, {"build": {"$ne": build}}]})
                for old in replaces:
                    if old != doc.doc_id:
                        self._remove(old)
                self._unlease(build)
                return build
            except BaseException:
                if not committed:
                    log.warning("writing %s (%s) did not finish; removing its passages", doc.file_name, doc.doc_id)
                    self._delete_where({"build": build})
                    self._unlease(build)
                raise

    def delete_document(self, doc_id: str) -> None:
        """Remove every trace: registry record, passages and the stored files."""
        with self.writing():
            self._remove(doc_id)

    def _remove(self, doc_id: str) -> None:
        build = f"del-{uuid.uuid4().hex[:8]}"
        self._lease(build, doc_id, "delete")
        with self._conn.lock:
            self._col("_docs").delete(ids=[doc_id])
        self._append_log("delete", doc_id)
        self._delete_where({"doc_id": doc_id})
        for path in self._file_paths(doc_id):
            path.unlink(missing_ok=True)
        self._unlease(build)

    def sweep_leases(self, timeout_s: float | None = None) -> int:
        """Clean up after writers whose lease went stale (dead or hung): their uncommitted
        passages go, a commit they finished is completed. Returns how many were swept."""
        timeout_s = self.settings.lease_timeout_s if timeout_s is None else timeout_s
        now = time.time()
        stale = [(b, m) for got in self.paged("_leases", include=["metadatas"])
                 for b, m in zip(got["ids"], got["metadatas"]) if now - float(m.get("heartbeat", 0)) > timeout_s]
        for build, m in stale:
            doc_id = m.get("doc_id", "")
            live = self.document(doc_id)
            live_build = self.registry_build(doc_id) if live is not None else None
            if m.get("op") == "delete":
                if live is None:
                    self._delete_where({"doc_id": doc_id})
            elif live_build == build:  # committed before its writer died: finish the clean-up
                self._delete_where({"$and": [{"doc_id": doc_id}, {"build": {"$ne": build}}]})
            else:
                self._delete_where({"build": build})
            self._unlease(build)
            log.warning("swept a stale %s lease of %s (owner %s)", m.get("op"), doc_id, m.get("owner"))
        return len(stale)

    def registry_build(self, doc_id: str) -> str | None:
        with self._conn.lock:
            got = self._col("_docs").get(ids=[doc_id], include=["metadatas"])
        return (got["metadatas"][0] or {}).get("build", "") if got["ids"] else None

    def leases(self) -> list[dict]:
        """Writes in progress (for status displays and tests)."""
        return [{"build": b, **m} for got in self.paged("_leases", include=["metadatas"])
                for b, m in zip(got["ids"], got["metadatas"])]

    # --- re-index without a gap ------------------------------------------------------
    @classmethod
    def new_build(cls, settings: Settings, signature: dict[str, str | int]) -> Store:
        """Empty collections under a new prefix, not yet live (searches keep using the live one)."""
        prefix = f"{settings.collection}-r{time.strftime('%Y%m%d%H%M%S')}{uuid.uuid4().hex[:4]}"
        return cls(settings, signature, check=False, prefix=prefix)

    def make_live(self) -> None:
        """Switch every reader to this store's prefix; the old one is retired (deleted later)."""
        with self._conn.write_lock:
            meta = self._col("meta")
            with self._conn.lock:
                got = meta.get(ids=["active"], include=["metadatas"])
                old = (got["metadatas"][0] or {}).get("prefix", self.base) if got["ids"] else self.base
                meta.upsert(ids=["active", f"retired:{old}"], embeddings=[_UNIT_VECTOR, _UNIT_VECTOR],
                            metadatas=[{"prefix": self.prefix, "at": time.time()}, {"prefix": old, "at": time.time()}])
            self._pinned = False

    def drop_retired(self, older_than_s: float = 120.0) -> list[str]:
        """Delete the collections of builds retired more than `older_than_s` ago."""
        meta = self._col("meta")
        with self._conn.lock:
            got = meta.get(include=["metadatas"])
        dropped = []
        for rid, m in zip(got["ids"], got["metadatas"]):
            if not rid.startswith("retired:") or time.time() - float(m.get("at", 0)) < older_than_s:
                continue
            prefix = m["prefix"]
            with self._conn.lock:
                if prefix != self.prefix:
                    for suffix in ("", "_docs", "_leases", "_log"):
                        try:
                            self._conn.client.delete_collection(f"{prefix}{suffix}")
                        except Exception as exc:  # noqa: BLE001 - already gone is fine
                            log.info("delete_collection(%s%s): %s", prefix, suffix, exc)
                meta.delete(ids=[rid])
            dropped.append(prefix)
        return dropped

    # --- stored source files ---------------------------------------------------------
    def _require_files(self) -> Path:
        if self.files_dir is None:
            raise StoreError("원본 파일 저장 위치가 설정되지 않았습니다.")
        return self.files_dir

    def page_pdf_path(self, doc_id: str) -> Path:
        """The printable PDF of a document (the original for a PDF): page images and downloads."""
        return self._require_files() / f"{doc_id}.pdf"

    file_path = page_pdf_path

    def original_path(self, doc_id: str, fmt: str | None = None) -> Path:
        """The file as it was given (HWP, HWPX or PDF)."""
        fmt = fmt or (self.document(doc_id) or DocumentInfo(doc_id, "", "", 0, 0, "")).format
        return self._require_files() / (f"{doc_id}.pdf" if fmt == "pdf" else f"{doc_id}.{fmt}")

    def _file_paths(self, doc_id: str) -> list[Path]:
        if self.files_dir is None or not self.files_dir.exists():
            return []
        return list(self.files_dir.glob(f"{doc_id}.*"))

    def _save_files(self, doc: NewDocument, data: bytes | None, page_pdf: bytes | None) -> None:
        if self.files_dir is None:
            return
        self.files_dir.mkdir(parents=True, exist_ok=True)
        pairs = []
        if data is not None:
            pairs.append((self.original_path(doc.doc_id, doc.format), data))
        if page_pdf is not None and doc.format != "pdf":
            pairs.append((self.page_pdf_path(doc.doc_id), page_pdf))
        for path, blob in pairs:
            tmp = path.with_name(path.name + f".{uuid.uuid4().hex[:6]}.tmp")
            tmp.write_bytes(blob)
            os.replace(tmp, path)
