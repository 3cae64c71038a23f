"""AppTest for each page: empty index, upload and ask, bad uploads, escaping, evaluation, model mismatch.

Real everything: the app's own cached resources, a real Chroma under tmp_path, the offline
model built by the session fixture, real PDFs (from ../shared/eval or built here).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pymupdf
import pytest
from streamlit.testing.v1 import AppTest

from docqa.config import Settings
from ingest.jobs import JobQueue
from tests.conftest import ROOT, eval_pdf

FINANCE = "240130(보도자료) 지방은행의 시중은행 전환시 인가방식 및 절차.pdf"
# Not "…전환 인가방식은 무엇인가요?": that repeats p. 4's Q&A heading ("…전환 인가방식 및 절차를 발표한
# 이유는?"), which phrase matching ranks above p. 2 (README, Benchmarks: pairs).
QUESTION = "지방은행이 시중은행으로 전환할 때 인가는 어떤 방식으로 하나요?"
HANGUL = re.compile(r"[가-힣]")
TIMEOUT = 180


def korean_pdf(lines: list[str]) -> bytes:
    """A one-page PDF with a Korean text layer (PyMuPDF's built-in Korean font)."""
    with pymupdf.open() as doc:
        page = doc.new_page()
        for i, line in enumerate(lines):
            page.insert_text((72, 90 + 22 * i), line, fontname="korea", fontsize=12)
        return doc.tobytes()


def pdf_with_scanned_page() -> bytes:
    """Page 1 with a Korean text layer, page 2 only an image (a scan without OCR)."""
    with pymupdf.open(stream=korean_pdf(["스캔이 섞인 문서의 첫 쪽입니다."]), filetype="pdf") as doc:
        page = doc.new_page()
        pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 300, 400), 0)
        pix.clear_with(180)
        page.insert_image(page.rect, pixmap=pix)
        return doc.tobytes()


@pytest.fixture
def app_env(monkeypatch, tmp_path, embedder) -> Path:
    """Environment for a fresh app: its own data dir, the session's built model folder."""
    data = tmp_path / "data"
    monkeypatch.setenv("RAG_DATA_DIR", str(data))
    monkeypatch.setenv("RAG_EMBED_MODEL", embedder.choice.path)
    monkeypatch.delenv("RAG_CHROMA_HOST", raising=False)
    for name in ("RAG_MAX_FILE_MB", "RAG_CHUNK_TOKENS", "RAG_CHUNK_OVERLAP"):
        monkeypatch.delenv(name, raising=False)
    return data


def start(page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    if page:
        at.switch_page(page).run()
        assert not at.exception, at.exception
    return at


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def wait_for_jobs(at: AppTest, timeout: float = 300) -> AppTest:
    """Wait until the worker process has finished every queued job, then rerun the page."""
    queue = JobQueue(Settings.from_env())
    deadline = time.monotonic() + timeout
    while queue.pending():
        assert time.monotonic() < deadline, [j.files for j in queue.jobs(active_only=True)]
        time.sleep(0.3)
    at.run()
    assert not at.exception, at.exception
    return at


def upload(at: AppTest, files: list[tuple[str, bytes]], wait: bool = True) -> AppTest:
    """Drop `files` on the documents page's uploader, press 색인하기 and (by default) wait for the worker."""
    at.file_uploader[0].set_value([(name, data, "application/pdf") for name, data in files])
    at.run()
    button(at, "색인하기").click()
    at.run()
    assert not at.exception, at.exception
    return wait_for_jobs(at) if wait else at


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def ask(at: AppTest, question: str) -> AppTest:
    at.text_input(key="question_box").input(question)
    button(at, "검색").click()
    at.run()
    assert not at.exception, at.exception
    return at


def sidebar_metrics(at: AppTest) -> list[str]:
    """Documents and chunks shown in the sidebar (present on every run and every page)."""
    return [m.value for m in at.sidebar.metric]


def cards(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if 'class="card-head"' in m.value]


def test_empty_index_points_to_the_documents_page(app_env):
    at = start()
    assert any("색인된 문서가 없습니다" in t for t in texts(at.info))
    assert not at.error
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert "임베딩 모델" in sidebar and "재순위 모델" in sidebar and "내장 Chroma" in sidebar
    assert "실행 방식" in sidebar and "토큰/초" in sidebar  # the encoder path chosen on this CPU, and why
    # no rerank stage by default (it did not help on every eval set): said so
    assert "없음 (하이브리드 점수 순)" in sidebar
    assert sidebar_metrics(at) == ["0", "0"]

    at.switch_page("pages/documents.py").run()
    assert not at.exception
    assert any("색인된 문서가 없습니다" in t for t in texts(at.info))
    assert at.file_uploader[0].accept_multiple_files

    at.switch_page("pages/evaluate.py").run()
    assert not at.exception and at.title[0].value == "평가"


def test_upload_then_ask_shows_cited_cards(app_env):
    data = eval_pdf(f"finance/{FINANCE}").read_bytes()
    at = upload(start("pages/documents.py"), [(FINANCE, data)])
    assert any("색인했습니다" in t and "7쪽" in t for t in texts(at.success)), texts(at.success)
    table = at.dataframe[0].value
    assert table["이름"].tolist() == [FINANCE] and table["쪽수"].tolist() == [7]
    assert sidebar_metrics(at) == ["1", str(table["조각 수"].sum())]

    # The same bytes again: reported as a duplicate, nothing embedded.
    at = upload(at, [("다른 이름.pdf", data)])
    assert any("이미 색인된 문서" in t for t in texts(at.info)), texts(at.info)
    assert at.dataframe[0].value["이름"].tolist() == [FINANCE]

    at.switch_page("pages/ask.py").run()
    at = ask(at, QUESTION)
    heads = cards(at)
    assert heads, [m.value for m in at.markdown]
    page = re.search(r"· (\d+)쪽 ·", heads[0])
    assert FINANCE in heads[0] and page and page[1] in ("1", "2"), heads[0]  # the pages that state the method
    passages = [m.value for m in at.markdown if 'class="passage"' in m.value]
    assert "<mark>" in passages[0]
    assert any("검색 시간" in c.value for c in at.caption)
    assert [b.label for b in at.sidebar.button] == [QUESTION]  # the session's history
    images = [e for e in at.expander if "쪽 이미지 보기" in e.label]
    assert images and images[0].label.startswith(f"{page[1]}쪽")
    assert images[0].get("image")

    # A second question, then the first one again from the history.
    at = ask(at, "예비인가를 생략할 수 있나요?")
    assert [b.label for b in at.sidebar.button] == ["예비인가를 생략할 수 있나요?", QUESTION]
    at.sidebar.button[1].click().run()
    assert at.text_input(key="question_box").value == QUESTION
    assert cards(at)[0] == heads[0]


def test_file_names_are_data(app_env):
    name = "<img src=x onerror=alert(1)><b>x.pdf"  # no "/": the pipeline keeps only a base name
    pdf = korean_pdf(["은행 인가 절차 안내 <script>alert(2)</script>", "인가내용의 변경 방식으로 전환합니다."])
    at = upload(start("pages/documents.py"), [(name, pdf), ("../../탈출.pdf", korean_pdf(["탈출 시험 문서"]))])
    assert at.dataframe[0].value["이름"].tolist().count(name) == 1
    assert "탈출.pdf" in at.dataframe[0].value["이름"].tolist()
    assert not list(app_env.parent.glob("*.pdf")) and not list(app_env.glob("*.pdf"))
    shown = next(s for s in texts(at.success) if "alert" in s)  # escaped: shown literally, not as HTML
    assert "<b>" not in shown and "\\<b\\>" in shown

    at.switch_page("pages/ask.py").run()
    at = ask(at, "인가내용의 변경")
    head = next(h for h in cards(at) if "alert" in h)
    assert "&lt;img src=x onerror=alert(1)&gt;&lt;b&gt;x.pdf" in head
    assert "<img" not in head and "<b>x" not in head
    passage = next(m.value for m in at.markdown if 'class="passage"' in m.value and "alert(2)" in m.value)
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in passage and "<script>" not in passage


def test_passage_html_escapes_everything_and_marks_the_key_sentence():
    from ui.render import md, passage_html

    html = passage_html("첫 문장 <b>굵게</b> $5.\n\n다음   문장입니다. 끝", ["다음 문장입니다."])
    assert "&lt;b&gt;굵게&lt;/b&gt;" in html and "&#36;5" in html and "<b>" not in html
    assert "<mark>다음   문장입니다.</mark>" in html  # found despite other white space
    assert "\n" not in html and html.startswith('<div class="passage">')
    assert md("**굵게** <i>x</i> [링크](javascript:x) $x$") == (
        "\\*\\*굵게\\*\\* \\<i\\>x\\</i\\> \\[링크\\]\\(javascript\\:x\\) \\$x\\$")


def test_bad_uploads_get_korean_errors_and_the_rest_is_indexed(app_env, monkeypatch):
    monkeypatch.setenv("RAG_MAX_FILE_MB", "1")
    good = korean_pdf(["좋은 문서입니다."])
    big = korean_pdf(["큰 문서"]) + b"%" * (2 * 2**20)
    corrupt = b"%PDF-1.4 this is not really a pdf"
    files = [("깨진 파일.pdf", corrupt), ("좋은 문서.pdf", good), ("큰 파일.pdf", big),
             ("스캔 섞인 문서.pdf", pdf_with_scanned_page())]
    at = upload(start("pages/documents.py"), files)
    errors = texts(at.error)
    assert any("깨진 파일" in e and HANGUL.search(e.replace("깨진 파일", "")) for e in errors), errors
    assert any("큰 파일" in e and "너무 큽니다" in e for e in errors), errors
    assert any("좋은 문서" in s and "색인했습니다" in s for s in texts(at.success))
    table = at.dataframe[0].value
    assert sorted(table["이름"].tolist()) == ["스캔 섞인 문서.pdf", "좋은 문서.pdf"]
    flags = dict(zip(table["이름"], table["확인 필요한 쪽"]))
    assert flags == {"스캔 섞인 문서.pdf": "2쪽 스캔", "좋은 문서.pdf": ""}
    warnings = texts(at.warning)
    assert any("스캔 섞인 문서" in w and "2쪽" in w for w in warnings), warnings
    assert at.file_uploader[0].proto.max_upload_size_mb == 1  # the browser refuses it too


def test_upload_limit_matches_the_streamlit_config():
    import tomllib

    from docqa.config import Settings

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["maxUploadSize"] == Settings().max_file_mb


def test_evaluate_page_scores_a_labels_csv(app_env):
    data = eval_pdf(f"finance/{FINANCE}").read_bytes()
    at = upload(start("pages/documents.py"), [(FINANCE, data)])
    csv = ("qid,domain,question,file,page\n"
           f"a,finance,{QUESTION},finance/{FINANCE},2\n"
           f"b,finance,예비인가 절차를 생략할 수 있나요?,finance/{FINANCE},5;2\n"
           "c,law,없는 문서에 대한 질문,law/없는 문서.pdf,1\n").encode()
    at.switch_page("pages/evaluate.py").run()
    at.radio[0].set_value("CSV 올리기").run()
    at.file_uploader[0].set_value(("labels.csv", csv, "text/csv"))
    at.run()
    button(at, "평가 실행").click()
    at.run()
    assert not at.exception, at.exception
    metrics = {m.label: float(m.value) for m in at.metric if m.label in ("Hit@1", "Recall@5", "MRR@10", "nDCG@10")}
    assert set(metrics) == {"Hit@1", "Recall@5", "MRR@10", "nDCG@10"}
    assert metrics["Recall@5"] == 1.0 and 0 < metrics["MRR@10"] <= 1
    assert any("채점에서 뺀 질문 1개" in e.label for e in at.expander)
    assert at.dataframe[0].value["질문 수"].tolist()[0] == 2

    # The same labels as Excel saves them in Korea (CP949) give the same scores.
    at.file_uploader[0].set_value(("labels.csv", csv.decode().encode("cp949"), "text/csv"))
    at.run()
    button(at, "평가 실행").click()
    at.run()
    assert {m.label: float(m.value) for m in at.metric if m.label in metrics} == metrics

    # The built-in sample: only its questions about the indexed document are scored.
    at.radio[0].set_value("내장 예제").run()
    button(at, "평가 실행").click()
    at.run()
    assert not at.exception, at.exception
    assert at.dataframe[0].value["질문 수"].tolist()[0] == 2  # allganize_dev has 2 questions on this file
    assert any("채점에서 뺀 질문" in e.label for e in at.expander)

    at.radio[0].set_value("CSV 올리기").run()
    bad = b"question,page\n\xec\x95\x88\xeb\x85\x95,1\n"
    at.file_uploader[0].set_value(("bad.csv", bad, "text/csv"))
    at.run()
    button(at, "평가 실행").click()
    at.run()
    assert any("CSV를 읽을 수 없습니다" in e for e in texts(at.error))


def test_model_mismatch_offers_reindex(app_env, monkeypatch):
    pdf = korean_pdf(["재색인 시험 문서", "지방은행 인가 방식 안내"])
    at = upload(start("pages/documents.py"), [("재색인.pdf", pdf)])
    assert any("색인했습니다" in s for s in texts(at.success))

    monkeypatch.setenv("RAG_CHUNK_TOKENS", "200")  # another chunker: the index no longer matches
    at = start()
    assert any("다른 설정으로 만들어졌습니다" in e for e in texts(at.error)), texts(at.error)
    button(at, "재색인").click()
    at.run()
    assert not at.exception, at.exception
    wait_for_jobs(at)
    assert not at.error, texts(at.error)
    at.switch_page("pages/documents.py").run()
    assert at.dataframe[0].value["이름"].tolist() == ["재색인.pdf"]


def test_uploads_are_indexed_after_leaving_the_page(app_env):
    """Drop three files, press 색인하기 and go to 질문 at once: the worker (not the page run) indexes
    them, and back on 문서 all three are there."""
    files = [(f"{n}.pdf", korean_pdf([f"{n} 지점의 분기 보고서입니다.", "예금과 대출 현황을 정리했습니다."]))
             for n in ("서울", "부산", "대구")]
    at = upload(start("pages/documents.py"), files, wait=False)
    at.switch_page("pages/ask.py").run()
    assert not at.exception, at.exception
    at = wait_for_jobs(at)
    at.switch_page("pages/documents.py").run()
    assert sorted(at.dataframe[0].value["이름"].tolist()) == ["대구.pdf", "부산.pdf", "서울.pdf"]
    assert any("서울" in s and "색인했습니다" in s for s in texts(at.success))  # the session's recent job


def answer_html_blocks(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if 'class="answer"' in m.value]


def test_offline_the_page_opens_with_an_extractive_answer_and_exports_the_evidence(app_env):
    data = eval_pdf(f"finance/{FINANCE}").read_bytes()
    at = upload(start("pages/documents.py"), [(FINANCE, data)])
    at.switch_page("pages/ask.py").run()
    at = ask(at, QUESTION)
    blocks = answer_html_blocks(at)
    assert blocks and 'href="#card-1"' in blocks[0] and "p. " in blocks[0], blocks
    assert any("답변 (문서에서 발췌)" in m.value for m in at.markdown)
    assert 'id="card-1"' in cards(at)[0]
    assert "생성 답변 꺼짐" in " ".join(m.value for m in at.sidebar.markdown)
    labels = [b.label for b in at.get("download_button")]
    assert "근거 CSV 받기" in labels and "근거 엑셀 받기" in labels
    assert any(f"{FINANCE}, p. " in c.value for c in at.code)  # the copyable citation of each card


def test_with_an_llm_server_the_answer_streams_and_links_to_the_cards(app_env, monkeypatch):
    """Against tests/llm_stub.py, a local OpenAI-compatible server: a boundary fake (no LLM weights
    can run here). It answers with source 1 cited and a marker [9] that points at no card."""
    from tests.llm_stub import StubLLM

    def reply(body: dict) -> str:
        return "지방은행은 인가내용의 변경 방식으로 시중은행으로 전환합니다 [1]. 근거가 없는 문장입니다 [9]."

    data = eval_pdf(f"finance/{FINANCE}").read_bytes()
    with StubLLM(reply=reply) as stub:
        monkeypatch.setenv("RAG_LLM_BASE_URL", stub.url)
        monkeypatch.setenv("RAG_LLM_MODEL", "stub-model")
        at = upload(start("pages/documents.py"), [(FINANCE, data)])
        at.switch_page("pages/ask.py").run()
        at = ask(at, QUESTION)
        assert stub.requests and stub.requests[-1]["model"] == "stub-model" and stub.requests[-1]["stream"]
        prompt = " ".join(m["content"] for m in stub.requests[-1]["messages"])
        assert "[1]" in prompt and "문서에서 근거를 찾지 못했습니다" in prompt
        blocks = answer_html_blocks(at)
        assert blocks and 'href="#card-1"' in blocks[0] and "#card-9" not in blocks[0], blocks
        assert "지웠습니다" in blocks[0]  # the dropped marker [9] is gone, and the answer says so
        assert any("답변 (생성)" in m.value for m in at.markdown)
        assert "생성 답변 켜짐" in " ".join(m.value for m in at.sidebar.markdown)
        assert cards(at)  # the cards stay under the answer
        asked = len(stub.requests)
        at.run()  # a rerun (an expander, a download) shows the same answer without asking again
        assert len(stub.requests) == asked and answer_html_blocks(at) == blocks

    with StubLLM(status=500) as broken:
        monkeypatch.setenv("RAG_LLM_BASE_URL", broken.url)
        at = start("pages/ask.py")
        at = ask(at, "예비인가를 생략할 수 있나요?")
        assert any("서버" in w.value for w in at.warning), [w.value for w in at.warning]
        assert cards(at)  # a failing server leaves the cards in place


HWPX = "public/(240411보도자료) 재정동향 4월호.hwpx"  # 4 printed pages with tables


def test_an_uploaded_hwpx_is_asked_about_and_its_table_shows_as_a_table(app_env):
    name = HWPX.rsplit("/", 1)[-1]
    at = upload(start("pages/documents.py"), [(name, eval_pdf(HWPX).read_bytes())])
    assert any("4쪽" in t and "색인했습니다" in t for t in texts(at.success)), texts(at.success)
    at.switch_page("pages/ask.py").run()
    at = ask(at, "2024년 2월 중앙정부 채무는 얼마인가요?")
    heads = cards(at)
    assert heads and all(name in h for h in heads), heads
    # A table passage is shown as a table (caption, header cells), not as a line of text.
    tables = [h for h in heads if "· 표 ·" in h]
    assert tables, heads
    bodies = [m.value for m in at.markdown if 'class="passage table-wrap"' in m.value]
    assert bodies and any("<th>" in b and "중앙정부 채무" in b for b in bodies), bodies[:2]
    # Printed pages come with the HWPX: the page image is offered like a PDF's.
    images = [e for e in at.expander if "쪽 이미지 보기" in e.label]
    assert images and images[0].get("image")
