"""Score a searcher on labelled questions: every question asked through `Searcher.search()`,
pages ranked and scored (evaluation.metrics). Used by the app's 평가 page and by bench/."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from evaluation.labels import Excluded
from evaluation.metrics import PageKey, QuestionScore, aggregate, percentile, rank_pages

log = logging.getLogger(__name__)

# --config choices: name -> (search mode, rerank)
CONFIGS: dict[str, tuple[str, bool]] = {
    "dense": ("dense", False),
    "lexical": ("lexical", False),
    "hybrid": ("hybrid", False),
    "rerank": ("hybrid", True),
}
CONFIG_LABELS = {"dense": "dense", "lexical": "lexical", "hybrid": "hybrid", "rerank": "hybrid+rerank"}
K = 10


@dataclass(frozen=True)
class EvalQuestion:
    """A question ready to score: the page keys that answer it and how to show them."""

    qid: str
    question: str
    domain: str
    relevant: frozenset[PageKey]
    expected: tuple[dict, ...]  # [{"file": ..., "pages": [...]}] for the misses list
    note: str = ""  # e.g. why the labelled file is not in the index
    context_type: str = ""  # where the answer sits (paragraph, table, image...), when labelled


@dataclass
class Prepared:
    """An ingested index and its questions, ready for `evaluate`."""

    searcher: object
    questions: list[EvalQuestion]
    excluded: list[Excluded]
    names: dict[str, str]  # doc id -> file shown in reports
    corpus_doc_ids: tuple[str, ...]  # search filter when the store holds other documents too
    settings: object
    store_dir: Path
    ingest: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)


def evaluate(prep: Prepared, config: str, embedder) -> dict:
    """Ask every question with one configuration; the result JSON for it."""
    mode, rerank = CONFIGS[config]
    searcher = prep.searcher
    scores: list[QuestionScore] = []
    misses: list[dict] = []
    latencies: list[float] = []
    stage_ms: dict[str, list[float]] = {}
    used_stages: set[str] = set()
    t_all = time.perf_counter()
    for i, q in enumerate(prep.questions, start=1):
        t0 = time.perf_counter()
        result = searcher.search(q.question, K, doc_ids=prep.corpus_doc_ids, mode=mode, rerank=rerank)
        latencies.append((time.perf_counter() - t0) * 1000)
        for stage, ms in result.timings_ms.items():
            stage_ms.setdefault(stage, []).append(ms)
        used_stages.update(result.stages)
        slots = rank_pages((h.chunk.doc_id, h.chunk.pages) for h in result.hits)
        score = QuestionScore.of(q.qid, q.domain, slots, q.relevant, q.context_type)
        scores.append(score)
        if score.rank != 1:
            misses.append(_miss(q, score.rank, result, prep.names))
        if i % 25 == 0:
            log.info("%s: %d/%d questions", config, i, len(prep.questions))
    search_s = time.perf_counter() - t_all
    reranker = getattr(searcher, "reranker", None)
    if rerank and not any(s.startswith("rerank") for s in used_stages):
        log.warning("%s: no reranker is loaded (settings.reranker=%r), so this equals plain hybrid",
                    config, prep.settings.reranker)
    return {
        **aggregate(scores),
        "config": {
            "name": CONFIG_LABELS[config], "mode": mode, "rerank": rerank,
            "reranker": getattr(reranker, "name", None) if rerank else None,
            "stages": sorted(used_stages), "k": K,
            "embed_model": embedder.choice.model_id, "embed_revision": embedder.choice.revision,
            "embed_source": embedder.choice.source,
            "chunk_tokens": prep.settings.chunk_tokens, "chunk_overlap": prep.settings.chunk_overlap,
            "store": str(prep.store_dir),
        },
        "timings": {
            **prep.timings, "search_s": search_s,
            "query_p50_ms": percentile(latencies, 50), "query_p95_ms": percentile(latencies, 95),
            "query_stage_p50_ms": {s: percentile(v, 50) for s, v in stage_ms.items()},
        },
        "ingest": prep.ingest,
        "excluded": [e.as_dict() for e in prep.excluded],
        "misses": misses,
    }


def _miss(q: EvalQuestion, rank: int | None, result, names: dict[str, str]) -> dict:
    first = None
    if result.hits:
        top = result.hits[0].chunk
        first = {"file": names.get(top.doc_id, top.file_name), "pages": list(top.pages),
                 "score": round(result.hits[0].score, 4), "text": top.text[:160]}
    return {"qid": q.qid, "domain": q.domain, "context_type": q.context_type, "question": q.question,
            "expected": list(q.expected),
            "rank": rank, "first": first, **({"note": q.note} if q.note else {})}
