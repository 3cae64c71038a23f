"""Extractive answers against reference answers: `python -m bench.answers [--json OUT]`.

Every question of allganize_dev.csv (its `answer` column holds a human reference answer) is
asked through `Searcher.search()` (k=5, as the 질문 page) over all 54 PDFs of the shared eval
set. For each way of picking the shown sentences we report:

- coverage: the share of the reference answer's distinct content morphemes (Kiwi, the
  product's `retrieval.lexical.tokenize`) that appear among the shown text's morphemes,
  averaged over questions;
- new-word coverage: the same over the reference morphemes that are not in the question
  (restating the question is easy; this counts what the sentences add);
- mean characters shown (sentences only; markers and file names not counted).

"today" is what the 질문 page shows first today: the key sentences of the first card
(`hits[0].key_sentences`, highlighted in its passage).
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from bench.common import DEFAULT_CACHE, DEFAULT_LABELS, DEFAULT_PDFS, markdown_table, write_json

log = logging.getLogger("bench.answers")

K = 5  # the 질문 page's default number of cards


def reference_answers(path: Path) -> dict[str, str]:
    """qid -> reference answer, for the rows that have one."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        return {row["qid"]: row["answer"].strip() for row in csv.DictReader(f) if (row.get("answer") or "").strip()}


def coverage(reference: set[str], shown: set[str]) -> float:
    return len(reference & shown) / len(reference) if reference else 0.0


class CachedEmbedder:
    """The product's embedder with vectors memoised by text, so the variants share one embedding
    of each sentence (their ms/question then leaves embedding out; the product default runs
    without this cache)."""

    def __init__(self, embedder):
        self.embedder = embedder
        self._passages: dict[tuple[str, int], object] = {}
        self._queries: dict[str, object] = {}

    def embed_query(self, text: str):
        if text not in self._queries:
            self._queries[text] = self.embedder.embed_query(text)
        return self._queries[text]

    def embed_passages(self, texts: list[str], max_tokens: int = 512):
        import numpy as np

        missing = list(dict.fromkeys(t for t in texts if (t, max_tokens) not in self._passages))
        if missing:
            for t, v in zip(missing, self.embedder.embed_passages(missing, max_tokens=max_tokens)):
                self._passages[(t, max_tokens)] = v
        return np.stack([self._passages[(t, max_tokens)] for t in texts]) if texts else np.empty((0, 0))


def variants(embedder, idf) -> dict[str, Callable]:
    """name -> picker(question, result) -> shown sentences. The first is today's; the last is the product's."""
    from answer.extractive import ExtractiveConfig, extractive_answer

    cached = CachedEmbedder(embedder)

    def ours(config: ExtractiveConfig, dense: bool = True, corpus_idf: bool = True, cache: bool = True):
        def pick(question, result):
            answer = extractive_answer(question, result, embedder=(cached if cache else embedder) if dense else None,
                                       idf=idf if corpus_idf else None, config=config)
            return [s.text for s in answer.sentences]
        return pick

    base = ExtractiveConfig()
    before = replace(base, passages=2, sentences=2, max_chars=240, max_sentence_chars=160, match="morpheme",
                     redundancy=0.6)
    bare = replace(base, dense_weight=0.0, rank_weight=0.0, cue_weight=0.0, redundancy=1.01)
    dense = 1.0  # the sentence-vector weight tried (z-scored like the lexical score)
    return {
        "today: key sentences of card 1": lambda q, r: list(r.hits[0].key_sentences) if r.hits else [],
        "today: key sentences of cards 1-3": lambda q, r: [s for h in r.hits[:3] for s in h.key_sentences],
        "previous default (2 sentences of 2 passages, morphemes, cut at 160)": ours(before),
        "lexical coverage only (corpus idf)": ours(bare, dense=False),
        "lexical, candidates' own idf": ours(bare, dense=False, corpus_idf=False),
        "lexical, morpheme match": ours(replace(bare, match="morpheme"), dense=False),
        "dense only (all candidates)": ours(replace(bare, lexical_weight=0.0, dense_weight=dense,
                                                    dense_candidates=1000)),
        "lexical + dense": ours(replace(bare, dense_weight=dense)),
        "+ redundancy removal at 0.6": ours(replace(base, redundancy=0.6)),
        "+ position in passage": ours(replace(base, position_weight=0.3)),
        "+ dense": ours(replace(base, dense_weight=dense)),
        "first 2 passages": ours(replace(base, passages=2)),
        "first 3 passages": ours(replace(base, passages=3)),
        "2 sentences": ours(replace(base, sentences=2)),
        "4 sentences": ours(replace(base, sentences=4)),
        "200 chars": ours(replace(base, max_chars=200, max_sentence_chars=200)),
        "240 chars": ours(replace(base, max_chars=240, max_sentence_chars=240)),
        "320 chars": ours(replace(base, max_chars=320, max_sentence_chars=320)),
        "product default (ExtractiveConfig())": ours(base, cache=False),
    }


def oracle(references: dict[str, str], budget: int) -> Callable:
    """An upper bound, not a picker: the sentences of the 5 cards chosen greedily by how many of the
    *reference answer's* morphemes (`references`: question -> answer) each adds per character,
    within `budget` characters. No picker that does not read the reference can be expected to reach it."""
    from answer.extractive import ExtractiveConfig, candidate_units
    from retrieval.lexical import tokenize

    config = ExtractiveConfig(passages=K)

    def pick(question, result):
        ref = set(tokenize([references[question]])[0])
        units, got, shown, used = candidate_units(result.hits, config), set(), [], 0
        while True:
            fits = [u for u in units if used + len(u.text) <= budget and (u.terms & ref) - got]
            if not fits:
                return shown
            best = max(fits, key=lambda u: len((u.terms & ref) - got) / len(u.text))
            units.remove(best)
            got |= best.terms & ref
            shown.append(best.text)
            used += len(best.text)
    return pick


def run(prep, embedder, answers: dict[str, str], pickers: dict[str, Callable], k: int = K) -> dict:
    from retrieval.lexical import tokenize

    questions = [q for q in prep.questions if q.qid in answers]
    per: dict[str, list[tuple[float, float, int]]] = {name: [] for name in pickers}
    timing: dict[str, float] = {name: 0.0 for name in pickers}
    search_ms = 0.0
    for i, q in enumerate(questions, start=1):
        t0 = time.perf_counter()
        result = prep.searcher.search(q.question, k, doc_ids=prep.corpus_doc_ids)
        search_ms += (time.perf_counter() - t0) * 1000
        ref = set(tokenize([answers[q.qid]])[0])
        novel = ref - set(tokenize([q.question])[0])
        for name, pick in pickers.items():
            t0 = time.perf_counter()
            shown = pick(q.question, result)
            timing[name] += (time.perf_counter() - t0) * 1000
            terms = set(tokenize([" ".join(shown)])[0]) if shown else set()
            per[name].append((coverage(ref, terms), coverage(novel, terms) if novel else 1.0,
                              sum(len(s) for s in shown)))
        log.info("%d/%d %s", i, len(questions), q.qid)
    n = len(questions)
    rows = []
    for name, values in per.items():
        rows.append({"picker": name, "coverage": sum(v[0] for v in values) / n,
                     "new_word_coverage": sum(v[1] for v in values) / n,
                     "mean_chars": sum(v[2] for v in values) / n, "ms_per_question": timing[name] / n,
                     "per_question": [{"qid": q.qid, "coverage": v[0], "chars": v[2]}
                                      for q, v in zip(questions, values)]})
    return {"questions": n, "k": k, "search_ms_per_question": search_ms / max(n, 1), "pickers": rows}


def table(result: dict) -> str:
    today = result["pickers"][0]
    return markdown_table(
        ["picker", "coverage", "Δ vs today", "new-word coverage", "mean chars shown", "ms/question"],
        [[r["picker"], r["coverage"], f"{r['coverage'] - today['coverage']:+.3f}", r["new_word_coverage"],
          f"{r['mean_chars']:.0f}", f"{r['ms_per_question']:.0f}"] for r in result["pickers"]])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.answers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", type=Path, default=DEFAULT_LABELS, help="CSV with an `answer` column")
    parser.add_argument("--pdfs", type=Path, default=DEFAULT_PDFS)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="index cache (shared with bench quality)")
    parser.add_argument("--k", type=int, default=K, help="cards per question (the page's default: 5)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    from bench import quality as qm

    started = time.perf_counter()
    embedder, overrides, _ = qm.load_embedder_timed(args.cache, None)
    prep = qm.prepare_pdf_corpus(args.pdfs, [args.labels], embedder, overrides, cache=args.cache, store=None,
                                 limit=None, chunk_tokens=None, chunk_overlap=None)
    answers = reference_answers(args.labels)
    idf = prep.searcher.index.idf
    pickers = variants(embedder, idf)
    references = {q.question: answers[q.qid] for q in prep.questions if q.qid in answers}
    for budget in (160, 240, 320):
        pickers[f"oracle (reads the reference answer), ≤{budget} chars"] = oracle(references, budget)
    result = run(prep, embedder, answers, pickers, args.k)
    result["seconds"] = time.perf_counter() - started
    print(f"## Extractive answers: {args.labels.name} ({result['questions']} questions with a reference answer, "
          f"k={args.k}, all {prep.ingest['files']} PDFs indexed)\n")
    print(table(result))
    print(f"\nsearch {result['search_ms_per_question']:.0f} ms/question · total {result['seconds']:.0f}s · "
          f"model {embedder.choice.model_id} ({embedder.choice.source})")
    if args.json:
        write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
