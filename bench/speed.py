"""Speed: ingest and query timings of the product beside a plain llama-index pipeline.

Each measurement runs in its own fresh subprocess (`python -m bench _worker ROLE`), so
peak RSS belongs to one pipeline and cold start is a real process start:

- `select`: loads the product's embedder once, so the per-machine encoder choice
  (docqa.encoders: ONNX export, int8 quantization, measurement) is made and cached
  before anything is timed; its wall time is reported on its own.
- `ours`:  the product's ingest into an empty store, then query latency by stage.
- `cold`:  a new process over that store: imports, model, store, first answer.
- `plain`: what a typical demo does with the same embedding model folder: one llama
  Document per PDF page (pymupdf `get_text()`), default `SentenceSplitter`,
  `HuggingFaceEmbedding` with the e5 prefixes, in-memory `VectorStoreIndex`, top-10
  retriever. Its index lives in memory, so its cold start includes building it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench.common import PROJECT_ROOT, collect_corpus, markdown_table, pdf_page_count, peak_rss_mb, write_json
from evaluation.labels import load_labels, read_rows
from evaluation.metrics import QuestionScore, aggregate, percentile, rank_pages

log = logging.getLogger(__name__)

ROLES = ("select", "ours", "cold", "plain")
K = 10


def _process_start() -> float:
    import psutil

    return psutil.Process().create_time()


def _latency_summary(latencies: Sequence[float], stage_ms: dict[str, list[float]]) -> dict:
    return {
        "query_p50_ms": percentile(latencies, 50),
        "query_p95_ms": percentile(latencies, 95),
        "query_stages_ms": {s: {"p50": percentile(v, 50), "p95": percentile(v, 95)} for s, v in stage_ms.items()},
    }


def _quality(questions: Sequence[dict], rankings: Sequence[list]) -> dict | None:
    scored = [QuestionScore.of(q["qid"], q["domain"], slots, {tuple(r) for r in q["relevant"]})
              for q, slots in zip(questions, rankings) if q["relevant"]]
    return aggregate(scored)["overall"] if scored else None


# --------------------------------------------------------------------------- workers
def _open_spec_store(spec: dict) -> tuple:
    """(embedder, settings, store, import_s, model_load_s, store_open_s) for a worker's spec."""
    t0 = time.perf_counter()
    from bench.quality import _open, _store_settings, load_embedder_timed

    import_s = time.perf_counter() - t0
    embedder, overrides, model_s = load_embedder_timed(Path(spec["cache"]), spec.get("embed_model"), caches=False)
    settings = _store_settings(Path(spec["store"]), overrides, spec.get("chunk_tokens"), spec.get("chunk_overlap"))
    store, open_s = _open(settings, embedder)
    return embedder, settings, store, import_s, model_s, open_s


def _encoder_info(embedder) -> dict:
    c = embedder.encoder_choice
    return {"path": c.path, "label": c.label, "reason": c.reason, "source": c.source,
            "tokens_per_s": c.tokens_per_s, "query_ms": c.query_ms, "cosine_mean": c.cosine_mean,
            "cosine_min": c.cosine_min, "measure_s": c.seconds,
            "measured": [vars(m) for m in c.measured], "skipped": c.skipped}


def worker_select(spec: dict) -> dict:
    """Load the embedder once: the encoder path is chosen (and cached) here, not inside a timed worker."""
    from bench.quality import load_embedder_timed

    embedder, _, seconds = load_embedder_timed(Path(spec["cache"]), spec.get("embed_model"), caches=False)
    return {"load_s": seconds, "peak_rss_mb": peak_rss_mb(), "encoder": _encoder_info(embedder)}


def worker_ours(spec: dict) -> dict:
    """Product ingest into the (empty) spec store, then every question through Searcher.search()."""
    t_start = _process_start()
    from bench.quality import _searcher
    from ingest.pipeline import Ingestor

    embedder, settings, store, import_s, model_s, open_s = _open_spec_store(spec)
    ingestor = Ingestor(store, embedder, settings)
    files = spec["files"]
    domains = {f["path"]: f["domain"] for f in files}
    t0, c0, load0 = time.perf_counter(), time.process_time(), os.getloadavg()[0]
    report = ingestor.ingest([Path(f["path"]) for f in files], domain_of=lambda p: domains.get(str(p), ""))
    ingest_s, ingest_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    load = [load0, os.getloadavg()[0]]
    failed = {f.file_name: f.message for f in report.files if f.status == "failed"}
    searcher, searcher_s = _searcher(store, embedder, settings)

    questions = spec["questions"]
    t0 = time.perf_counter()
    searcher.search(questions[0]["question"], K)  # warm-up, reported on its own
    first_query_ms = (time.perf_counter() - t0) * 1000
    latencies, stage_ms, rankings, stages = [], {}, [], set()
    clear = getattr(searcher.reranker, "clear_cache", None)
    for q in questions:
        if clear is not None:  # time every question as a first question: no sentence vectors cached
            clear()
        t0 = time.perf_counter()
        result = searcher.search(q["question"], K)
        latencies.append((time.perf_counter() - t0) * 1000)
        for stage, ms in result.timings_ms.items():
            stage_ms.setdefault(stage, []).append(ms)
        stages.update(result.stages)
        rankings.append(rank_pages((h.chunk.doc_id, h.chunk.pages) for h in result.hits))
    chunks = store.count_chunks()
    return {
        "ingest_s": ingest_s,
        "ingest_cpu_s": ingest_cpu_s,
        "loadavg_during_ingest": load,
        "chunks": chunks,
        "tokens": report.tokens,
        "failed_files": failed,
        "peak_rss_mb": peak_rss_mb(),
        "first_query_ms": first_query_ms,
        **_latency_summary(latencies, stage_ms),
        "search_stages": sorted(stages),
        "quality": _quality(questions, rankings),
        "stages": {"import_s": import_s, "model_load_s": model_s, "store_open_s": open_s,
                   **{f"{k}_s": v for k, v in report.seconds.items()}, "searcher_init_s": searcher_s},
        "model": {"id": embedder.choice.model_id, "revision": embedder.choice.revision,
                  "source": embedder.choice.source, "path": embedder.choice.path},
        "encoder": _encoder_info(embedder),
        "settings": {"chunk_tokens": settings.chunk_tokens, "chunk_overlap": settings.chunk_overlap},
        "process_s": time.time() - t_start,
    }


def worker_cold(spec: dict) -> dict:
    """A fresh process over the store `ours` built: start to first answer."""
    t_start = _process_start()
    from bench.quality import _searcher

    embedder, settings, store, import_s, model_s, open_s = _open_spec_store(spec)
    searcher, searcher_s = _searcher(store, embedder, settings)
    t0 = time.perf_counter()
    result = searcher.search(spec["questions"][0]["question"], K)
    first_ms = (time.perf_counter() - t0) * 1000
    cold = time.time() - t_start
    return {"cold_start_s": cold, "answered": bool(result.hits), "peak_rss_mb": peak_rss_mb(),
            "stages": {"import_s": import_s, "model_load_s": model_s, "store_open_s": open_s,
                       "searcher_init_s": searcher_s, "first_query_ms": first_ms}}


def worker_plain(spec: dict) -> dict:
    """The plain llama-index demo pipeline over the same files, questions and model folder."""
    t_start = _process_start()
    t0 = time.perf_counter()
    import pymupdf
    from llama_index.core import Document, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    embed_model = HuggingFaceEmbedding(model_name=spec["model_path"], query_instruction="query: ",
                                       text_instruction="passage: ", device="cpu")
    model_s = time.perf_counter() - t0

    t0, c0, load0 = time.perf_counter(), time.process_time(), os.getloadavg()[0]
    documents, doc_ids = [], {}
    for f in spec["files"]:
        doc_ids[f["rel"]] = f["doc_id"]
        with pymupdf.open(f["path"]) as pdf:
            for page in pdf:
                documents.append(Document(text=page.get_text(),
                                          metadata={"file_name": f["rel"], "page_label": str(page.number + 1)}))
    read_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    nodes = SentenceSplitter().get_nodes_from_documents(documents)
    split_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    index = VectorStoreIndex(nodes, embed_model=embed_model)
    embed_index_s = time.perf_counter() - t0
    ingest_cpu_s, load = time.process_time() - c0, [load0, os.getloadavg()[0]]
    retriever = index.as_retriever(similarity_top_k=K)

    questions = spec["questions"]
    t0 = time.perf_counter()
    retriever.retrieve(questions[0]["question"])
    first_query_ms = (time.perf_counter() - t0) * 1000
    cold = time.time() - t_start
    latencies, rankings = [], []
    for q in questions:
        t0 = time.perf_counter()
        got = retriever.retrieve(q["question"])
        latencies.append((time.perf_counter() - t0) * 1000)
        rankings.append(rank_pages((doc_ids[n.node.metadata["file_name"]], (int(n.node.metadata["page_label"]),))
                                   for n in got))
    peak = peak_rss_mb()

    from llama_index.core.schema import MetadataMode

    tokenizer, limit = embed_model._model.tokenizer, embed_model._model.max_seq_length
    texts = ["passage: " + n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
    tokens = sum(min(len(ids), limit) for ids in tokenizer(texts)["input_ids"]) if texts else 0
    return {
        "ingest_s": read_s + split_s + embed_index_s,
        "ingest_cpu_s": ingest_cpu_s,
        "loadavg_during_ingest": load,
        "chunks": len(nodes),
        "tokens": tokens,
        "peak_rss_mb": peak,
        "first_query_ms": first_query_ms,
        "cold_start_s": cold,
        "cold_start_includes_ingest": True,
        **_latency_summary(latencies, {"retrieve": latencies}),
        "quality": _quality(questions, rankings),
        "stages": {"import_s": import_s, "model_load_s": model_s, "read_parse_s": read_s, "split_s": split_s,
                   "embed_index_s": embed_index_s},
        "settings": {"splitter": "SentenceSplitter()", "chunk_size": 1024, "chunk_overlap": 20,
                     "tokenizer": "tiktoken cl100k (llama-index default)", "max_seq_length": limit},
        "process_s": time.time() - t_start,
    }


def run_worker(role: str, spec_path: Path, out_path: Path) -> int:
    """Entry of `python -m bench _worker ROLE SPEC OUT`."""
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    result = {"select": worker_select, "ours": worker_ours, "cold": worker_cold, "plain": worker_plain}[role](spec)
    write_json(out_path, result)
    return 0


# --------------------------------------------------------------------------- parent
def _spawn(role: str, spec_path: Path, out_path: Path, verbose: bool, env: dict[str, str] | None = None) -> dict:
    cmd = [sys.executable, "-m", "bench", *(["-v"] if verbose else []), "_worker", role, str(spec_path),
           str(out_path)]
    log.info("running %s", " ".join(cmd))
    t0 = time.time()
    proc = subprocess.run(cmd, cwd=PROJECT_ROOT, env=env)
    wall = time.time() - t0
    if proc.returncode != 0:
        raise SystemExit(f"the {role} worker failed (exit {proc.returncode}); see its log above")
    result = json.loads(out_path.read_text(encoding="utf-8"))
    result["wall_s"] = wall
    return result


def speed_questions(labels: Sequence[Path], pdfs: Path, corpus, limit: int | None) -> list[dict]:
    """Every question of the label files (for latency), with its relevant pages when it can be scored."""
    texts = [(row.get("qid") or f"{Path(p).stem}:{i}", row["question"]) for p in labels
             for i, row in enumerate(read_rows(Path(p))) if row["question"]]
    if limit:
        texts = texts[:limit]
    answerable, _ = load_labels(labels, pdfs, pdf_page_count)
    by_rel = {f.rel: f.doc_id for f in corpus}
    relevant = {q.qid: (q.domain, [[by_rel[q.file], p] for p in q.pages]) for q in answerable if q.file in by_rel}
    return [{"qid": qid, "question": text, "domain": relevant.get(qid, ("", []))[0],
             "relevant": relevant.get(qid, ("", []))[1]} for qid, text in texts]


def run_speed(pdfs: Path, labels: Sequence[Path], *, cache: Path, limit: int | None, queries: int | None,
              embed_model: str | None, chunk_tokens: int | None, chunk_overlap: int | None,
              skip_plain: bool = False, keep: bool = False, verbose: bool = False, isa: str | None = None) -> dict:
    """Run the workers one after another (never in parallel: they'd share the 2 cores).

    `isa` caps oneDNN/MKL in every worker (bench.isa); the level in force is probed and recorded.
    """
    from bench.isa import check, child_env

    env = child_env(isa)
    isa_line, isa_probe = check(isa)
    log.info("%s", isa_line)
    corpus = collect_corpus(pdfs, limit)
    if not corpus:
        raise SystemExit(f"no PDF under {pdfs}")
    pages = sum(pdf_page_count(f.path) or 0 for f in corpus)
    questions = speed_questions(labels, pdfs, corpus, queries)
    if not questions:
        raise SystemExit("no questions to time (give --labels)")
    work = cache / f"speed-{int(time.time())}"
    spec = {
        "cache": str(cache), "store": str(work / "store"), "embed_model": embed_model,
        "chunk_tokens": chunk_tokens, "chunk_overlap": chunk_overlap,
        "files": [{"path": str(f.path), "rel": f.rel, "doc_id": f.doc_id, "domain": f.domain} for f in corpus],
        "questions": questions,
    }
    spec_path = work / "spec.json"
    write_json(spec_path, spec)
    log.info("speed: %d PDFs (%d pages, %.1f MB), %d questions", len(corpus), pages,
             sum(f.size for f in corpus) / 2**20, len(questions))
    machine = {"cpus": os.cpu_count(), "loadavg_start": list(os.getloadavg()), "python": sys.version.split()[0],
               "isa": isa or "as inherited", "isa_check": isa_line, "isa_probe": isa_probe}
    try:
        selected = _spawn("select", spec_path, work / "select.json", verbose, env)
        ours = _spawn("ours", spec_path, work / "ours.json", verbose, env)
        ours["encoder_select"] = selected
        cold = _spawn("cold", spec_path, work / "cold.json", verbose, env)
        ours["cold_start_s"] = cold["cold_start_s"]
        ours["cold_start"] = cold
        plain = None
        if not skip_plain:
            spec["model_path"] = ours["model"]["path"] or ours["model"]["id"]
            write_json(spec_path, spec)
            plain = _spawn("plain", spec_path, work / "plain.json", verbose, env)
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    for r in (ours, plain):
        if r is not None:
            _rates(r, pages)
    machine["loadavg_end"] = list(os.getloadavg())  # other work on the machine skews every number
    corpus_info = {"pdfs": str(pdfs), "files": len(corpus), "pages": pages, "questions": len(questions),
                   "bytes": sum(f.size for f in corpus)}
    result = {"machine": machine, "corpus": corpus_info, "ours": ours, "plain": plain}
    if plain is not None:
        result["ratio"] = {
            "ingest_speed": ours["pages_per_s"] / plain["pages_per_s"] if plain["pages_per_s"] else None,
            "query_p50": ours["query_p50_ms"] / plain["query_p50_ms"] if plain["query_p50_ms"] else None,
            "peak_rss": ours["peak_rss_mb"] / plain["peak_rss_mb"] if plain["peak_rss_mb"] else None,
            # CPU seconds barely move when other work shares the cores; wall-clock rates do
            "ingest_speed_cpu": plain["ingest_cpu_s"] / ours["ingest_cpu_s"] if ours["ingest_cpu_s"] else None,
        }
    return result


def _rates(r: dict, pages: int) -> None:
    s = r["ingest_s"] or float("nan")
    r["pages"] = pages
    r["pages_per_s"] = pages / s
    r["pages_per_cpu_s"] = pages / (r.get("ingest_cpu_s") or float("nan"))
    r["chunks_per_s"] = r["chunks"] / s
    r["tokens_per_s"] = r["tokens"] / s


def speed_table(result: dict) -> str:
    """Markdown: one row per measure, ours beside plain."""
    ours, plain = result["ours"], result.get("plain") or {}
    keys = [("ingest_s", "ingest (s)"), ("ingest_cpu_s", "ingest CPU (s, all threads)"), ("pages", "pages"),
            ("pages_per_s", "pages/s"), ("pages_per_cpu_s", "pages per CPU-second"), ("chunks", "chunks"),
            ("chunks_per_s", "chunks/s"), ("tokens_per_s", "tokens/s"), ("peak_rss_mb", "peak RSS (MB)"),
            ("query_p50_ms", "query p50 (ms)"), ("query_p95_ms", "query p95 (ms)"),
            ("first_query_ms", "first query (ms)"), ("cold_start_s", "cold start (s)")]
    rows = [[label, _num(ours.get(k)), _num(plain.get(k))] for k, label in keys]
    enc = ours.get("encoder")
    if enc:
        rows.insert(0, ["encoder path (docqa.encoders)", f"{enc['label']} ({enc['source']})",
                        "sentence-transformers fp32"])
        selected = ours.get("encoder_select") or {}
        if selected:
            rows.insert(1, ["encoder choice: load incl. measuring (s, first run on a machine)",
                            _num(selected.get("load_s")), ""])
        for m in enc.get("measured") or []:
            rows.append([f"encoder {m['path']}: tokens/s, query ms, cosine mean/min",
                         f"{m['tokens_per_s']:.0f}, {m['query_ms']:.1f}, {m['cosine_mean']:.5f}/{m['cosine_min']:.5f}",
                         ""])
    for name, r in (("ours", ours), ("plain", plain)):
        for k, v in (r.get("stages") or {}).items():
            rows.append([f"{name} stage {k}", _num(v) if name == "ours" else "", _num(v) if name == "plain" else ""])
        for k, v in (r.get("query_stages_ms") or {}).items():
            rows.append([f"{name} query {k} p50/p95 (ms)", f"{v['p50']:.1f}/{v['p95']:.1f}" if name == "ours" else "",
                         f"{v['p50']:.1f}/{v['p95']:.1f}" if name == "plain" else ""])
    for name, r in (("ours", ours), ("plain", plain)):
        q = r.get("quality")
        if q:
            rows.append([f"{name} Hit@1 / nDCG@10 (n={q['n']})", *(
                [f"{q['hit@1']:.3f} / {q['ndcg@10']:.3f}", ""] if name == "ours"
                else ["", f"{q['hit@1']:.3f} / {q['ndcg@10']:.3f}"])])
    table = markdown_table(["measure", "ours", "plain llama-index"], rows)
    m = result.get("machine")
    if m and m.get("isa_check"):
        table = m["isa_check"] + "\n\n" + table
    if m:
        table += (f"\n\n{m['cpus']} CPUs; load average {m['loadavg_start'][0]:.1f} at start, "
                  f"{m['loadavg_end'][0]:.1f} at end (other work on the machine skews timings).")
    ratio = result.get("ratio")
    if ratio and ratio.get("ingest_speed"):
        table += f"\ningest speed ours/plain (pages/s): {ratio['ingest_speed']:.2f}x"
        if ratio.get("ingest_speed_cpu"):
            table += f"; per CPU-second: {ratio['ingest_speed_cpu']:.2f}x"
    if plain.get("cold_start_includes_ingest"):
        table += "\nplain cold start includes building its in-memory index (it keeps nothing on disk)."
    return table


def _num(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.1f}" if abs(v) >= 10 else f"{v:.3f}"
    return str(v)
