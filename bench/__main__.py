"""`python -m bench quality|autorag|speed|rerank-cost|scale`: retrieval quality and speed over ../shared/eval."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from bench.common import DEFAULT_AUTORAG, DEFAULT_CACHE, DEFAULT_LABELS, DEFAULT_PDFS, write_json

log = logging.getLogger("bench")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log progress (INFO)")
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                   help=f"cache folder for indexes and built models (default {DEFAULT_CACHE})")
    p.add_argument("--embed-model", help="embedding model id or folder (default: RAG_EMBED_MODEL or the product's)")
    p.add_argument("--chunk-overlap", type=int, help="tokens repeated between chunks (default: the product's)")


def _quality_args(p: argparse.ArgumentParser) -> None:
    from bench.quality import CONFIGS

    p.add_argument("--store", type=Path,
                   help="index folder (default: a folder under --cache keyed by corpus, model and chunk settings; "
                        "reused when nothing changed, so a second run skips ingestion)")
    p.add_argument("--config", action="append", choices=list(CONFIGS),
                   help="configuration(s) to compare: dense, lexical, hybrid, rerank (= hybrid + reranker); "
                        "repeatable; default: all four")
    p.add_argument("--chunk-tokens", type=int, action="append",
                   help="chunk size(s) in model tokens; repeatable (one index each); default: the product's")
    p.add_argument("--misses", type=int, default=15, help="misses to print per configuration (all go to --json)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress (INFO)")
    sub = parser.add_subparsers(dest="command", required=True)

    q = sub.add_parser("quality", help="page-level Hit@1/Recall@5/MRR@10/nDCG@10 over a folder of PDFs")
    q.add_argument("--pdfs", type=Path, default=DEFAULT_PDFS, help="folder of PDFs, searched recursively")
    q.add_argument("--labels", type=Path, nargs="+", action="extend",
                   help=f"label CSV(s): question, file, page [, qid, domain] (default {DEFAULT_LABELS})")
    q.add_argument("--limit", type=int, help="only the first N PDFs (sorted by path), for quick runs")
    _common(q)
    _quality_args(q)

    a = sub.add_parser("autorag", help="the AutoRAG text set (page texts, no PDF parsing), beside MTEB figures")
    a.add_argument("--dir", type=Path, default=DEFAULT_AUTORAG, help="folder with qa_v4/ocr_corpus_v3 parquet")
    _common(a)
    _quality_args(a)

    s = sub.add_parser("speed", help="ingest and query speed, ours beside a plain llama-index pipeline")
    s.add_argument("--pdfs", type=Path, default=DEFAULT_PDFS, help="folder of PDFs, searched recursively")
    s.add_argument("--labels", type=Path, nargs="+", action="extend",
                   help=f"CSV(s) whose questions are timed (default {DEFAULT_LABELS})")
    s.add_argument("--limit", type=int, help="only the first N PDFs (sorted by path)")
    s.add_argument("--queries", type=int, help="only the first N questions")
    s.add_argument("--chunk-tokens", type=int, help="chunk size in model tokens (default: the product's)")
    s.add_argument("--no-plain", action="store_true", help="skip the llama-index baseline")
    s.add_argument("--keep", action="store_true", help="keep the temporary store and worker outputs")
    s.add_argument("--isa", help="cap oneDNN/MKL in the workers: all, avx512_core_amx, avx512_core_bf16, avx512_core, "
                                 "avx2, avx, sse41 (bench.isa; the level in force is printed)")
    _common(s)

    r = sub.add_parser("rerank-cost", help="cost per candidate of the sentence reranker and of a cross-encoder "
                                           "of the default's architecture (random weights)")
    r.add_argument("--questions", type=int, default=3, help="questions timed with the cross-encoder (slow)")
    r.add_argument("--json", type=Path, help="write the results here")
    r.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="cache folder (the quality run's index is reused)")

    w = sub.add_parser("_worker", help=argparse.SUPPRESS)
    w.add_argument("role", choices=["select", "ours", "cold", "plain"])
    w.add_argument("spec", type=Path)
    w.add_argument("out", type=Path)
    return parser


def _quality(args: argparse.Namespace, autorag: bool) -> int:
    from bench import quality as qm

    configs = args.config or list(qm.CONFIGS)
    chunk_sizes = args.chunk_tokens or [None]
    started = time.perf_counter()
    embedder, overrides, model_s = qm.load_embedder_timed(args.cache, args.embed_model)
    runs, preps = [], []
    for size in chunk_sizes:
        if autorag:
            prep = qm.prepare_autorag(args.dir, embedder, overrides, cache=args.cache, store=args.store,
                                      chunk_tokens=size, chunk_overlap=args.chunk_overlap)
        else:
            labels = args.labels or [DEFAULT_LABELS]
            prep = qm.prepare_pdf_corpus(args.pdfs, labels, embedder, overrides, cache=args.cache, store=args.store,
                                         limit=args.limit, chunk_tokens=size, chunk_overlap=args.chunk_overlap)
        prep.timings["model_load_s"] = model_s
        preps.append(prep)
        for config in configs:
            run = qm.evaluate(prep, config, embedder)
            if autorag:
                run["config"]["corpus"] = {"autorag": str(args.dir)}
                run["config"]["published_ndcg@10"] = qm.PUBLISHED_AUTORAG_NDCG10
            else:
                run["config"]["corpus"] = {"pdfs": str(args.pdfs), "labels": [str(p) for p in labels],
                                           "limit": args.limit}
            runs.append(run)
    result = qm.combine(runs)
    result["timings"]["total_s"] = time.perf_counter() - started

    title = "AutoRAG text set" if autorag else f"{args.pdfs}"
    print(f"## Retrieval quality: {title}\n")
    print(f"encoder {embedder.encoder_choice.summary()}\n")
    print(f"model {embedder.choice.model_id} ({embedder.choice.source}), "
          f"{len(preps[0].questions)} questions, {len(preps[0].excluded)} excluded\n")
    print(qm.results_table(runs))
    if autorag:
        print("\nPublished nDCG@10 (MTEB AutoRAGRetrieval, page = document, no chunking): "
              + ", ".join(f"{k} {v:.3f}" for k, v in qm.PUBLISHED_AUTORAG_NDCG10.items()))
    prep = preps[0]
    failed = prep.ingest.get("failed") or {}
    if failed:
        print(f"\n### Not indexed ({len(failed)})\n")
        for name, message in failed.items():
            print(f"- {name}: {message}")
    if prep.excluded:
        print(f"\n### Excluded label rows ({len(prep.excluded)})\n")
        print(qm.excluded_report(prep.excluded))
    for run in runs:
        if run["misses"] and args.misses:
            print(f"\n### Misses (not at rank 1): {run['config']['name']} @{run['config']['chunk_tokens']} "
                  f"({len(run['misses'])}, first {min(args.misses, len(run['misses']))})\n")
            print(qm.misses_table(run, args.misses))
    t = prep.timings
    print(f"\nmodel load {model_s:.1f}s · ingest {t['ingest_s']:.1f}s ({prep.ingest['indexed']} indexed, "
          f"{prep.ingest['skipped']} reused) · total {result['timings']['total_s']:.1f}s · store {prep.store_dir}")
    if args.json:
        write_json(args.json, result)
    return 0


def _speed(args: argparse.Namespace) -> int:
    from bench.speed import run_speed, speed_table

    result = run_speed(args.pdfs, args.labels or [DEFAULT_LABELS], cache=args.cache, limit=args.limit,
                       queries=args.queries, embed_model=args.embed_model, chunk_tokens=args.chunk_tokens,
                       chunk_overlap=args.chunk_overlap, skip_plain=args.no_plain, keep=args.keep,
                       verbose=args.verbose, isa=args.isa)
    c = result["corpus"]
    print(f"## Speed: {c['pdfs']} ({c['files']} PDFs, {c['pages']} pages, {c['questions']} questions)\n")
    print(speed_table(result))
    if args.json:
        write_json(args.json, result)
    return 0


def _rerank_cost(args: argparse.Namespace) -> int:
    from bench import quality as qm
    from bench.rerank_cost import cost_table, run_rerank_cost

    embedder, overrides, _ = qm.load_embedder_timed(args.cache, None)
    prep = qm.prepare_pdf_corpus(DEFAULT_PDFS, [DEFAULT_LABELS], embedder, overrides, cache=args.cache, store=None,
                                 limit=None, chunk_tokens=None, chunk_overlap=None)
    rows = run_rerank_cost(prep, embedder, args.questions)
    print(f"## Reranking cost: {DEFAULT_PDFS} ({len(prep.questions)} questions, all 54 PDFs indexed)\n")
    print(cost_table(rows))
    if args.json:
        write_json(args.json, rows)
    return 0


# Benchmarks with their own command line: `python -m bench NAME ...` runs `python -m bench.MODULE ...`.
DELEGATED = {"scale": "bench.scale", "busy": "bench.busy"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in DELEGATED:
        import importlib

        return importlib.import_module(DELEGATED[argv[0]]).main(argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    if args.command == "_worker":
        from bench.speed import run_worker

        return run_worker(args.role, args.spec, args.out)
    from docqa.errors import DocQAError
    from evaluation.labels import LabelError

    try:
        if args.command == "speed":
            return _speed(args)
        if args.command == "rerank-cost":
            return _rerank_cost(args)
        return _quality(args, autorag=args.command == "autorag")
    except (DocQAError, LabelError) as exc:  # a store built with other settings, an unusable label file
        log.error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
