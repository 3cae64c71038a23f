"""docqa.fast_encode against the plain fp32 sentence-transformers output of the real offline model."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from docqa.fast_encode import ThreadPolicy, bf16_is_fast, encode, prepare

PASSAGES = [
    "연차 유급휴가는 1년간 80퍼센트 이상 출근한 근로자에게 15일이 주어지며, 3년 이상 계속 근로한 경우 "
    "최초 1년을 초과하는 계속 근로 연수 매 2년에 대하여 1일을 가산한 유급휴가를 주어야 한다.",
    "안구건조증은 눈물이 부족하거나 눈물막이 불안정해 눈이 뻑뻑하고 이물감이 느껴지는 질환이다. "
    "실내 습도를 유지하고 장시간 화면을 볼 때는 자주 눈을 깜빡이며 인공눈물을 사용하는 것이 도움이 된다.",
    "지방은행이 시중은행으로 전환하려면 은행법에 따른 인가를 다시 받아야 하며, 금융위원회는 자본금, "
    "대주주 적격성, 사업계획의 타당성 등을 심사한다.",
    "라이브커머스는 실시간 동영상 스트리밍으로 상품을 소개하고 판매하는 방식으로, 중국에서는 "
    "2020년 이후 시장 규모가 빠르게 커졌다.",
]
ENGLISH = [
    "The central bank kept the base rate unchanged and said inflation is expected to slow gradually.",
    "Colorectal cancer screening with a stool test every year or a colonoscopy every ten years is recommended "
    "for adults aged 45 to 75.",
]


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    env = os.environ.get("RAG_TEST_MODEL_DIR")
    if env:
        return Path(env)
    from docqa.offline_model import build_offline_model

    return build_offline_model(tmp_path_factory.mktemp("fast-encode") / "offline-e5")


@pytest.fixture(scope="session")
def plain(model_dir):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_dir), device="cpu")


@pytest.fixture(scope="session")
def fast(model_dir):
    from sentence_transformers import SentenceTransformer

    return prepare(SentenceTransformer(str(model_dir), device="cpu"))


def test_prepare_uses_bf16_when_the_cpu_has_it(fast):
    expected = torch.bfloat16 if bf16_is_fast() else torch.float32
    assert fast[0].auto_model.dtype == expected


def test_agrees_with_plain_fp32_encode(plain, fast):
    long_text = " ".join(PASSAGES * 12)  # > 512 tokens: both sides truncate at 512
    texts = PASSAGES + ENGLISH + [long_text, "짧은 문장"]
    for prefix in ("passage: ", "query: "):
        reference = plain.encode(texts, prompt=prefix, batch_size=8, convert_to_numpy=True)
        got = encode(fast, texts, prefix)
        assert got.dtype == np.float32 and got.shape == reference.shape
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        cosines = (got * reference).sum(axis=1)
        assert cosines.min() >= 0.99, cosines


def test_output_is_in_input_order_across_batches(fast):
    texts = [PASSAGES[0], "짧은 질문", PASSAGES[2] * 3, ENGLISH[0], PASSAGES[1] * 2, "네", PASSAGES[3]]
    seen: list[int] = []
    together = encode(fast, texts, "passage: ", batch_tokens=256, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == len(texts) and len(seen) > 1
    for i, text in enumerate(texts):
        alone = encode(fast, [text], "passage: ")[0]
        assert float(together[i] @ alone) >= 0.999, (i, text[:20])


def test_korean_query_ranks_the_right_passage_first(fast):
    passages = encode(fast, PASSAGES, "passage: ")
    questions = {
        "3년 이상 근무한 직원의 연차휴가는 며칠인가요?": 0,
        "눈이 뻑뻑할 때 어떻게 관리하나요?": 1,
        "지방은행이 시중은행으로 바뀔 때 필요한 절차는?": 2,
    }
    for question, expected in questions.items():
        query = encode(fast, [question], "query: ")[0]
        assert int(np.argmax(passages @ query)) == expected, question


def test_empty_input(fast):
    assert encode(fast, [], "passage: ").shape == (0, 384)


def test_thread_policy_follows_the_faster_thread_count():
    policy = ThreadPolicy()
    assert policy.choose(2, 20) == 1  # a query-sized batch always runs on one thread
    speed = {2: 100.0, 1: 60.0}  # idle machine: two threads win

    def run(batches: int) -> list[int]:
        used = []
        for _ in range(batches):
            threads = policy.choose(2, 4000)
            policy.record(threads, speed[threads], 1.0)
            used.append(threads)
        return used

    used = run(20)
    assert used[:2] == [2, 1] and used.count(1) <= 3 and policy.current == 2
    speed[2] = 15.0  # the machine got busy: the 2-thread barrier stalls
    used = run(10)
    assert policy.current == 1 and used[-5:] == [1] * 5
    speed[2] = 100.0  # idle again: a later probe switches back
    run(80)
    assert policy.current == 2


def test_batches_bound_tokens_and_attention_size():
    """Full-length passages go two at a time (the attention activations ONNX Runtime keeps grow with
    rows x length²); short ones fill the token budget."""
    from docqa.fast_encode import _MAX_BATCH_ATTENTION, _batches

    lengths = [512] * 5 + [128] * 40 + [20] * 3
    batches = _batches(lengths, 4096)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        width = max(lengths[i] for i in b)
        assert len(b) * width <= 4096 and len(b) * width * width <= _MAX_BATCH_ATTENTION
    assert [len(b) for b in batches if lengths[b[0]] == 512] == [2, 2, 2]  # the last takes a short one along
    assert max(len(b) for b in batches if lengths[b[0]] == 128) == 32
