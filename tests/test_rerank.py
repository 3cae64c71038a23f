"""Reranking stages.

Cross-encoder: on a tiny cross-encoder built here from random weights. No
cross-encoder weights can be had offline, so this proves the plumbing (loading by
folder, batching, truncation, reordering, stage reporting), not reranking quality.

Sentence reranker (the offline stage): on real Korean text with the real offline
embedding model. Its quality is measured by `python -m bench quality` on ../shared/eval.
"""

from __future__ import annotations

import numpy as np
import pytest

from docqa.config import Settings
from docqa.services import open_store
from ingest.pipeline import Ingestor
from retrieval.rerank import CrossEncoderReranker, SentenceReranker, load_reranker
from retrieval.search import Searcher
from tests import pdfs


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory, embedder) -> str:
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    folder = tmp_path_factory.mktemp("tiny-ce")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(embedder.tokenizer), hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=512, num_labels=1)
    BertForSequenceClassification(config).save_pretrained(folder)
    embedder.tokenizer.save_pretrained(folder)
    return str(folder)


def test_a_local_cross_encoder_folder_is_loaded_and_scores_in_batches(tiny_cross_encoder, tmp_path):
    reranker = load_reranker(Settings(data_dir=tmp_path, reranker=tiny_cross_encoder))
    assert isinstance(reranker, CrossEncoderReranker)
    scores = reranker.rerank("질문", [_chunk("가" * 3000), _chunk("짧은 문장")], np.zeros(2))
    assert scores.shape == (2,) and np.isfinite(scores).all()  # 3000 chars are truncated, not an error


def test_offline_the_sentence_reranker_stands_in_and_none_switches_reranking_off(tmp_path, embedder):
    assert load_reranker(Settings(data_dir=tmp_path, reranker="none"), embedder) is None
    missing = Settings(data_dir=tmp_path, reranker="no-such-org/no-such-reranker")
    assert isinstance(load_reranker(missing, embedder), SentenceReranker)
    assert load_reranker(missing) is None  # no embedder to build it from
    assert isinstance(load_reranker(Settings(data_dir=tmp_path, reranker="sentence"), embedder), SentenceReranker)


def test_the_sentence_reranker_lifts_the_passage_whose_sentence_answers(embedder):
    question = "갯벌 복원 사업의 총사업비는 얼마인가?"
    answers = _chunk("갯벌 복원 사업의 총사업비는 1,200억 원으로 확정되었다. "
                     "총사업비 가운데 국비는 800억 원이다.")
    mentions = _chunk("갯벌 복원 사업 설명회가 열렸다. 갯벌 복원 사업 담당자와 어민들이 참석하였다. "
                      "사업 일정은 추후 공지한다.")
    reranker = SentenceReranker(embedder)
    calls = []
    embed = embedder.embed_passages

    def counting(texts, *args, **kwargs):
        calls.append(len(texts))
        return embed(texts, *args, **kwargs)

    terms = ["갯벌", "복원", "사업", "총사업비", "얼마"]
    context = dict(terms=terms, idf=lambda t: 1.0, query_vector=embedder.embed_query(question))
    others = [_chunk("항만 물동량이 증가하였다."), _chunk("어촌 인구는 감소 추세이다.")]
    embedder.embed_passages = counting
    try:
        fused = np.asarray([1.0, 1.05, 0.0, -0.2])  # fusion put the mere mention first, narrowly
        scores = reranker.rerank(question, [answers, mentions, *others], fused, **context)
        assert scores[0] > scores[1] > scores[2]
        again = reranker.rerank(question, [answers, mentions, *others], fused, **context)
    finally:
        del embedder.embed_passages
    assert np.allclose(scores, again) and calls == [7]  # 2 + 3 + 1 + 1 sentences embedded once, then cached
    empty = reranker.rerank(question, [_chunk("."), answers, *others], np.zeros(4), **context)
    assert np.isfinite(empty).all() and empty[1] > empty[0]  # a passage with no sentence scores lowest


def test_the_search_runs_the_reranker_and_follows_its_order(tiny_cross_encoder, tmp_path, embedder):
    settings = Settings(data_dir=tmp_path, reranker=tiny_cross_encoder)
    store = open_store(settings, embedder)
    texts = ["해양수산부는 갯벌 복원 사업을 확대한다.", "갯벌 생태계 조사는 매년 실시한다.",
             "갯벌 체험 프로그램을 운영한다."]
    Ingestor(store, embedder, settings).ingest([(f"{i}.pdf", pdfs.korean_pdf([t])) for i, t in enumerate(texts)])
    searcher = Searcher.from_services(store, embedder, settings)
    result = searcher.search("갯벌", k=3)
    assert result.stages[-1] == f"rerank:{searcher.reranker.name}" and "rerank" in result.timings_ms
    pairs = [("갯벌", h.chunk.text) for h in result.hits]
    expected = searcher.reranker.model.predict(pairs)
    assert list(np.argsort(-expected, kind="stable")) == [0, 1, 2]  # hits come in the cross-encoder's order
    assert searcher.search("갯벌", k=3, rerank=False).stages == ("dense", "lexical", "fusion")


def test_offline_search_reports_the_sentence_stage_and_keeps_every_candidate(tmp_path, embedder):
    settings = Settings(data_dir=tmp_path, reranker="sentence")
    store = open_store(settings, embedder)
    texts = [f"{i}번 항구의 갯벌 면적은 {i * 10}헥타르이며 매년 조사한다." for i in range(14)]
    Ingestor(store, embedder, settings).ingest([(f"{i}.pdf", pdfs.korean_pdf([t])) for i, t in enumerate(texts)])
    searcher = Searcher.from_services(store, embedder, settings)
    result = searcher.search("갯벌 면적은 얼마인가", k=12)
    assert result.stages == ("dense", "lexical", "fusion", "rerank:sentence-e5") and "rerank" in result.timings_ms
    scores = [h.score for h in result.hits]
    assert len(result.hits) == 12 and scores == sorted(scores, reverse=True)  # the tail follows the reranked head


def _chunk(text: str):
    from docqa.types import Chunk

    return Chunk("c", "d", "f.pdf", text, 1, 1, 0, len(text), 10)
