"""Retrieval quality: ingest a corpus with the product's ingest code, ask every labelled
question through `Searcher.search()`, score pages (evaluation.metrics).

Two corpora: a folder of PDFs with label CSVs (`run_quality`), and the AutoRAG text
set, whose OCR'd page texts are indexed without PDF parsing (`run_autorag`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path, PurePosixPath

from bench.common import (
    CORPUS_SUFFIXES,
    CorpusFile,
    collect_corpus,
    fingerprint,
    markdown_table,
    pdf_page_count,
    store_name,
)
from evaluation.labels import Excluded, folder_domain, load_labels
from evaluation.metrics import METRICS
from evaluation.scoring import CONFIG_LABELS, CONFIGS, EvalQuestion, Prepared, evaluate  # noqa: F401 - re-exported

log = logging.getLogger(__name__)

PUBLISHED_AUTORAG_NDCG10 = {  # MTEB AutoRAGRetrieval, ../shared/eval/README.md
    "intfloat/multilingual-e5-small": 0.801,
    "dragonkue/multilingual-e5-small-ko": 0.862,
    "BAAI/bge-m3": 0.830,
    "nlpai-lab/KURE-v1": 0.871,
}
OUTSIDE_LIMIT = "outside --limit (file not in this run's corpus)"


# --------------------------------------------------------------------------- loading
def load_embedder_timed(cache: Path, embed_model: str | None, caches: bool = True):
    """The product's embedder, its settings overrides, and load seconds (models cached under `cache`).

    With `caches` (quality runs) vectors and OCR of unchanged texts and files are reused from the
    bench's caches; speed runs pass False, so every vector is computed and every page read."""
    from docqa.config import Settings
    from docqa.services import load_embedder

    overrides = {"embed_model": embed_model} if embed_model else {}
    t0 = time.perf_counter()
    embedder = load_embedder(Settings.from_env(data_dir=cache, **overrides))
    if caches and os.environ.get("BENCH_EMBED_CACHE", "1") != "0":  # bench only: reuse vectors of unchanged texts
        from bench.embed_cache import CachedEmbedder

        embedder = CachedEmbedder(embedder, cache / "embed-cache.sqlite3")
    if caches and os.environ.get("BENCH_OCR_CACHE", "1") != "0":  # bench only: OCR of unchanged files is reused
        from bench.ocr_cache import install

        install(cache / "ocr-cache.sqlite3")
    seconds = time.perf_counter() - t0
    log.info("embedding model %s (%s) loaded in %.1fs", embedder.choice.model_id, embedder.choice.source, seconds)
    return embedder, overrides, seconds


def _revision(embedder) -> str:
    """Model revision and encoder path: indexes built by different paths are cached apart."""
    return f"{embedder.choice.revision}+{embedder.encoder_choice.path}"


def _store_settings(store_dir: Path, overrides: dict, chunk_tokens: int | None, chunk_overlap: int | None):
    from docqa.config import Settings

    extra = dict(overrides)
    if chunk_tokens:
        extra["chunk_tokens"] = chunk_tokens
    if chunk_overlap is not None:
        extra["chunk_overlap"] = chunk_overlap
    return Settings.from_env(data_dir=store_dir, **extra)


def _build_key(embedder, settings) -> list[str]:
    """How the index is built beyond model and chunk sizes (chunker and parser versions): a
    cached index built otherwise lives in another folder, never reused."""
    from ingest.chunk import Chunker

    chunker = Chunker.for_embedder(embedder, settings.chunk_tokens, settings.chunk_overlap)
    ocr = [f"ocr={settings.ocr}", f"ocr_lang={settings.ocr_lang}", f"ocr_dpi={settings.ocr_dpi}"]
    return [f"{k}={v}" for k, v in sorted(chunker.settings().items())] + ocr


def _progress_logger(label: str) -> Callable:
    def progress(p) -> None:
        if p.stage == "done":
            log.info("%s %d/%d %s", label, p.index + 1, p.total, p.file_name)

    return progress


def _open(settings, embedder):
    from docqa.services import open_store

    t0 = time.perf_counter()
    store = open_store(settings, embedder)
    return store, time.perf_counter() - t0


def _searcher(store, embedder, settings, compare_rerank: bool = False):
    """The product's searcher; with `compare_rerank` (quality runs) a reranker is loaded even when the
    product runs none, so the rerank configuration compares the offline one."""
    from retrieval.search import Searcher

    t0 = time.perf_counter()
    if compare_rerank and settings.reranker.lower() in ("", "none", "off"):
        settings = replace(settings, reranker="sentence")
    searcher = Searcher.from_services(store, embedder, settings)
    index = getattr(searcher, "index", None)
    if index is not None:  # build the derived lexical index now, not inside the first question's timing
        index.refresh(force=True)
    return searcher, time.perf_counter() - t0


# --------------------------------------------------------------------------- PDF corpus
def prepare_pdf_corpus(pdfs: Path, labels: Sequence[Path], embedder, overrides: dict, *, cache: Path,
                       store: Path | None, limit: int | None, chunk_tokens: int | None,
                       chunk_overlap: int | None) -> Prepared:
    """Ingest the PDFs under `pdfs` (reusing a cached store) and resolve the labels against them."""
    from ingest.pipeline import Ingestor

    t0 = time.perf_counter()
    corpus = collect_corpus(pdfs, limit)
    if not corpus:
        raise SystemExit(f"no PDF under {pdfs}")
    scan_s = time.perf_counter() - t0
    settings = _store_settings(cache, overrides, chunk_tokens, chunk_overlap)
    key = fingerprint([f"{f.rel}\t{f.doc_id}" for f in corpus] + _build_key(embedder, settings))
    store_dir = store or cache / store_name("pdf", pdfs.name, embedder.choice.model_id, _revision(embedder),
                                            settings.chunk_tokens, settings.chunk_overlap, key)
    settings = _store_settings(store_dir, overrides, chunk_tokens, chunk_overlap)
    log.info("corpus: %d files under %s; store %s", len(corpus), pdfs, store_dir)

    questions, excluded = load_labels(labels, pdfs, pdf_page_count)
    questions, more = restrict_to_corpus(questions, corpus)
    excluded += more

    db, open_s = _open(settings, embedder)
    ingestor = Ingestor(db, embedder, settings)
    t0 = time.perf_counter()
    report = ingestor.ingest([f.path for f in corpus], progress=_progress_logger("ingest"),
                             domain_of=lambda p: _domain_of(p, pdfs))
    ingest_s = time.perf_counter() - t0
    for f in report.files:
        if f.status == "failed":
            log.warning("not indexed: %s", f.message)
        elif f.status == "replaced":
            log.warning("%s replaced an earlier document of the same name: the corpus has two files named "
                        "alike and only one is searchable", f.file_name)
    searcher, searcher_s = _searcher(db, embedder, settings, compare_rerank=True)

    corpus_ids = tuple(dict.fromkeys(f.doc_id for f in corpus))
    extra = db.doc_ids() - set(corpus_ids)
    if extra:
        log.warning("the store holds %d documents outside this corpus; searching only the corpus", len(extra))
    names = {}
    for f in corpus:
        names.setdefault(f.doc_id, f.rel)
    by_rel = {f.rel: f.doc_id for f in corpus}
    failed = {f.file_name: f.message for f in report.files if f.status == "failed"}
    # report.files follows the order of the sources; a labelled file that failed stays scored (as a miss)
    not_indexed = {c.rel: r.message for c, r in zip(corpus, report.files) if r.status == "failed"}
    eval_questions = [
        EvalQuestion(q.qid, q.question, q.domain, frozenset((by_rel[q.file], p) for p in q.pages),
                     ({"file": q.file, "pages": list(q.pages)},),
                     f"labelled file not indexed: {not_indexed[q.file]}" if q.file in not_indexed else "",
                     q.context_type)
        for q in questions
    ]
    return Prepared(
        searcher=searcher, questions=eval_questions, excluded=excluded, names=names,
        corpus_doc_ids=corpus_ids if extra else (), settings=settings, store_dir=store_dir,
        ingest={"files": len(corpus), "indexed": report.count("indexed") + report.count("replaced"),
                "skipped": report.count("skipped"), "failed": failed, "chunks": db.count_chunks(),
                "tokens": report.tokens},
        timings={"scan_s": scan_s, "store_open_s": open_s, "ingest_s": ingest_s,
                 "ingest_stages_s": dict(report.seconds), "searcher_init_s": searcher_s,
                 "ocr_cache": _ocr_cache_stats()},
    )


def _ocr_cache_stats() -> dict[str, int]:
    """OCR jobs answered from the bench cache (their seconds are not OCR's cost) and run for real."""
    import sys

    module = sys.modules.get("bench.ocr_cache")
    return dict(module.stats) if module is not None else {}


def _domain_of(src, root: Path) -> str:
    return folder_domain(Path(src).relative_to(root).as_posix()) if isinstance(src, Path) else ""


def restrict_to_corpus(questions: Sequence, corpus: Sequence[CorpusFile]) -> tuple[list, list[Excluded]]:
    """Questions whose labelled file is part of `corpus` (e.g. within --limit); the others excluded."""
    rels = {f.rel for f in corpus}
    kept, excluded = [], []
    for q in questions:
        if q.file in rels:
            kept.append(q)
        else:
            reason = (OUTSIDE_LIMIT if PurePosixPath(q.file).suffix.lower() in CORPUS_SUFFIXES
                      else "not a PDF, HWP or HWPX file (the corpus holds those only)")
            excluded.append(Excluded(q.qid, q.question, q.file, ";".join(map(str, q.pages)), reason, q.source))
    return kept, excluded


# --------------------------------------------------------------------------- AutoRAG text set
def autorag_documents(corpus_rows: Sequence[tuple[str, str]]) -> tuple[list, dict[str, tuple[str, str]]]:
    """ParsedDocuments from (AutoRAG doc_id "domain - name.pdf - 3", page text) rows.

    Returns the documents and {"domain - name.pdf": (doc id, domain)}.
    """
    from docqa.types import Block, Page, ParsedDocument

    grouped: dict[str, dict[int, str]] = {}
    for key, text in corpus_rows:
        doc, _, page = key.rpartition(" - ")
        grouped.setdefault(doc, {})[int(page)] = text or ""
    docs, ids = [], {}
    names: dict[str, int] = {}
    for doc in grouped:
        domain, _, name = doc.partition(" - ")
        names[name.strip()] = names.get(name.strip(), 0) + 1
    for doc, pages in grouped.items():
        domain, _, name = doc.partition(" - ")
        domain, name = domain.strip(), name.strip()
        file_name = name if names[name] == 1 else f"{domain} - {name}"  # the ingestor replaces same-named docs
        numbers = sorted(pages)
        # same form as ingest.parse.doc_id_of, over the document key and its page texts
        doc_id = hashlib.sha256("\x00".join([doc, *(pages[n] for n in numbers)]).encode("utf-8")).hexdigest()[:32]
        page_objs = tuple(
            Page(n, pages[n], (Block(pages[n], (0, 0, 0, 0)),), 0, 0, "ok" if pages[n].strip() else "empty")
            for n in numbers
        )
        docs.append((ParsedDocument(doc_id=doc_id, file_name=file_name, pages=page_objs), domain))
        ids[doc] = (doc_id, domain)
    return docs, ids


def autorag_questions(qa_rows: Sequence[tuple[str, str, Sequence]],
                      ids: dict[str, tuple[str, str]]) -> tuple[list[EvalQuestion], list[Excluded]]:
    """EvalQuestions from (qid, query, retrieval_gt) rows; gt pages missing from the corpus are excluded."""
    questions, excluded = [], []
    for qid, query, gt in qa_rows:
        keys = [str(x) for group in gt for x in group]  # every gt page counts as relevant
        relevant, expected, domain, missing = set(), [], "", []
        for key in keys:
            doc, _, page = key.rpartition(" - ")
            if doc not in ids or not page.strip().isdigit():
                missing.append(key)
                continue
            doc_id, domain = ids[doc]
            relevant.add((doc_id, int(page)))
            expected.append({"file": doc, "pages": [int(page)]})
        if not query or not relevant:
            excluded.append(Excluded(str(qid), query, "; ".join(keys), "", "page not in the corpus" if query
                                     else "empty question", "qa_v4.parquet"))
            continue
        if missing:
            log.warning("%s: gt %s not in the corpus; scored on the rest", qid, missing)
        questions.append(EvalQuestion(str(qid), query, domain, frozenset(relevant), tuple(expected)))
    return questions, excluded


def prepare_autorag(folder: Path, embedder, overrides: dict, *, cache: Path, store: Path | None,
                    chunk_tokens: int | None, chunk_overlap: int | None) -> Prepared:
    """Index the AutoRAG page texts (no PDF parsing) and load its questions."""
    import pandas as pd

    from docqa.errors import DocQAError
    from docqa.types import IngestReport
    from ingest.pipeline import STAGES, Ingestor

    qa_path, corpus_path = folder / "qa_v4.parquet", folder / "ocr_corpus_v3.parquet"
    qa, corpus = pd.read_parquet(qa_path), pd.read_parquet(corpus_path)
    docs, ids = autorag_documents(list(zip(corpus["doc_id"].astype(str), corpus["contents"].astype(str))))
    questions, excluded = autorag_questions(list(zip(qa["qid"], qa["query"].astype(str), qa["retrieval_gt"])), ids)

    settings = _store_settings(cache, overrides, chunk_tokens, chunk_overlap)
    key = fingerprint(sorted(d.doc_id for d, _ in docs) + _build_key(embedder, settings))
    store_dir = store or cache / store_name("autorag", "autorag", embedder.choice.model_id,
                                            _revision(embedder), settings.chunk_tokens,
                                            settings.chunk_overlap, key)
    settings = _store_settings(store_dir, overrides, chunk_tokens, chunk_overlap)
    log.info("AutoRAG: %d documents, %d pages, %d questions; store %s", len(docs),
             sum(len(d.pages) for d, _ in docs), len(questions), store_dir)

    db, open_s = _open(settings, embedder)
    ingestor = Ingestor(db, embedder, settings)
    report = IngestReport(seconds={s: 0.0 for s in STAGES})
    present = db.doc_ids()
    t0 = time.perf_counter()
    failed, indexed = {}, 0
    for i, (doc, domain) in enumerate(docs, start=1):
        if doc.doc_id in present:
            continue
        try:
            ingestor.index_parsed(doc, domain, report=report)
            indexed += 1
        except DocQAError as exc:
            log.warning("not indexed: %s", exc)
            failed[doc.file_name] = str(exc)
        log.info("ingest %d/%d %s", i, len(docs), doc.file_name)
    ingest_s = time.perf_counter() - t0
    searcher, searcher_s = _searcher(db, embedder, settings, compare_rerank=True)
    corpus_ids = tuple(d.doc_id for d, _ in docs)
    extra = db.doc_ids() - set(corpus_ids)
    if extra:
        log.warning("the store holds %d documents outside this corpus; searching only the corpus", len(extra))
    names = {doc_id: key for key, (doc_id, _) in ids.items()}
    return Prepared(
        searcher=searcher, questions=questions, excluded=excluded, names=names,
        corpus_doc_ids=corpus_ids if extra else (), settings=settings, store_dir=store_dir,
        ingest={"files": len(docs), "indexed": indexed, "skipped": len(docs) - indexed - len(failed),
                "failed": failed, "chunks": db.count_chunks(), "tokens": report.tokens},
        timings={"store_open_s": open_s, "ingest_s": ingest_s, "ingest_stages_s": dict(report.seconds),
                 "searcher_init_s": searcher_s},
    )


# --------------------------------------------------------------------------- output
def results_table(runs: Sequence[dict]) -> str:
    """Markdown: one row per configuration and domain (overall first); then, when the labels
    say where each answer sits, one row per configuration and question type."""
    out = _table(runs, "by_domain", "domain")
    if any(run.get("by_type") for run in runs):
        out += "\n\nBy question type (the labels' context_type):\n\n" + _table(runs, "by_type", "question type")
    return out


def _table(runs: Sequence[dict], by: str, column: str) -> str:
    rows = []
    for run in runs:
        name = run["config"]["name"] + (f" @{run['config']['chunk_tokens']}" if _many_chunk_sizes(runs) else "")
        for label, m in [("overall", run["overall"]), *run.get(by, {}).items()]:
            rows.append([name, label, *(float(m[k]) for k in METRICS), m["n"]])
    return markdown_table(["config", column, "Hit@1", "Recall@5", "MRR@10", "nDCG@10", "n"], rows)


def _many_chunk_sizes(runs: Sequence[dict]) -> bool:
    return len({r["config"]["chunk_tokens"] for r in runs}) > 1


def misses_table(run: dict, limit: int = 15) -> str:
    rows = []
    for m in run["misses"][:limit]:
        exp = ", ".join(f"{e['file']} p{'/'.join(map(str, e['pages']))}" for e in m["expected"])
        first = f"{m['first']['file']} p{'/'.join(map(str, m['first']['pages']))}" if m["first"] else "(nothing)"
        rows.append([m["qid"], m["question"][:50], exp, first, m["rank"] or "-"])
    return markdown_table(["qid", "question", "expected", "came first", "rank"], rows)


def excluded_report(excluded: Sequence[Excluded], limit: int = 30) -> str:
    """Counts by reason, then the rows that can't be answered (rows cut by --limit only counted)."""
    counts: dict[str, int] = {}
    for e in excluded:
        counts[e.reason] = counts.get(e.reason, 0) + 1
    lines = [f"- {reason}: {n}" for reason, n in sorted(counts.items(), key=lambda x: -x[1])]
    rows = [[e.qid, e.file, e.page, e.reason] for e in excluded if e.reason != OUTSIDE_LIMIT][:limit]
    if rows:
        lines += ["", markdown_table(["qid", "file", "page", "reason"], rows)]
    return "\n".join(lines)


def combine(runs: list[dict]) -> dict:
    """The JSON written by the CLI: the first configuration's result at the top, every one under "runs"."""
    return {**runs[0], "runs": runs}
