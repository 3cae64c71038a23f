"""The ingest worker: claims queued files (ingest.jobs) and indexes them, outside any browser session.

The app starts one worker process per data directory when it has work (`ensure_worker`);
the worker runs at low CPU priority so searches in the app stay responsive, exits after
being idle for a while, and is started again by the next submission or app start. The CLI
runs the same loop in its own process for its own job (`run(..., job_id=...)`).

    python -m ingest.worker [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from docqa.config import Settings
from docqa.errors import DocQAError
from docqa.store import OWNER
from docqa.types import FileResult
from ingest.jobs import FileTask, JobQueue

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
_POLL_S = 0.5
_BEAT_S = 1.0  # progress writes at most this often per file
_SWEEP_S = 30.0  # stale leases and retired builds are looked at this often while idle


class Worker:
    """Processes claimed files with the settings each job was submitted with (an app restarted with
    another model or chunk size must not be served by a worker started before); the embedder and
    store for a configuration are loaded on first need and kept."""

    def __init__(self, settings: Settings, services: Callable[[], tuple] | None = None):
        self.settings = settings
        self.queue = JobQueue(settings)
        self._services = services
        self._loaded: tuple | None = None
        self._loaded_for = ""

    def services(self, settings: Settings | None = None):
        """(embedder, store, ingestor) for `settings` (default: the worker's own)."""
        settings = settings or self.settings
        key = repr(settings)
        if self._loaded is None or (self._services is None and key != self._loaded_for):
            if self._services is not None:
                self._loaded = self._services()
            else:
                from docqa.services import load_embedder, open_store
                from ingest.pipeline import Ingestor

                embedder = self._loaded[0] if self._loaded is not None and _embedder_key(
                    self._loaded[1].settings) == _embedder_key(settings) else load_embedder(settings)
                store = open_store(settings, embedder, check=False)
                self._loaded = (embedder, store, Ingestor(store, embedder, settings))
            self._loaded_for = key
        return self._loaded

    def run(self, job_id: str | None = None, idle_exit_s: float | None = None,
            on_progress: Callable[[FileTask, str, float], None] | None = None) -> None:
        """Work until `job_id` is finished (or, without it, until idle for `idle_exit_s`)."""
        idle_exit_s = self.settings.worker_idle_s if idle_exit_s is None else idle_exit_s
        idle_since = time.monotonic()
        swept = 0.0
        while True:
            if job_id is not None:
                self.queue.beat_job(job_id)
            task = self.queue.claim(OWNER, job_id=job_id)
            if task is None:
                if job_id is not None and self.queue.pending(job_id) == 0:
                    return
                if job_id is None and time.monotonic() - idle_since > idle_exit_s:
                    log.info("worker idle for %.0f s: exiting", idle_exit_s)
                    return
                if time.monotonic() - swept > _SWEEP_S and self._loaded is not None:
                    self._housekeeping()
                    swept = time.monotonic()
                time.sleep(_POLL_S)
                continue
            self.process(task, on_progress)
            idle_since = time.monotonic()

    def process(self, task: FileTask, on_progress: Callable[[FileTask, str, float], None] | None = None) -> FileResult:
        """Do one task and record its result (never raises for a bad file)."""
        last = [0.0, ""]

        def tell(stage: str, fraction: float = 0.0) -> None:
            now = time.monotonic()
            if on_progress is not None:
                on_progress(task, stage, fraction)
            if stage != last[1] or now - last[0] >= _BEAT_S:
                last[0], last[1] = now, stage
                self.queue.progress(task, stage, fraction)

        checked = [0.0, False]

        def cancelled() -> bool:
            if time.monotonic() - checked[0] >= _BEAT_S:
                checked[0], checked[1] = time.monotonic(), self.queue.is_cancelled(task.job_id)
            return checked[1]

        try:
            result = self._do(task, tell, cancelled)
        except DocQAError as exc:
            log.warning("%s: %s", task.name, exc)
            result = FileResult(task.name, "failed", task.doc_id, message=str(exc))
        except Exception as exc:  # noqa: BLE001 - the queue must go on; the trace is logged
            log.exception("task %s (%s) failed", task.id, task.name)
            message = f"'{task.name}': 처리 중 예기치 못한 오류가 발생했습니다 ({type(exc).__name__})."
            result = FileResult(task.name, "failed", task.doc_id, message=message)
        self.queue.finish(task, result)
        if on_progress is not None:
            on_progress(task, "done", 1.0)
        return result

    def _do(self, task: FileTask, tell, cancelled) -> FileResult:
        settings = task.settings(self.settings)
        if task.kind == "delete":
            _, store, _ = self.services(settings)
            store.delete_document(task.doc_id)
            return FileResult(task.name, "deleted", task.doc_id, message=f"'{task.name}': 삭제했습니다.")
        embedder, store, ingestor = self.services(settings)
        if task.kind == "reindex":
            return ingestor.reindex_document(task.doc_id, tell=tell)
        if task.kind == "reindex_all":
            def progress(p) -> None:
                tell(p.stage, (p.index + (1.0 if p.stage == "done" else 0.0)) / max(p.total, 1))

            report = ingestor.reindex(progress=progress)
            self._loaded = (embedder, ingestor.store, ingestor)  # the new build is live now
            failed = [f for f in report.files if f.status == "failed"]
            message = (f"전체 재색인을 마쳤습니다: 문서 {len(report.files) - len(failed)}개"
                       + (f", 실패 {len(failed)}개" if failed else "") + ".")
            return FileResult(task.name, "indexed", "", report.pages, report.chunks, message,
                              tuple(f.message for f in failed))
        store.check()  # ingesting into an index built with other settings is refused, in Korean
        result = ingestor.ingest_file(Path(task.path), task.domain, name=task.name, source=task.source,
                                      tell=tell, cancelled=cancelled)
        if task.resumed and result.status == "skipped":
            info = store.document(result.doc_id)
            if info is not None and info.source == task.source:  # committed just before the last worker died
                return replace(result, status="indexed",
                               message=f"'{task.name}': {info.pages}쪽, {info.chunks}개 조각으로 색인했습니다 "
                                       "(중단되기 직전에 마친 작업).")
        return result

    def _housekeeping(self) -> None:
        _, store, _ = self._loaded
        try:
            with store.writing():
                store.sweep_leases()
                store.drop_retired()
        except Exception as exc:  # noqa: BLE001 - housekeeping retries later
            log.warning("store housekeeping failed: %s", exc)


def _embedder_key(settings: Settings) -> tuple:
    return (settings.embed_model, settings.embed_batch_tokens, settings.encoder)


def _worker_lock(settings: Settings):
    from filelock import FileLock

    path = settings.data_dir / "locks" / "worker.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path))


def worker_alive(settings: Settings) -> bool:
    """Whether a worker process holds this data directory's worker lock."""
    from filelock import Timeout

    lock = _worker_lock(settings)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    lock.release()
    return False


def ensure_worker(settings: Settings) -> bool:
    """Start a worker process for this data directory unless one runs; True when one was started."""
    if worker_alive(settings) or JobQueue(settings).pending() == 0:
        return False
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / "worker.log").open("ab") as out:
        subprocess.Popen([sys.executable, "-m", "ingest.worker", "--data-dir", str(settings.data_dir)],
                         cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True, env={**os.environ, "RAG_DATA_DIR": str(settings.data_dir)})
    log.info("started an ingest worker for %s", settings.data_dir)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingest.worker", description="색인 작업을 처리합니다.")
    parser.add_argument("--data-dir", help="데이터 폴더 (기본: RAG_DATA_DIR 또는 ~/.korean-doc-qa)")
    parser.add_argument("--idle", type=float, help="일이 없을 때 이 초만큼 기다린 뒤 끝냅니다")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from filelock import Timeout

    settings = Settings.from_env(**({"data_dir": Path(args.data_dir)} if args.data_dir else {}))
    lock = _worker_lock(settings)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.info("another worker serves %s", settings.data_dir)
        return 0
    try:
        os.nice(10)  # searches in the app come first; ingest takes what is left
    except OSError as exc:
        log.info("could not lower the worker's priority: %s", exc)
    try:
        Worker(settings).run(idle_exit_s=args.idle)
    finally:
        lock.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
