"""Cross-encoder plumbing, on a tiny cross-encoder built here from random weights.

No cross-encoder weights can be had offline, so this proves the plumbing (loading by
folder, batching, truncation, reordering, stage reporting), not reranking quality.
"""

from __future__ import annotations

import numpy as np
import pytest

from docqa.config import Settings
from docqa.services import open_store
from ingest.pipeline import Ingestor
from retrieval.rerank import CrossEncoderReranker, load_reranker
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
    scores = reranker.rerank("질문", ["질문"], [_chunk("가" * 3000), _chunk("짧은 문장")], np.zeros(2))
    assert scores.shape == (2,) and np.isfinite(scores).all()  # 3000 chars are truncated, not an error


def test_no_reranker_offline_or_when_switched_off(tmp_path):
    assert load_reranker(Settings(data_dir=tmp_path, reranker="none")) is None
    assert load_reranker(Settings(data_dir=tmp_path, reranker="no-such-org/no-such-reranker")) is None


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


def _chunk(text: str):
    from docqa.types import Chunk

    return Chunk("c", "d", "f.pdf", text, 1, 1, 0, len(text), 10)
