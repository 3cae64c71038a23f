"""Ingest a batch of files: check, parse, chunk, embed, store. One bad file never stops a batch."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from docqa.config import Settings
from docqa.errors import DocQAError, NoTextError, TooLargeError
from docqa.models import Embedder
from docqa.services import index_signature
from docqa.store import Cancelled, NewDocument, Store
from docqa.types import DocumentInfo, FileResult, IngestReport, ParsedDocument
from ingest.chunk import Chunker
from ingest.formats import parse_document
from ingest.parse import doc_id_of
from retrieval.index import RowFiles
from retrieval.lexical import lexical_text, tokenize

log = logging.getLogger(__name__)

STAGES = ("parse", "ocr", "chunk", "embed", "lexical", "store")
STAGE_LABELS = {"read": "읽기", "parse": "분석", "ocr": "OCR", "chunk": "분할", "embed": "임베딩", "lexical": "형태소",
                "store": "저장", "done": "완료"}


@dataclass(frozen=True)
class Progress:
    """Reported as work goes: file `index` of `total`, its stage, and the stage's fraction done."""

    index: int
    total: int
    file_name: str
    stage: str
    fraction: float = 0.0


ProgressFn = Callable[[Progress], None]
Source = tuple[str, bytes] | Path


def _flag_text(doc: ParsedDocument) -> str:
    return ",".join(f"{n}:{s}" for n, s in sorted(doc.flagged_pages.items()))


_STATUS_KO = {"scanned": "스캔(텍스트 없음)", "garbled": "깨진 텍스트", "empty": "빈 페이지"}


def flagged_warning(flagged: dict[int, str]) -> str:
    """Korean summary such as "2쪽(스캔(텍스트 없음)), 5쪽(깨진 텍스트)은 색인하지 않았습니다"."""
    if not flagged:
        return ""
    pages = ", ".join(f"{n}쪽({_STATUS_KO.get(s, s)})" for n, s in sorted(flagged.items())[:10])
    more = f" 외 {len(flagged) - 10}쪽" if len(flagged) > 10 else ""
    return f"{pages}{more}은(는) 색인하지 않았습니다 (OCR 필요)."


class Ingestor:
    """Turns files into indexed documents using the given store, embedder and chunker.

    Long work (parse, embed, morphemes) runs outside the store's writer lock; only the write
    itself holds it, so several processes can ingest at once.
    """

    def __init__(self, store: Store, embedder: Embedder, settings: Settings, chunker: Chunker | None = None):
        self.store = store
        self.embedder = embedder
        self.settings = settings
        self.chunker = chunker or Chunker.for_embedder(embedder, settings.chunk_tokens, settings.chunk_overlap)

    def ingest(self, sources: Iterable[Source], domain: str = "", progress: ProgressFn | None = None,
               domain_of: Callable[[Source], str] | None = None) -> IngestReport:
        """Ingest every source; failures are reported per file, never raised."""
        sources = list(sources)
        report = new_report()
        for i, src in enumerate(sources):
            name = _name(src)
            tell = _teller(progress, i, len(sources), name)
            report.files.append(self.ingest_file(src, domain_of(src) if domain_of else domain, report=report,
                                                 tell=tell))
            tell("done", 1.0)
        return report

    def ingest_file(self, src: Source, domain: str = "", *, name: str | None = None, source: str | None = None,
                    report: IngestReport | None = None, tell: Callable[[str, float], None] | None = None,
                    cancelled: Callable[[], bool] | None = None) -> FileResult:
        """Ingest one file (a path, or a name and its bytes); failures come back as a "failed" result.

        `source` says where the file came from (default: the resolved path, or the name of
        uploaded bytes): a new version of the same source replaces the old document, while
        files with the same name from different folders stay two documents.
        """
        name = name or _name(src)
        report = report if report is not None else new_report()
        tell = tell or _quiet
        try:
            return self._ingest_file(src, name, domain, source or _source(src), report, tell, cancelled)
        except Cancelled:
            return FileResult(name, "cancelled", message=f"'{name}': 취소했습니다.")
        except DocQAError as exc:
            log.warning("%s: %s", name, exc)
            return FileResult(name, "failed", message=str(exc))
        except Exception as exc:  # noqa: BLE001 - one bad file never stops the batch; the trace is logged
            log.exception("unexpected failure while ingesting %s", name)
            return FileResult(name, "failed", message=f"'{name}': 처리 중 예기치 못한 오류가 발생했습니다 "
                                                      f"({type(exc).__name__}). 로그를 확인하세요.")

    def _ingest_file(self, src: Source, name: str, domain: str, source: str, report: IngestReport,
                     tell: Callable[[str, float], None], cancelled: Callable[[], bool] | None) -> FileResult:
        t0 = time.perf_counter()
        tell("read", 0.0)
        limit = self.settings.max_file_mb * 1024 * 1024
        size = src.stat().st_size if isinstance(src, Path) else len(src[1])
        if size > limit:
            raise TooLargeError(name, f"파일이 너무 큽니다 ({size / 2**20:.1f}MB, 한도 {self.settings.max_file_mb}MB).")
        data = src.read_bytes() if isinstance(src, Path) else src[1]
        doc_id = doc_id_of(data)
        existing = self.store.document(doc_id)
        report.seconds["read"] += time.perf_counter() - t0
        if existing is not None:
            same = "" if existing.file_name == name else f" ('{existing.file_name}'과(와) 같은 내용)"
            return FileResult(name, "skipped", doc_id, existing.pages, existing.chunks,
                              f"'{name}': 이미 색인된 문서입니다{same}. 건너뜁니다.")

        t0 = time.perf_counter()
        tell("parse", 0.0)
        doc = parse_document(data, name, settings=self.settings, progress=lambda done: tell("ocr", done))
        ocr_s = doc.seconds.get("ocr", 0.0)  # OCR runs inside parsing: reported as its own stage
        report.seconds["parse"] += time.perf_counter() - t0 - ocr_s
        report.seconds["ocr"] += ocr_s
        if all(p.status != "ok" for p in doc.pages):
            raise NoTextError(name, "텍스트 층이 없는 스캔 문서(또는 깨진 텍스트)라 색인할 내용이 없습니다. "
                                    "OCR을 거친 PDF를 올려 주세요.")
        old = self.store.document_of_source(source)
        replaces = [old.doc_id] if old is not None and old.doc_id != doc.doc_id else []
        return self.index_parsed(doc, domain, data, report, tell, source=source, replaces=replaces,
                                 cancelled=cancelled)

    def index_parsed(self, doc: ParsedDocument, domain: str, data: bytes | None = None,
                     report: IngestReport | None = None, tell: Callable[[str, float], None] | None = None, *,
                     source: str = "", replaces: Sequence[str] = (),
                     cancelled: Callable[[], bool] | None = None) -> FileResult:
        """Chunk, embed and store an already parsed document (also used for text corpora)."""
        report = report if report is not None else new_report()
        tell = tell or _quiet
        name = doc.file_name
        warnings = tuple(w for w in (flagged_warning(doc.flagged_pages), *doc.notes) if w)
        t0 = time.perf_counter()
        tell("chunk", 0.0)
        chunks = self.chunker.chunk(doc, domain)
        report.seconds["chunk"] += time.perf_counter() - t0
        if not chunks:
            raise NoTextError(name, "색인할 텍스트가 없습니다.")

        t0 = time.perf_counter()
        tell("embed", 0.0)
        vectors = self.embedder.embed_passages([c.text for c in chunks],
                                               progress=lambda done: tell("embed", done / len(chunks)))
        report.seconds["embed"] += time.perf_counter() - t0
        report.tokens += sum(c.n_tokens for c in chunks)
        if cancelled is not None and cancelled():
            raise Cancelled()

        t0 = time.perf_counter()
        tell("lexical", 0.0)
        lexical = [" ".join(terms) for terms in tokenize([lexical_text(c) for c in chunks])]
        report.seconds["lexical"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        tell("store", 0.0)
        record = NewDocument(doc.doc_id, name, domain, len(doc.pages), _flag_text(doc), source or name, doc.format)
        build = self.store.add_document(chunks, vectors, lexical, record, data=data, page_pdf=doc.page_pdf,
                                        replaces=replaces, cancelled=cancelled)
        RowFiles.of(self.store).save_written(doc.doc_id, build, [c.chunk_id for c in chunks], vectors, lexical)
        report.seconds["store"] += time.perf_counter() - t0

        status = "replaced" if replaces else "indexed"
        verb = "이전 판을 교체해 색인했습니다" if replaces else "색인했습니다"
        message = f"'{name}': {len(doc.pages)}쪽, {len(chunks)}개 조각으로 {verb}."
        return FileResult(name, status, doc.doc_id, len(doc.pages), len(chunks), message, warnings)

    def reindex_document(self, doc_id: str, tell: Callable[[str, float], None] | None = None) -> FileResult:
        """Index one stored document again in place; on failure the old passages stay."""
        info = self.store.document(doc_id)
        path = self.store.original_path(doc_id, info.format) if info is not None else None
        if info is None or path is None or not path.exists():
            return FileResult(info.file_name if info else doc_id, "failed", doc_id,
                              message="원본 파일이 없어 다시 색인할 수 없습니다.")
        try:
            data = path.read_bytes()
            (tell or _quiet)("parse", 0.0)
            return self.index_parsed(parse_document(data, info.file_name, settings=self.settings), info.domain,
                                     data, tell=tell, source=info.source)
        except DocQAError as exc:
            return FileResult(info.file_name, "failed", doc_id, message=str(exc))

    def reindex(self, progress: ProgressFn | None = None) -> IngestReport:
        """Rebuild the index from the stored source files with the current model and settings.

        The new index is built beside the live one (searches keep working on it) and made live
        when done; documents committed to the old one meanwhile are carried over first.
        """
        old = self.store
        target = Store.new_build(self.settings, index_signature(self.embedder, self.settings))
        builder = Ingestor(target, self.embedder, self.settings, self.chunker)
        report = new_report()
        done: set[str] = set()
        for _ in range(3):  # later rounds pick up documents added to the old index meanwhile
            todo = [d for d in old.documents() if d.doc_id not in done]
            if not todo:
                break
            for i, d in enumerate(todo):
                tell = _teller(progress, i, len(todo), d.file_name)
                report.files.append(builder._reindex_from(old, d, report, tell))
                done.add(d.doc_id)
                tell("done", 1.0)
        target.make_live()
        self.store = target
        return report

    def _reindex_from(self, old: Store, d: DocumentInfo, report: IngestReport,
                      tell: Callable[[str, float], None]) -> FileResult:
        path = old.original_path(d.doc_id, d.format)
        if not path.exists():
            log.warning("no stored file for %s; it cannot be re-indexed", d.file_name)
            return FileResult(d.file_name, "failed", d.doc_id, message=f"'{d.file_name}': 원본 파일이 없어 다시 "
                                                                     "색인할 수 없습니다.")
        try:
            data = path.read_bytes()
            t0 = time.perf_counter()
            tell("parse", 0.0)
            doc = parse_document(data, d.file_name, settings=self.settings)
            report.seconds["parse"] += time.perf_counter() - t0
            return self.index_parsed(doc, d.domain, data, report, tell, source=d.source)
        except DocQAError as exc:
            return FileResult(d.file_name, "failed", d.doc_id, message=str(exc))


def new_report() -> IngestReport:
    return IngestReport(seconds={s: 0.0 for s in ("read", *STAGES)})


def _quiet(stage: str, fraction: float = 0.0) -> None:
    return None


def _teller(progress: ProgressFn | None, index: int, total: int, name: str) -> Callable[[str, float], None]:
    def tell(stage: str, fraction: float = 0.0) -> None:
        if progress:
            progress(Progress(index, total, name, stage, fraction))

    return tell


def _name(src: Source) -> str:
    return src.name if isinstance(src, Path) else Path(src[0]).name or "이름 없음.pdf"


def _source(src: Source) -> str:
    return str(src.resolve()) if isinstance(src, Path) else _name(src)
