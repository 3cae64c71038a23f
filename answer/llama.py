"""Our Korean hybrid search as a llama-index retriever.

    from llama_index.core.query_engine import RetrieverQueryEngine
    engine = RetrieverQueryEngine.from_args(SearcherRetriever(searcher, k=5), llm=my_llm)

Each node is one cited passage: its text, score, and metadata with file, pages, rects
(page, x0, y0, x1, y1), key sentences and the `파일명, p. N` citation, so a llama-index
query engine built on it can cite and highlight like the app does.
"""

from __future__ import annotations

from collections.abc import Sequence

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from answer.citations import citation
from docqa.types import Hit

# Keep the LLM and embedding prompts short: only these reach them; the rest stays for display.
_SHOWN_TO_LLM = ("file_name", "page")


def hit_node(hit: Hit, rank: int) -> NodeWithScore:
    """One search hit as a llama-index node (id = our chunk id)."""
    c = hit.chunk
    metadata = {
        "file_name": c.file_name,
        "page": c.page_start,
        "page_end": c.page_end,
        "doc_id": c.doc_id,
        "domain": c.domain,
        "heading": c.heading,
        "rank": rank,
        "rects": [list(r) for r in c.rects],
        "key_sentences": list(hit.key_sentences),
        "citation": citation(hit),
        "kind": c.kind,
    }
    hidden = [k for k in metadata if k not in _SHOWN_TO_LLM]
    node = TextNode(id_=c.chunk_id, text=c.text, metadata=metadata, excluded_llm_metadata_keys=hidden,
                    excluded_embed_metadata_keys=list(metadata))
    return NodeWithScore(node=node, score=float(hit.score))


class SearcherRetriever(BaseRetriever):
    """A llama-index `BaseRetriever` over `Searcher.search()` (dense + Kiwi BM25 + fusion + rerank).

    `domains` and `doc_ids` restrict the search like the 질문 page's filters.
    """

    def __init__(self, searcher, k: int = 5, *, domains: Sequence[str] = (), doc_ids: Sequence[str] = (),
                 mode: str = "hybrid", rerank: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.searcher = searcher
        self.k = k
        self.domains = tuple(domains)
        self.doc_ids = tuple(doc_ids)
        self.mode = mode
        self.rerank = rerank
        self.last_result = None  # the SearchResult behind the latest nodes (timings, notes)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        result = self.searcher.search(query_bundle.query_str, k=self.k, domains=self.domains, doc_ids=self.doc_ids,
                                      mode=self.mode, rerank=self.rerank)
        self.last_result = result
        return [hit_node(hit, rank) for rank, hit in enumerate(result.hits, start=1)]
