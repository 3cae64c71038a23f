"""An on-disk OCR cache for the benchmarks only (the product never uses it).

Every parser change re-indexes the corpus, and OCR of its scanned pages and pictures takes
minutes while its result does not change. Within a benchmark process, `install(path)`
wraps the parser's OCR call (ingest.pdf.ocrtext.run_job) so that a job's lines are kept
under (file bytes, page, region, OCR settings, OCR module source); anything else reruns.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import pickle
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

_local = threading.local()
stats = {"hits": 0, "misses": 0}  # OCR seconds of a run with hits are not OCR's real cost


def install(path: Path) -> None:
    """Cache OCR results in the SQLite file `path` for this process."""
    import ingest.ocr
    import ingest.pdf.document as document
    import ingest.pdf.ocrtext as ocrtext
    import ingest.pipeline as pipeline

    if getattr(ocrtext.run_job, "_cached", False):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), check_same_thread=False)
    db.execute("CREATE TABLE IF NOT EXISTS ocr (key TEXT PRIMARY KEY, lines BLOB)")
    lock = threading.Lock()
    version = hashlib.sha256((inspect.getsource(ingest.ocr) + inspect.getsource(ocrtext)).encode()).hexdigest()
    run_job, parse_pdf = ocrtext.run_job, document.parse_pdf

    def cached_run_job(doc, job, settings):
        key = hashlib.sha256(repr((getattr(_local, "file", ""), job.page, job.clip, settings.ocr_dpi,
                                   settings.ocr_lang, version)).encode()).hexdigest()
        with lock:
            row = db.execute("SELECT lines FROM ocr WHERE key = ?", (key,)).fetchone()
        if row is not None:
            stats["hits"] += 1
            return pickle.loads(row[0])
        stats["misses"] += 1
        lines = run_job(doc, job, settings)
        with lock:
            db.execute("INSERT OR REPLACE INTO ocr VALUES (?, ?)", (key, pickle.dumps(lines)))
            db.commit()
        return lines

    def keyed_parse_pdf(data: bytes, file_name: str, **options):
        _local.file = hashlib.sha256(data).hexdigest()
        try:
            return parse_pdf(data, file_name, **options)
        finally:
            _local.file = ""

    cached_run_job._cached = True
    ocrtext.run_job = cached_run_job
    document.parse_pdf = keyed_parse_pdf
    pipeline.parse_pdf = keyed_parse_pdf
    log.info("bench OCR cache: %s", path)
