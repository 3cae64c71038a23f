"""The heavy resources of an app process, created once and shared by every session.

They load in a background thread that no page run owns: a click on another page while the
model is still loading just starts that page, which waits (interruptibly) for the same load
instead of starting it again. Ingest work goes to the job queue and its worker process.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from docqa.config import Settings
from docqa.errors import DocQAError, ModelMismatchError
from docqa.models import Embedder
from docqa.store import Store
from ingest.jobs import JobQueue
from ingest.worker import ensure_worker
from retrieval.search import Searcher

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    """Everything a page needs; one instance per process and settings, shared by all sessions."""

    settings: Settings
    embedder: Embedder
    store: Store
    searcher: Searcher
    queue: JobQueue
    llm: object | None = None  # the in-house LLM client (llama-index OpenAILike), when configured

    def submit_worker(self) -> None:
        """Make sure a worker process will pick up queued jobs."""
        ensure_worker(self.settings)


class Loader:
    """Loads the services for one configuration in a thread; pages poll `state`."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.state = "loading"  # loading, ready, mismatch, failed
        self.step = "임베딩 모델을 불러오는 중입니다"
        self.error = ""
        self.embedder: Embedder | None = None
        self.store: Store | None = None
        self.services: Services | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._load, name="docqa-loader", daemon=True)
        self._thread.start()

    def _load(self) -> None:
        from docqa.services import load_embedder, open_store

        try:
            started = time.perf_counter()
            self.embedder = load_embedder(self.settings)
            self.step = "색인을 여는 중입니다"
            self.store = open_store(self.settings, self.embedder, check=False)
            queue = JobQueue(self.settings)
            ensure_worker(self.settings)  # unfinished jobs of an earlier run resume now
            self._finish(queue)
            log.info("services ready in %.1f s", time.perf_counter() - started)
        except Exception as exc:  # noqa: BLE001 - shown on every page, trace logged
            log.exception("could not load the app's resources")
            self.error = str(exc) if isinstance(exc, DocQAError) else f"{type(exc).__name__}: 로그를 확인하세요."
            self.state = "failed"

    def _finish(self, queue: JobQueue | None = None) -> None:
        """Check the index and build the searcher (again after a re-index fixed a mismatch)."""
        with self._lock:
            try:
                self.store.check()
            except ModelMismatchError as exc:
                self.error, self.state = str(exc), "mismatch"
                return
            self.step = "검색 색인을 준비하는 중입니다"
            searcher = Searcher.from_services(self.store, self.embedder, self.settings)
            searcher.index.refresh(force=True)
            from answer import make_llm

            self.services = Services(self.settings, self.embedder, self.store, searcher,
                                     queue or JobQueue(self.settings), make_llm(self.settings))
            self.error, self.state = "", "ready"

    def retry(self) -> None:
        """After a re-index: if the live index now matches, become ready."""
        if self.state == "mismatch" and self.store is not None:
            self._finish()

    def wait(self, seconds: float) -> bool:
        self._thread.join(seconds)
        return not self._thread.is_alive()


_loaders: dict[str, Loader] = {}
_loaders_lock = threading.Lock()


def current_settings() -> Settings:
    return Settings.from_env()


def loader(settings: Settings | None = None) -> Loader:
    """This process's loader for the current settings (started on first use)."""
    settings = settings or current_settings()
    key = repr(settings)
    with _loaders_lock:
        found = _loaders.get(key)
        if found is None:
            found = _loaders[key] = Loader(settings)
        return found


def job_queue(settings: Settings | None = None) -> JobQueue:
    return JobQueue(settings or current_settings())


def upload_limit_mb(settings: Settings, server_limit: int) -> int:
    """Per-file upload limit: server.maxUploadSize and RAG_MAX_FILE_MB should agree; the lower one wins."""
    if server_limit != settings.max_file_mb:
        log.warning("server.maxUploadSize=%s MB but RAG_MAX_FILE_MB=%s MB; using the lower", server_limit,
                    settings.max_file_mb)
    return min(server_limit, settings.max_file_mb)


def stored_file(store: Store, doc_id: str) -> Path | None:
    """The printable PDF of a document, when it is stored on this machine."""
    path = store.page_pdf_path(doc_id)
    return path if path.exists() else None
