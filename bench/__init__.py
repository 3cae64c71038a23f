"""Benchmarks over ../shared/eval: retrieval quality and speed (`python -m bench`).

    python -m bench quality [--pdfs DIR] [--labels CSV ...] [--limit N] [--config dense|lexical|hybrid|rerank ...]
                            [--chunk-tokens N ...] [--store DIR] [--json OUT]
    python -m bench autorag [--dir ../shared/eval/autorag] [--json OUT]
    python -m bench speed   [--pdfs DIR] [--labels CSV] [--limit N] [--queries N] [--json OUT]
    python -m bench rerank-cost [--questions N] [--json OUT]

Indexes are cached under `.bench/` (keyed by corpus content, model and chunk
settings), so a second quality run skips ingestion. Scoring: evaluation.metrics.
"""
