"""The Chroma store: passages with their vectors, and a registry of documents.

The store is the source of truth. A document becomes visible only when its
registry record is written, after all of its passages; readers ignore passages
whose document is not registered, and `remove_orphans` sweeps what a crash
left behind. Chroma never embeds anything itself (`embedding_function=None`).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from docqa.config import Settings
from docqa.errors import ModelMismatchError, StoreError
from docqa.types import Chunk, DocumentInfo, Table

log = logging.getLogger(__name__)

_BATCH = 256
_REGISTRY_VECTOR = [1.0]  # registry records carry no meaning in vector space


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


def _chunk_metadata(chunk: Chunk, lex: str) -> dict[str, str | int]:
    return {
        "lex": lex,
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


def chunk_from_record(chunk_id: str, text: str, meta: dict) -> Chunk:
    return Chunk(
        chunk_id=chunk_id, doc_id=meta["doc_id"], file_name=meta["file_name"], text=text,
        page_start=int(meta["page_start"]), page_end=int(meta["page_end"]),
        char_start=int(meta["char_start"]), char_end=int(meta["char_end"]),
        n_tokens=int(meta["n_tokens"]), heading=meta.get("heading", ""), domain=meta.get("domain", ""),
        rects=tuple(tuple(r) for r in json.loads(meta.get("rects") or "[]")),
        kind=meta.get("kind") or "text", table=table_from_json(meta.get("table")), ocr=bool(meta.get("ocr", False)),
    )


@dataclass(frozen=True)
class DenseHit:
    chunk: Chunk
    similarity: float  # cosine


class Store:
    """Passages (`<name>`) and the document registry (`<name>_docs`) in one Chroma."""

    def __init__(self, client, name: str, signature: dict[str, str | int], files_dir: Path | None = None,
                 check: bool = True):
        """Open (or create) the collections; `check=False` skips the build check (to list
        documents before a re-index)."""
        self.client = client
        self.name = name
        self.signature = dict(signature)
        self.files_dir = files_dir
        self.chunks = client.get_or_create_collection(
            name, embedding_function=None, metadata=self.signature,
            configuration={"hnsw": {"space": "cosine", "ef_search": 200}},
        )
        self.docs = client.get_or_create_collection(f"{name}_docs", embedding_function=None)
        if check:
            self._check_signature()

    @classmethod
    def open(cls, settings: Settings, signature: dict[str, str | int], check: bool = True) -> Store:
        return cls(make_client(settings), settings.collection, signature, settings.files_dir, check)

    def _check_signature(self) -> None:
        built = {k: v for k, v in (self.chunks.metadata or {}).items() if k in self.signature}
        diff = {k: (built.get(k), v) for k, v in self.signature.items() if built.get(k) != v}
        if diff:
            details = ", ".join(f"{k}: 색인={a!r} / 현재={b!r}" for k, (a, b) in diff.items())
            raise ModelMismatchError(
                f"이 색인은 다른 설정으로 만들어졌습니다({details}). 섞어 쓰면 검색 결과가 틀리므로 "
                "열지 않았습니다. 같은 모델·설정으로 실행하거나, 색인을 다시 만드세요(재색인)."
            )

    @classmethod
    def recreate(cls, settings: Settings, signature: dict[str, str | int]) -> Store:
        """Drop the collections and build empty ones for `signature` (the re-index path).

        Stored source files are kept so they can be ingested again.
        """
        client = make_client(settings)
        for name in (settings.collection, f"{settings.collection}_docs"):
            try:
                client.delete_collection(name)
            except Exception as exc:  # noqa: BLE001 - a missing collection is fine
                log.info("delete_collection(%s): %s", name, exc)
        return cls(client, settings.collection, signature, settings.files_dir)

    # --- documents -----------------------------------------------------------------
    def documents(self) -> list[DocumentInfo]:
        got = self.docs.get(include=["documents", "metadatas"])
        out = [
            DocumentInfo(doc_id=i, file_name=name, domain=m.get("domain", ""), pages=int(m.get("pages", 0)),
                         chunks=int(m.get("chunks", 0)), added_at=m.get("added_at", ""),
                         flagged_pages=m.get("flagged_pages", ""))
            for i, name, m in zip(got["ids"], got["documents"], got["metadatas"])
        ]
        return sorted(out, key=lambda d: d.added_at, reverse=True)

    def document(self, doc_id: str) -> DocumentInfo | None:
        return next((d for d in self.documents() if d.doc_id == doc_id), None)

    def doc_ids(self) -> set[str]:
        return set(self.docs.get(include=[])["ids"])

    def count_chunks(self) -> int:
        return self.chunks.count()

    def add_document(self, chunks: list[Chunk], vectors: np.ndarray, lexical: list[str], *, doc_id: str,
                     file_name: str, domain: str, pages: int, flagged_pages: str = "",
                     data: bytes | None = None) -> None:
        """Write all passages, then the registry record that makes them visible.

        `lexical` holds each passage's morphemes (space-separated) for the BM25 index.
        On any failure the passages of a new document are deleted again; re-indexing a
        registered document upserts in place and drops stale passages only after success.
        """
        if not len(chunks) == len(vectors) == len(lexical):
            raise StoreError("내부 오류: 조각 수와 벡터 수가 다릅니다.")
        was_registered = doc_id in self.doc_ids()
        old_ids = set(self.chunks.get(where={"doc_id": doc_id}, include=[])["ids"])
        try:
            for i in range(0, len(chunks), _BATCH):
                part = chunks[i:i + _BATCH]
                self.chunks.upsert(
                    ids=[c.chunk_id for c in part],
                    embeddings=vectors[i:i + _BATCH].astype(np.float32),
                    documents=[c.text for c in part],
                    metadatas=[_chunk_metadata(c, lex) for c, lex in zip(part, lexical[i:i + _BATCH])],
                )
            stale = old_ids - {c.chunk_id for c in chunks}
            if stale:
                self.chunks.delete(ids=sorted(stale))
            if data is not None:
                self._save_file(doc_id, data)
            self.docs.upsert(
                ids=[doc_id], documents=[file_name], embeddings=[_REGISTRY_VECTOR],
                metadatas=[{"domain": domain, "pages": pages, "chunks": len(chunks),
                            "added_at": datetime.now(UTC).isoformat(timespec="seconds"),
                            "flagged_pages": flagged_pages}],
            )
        except BaseException:
            # A new document leaves nothing behind; a re-indexed one keeps its (same-id) passages.
            log.exception("writing %s (%s) failed", file_name, doc_id)
            if not was_registered:
                self._delete_chunks(doc_id)
            raise

    def delete_document(self, doc_id: str) -> None:
        """Remove every trace: registry record, passages and the stored file."""
        self.docs.delete(ids=[doc_id])
        self._delete_chunks(doc_id)
        if self.files_dir is not None:
            self.file_path(doc_id).unlink(missing_ok=True)

    def _delete_chunks(self, doc_id: str) -> None:
        self.chunks.delete(where={"doc_id": doc_id})

    def remove_orphans(self) -> int:
        """Delete passages whose document never got registered (an interrupted write)."""
        registered = self.doc_ids()
        metas = self.chunks.get(include=["metadatas"])["metadatas"]
        orphans = {m["doc_id"] for m in metas} - registered
        for doc_id in orphans:
            self._delete_chunks(doc_id)
        if orphans:
            log.warning("removed passages of %d unregistered documents", len(orphans))
        return len(orphans)

    # --- stored source files --------------------------------------------------------
    def file_path(self, doc_id: str) -> Path:
        if self.files_dir is None:
            raise StoreError("원본 파일 저장 위치가 설정되지 않았습니다.")
        return self.files_dir / f"{doc_id}.pdf"

    def _save_file(self, doc_id: str, data: bytes) -> None:
        if self.files_dir is None:
            return
        self.files_dir.mkdir(parents=True, exist_ok=True)
        path = self.file_path(doc_id)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    # --- reading --------------------------------------------------------------------
    def visible_records(self, embeddings: bool = False) -> list[tuple[str, str, dict, object]]:
        """(id, text, metadata, embedding or None) of every passage whose document is registered."""
        registered = self.doc_ids()
        include = ["documents", "metadatas", *(["embeddings"] if embeddings else [])]
        got = self.chunks.get(include=include)
        vectors = got["embeddings"] if embeddings else [None] * len(got["ids"])
        return [(i, t, m, e) for i, t, m, e in zip(got["ids"], got["documents"], got["metadatas"], vectors)
                if m["doc_id"] in registered]

    def all_chunks(self) -> list[Chunk]:
        """Every visible passage."""
        return [chunk_from_record(i, t, m) for i, t, m, _ in self.visible_records()]

    def query(self, vector: np.ndarray, k: int, where: dict | None = None) -> list[DenseHit]:
        """Cosine top-k over visible passages."""
        n = self.chunks.count()
        if n == 0:
            return []
        res = self.chunks.query(query_embeddings=[vector.astype(np.float32)], n_results=min(k, n), where=where,
                                include=["documents", "metadatas", "distances"])
        registered = self.doc_ids()
        return [DenseHit(chunk_from_record(i, t, m), 1.0 - float(d))
                for i, t, m, d in zip(res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0])
                if m["doc_id"] in registered]

    def version(self) -> tuple[int, int]:
        """Cheap fingerprint that changes when documents are added or removed."""
        return self.docs.count(), self.chunks.count()

