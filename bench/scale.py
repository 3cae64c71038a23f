"""`python -m bench scale --passages N [N ...]`: how the store and an app process grow with the index.

A store is filled with real passages of ../shared/eval (the quality bench's 54-PDF index, built
first if missing), replicated into new documents and varied so that every copy is distinct:
its text carries a copy marker, its vector is the original plus small noise (re-normalised),
its morphemes carry a copy token. Documents are written through the product's own
`Store.add_document` (leases, registry, log), a document at a time.

At each size the benchmark measures, in fresh processes:
- open and start: process start until the first answer of a new app-like process
  (model, store, derived views), and that process's peak RSS;
- query p50/p95 over the dev questions in that process;
- adding one more real document (parse, chunk, embed, store) in the benchmark process;
- the time from that commit until the app-like process finds the new document.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import DEFAULT_CACHE, DEFAULT_LABELS, DEFAULT_PDFS, PROJECT_ROOT, markdown_table, peak_rss_mb
from evaluation.metrics import percentile

log = logging.getLogger(__name__)

PROBE_PDF = DEFAULT_PDFS / "finance" / "240409(보도자료) 금융위 핀테크 투자 생태계 활성화 나선다.pdf"
PROBE_QUESTION = "핀테크 투자 생태계 활성화 방안"


def _source_passages(cache: Path) -> list[dict]:
    """Every passage (text, metadata, vector) of the quality bench's 54-PDF index."""
    from bench import quality as qm
    from docqa.store import Store

    embedder, overrides, _ = qm.load_embedder_timed(cache, None)
    prep = qm.prepare_pdf_corpus(DEFAULT_PDFS, [DEFAULT_LABELS], embedder, overrides, cache=cache, store=None,
                                 limit=None, chunk_tokens=None, chunk_overlap=None)
    store: Store = prep.searcher.store
    out = []
    for doc_id, (build, info) in store.registry().items():
        where = {"$and": [{"doc_id": doc_id}, {"build": build}]}
        for got in store.paged("", where=where, include=["documents", "metadatas", "embeddings"]):
            for text, meta, vec in zip(got["documents"], got["metadatas"], got["embeddings"]):
                out.append({"doc": doc_id, "name": info.file_name, "domain": info.domain, "text": text,
                            "meta": meta, "vector": np.asarray(vec, dtype=np.float32)})
    log.info("source: %d passages of %d documents", len(out), len({p["doc"] for p in out}))
    return out, embedder


def _fill(store, passages: list[dict], target: int, start_copy: int, rng: np.random.Generator) -> int:
    """Add copies of the source documents until the store holds `target` passages; returns the next copy number."""
    from docqa.store import NewDocument, chunk_from_record
    from retrieval.index import RowFiles

    by_doc: dict[str, list[dict]] = {}
    for p in passages:
        by_doc.setdefault(p["doc"], []).append(p)
    have = store.count_chunks()
    copy = start_copy
    while have < target:
        for doc, rows in by_doc.items():
            if have >= target:
                break
            new_id = hashlib.sha256(f"{doc}:{copy}".encode()).hexdigest()[:32]
            chunks, vectors, lexes = [], [], []
            for n, r in enumerate(rows):
                meta = {**r["meta"], "doc_id": new_id, "cid": f"{new_id}-{n}"}
                c = chunk_from_record(meta["cid"], f"{r['text']} (사본 {copy})", meta)
                chunks.append(c)
                v = r["vector"] + rng.normal(0, 0.01, r["vector"].shape).astype(np.float32)
                vectors.append(v / np.linalg.norm(v))
                lexes.append(f"{r['meta'].get('lex', '')} 사본{copy}")
            name = f"사본{copy:04d}-{rows[0]['name']}"
            build = store.add_document(chunks, np.stack(vectors), lexes,
                                       NewDocument(new_id, name, rows[0]["domain"], 1, source=f"scale/{copy}/{doc}"))
            RowFiles.of(store).save_written(new_id, build, [c.chunk_id for c in chunks], np.stack(vectors), lexes)
            have += len(rows)
        copy += 1
    return copy


def _reader(args) -> int:
    """The app-like process: open, first answer, timed questions, then watch for a new document."""
    t_start = _process_start()
    from docqa.config import Settings
    from docqa.services import load_embedder, open_store
    from retrieval.search import Searcher

    settings = Settings.from_env(data_dir=Path(args.data_dir))
    embedder = load_embedder(Settings.from_env(data_dir=Path(args.model_home)))
    store = open_store(settings, embedder)
    searcher = Searcher.from_services(store, embedder, settings)
    questions = json.loads(Path(args.questions).read_text(encoding="utf-8"))
    searcher.search(questions[0], 10)
    start_s = time.time() - t_start
    latencies = []
    for q in questions:
        t0 = time.perf_counter()
        searcher.search(q, 10)
        latencies.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({"start_s": start_s, "p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95),
                      "rss_mb": peak_rss_mb(), "passages": searcher.index.live_count(),
                      "refresh_s": searcher.index.last_refresh_s}), flush=True)
    line = sys.stdin.readline().strip()  # "watch <doc_id>": poll until the document is found; "quit"
    if not line.startswith("watch "):
        return 0
    doc_id = line.split()[1]
    t0 = time.time()
    while time.time() - t0 < 120:
        hits = searcher.search(PROBE_QUESTION, 10, doc_ids=[doc_id]).hits
        if hits:
            break
        time.sleep(0.1)
    print(json.dumps({"seen_at": time.time(), "found": bool(hits), "rss_mb": peak_rss_mb()}), flush=True)
    return 0


def _process_start() -> float:
    import psutil

    return psutil.Process().create_time()


def run_scale(sizes: list[int], cache: Path, work: Path) -> list[dict]:
    from dataclasses import replace

    from docqa.config import Settings
    from docqa.services import open_store
    from ingest.pipeline import Ingestor, new_report

    passages, embedder = _source_passages(cache)
    questions = [row["question"] for row in _dev_questions()]
    qfile = work / "questions.json"
    work.mkdir(parents=True, exist_ok=True)
    qfile.write_text(json.dumps(questions, ensure_ascii=False), encoding="utf-8")
    data_dir = work / "store"
    settings = Settings.from_env(data_dir=data_dir)
    store = open_store(settings, embedder)
    ingestor = Ingestor(store, embedder, replace(settings))
    rng = np.random.default_rng(0)
    copy = 0
    rows = []
    for size in sorted(sizes):
        t0 = time.perf_counter()
        copy = _fill(store, passages, size, copy, rng)
        fill_s = time.perf_counter() - t0
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        reader = subprocess.Popen([sys.executable, "-m", "bench.scale", "_reader", "--data-dir", str(data_dir),
                                   "--model-home", str(cache), "--questions", str(qfile)],
                                  cwd=PROJECT_ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        first = json.loads(reader.stdout.readline())
        probe = PROBE_PDF.read_bytes() + f"\n% scale copy {size}\n".encode()  # new bytes: a new document
        t0 = time.perf_counter()
        report = new_report()
        result = ingestor.ingest_file((f"추가{size}.pdf", probe), "finance", report=report)
        add_s = time.perf_counter() - t0
        committed = time.time()
        reader.stdin.write(f"watch {result.doc_id}\n")
        reader.stdin.flush()
        second = json.loads(reader.stdout.readline())
        reader.wait(timeout=60)
        # A restart (the app started again, a second app process): the derived rows of every
        # build are on disk now (retrieval.index.RowFiles), so nothing is read from Chroma again.
        again = subprocess.Popen([sys.executable, "-m", "bench.scale", "_reader", "--data-dir", str(data_dir),
                                  "--model-home", str(cache), "--questions", str(qfile)],
                                 cwd=PROJECT_ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        restart = json.loads(again.stdout.readline())
        again.communicate("quit\n", timeout=60)
        rows.append({"passages": store.count_chunks(), "documents": len(store.registry()), "fill_s": fill_s,
                     "start_s": first["start_s"], "query_p50_ms": first["p50_ms"], "query_p95_ms": first["p95_ms"],
                     "add_document_s": add_s, "store_write_s": report.seconds["store"],
                     "visible_after_s": second["seen_at"] - committed, "found": second["found"],
                     "app_rss_mb": second["rss_mb"], "refresh_s": first["refresh_s"],
                     "restart_s": restart["start_s"], "restart_refresh_s": restart["refresh_s"],
                     "restart_rss_mb": restart["rss_mb"]})
        log.info("scale %s", rows[-1])
    return rows


def _dev_questions() -> list[dict]:
    from evaluation.labels import read_rows

    return read_rows(DEFAULT_LABELS)


def scale_table(rows: list[dict]) -> str:
    return markdown_table(
        ["passages", "documents", "open+first answer (s)", "restart: open+first answer (s)", "query p50 (ms)",
         "query p95 (ms)",
         "add a PDF: all (s)", "of which store write (s)", "visible in the other process after (s)",
         "app peak RSS (MB)"],
        [[r["passages"], r["documents"], round(r["start_s"], 1), round(r.get("restart_s", float("nan")), 1),
          round(r["query_p50_ms"], 1),
          round(r["query_p95_ms"], 1), round(r["add_document_s"], 1), round(r["store_write_s"], 2),
          round(r["visible_after_s"], 2), round(r["app_rss_mb"])] for r in rows])


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench scale", description=__doc__)
    sub = parser.add_subparsers(dest="cmd")
    r = sub.add_parser("_reader")
    r.add_argument("--data-dir", required=True)
    r.add_argument("--model-home", required=True)
    r.add_argument("--questions", required=True)
    parser.add_argument("--passages", type=int, nargs="+", default=[10_000, 50_000, 100_000, 200_000])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--work", type=Path, help="store folder (default: a new one under --cache)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.cmd == "_reader":
        return _reader(args)
    work = args.work or args.cache / f"scale-{time.strftime('%Y%m%d-%H%M%S')}"
    rows = run_scale(args.passages, args.cache, work)
    print(scale_table(rows))
    if args.json:
        from bench.common import write_json

        write_json(args.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
