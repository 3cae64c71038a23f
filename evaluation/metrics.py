"""Page-level retrieval metrics (../shared/eval/README.md, "Scoring convention").

A question is answered by any one of its labelled pages ("alternatives"). Retrieved
passages are turned into a ranking of page slots: each passage, in order, adds the
pages it spans that no better passage already brought (first occurrence wins); a
passage that brings no new page takes no rank. A relevant page's rank is the rank of
its slot, so a passage spanning pages 3-4 puts both pages at the same rank.

Every metric then depends only on `r`, the rank of the first relevant slot:
Hit@1 = [r = 1], Recall@5 = [r <= 5], MRR@10 = 1/r if r <= 10, nDCG@10 (binary) =
1/log2(r + 1) if r <= 10. With one labelled page (every allganize and AutoRAG row)
these are exactly the textbook definitions; with alternatives ("5;6") finding any
one of them is a full answer, so the ideal DCG is that of a single relevant page.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

PageKey = tuple[str, int]  # (doc id, 1-based page)
METRICS = ("hit@1", "recall@5", "mrr@10", "ndcg@10")


def rank_pages(passages: Iterable[tuple[str, Iterable[int]]]) -> list[frozenset[PageKey]]:
    """Page slots in rank order from (doc id, pages spanned) per retrieved passage."""
    seen: set[PageKey] = set()
    slots: list[frozenset[PageKey]] = []
    for doc_id, pages in passages:
        new = frozenset((doc_id, int(p)) for p in pages) - seen
        if new:
            slots.append(new)
            seen |= new
    return slots


def first_relevant_rank(slots: Sequence[frozenset[PageKey]], relevant: Iterable[PageKey]) -> int | None:
    """1-based rank of the first slot holding a relevant page, or None."""
    wanted = set(relevant)
    return next((i for i, slot in enumerate(slots, start=1) if slot & wanted), None)


def hit_at(rank: int | None, k: int) -> float:
    return 1.0 if rank is not None and rank <= k else 0.0


def mrr_at(rank: int | None, k: int) -> float:
    return 1.0 / rank if rank is not None and rank <= k else 0.0


def ndcg_at(rank: int | None, k: int) -> float:
    """Binary nDCG@k when one relevant page is enough (ideal DCG = 1)."""
    return 1.0 / math.log2(rank + 1) if rank is not None and rank <= k else 0.0


def score_rank(rank: int | None) -> dict[str, float]:
    """All four metrics for one question from its first relevant rank."""
    return {"hit@1": hit_at(rank, 1), "recall@5": hit_at(rank, 5), "mrr@10": mrr_at(rank, 10),
            "ndcg@10": ndcg_at(rank, 10)}


@dataclass(frozen=True)
class QuestionScore:
    """One scored question: its domain, first relevant rank and metric values."""

    qid: str
    domain: str
    rank: int | None
    scores: Mapping[str, float] = field(default_factory=dict)
    context_type: str = ""  # where the answer sits (paragraph, table, image...), when labelled

    @classmethod
    def of(cls, qid: str, domain: str, slots: Sequence[frozenset[PageKey]],
           relevant: Iterable[PageKey], context_type: str = "") -> QuestionScore:
        rank = first_relevant_rank(slots, relevant)
        return cls(qid, domain, rank, score_rank(rank), context_type)


def mean_scores(rows: Sequence[QuestionScore]) -> dict[str, float | int]:
    """Mean of each metric over `rows`, plus n."""
    n = len(rows)
    out: dict[str, float | int] = {m: (sum(r.scores[m] for r in rows) / n if n else 0.0) for m in METRICS}
    out["n"] = n
    return out


def aggregate(rows: Sequence[QuestionScore]) -> dict[str, dict]:
    """{"overall": means, "by_domain": {domain: means}, "by_type": {context type: means}}
    (sorted; "" shown as "-"; by_type is empty when no question has a context type)."""
    domains = sorted({r.domain for r in rows})
    types = sorted({r.context_type for r in rows})
    return {
        "overall": mean_scores(rows),
        "by_domain": {d or "-": mean_scores([r for r in rows if r.domain == d]) for d in domains},
        "by_type": {t or "-": mean_scores([r for r in rows if r.context_type == t]) for t in types}
        if any(types) else {},
    }


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100), as numpy's default; 0.0 for no values."""
    if not values:
        return 0.0
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)
