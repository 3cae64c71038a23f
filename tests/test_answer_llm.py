"""Generated answers against a local OpenAI-compatible stub server.

The stub (tests/llm_stub.py) is a boundary fake: no LLM weights can run on these machines, so
an in-house vLLM / Ollama / llama.cpp server is stood in for by a tiny HTTP server on 127.0.0.1
that speaks the same wire format. These tests check plumbing (what we send, how the stream is
assembled, citations, errors), not answer quality.
"""

from __future__ import annotations

import pytest

from answer.citations import answer_html, clean_markers, markers
from answer.generate import (
    NOT_FOUND,
    AnswerDelta,
    AnswerDone,
    build_messages,
    collect,
    fit_passages,
    llm_status,
    make_llm,
    safe_url,
    stream_answer,
)
from docqa.config import Settings
from docqa.types import Chunk, Hit
from tests.llm_stub import StubLLM

PASSAGES = [
    ("[별첨] 지방은행의 시중은행 전환시 인가방식 및 절차.pdf", 4,
     "지방은행 및 인터넷은행은 시중은행과 인가요건·절차가 대부분 동일하나, "
     "일부 인가요건 및 영업구역·방식에서 차이 존재. "
     "최저자본금: (시중銀) 1,000억원 (지방銀) 250억원 (인터넷銀) 250억원."),
    ("240130(보도자료) 지방은행의 시중은행 전환시 인가방식 및 절차.pdf", 2,
     "지방은행이 시중은행으로 전환하는 경우 인가내용의 변경으로 보아 은행법 제8조에 따른 인가를 받아야 한다."),
    ("3. 향후 통화신용정책 방향.pdf", 7, "금리인하를 위해서는 인플레이션의 2% 수렴에 대한 확신이 필요하다."),
]
QUESTION = "시중은행과 지방은행의 최저자본금은 얼마인가요?"


def make_hits() -> list[Hit]:
    return [Hit(Chunk(f"c{i}", f"d{i}", name, text, page, page, 0, len(text), 60), 1.0 / i, (text.split(". ")[0],))
            for i, (name, page, text) in enumerate(PASSAGES, start=1)]


def settings_for(stub: StubLLM, **kw) -> Settings:
    return Settings(llm_base_url=stub.url, llm_model=kw.pop("model", "stub-model"), llm_api_key=kw.pop("key", ""),
                    llm_timeout=kw.pop("timeout", 10.0), **kw)


def run(stub: StubLLM, settings: Settings | None = None, hits=None) -> tuple[list[str], object]:
    events = list(stream_answer(QUESTION, make_hits() if hits is None else hits, settings or settings_for(stub)))
    assert isinstance(events[-1], AnswerDone) and all(isinstance(e, AnswerDelta) for e in events[:-1])
    return [e.text for e in events[:-1]], events[-1].answer


def test_the_request_carries_the_model_a_korean_prompt_with_numbered_sources_and_stream():
    with StubLLM(reply="최저자본금은 시중은행 1,000억원, 지방은행 250억원입니다 [1].") as stub:
        _, answer = run(stub, settings_for(stub, model="qwen2.5-7b-instruct", key="secret-key"))
    assert answer.ok and answer.model == "qwen2.5-7b-instruct"
    body = stub.requests[0]
    assert body["model"] == "qwen2.5-7b-instruct" and body["stream"] is True
    assert stub.headers[0].get("Authorization") == "Bearer secret-key"
    system, user = (m["content"] for m in body["messages"])
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert "출처의 내용만으로 답하세요" in system and f'"{NOT_FOUND}."' in system and "[1], [2]" in system
    for n, (name, page, text) in enumerate(PASSAGES, start=1):
        assert f"[{n}] {name}, p. {page}\n{text}" in user
    assert user.index("[1] ") < user.index("[2] ") < user.index("[3] ") < user.index(f"질문: {QUESTION}")


def test_streamed_deltas_assemble_into_the_answer_and_markers_link_to_cards():
    reply = "시중은행의 최저자본금은 1,000억원입니다 [1]. 지방은행은 250억원입니다 [1, 2]."
    with StubLLM(reply=reply, chunk_chars=3) as stub:
        deltas, answer = run(stub)
    assert len(deltas) > 5 and "".join(deltas) == reply
    assert answer.text == "시중은행의 최저자본금은 1,000억원입니다 [1]. 지방은행은 250억원입니다 [1][2]."
    assert answer.cited == (1, 2) and answer.dropped == () and answer.sources == (1, 2, 3)
    assert answer.uncited_sentences == 0 and not answer.not_found and answer.finish_reason == "stop"
    html = answer_html(answer.text, answer.sources)
    assert html.count('<a class="cite" href="#card-1">[1]</a>') == 2 and 'href="#card-2"' in html


def test_markers_pointing_at_no_passage_are_dropped_and_the_answer_says_so():
    with StubLLM(reply="최저자본금은 1,000억원입니다 [1][4]. 근거 없는 문장 [9].") as stub:
        _, answer = run(stub)
    assert answer.cited == (1,) and set(answer.dropped) == {4, 9}
    assert "[4]" not in answer.text.split("\n")[0] and "[9]" not in answer.text.split("\n")[0]
    assert "근거 없는 문장." in answer.text
    assert "검색된 근거에 없는 출처 번호 [4], [9]" in answer.text


def test_not_found_answer_is_recognised():
    with StubLLM(reply=f"{NOT_FOUND}.") as stub:
        _, answer = run(stub)
    assert answer.ok and answer.not_found and answer.cited == ()


def test_a_reasoning_block_is_not_shown():
    reply = "<think>출처를 살펴보면 [3]은 무관하다.</think>\n답은 1,000억원입니다 [1]."
    with StubLLM(reply=reply, chunk_chars=2) as stub:
        deltas, answer = run(stub)
    assert "think" not in "".join(deltas) and "무관" not in "".join(deltas)
    assert answer.text == "답은 1,000억원입니다 [1]." and answer.cited == (1,)


def test_timeout_gives_a_korean_message_not_a_crash():
    with StubLLM(delay=3.0) as stub:
        _, answer = run(stub, settings_for(stub, timeout=0.5))
    assert not answer.ok and "0.5초 안에 응답하지 않았습니다" in answer.error and "RAG_LLM_TIMEOUT" in answer.error
    assert len(stub.requests) == 1  # no retries: a slow server is not asked three times


def test_a_stall_between_chunks_is_a_timeout_and_keeps_what_arrived():
    with StubLLM(reply="첫 문장입니다 [1]. 둘째 문장입니다 [2].", chunk_chars=6, chunk_delay=1.0) as stub:
        deltas, answer = run(stub, settings_for(stub, timeout=0.4))
    assert "응답하지 않았습니다" in answer.error
    assert "".join(deltas).startswith("첫 문장") and answer.text.startswith("첫 문장")


@pytest.mark.parametrize(("status", "expected"), [
    (500, "언어 모델 서버 오류입니다 (HTTP 500)"),
    (503, "HTTP 503"),
    (401, "RAG_LLM_API_KEY"),
    (404, "RAG_LLM_MODEL"),
    (400, "RAG_LLM_CONTEXT_TOKENS"),
    (429, "HTTP 429"),
])
def test_http_errors_give_korean_messages(status, expected):
    with StubLLM(status=status) as stub:
        deltas, answer = run(stub)
    assert deltas == [] and not answer.ok and expected in answer.error
    assert "근거 문단은 그대로 볼 수 있습니다" in answer.error


def test_unreachable_server_gives_a_korean_message():
    stub = StubLLM()
    url = stub.url
    stub.stop()  # the port is closed again: nothing listens there
    _, answer = run(stub, Settings(llm_base_url=url, llm_model="m", llm_timeout=2.0))
    assert "연결할 수 없습니다" in answer.error


def test_refusal_and_content_filter_are_reported():
    with StubLLM(reply="", refusal="I can't help with that.") as stub:
        _, answer = run(stub)
    assert "답변을 거부했습니다" in answer.error
    with StubLLM(reply="일부 [1]", finish_reason="content_filter") as stub:
        _, answer = run(stub)
    assert "답변을 거부했습니다" in answer.error


def test_empty_answer_and_cut_answer():
    with StubLLM(reply="") as stub:
        _, answer = run(stub)
    assert "빈 답변" in answer.error
    with StubLLM(reply="긴 답의 앞부분 [1]", finish_reason="length") as stub:
        _, answer = run(stub)
    assert answer.ok and "최대 길이(RAG_LLM_MAX_TOKENS)에서 잘렸습니다" in answer.text


def test_no_passages_means_no_request():
    with StubLLM() as stub:
        _, answer = run(stub, hits=[])
    assert answer.not_found and stub.requests == []


def test_empty_model_name_takes_the_servers_first_model():
    with StubLLM(reply="답 [1].", models=("llama3.1:8b", "other")) as stub:
        _, answer = run(stub, settings_for(stub, model=""))
    assert answer.ok and answer.model == "llama3.1:8b" and stub.requests[0]["model"] == "llama3.1:8b"


def test_passages_are_fitted_to_the_context_budget():
    hits = make_hits() * 10  # 30 passages
    small = fit_passages(QUESTION, hits, context_tokens=1200, max_tokens=400)
    assert 1 <= len(small) < 30 and [n for n, _ in small] == list(range(1, len(small) + 1))
    messages, sent = build_messages(QUESTION, hits, Settings(llm_context_tokens=1200, llm_max_tokens=400))
    assert sent == [n for n, _ in small] and f"[{len(sent) + 1}]" not in messages[1]["content"]
    big = fit_passages(QUESTION, hits, context_tokens=32_000, max_tokens=1000)
    assert len(big) == 30
    # one passage longer than the window is cut, not dropped
    long_hit = [Hit(Chunk("x", "d", "긴 문서.pdf", "가나다라마바사 " * 800, 1, 1, 0, 10, 500), 1.0)]
    cut = fit_passages(QUESTION, long_hit, context_tokens=1500, max_tokens=300)
    assert len(cut) == 1 and cut[0][1].endswith("…") and len(cut[0][1]) < 6400


def test_a_marker_to_a_card_cut_by_the_budget_is_dropped():
    hits = make_hits()
    settings = Settings(llm_context_tokens=900, llm_max_tokens=300)
    _, sent = build_messages(QUESTION, hits, settings)
    assert sent == [1, 2]
    with StubLLM(reply="답 [1]. 다른 답 [3].") as stub:
        _, answer = run(stub, Settings(llm_base_url=stub.url, llm_model="m", llm_context_tokens=900,
                                       llm_max_tokens=300), hits)
    assert answer.sources == (1, 2) and answer.dropped == (3,) and answer.cited == (1,)


def test_llama_index_llm_and_status_line():
    assert make_llm(Settings()) is None
    assert "꺼짐" in llm_status(Settings())
    s = Settings(llm_base_url="http://user:pw@10.0.0.5:8000/v1", llm_model="qwen")
    assert llm_status(s) == "생성 답변 켜짐: qwen @ http://10.0.0.5:8000/v1" and "pw" not in safe_url(s.llm_base_url)
    llm = make_llm(s)
    assert llm.metadata.is_chat_model and llm.max_retries == 0 and llm.api_base == "http://user:pw@10.0.0.5:8000/v1"


def test_settings_read_the_llm_variables(monkeypatch):
    monkeypatch.setenv("RAG_LLM_BASE_URL", " http://127.0.0.1:11434/v1 ")
    monkeypatch.setenv("RAG_LLM_MODEL", "exaone3.5")
    monkeypatch.setenv("RAG_LLM_TIMEOUT", "12.5")
    monkeypatch.setenv("RAG_LLM_CONTEXT_TOKENS", "8192")
    s = Settings.from_env()
    assert (s.llm_base_url, s.llm_model, s.llm_timeout, s.llm_context_tokens) == (
        "http://127.0.0.1:11434/v1", "exaone3.5", 12.5, 8192)
    assert s.llm_configured and not Settings().llm_configured


def test_marker_parsing_and_html_are_safe():
    assert markers("가 [1]. 나 [2, 3]. 다 [1-2] 라 ［4］ 마 [출처 5]") == [1, 2, 3, 4, 5]
    cleaned = clean_markers("가 [1,7]. 나 [8].", valid={1, 2})
    assert cleaned.text == "가 [1]. 나." and cleaned.cited == (1,) and cleaned.dropped == (7, 8)
    html = answer_html('<script>alert("x")</script> 답 [1]\n둘째 줄 [5]', valid={1})
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert '<a class="cite" href="#card-1">[1]</a>' in html and "[5]" in html and 'href="#card-5"' not in html
    assert "<br>" in html
    assert collect(iter([AnswerDelta("a"), AnswerDone(clean_markers_answer())])).text == "x"


def clean_markers_answer():
    from answer.generate import GeneratedAnswer

    return GeneratedAnswer("x")
