"""Ingest jobs, persisted in SQLite: uploads, CLI folders, deletions and re-indexing.

A page (or the CLI) submits a job and returns at once; a worker process (ingest.worker)
claims its files one at a time and reports progress here, so the work belongs to no browser
session: it survives navigation, reloads and closed tabs, and after a crash or restart
unfinished files go back to the queue (uploads were spooled to disk first). Every page reads
the job list from here to show progress.

Claims use SQLite's write lock (BEGIN IMMEDIATE), so any number of workers and CLI runs can
share one queue; a claim is leased to its owner (host:pid) and returns to the queue when the
owner's process is gone or its heartbeat is older than the lease timeout.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from pathlib import Path

from docqa.config import Settings
from docqa.store import OWNER
from docqa.types import FileResult

log = logging.getLogger(__name__)

ACTIVE = ("queued", "running")
KINDS = ("ingest", "delete", "reindex", "reindex_all")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY, kind TEXT NOT NULL, origin TEXT NOT NULL, owner TEXT NOT NULL,
  heartbeat REAL NOT NULL, created REAL NOT NULL, cancelled INTEGER NOT NULL DEFAULT 0, label TEXT NOT NULL,
  config TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS files (
  id INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL REFERENCES jobs(id), position INTEGER NOT NULL,
  name TEXT NOT NULL, path TEXT NOT NULL DEFAULT '', source TEXT NOT NULL DEFAULT '',
  domain TEXT NOT NULL DEFAULT '', doc_id TEXT NOT NULL DEFAULT '', spooled INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL DEFAULT 'queued', stage TEXT NOT NULL DEFAULT '', fraction REAL NOT NULL DEFAULT 0,
  owner TEXT NOT NULL DEFAULT '', heartbeat REAL NOT NULL DEFAULT 0, message TEXT NOT NULL DEFAULT '',
  warnings TEXT NOT NULL DEFAULT '[]', pages INTEGER NOT NULL DEFAULT 0, chunks INTEGER NOT NULL DEFAULT 0,
  finished REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS files_state ON files(state, job_id, position);
CREATE INDEX IF NOT EXISTS files_job ON files(job_id, position);
"""


@dataclass(frozen=True)
class FileTask:
    """One claimed unit of work."""

    id: int
    job_id: str
    kind: str
    name: str
    path: str  # the file to read (a CLI path or a spooled upload)
    source: str  # where the file came from (decides which older document it replaces)
    domain: str
    doc_id: str  # delete / reindex
    config: str = "{}"  # the submitter's settings (JSON): the worker indexes with exactly these
    resumed: bool = False  # claimed before by a worker that died: it may have committed the file

    def settings(self, base: Settings) -> Settings:
        """`base` (the worker's) with the submitter's settings applied."""
        values = json.loads(self.config or "{}")
        return replace(base, **{k: v for k, v in values.items() if k in _CONFIG_FIELDS})


# What a worker needs of the submitter's settings (not the data dir, never the LLM's key).
_CONFIG_FIELDS = tuple(f.name for f in fields(Settings) if f.name != "data_dir" and not f.name.startswith("llm_"))


def settings_json(settings: Settings) -> str:
    return json.dumps({name: getattr(settings, name) for name in _CONFIG_FIELDS}, sort_keys=True)


@dataclass(frozen=True)
class FileView:
    name: str
    state: str  # queued, running, indexed, replaced, skipped, failed, cancelled, deleted
    stage: str
    fraction: float
    message: str
    warnings: tuple[str, ...]
    pages: int
    chunks: int
    doc_id: str

    def result(self) -> FileResult:
        return FileResult(self.name, self.state, self.doc_id, self.pages, self.chunks, self.message, self.warnings)


@dataclass(frozen=True)
class JobView:
    id: str
    kind: str
    origin: str
    label: str
    created: float
    cancelled: bool
    files: tuple[FileView, ...]

    @property
    def active(self) -> bool:
        return any(f.state in ACTIVE for f in self.files)

    @property
    def done(self) -> int:
        return sum(f.state not in ACTIVE for f in self.files)

    @property
    def progress(self) -> float:
        """0..1 over all files (the running ones count by their own fraction)."""
        if not self.files:
            return 1.0
        return sum(1.0 if f.state not in ACTIVE else f.fraction if f.state == "running" else 0.0
                   for f in self.files) / len(self.files)


def _pid_alive(owner: str) -> bool | None:
    """Whether the process named by an owner string is alive (None: another host, can't tell)."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class JobQueue:
    """The job table of one data directory."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.path = settings.jobs_db
        self.spool = settings.spool_dir
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _db(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=30000")
            db.row_factory = sqlite3.Row
            if write:
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
            else:
                yield db
        finally:
            db.close()

    # --- submitting --------------------------------------------------------------------
    def _new_job(self, db: sqlite3.Connection, kind: str, origin: str, label: str, job_id: str | None = None) -> str:
        job_id = job_id or uuid.uuid4().hex[:16]
        now = time.time()
        db.execute("INSERT INTO jobs(id, kind, origin, owner, heartbeat, created, label, config) "
                   "VALUES (?,?,?,?,?,?,?,?)", (job_id, kind, origin, OWNER, now, now, label,
                                                settings_json(self.settings)))
        return job_id

    def submit_uploads(self, files: Sequence[tuple[str, bytes]], domain: str = "", label: str = "") -> str:
        """Spool uploaded files to disk and queue them; returns the job id (files are safe once it returns)."""
        job_id = uuid.uuid4().hex[:16]
        folder = self.spool / job_id
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for n, (_, data) in enumerate(files):
            path = folder / f"{n:04d}.bin"
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
            paths.append(path)
        with self._db(write=True) as db:
            self._new_job(db, "ingest", "app", label or _label(files), job_id)
            db.executemany("INSERT INTO files(job_id, position, name, path, source, domain, spooled) "
                           "VALUES (?,?,?,?,?,?,1)",
                           [(job_id, n, Path(name).name or "이름 없음", str(p), Path(name).name, domain)
                            for n, ((name, _), p) in enumerate(zip(files, paths))])
        return job_id

    def submit_paths(self, paths: Sequence[Path], domains: Sequence[str], origin: str = "cli") -> str:
        """Queue files on disk (read when processed; the source is the resolved path)."""
        with self._db(write=True) as db:
            job_id = self._new_job(db, "ingest", origin, f"파일 {len(paths)}개")
            db.executemany("INSERT INTO files(job_id, position, name, path, source, domain) VALUES (?,?,?,?,?,?)",
                           [(job_id, n, p.name, str(p), str(p.resolve()), d)
                            for n, (p, d) in enumerate(zip(paths, domains))])
        return job_id

    def submit_documents(self, kind: str, docs: Sequence[tuple[str, str]], origin: str = "app") -> str:
        """Queue a deletion or re-index of stored documents ((doc id, file name) pairs)."""
        if kind not in ("delete", "reindex"):
            raise ValueError(kind)
        label = f"{'삭제' if kind == 'delete' else '재색인'} {len(docs)}개"
        with self._db(write=True) as db:
            job_id = self._new_job(db, kind, origin, label)
            db.executemany("INSERT INTO files(job_id, position, name, doc_id) VALUES (?,?,?,?)",
                           [(job_id, n, name, doc_id) for n, (doc_id, name) in enumerate(docs)])
        return job_id

    def submit_reindex_all(self, origin: str = "app") -> str:
        """Queue a rebuild of the whole index from the stored files (one at a time per queue)."""
        with self._db(write=True) as db:
            running = db.execute("SELECT f.job_id FROM files f JOIN jobs j ON j.id = f.job_id WHERE j.kind = "
                                 "'reindex_all' AND f.state IN ('queued', 'running')").fetchone()
            if running:
                return running["job_id"]
            job_id = self._new_job(db, "reindex_all", origin, "전체 재색인")
            db.execute("INSERT INTO files(job_id, position, name) VALUES (?, 0, '전체 문서')", (job_id,))
        return job_id

    def cancel(self, job_id: str) -> None:
        """Queued files are cancelled now; a running one stops at its next step (nothing half-written)."""
        with self._db(write=True) as db:
            db.execute("UPDATE jobs SET cancelled = 1 WHERE id = ?", (job_id,))
            db.execute("UPDATE files SET state = 'cancelled', message = '취소했습니다.', finished = ? "
                       "WHERE job_id = ? AND state = 'queued'", (time.time(), job_id))
        self._drop_spool(job_id, only_finished=True)

    # --- reading -----------------------------------------------------------------------
    def jobs(self, limit: int = 20, active_only: bool = False) -> list[JobView]:
        """Newest first."""
        where = ("WHERE id IN (SELECT job_id FROM files WHERE state IN ('queued', 'running'))"
                 if active_only else "")
        with self._db() as db:
            jobs = db.execute(f"SELECT * FROM jobs {where} ORDER BY created DESC LIMIT ?", (limit,)).fetchall()
            return [_job_view(db, j) for j in jobs]

    def job(self, job_id: str) -> JobView | None:
        with self._db() as db:
            j = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            return _job_view(db, j) if j is not None else None

    def is_cancelled(self, job_id: str) -> bool:
        with self._db() as db:
            row = db.execute("SELECT cancelled FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row and row["cancelled"])

    # --- working -----------------------------------------------------------------------
    def claim(self, owner: str = OWNER, job_id: str | None = None) -> FileTask | None:
        """The next queued file (oldest job first), now leased to `owner`. With `job_id`, only that
        job's files; otherwise app jobs and jobs whose submitting process is gone."""
        self.requeue_stale()
        with self._db(write=True) as db:
            if job_id is not None:
                rows = db.execute("SELECT f.*, j.kind, j.config FROM files f JOIN jobs j ON j.id = f.job_id WHERE "
                                  "f.state = 'queued' AND f.job_id = ? ORDER BY f.position LIMIT 1",
                                  (job_id,)).fetchall()
            else:
                rows = db.execute("SELECT f.*, j.kind, j.config, j.origin, j.owner AS creator, j.heartbeat AS "
                                  "job_beat FROM files f JOIN jobs j ON j.id = f.job_id WHERE f.state = 'queued' "
                                  "ORDER BY j.created, f.position LIMIT 50").fetchall()
                rows = [r for r in rows if r["origin"] == "app" or self._abandoned(r["creator"], r["job_beat"])][:1]
            if not rows:
                return None
            row = rows[0]
            db.execute("UPDATE files SET state = 'running', owner = ?, heartbeat = ?, stage = '', fraction = 0 "
                       "WHERE id = ?", (owner, time.time(), row["id"]))
        return FileTask(row["id"], row["job_id"], row["kind"], row["name"], row["path"], row["source"],
                        row["domain"], row["doc_id"], row["config"], resumed=row["heartbeat"] > 0)

    def _abandoned(self, owner: str, heartbeat: float) -> bool:
        alive = _pid_alive(owner)
        if alive is not None:
            return not alive
        return time.time() - heartbeat > self.settings.lease_timeout_s

    def beat_job(self, job_id: str) -> None:
        """The submitting CLI is alive (its job must not be taken over)."""
        with self._db(write=True) as db:
            db.execute("UPDATE jobs SET heartbeat = ? WHERE id = ?", (time.time(), job_id))

    def progress(self, task: FileTask, stage: str, fraction: float) -> None:
        with self._db(write=True) as db:
            db.execute("UPDATE files SET stage = ?, fraction = ?, heartbeat = ? WHERE id = ?",
                       (stage, max(0.0, min(1.0, fraction)), time.time(), task.id))

    def finish(self, task: FileTask, result: FileResult) -> None:
        with self._db(write=True) as db:
            db.execute("UPDATE files SET state = ?, stage = 'done', fraction = 1, message = ?, warnings = ?, "
                       "pages = ?, chunks = ?, doc_id = CASE WHEN ? != '' THEN ? ELSE doc_id END, finished = ? "
                       "WHERE id = ?",
                       (result.status, result.message, json.dumps(list(result.warnings), ensure_ascii=False),
                        result.pages, result.chunks, result.doc_id, result.doc_id, time.time(), task.id))
        if task.path and task.path.startswith(str(self.spool)):
            Path(task.path).unlink(missing_ok=True)
        self._drop_spool(task.job_id, only_finished=True)

    def requeue_stale(self) -> int:
        """Files whose worker is gone (dead process, or silent past the lease timeout) go back to the queue."""
        with self._db(write=True) as db:
            rows = db.execute("SELECT id, owner, heartbeat FROM files WHERE state = 'running'").fetchall()
            stale = [r["id"] for r in rows if self._abandoned(r["owner"], r["heartbeat"])]
            for file_id in stale:
                db.execute("UPDATE files SET state = 'queued', owner = '', stage = '', fraction = 0 WHERE id = ?",
                           (file_id,))
        if stale:
            log.warning("%d unfinished file(s) of a stopped worker went back to the queue", len(stale))
        return len(stale)

    def pending(self, job_id: str | None = None) -> int:
        with self._db() as db:
            if job_id is None:
                row = db.execute("SELECT COUNT(*) AS n FROM files WHERE state IN ('queued', 'running')").fetchone()
            else:
                row = db.execute("SELECT COUNT(*) AS n FROM files WHERE state IN ('queued', 'running') "
                                 "AND job_id = ?", (job_id,)).fetchone()
        return int(row["n"])

    def _drop_spool(self, job_id: str, only_finished: bool) -> None:
        folder = self.spool / job_id
        if not folder.exists() or (only_finished and self.pending(job_id)):
            return
        shutil.rmtree(folder, ignore_errors=True)


def _job_view(db: sqlite3.Connection, j: sqlite3.Row) -> JobView:
    files = db.execute("SELECT * FROM files WHERE job_id = ? ORDER BY position", (j["id"],)).fetchall()
    return JobView(j["id"], j["kind"], j["origin"], j["label"], j["created"], bool(j["cancelled"]),
                   tuple(_file_view(f) for f in files))


def _file_view(row: sqlite3.Row) -> FileView:
    return FileView(row["name"], row["state"], row["stage"], float(row["fraction"]), row["message"],
                    tuple(json.loads(row["warnings"] or "[]")), int(row["pages"]), int(row["chunks"]), row["doc_id"])


def _label(files: Sequence[tuple[str, bytes]]) -> str:
    if len(files) == 1:
        return Path(files[0][0]).name
    return f"{Path(files[0][0]).name} 외 {len(files) - 1}개"
