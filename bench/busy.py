"""`python -m bench busy`: query latency while another session indexes a 40-page PDF, beside idle.

The 54-PDF index of the quality benchmark is copied to a scratch folder; an app-like searcher
(this process) times the dev questions idle, then again while the product's worker process
(as the app starts it: its own process, lower CPU priority) indexes a 40-page PDF into the
same index. Reported: p50/p95 of both and their ratio (bar: busy p95 ≤ 2× idle p95).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.common import DEFAULT_CACHE, DEFAULT_LABELS, DEFAULT_PDFS, PROJECT_ROOT, markdown_table
from evaluation.metrics import percentile

log = logging.getLogger(__name__)

def _forty_page_pdf(out: Path) -> Path:
    """A 40-page PDF of real Korean pages (the first 40 pages of the eval set's longest plans)."""
    import pymupdf

    sources = sorted((DEFAULT_PDFS / "public").glob("*.pdf"), key=lambda p: -p.stat().st_size)
    with pymupdf.open() as doc:
        for src in sources:
            with pymupdf.open(src) as part:
                take = min(part.page_count, 40 - doc.page_count)
                doc.insert_pdf(part, from_page=0, to_page=take - 1)
            if doc.page_count >= 40:
                break
        doc.save(out)
    return out


def _time_questions(searcher, questions: list[str], rounds: int = 1, until: callable | None = None) -> list[float]:
    out = []
    for _ in range(rounds):
        for q in questions:
            t0 = time.perf_counter()
            searcher.search(q, 10)
            out.append((time.perf_counter() - t0) * 1000)
            if until is not None and until():
                return out
    return out


def run(cache: Path) -> dict:
    from bench import quality as qm
    from docqa.config import Settings
    from evaluation.labels import read_rows
    from ingest.jobs import JobQueue
    from retrieval.search import Searcher

    embedder, overrides, _ = qm.load_embedder_timed(cache, None)
    prep = qm.prepare_pdf_corpus(DEFAULT_PDFS, [DEFAULT_LABELS], embedder, overrides, cache=cache, store=None,
                                 limit=None, chunk_tokens=None, chunk_overlap=None)
    scratch = cache / "busy"
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(prep.store_dir, scratch, ignore=shutil.ignore_patterns("jobs.sqlite3*", "spool", "locks"))
    settings = Settings.from_env(data_dir=scratch, **overrides)
    from docqa.services import open_store

    model = getattr(embedder, "uncached", embedder)  # the bench's embedding cache would skip the query's encoding
    store = open_store(settings, model)
    searcher = Searcher.from_services(store, model, settings)
    questions = [r["question"] for r in read_rows(DEFAULT_LABELS)]
    searcher.search(questions[0], 10)
    idle = _time_questions(searcher, questions, rounds=2)

    pdf = _forty_page_pdf(scratch / "forty-pages.pdf")
    queue = JobQueue(settings)
    job = queue.submit_paths([pdf], ["public"], origin="app")
    env = {**os.environ, "RAG_DATA_DIR": str(scratch), "HF_HUB_OFFLINE": "1",
           **({"RAG_EMBED_MODEL": embedder.choice.path} if embedder.choice.source == "offline" else {})}
    worker = subprocess.Popen([sys.executable, "-m", "ingest.worker", "--data-dir", str(scratch), "--idle", "1"],
                              cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not any(f.state == "running" and f.stage in ("parse", "chunk", "embed") for f in queue.job(job).files):
        if worker.poll() is not None:
            break
        time.sleep(0.05)
    started = time.perf_counter()
    busy = _time_questions(searcher, questions, rounds=50, until=lambda: queue.pending(job) == 0)
    ingest_s = time.perf_counter() - started
    worker.wait(timeout=600)
    result = queue.job(job).files[0]
    return {"idle_queries": len(idle), "idle_p50_ms": percentile(idle, 50), "idle_p95_ms": percentile(idle, 95),
            "busy_p50_ms": percentile(busy, 50), "busy_p95_ms": percentile(busy, 95),
            "busy_queries": len(busy), "ingest_s": ingest_s, "ingest_state": result.state,
            "ratio_p95": percentile(busy, 95) / max(percentile(idle, 95), 1e-9)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench busy", description=__doc__)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    r = run(args.cache)
    print(markdown_table(["", "p50 (ms)", "p95 (ms)", "questions"],
                         [["idle", r["idle_p50_ms"], r["idle_p95_ms"], r["idle_queries"]],
                          ["while a 40-page PDF is indexed", r["busy_p50_ms"], r["busy_p95_ms"], r["busy_queries"]]]))
    print(f"\nbusy p95 / idle p95 = {r['ratio_p95']:.2f} (bar ≤ 2.0); the 40-page PDF took {r['ingest_s']:.1f} s "
          f"({r['ingest_state']})")
    if args.json:
        from bench.common import write_json

        write_json(args.json, r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
