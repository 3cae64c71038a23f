"""Cost of each reranking stage per candidate, on real questions through `Searcher.search()`.

    python -m bench rerank-cost [--questions N] [--json OUT]

The offline sentence reranker runs as shipped, its sentence cache emptied before every
question. The default cross-encoder (dragonkue/bge-reranker-v2-m3-ko) has no weights on
this machine, so its cost is measured on the same architecture, XLM-RoBERTa large
(24 layers, hidden 1024, 16 heads), with random weights and the same XLM-R tokenizer
family: a forward pass costs the same whatever the weights' values, but the scores mean
nothing, so only time is reported.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.common import markdown_table
from evaluation.metrics import percentile

BGE_RERANKER_V2_M3 = dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                          max_position_embeddings=8194, type_vocab_size=1, num_labels=1)


def random_cross_encoder(folder: Path, tokenizer) -> Path:
    """A cross-encoder folder with bge-reranker-v2-m3's architecture and random weights."""
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

    torch.manual_seed(0)
    config = XLMRobertaConfig(vocab_size=len(tokenizer), **BGE_RERANKER_V2_M3)
    XLMRobertaForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _time_stage(searcher, reranker, questions: Sequence, doc_ids: Sequence[str]) -> dict:
    searcher.reranker = reranker
    per_candidate, stage = [], []
    for q in questions:
        if hasattr(reranker, "clear_cache"):
            reranker.clear_cache()
        ms = searcher.search(q.question, 10, doc_ids=doc_ids).timings_ms["rerank"]
        stage.append(ms)
        per_candidate.append(ms / reranker.top)  # the fused list (up to 100) always holds `top` here
    return {"name": reranker.name, "candidates": reranker.top, "questions": len(questions),
            "stage_p50_ms": percentile(stage, 50), "stage_p95_ms": percentile(stage, 95),
            "per_candidate_p50_ms": percentile(per_candidate, 50)}


def run_rerank_cost(prep, embedder, questions: int) -> list[dict]:
    from retrieval.rerank import CrossEncoderReranker, SentenceReranker

    asked = prep.questions[:questions]
    rows = [_time_stage(prep.searcher, SentenceReranker(embedder), prep.questions, prep.corpus_doc_ids)]
    with tempfile.TemporaryDirectory(prefix="rerank-cost-") as tmp:
        t0 = time.perf_counter()
        folder = random_cross_encoder(Path(tmp), embedder.tokenizer)
        cross = CrossEncoderReranker.load(str(folder))
        cross.name = "bge-reranker-v2-m3 architecture, random weights"
        build_s = time.perf_counter() - t0
        prep.searcher.search(asked[0].question, 10, doc_ids=prep.corpus_doc_ids)  # warm-up without it
        rows.append({**_time_stage(prep.searcher, cross, asked, prep.corpus_doc_ids), "build_s": build_s})
    return rows


def cost_table(rows: Sequence[dict]) -> str:
    return markdown_table(
        ["reranker", "candidates", "questions", "stage p50 / p95 (ms)", "per candidate p50 (ms)"],
        [[r["name"], r["candidates"], r["questions"], f"{r['stage_p50_ms']:,.0f} / {r['stage_p95_ms']:,.0f}",
          f"{r['per_candidate_p50_ms']:,.1f}"] for r in rows])
