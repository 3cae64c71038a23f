"""질문: ask in Korean, see cited passages with the key sentence marked and the page highlighted."""

from __future__ import annotations

import html
from functools import partial
from pathlib import Path

import streamlit as st

from docqa.config import DOMAINS
from docqa.errors import DocQAError
from docqa.types import DocumentInfo, Hit, SearchResult
from pages import common, render
from pages.render import md

common.ensure_routed()

STAGE_NAMES = {"index": "색인 준비", "dense": "의미 검색", "lexical": "형태소 검색", "fusion": "결합",
               "rerank": "재순위", "cite": "인용 정리"}
HISTORY_MAX = 20

st.markdown("""<style>
.passage { line-height: 1.6; font-size: 0.95rem; }
.passage .gap { display: block; height: 0.45em; }
.passage mark { background: #ffe066; padding: 0.05em 0.15em; border-radius: 0.2em; }
.card-head { font-size: 1.02rem; margin-bottom: 0.25rem; }
.card-head .meta { color: #555; font-size: 0.9rem; }
</style>""", unsafe_allow_html=True)


def remember(question: str) -> None:
    """Make `question` the active one and put it on top of the session's history."""
    question = " ".join(question.split())
    if not question:
        return
    st.session_state["active_question"] = question
    history = [q for q in st.session_state.get("history", []) if q != question]
    st.session_state["history"] = [question, *history][:HISTORY_MAX]


def submit() -> None:
    remember(st.session_state.get("question_box", ""))


def ask_again(question: str) -> None:
    st.session_state["question_box"] = question
    remember(question)


def pages_label(hit: Hit) -> str:
    c = hit.chunk
    return f"{c.page_start}쪽" if c.page_start == c.page_end else f"{c.page_start}–{c.page_end}쪽"


def card_head(rank: int, hit: Hit) -> str:
    """Rank, document, page, domain and score as safe HTML (the file name is escaped)."""
    c = hit.chunk
    esc = html.escape
    return (f'<div class="card-head"><b>{rank}. {esc(c.file_name)}</b> '
            f'<span class="meta">· {esc(pages_label(hit))} · {esc(common.domain_label(c.domain))} '
            f'· 점수 {hit.score:.3f}</span></div>')


def passage_card(rank: int, hit: Hit, svc: common.Services) -> None:
    c = hit.chunk
    with st.container(border=True, key=f"card_{rank}"):
        st.markdown(card_head(rank, hit), unsafe_allow_html=True)
        if c.heading:
            st.caption(md(c.heading))
        st.markdown(render.passage_html(c.text, hit.key_sentences), unsafe_allow_html=True)
        path = svc.store.file_path(c.doc_id)
        if not path.exists():
            st.caption("원본 PDF가 저장되어 있지 않아 쪽 이미지를 보여 줄 수 없습니다.")
            return
        for page in c.pages:
            with st.expander(f"{page}쪽 이미지 보기 (근거 위치 강조)"):
                png = common.page_image(c.doc_id, str(path), page, c.rects, hit.key_sentences)
                st.image(png, caption=f"{page}쪽 · 노란색: 핵심 문장, 파란색: 인용 구절", width=820)
        cols = st.columns(2)
        cols[0].download_button("이 쪽만 PDF로 받기", data=partial(render.page_pdf, str(path), c.page_start),
                                file_name=render.download_name(c.file_name, c.page_start), mime="application/pdf",
                                on_click="ignore", key=f"dl_page_{rank}", icon=":material/description:")
        cols[1].download_button("원본 문서 받기", data=partial(Path(path).read_bytes),
                                file_name=render.download_name(c.file_name), mime="application/pdf",
                                on_click="ignore", key=f"dl_doc_{rank}", icon=":material/download:")


def timing_line(result: SearchResult) -> str:
    parts = [f"{STAGE_NAMES.get(stage, stage)} {ms:,.0f}ms" for stage, ms in result.timings_ms.items()]
    total = sum(result.timings_ms.values())
    rerank = next((s.split(":", 1)[1] for s in result.stages if s.startswith("rerank:")), "")
    tail = f" · 재순위 모델 {md(rerank)}" if rerank else " · 재순위 없음"
    return f"검색 시간 {total:,.0f}ms ({' · '.join(parts)}){tail}"


def history_sidebar() -> None:
    history = st.session_state.get("history", [])
    if not history:
        return
    with st.sidebar:
        st.markdown("#### 이전 질문")
        for i, question in enumerate(history):
            st.button(md(question), key=f"history_{i}", on_click=ask_again, args=(question,), type="tertiary",
                      width="stretch")


def search(svc: common.Services, question: str, k: int, domains: list[str], doc_ids: list[str]) -> SearchResult:
    """Search once per (question, filters); reruns (expanders, downloads) reuse the result."""
    key = (question, k, tuple(domains), tuple(doc_ids), svc.store.version())
    cached = st.session_state.get("last_search")
    if cached and cached[0] == key:
        return cached[1]
    result = svc.searcher.search(question, k=k, domains=domains, doc_ids=doc_ids)
    st.session_state["last_search"] = (key, result)
    return result


st.title("질문")
svc = common.require_services()
documents: list[DocumentInfo] = svc.store.documents()
if not documents:
    st.info("아직 색인된 문서가 없습니다. 먼저 문서 페이지에서 PDF를 올려 주세요.", icon=":material/inbox:")
    st.page_link("pages/documents.py", label="문서 페이지로 가서 PDF 올리기", icon=":material/description:")
    st.stop()

with st.form("ask", border=False, enter_to_submit=True):
    st.text_input("질문", key="question_box",
                  placeholder="예: 지방은행이 시중은행으로 전환할 때 어떤 인가 방식을 적용하나요?",
                  help="질문을 입력하고 Enter를 누르세요.")
    st.form_submit_button("검색", type="primary", on_click=submit, icon=":material/search:")

with st.expander("검색 조건", expanded=False):
    c1, c2, c3 = st.columns([2, 4, 1])
    present = [d for d in DOMAINS if any(doc.domain == d for doc in documents)]
    others = sorted({doc.domain for doc in documents} - set(DOMAINS))
    domains = c1.multiselect("도메인", [*present, *others], format_func=common.domain_label,
                             placeholder="전체 도메인")
    names = {d.doc_id: d.file_name for d in documents}
    doc_ids = c2.multiselect("문서", list(names), format_func=names.get, placeholder="전체 문서")
    k = c3.number_input("결과 수", min_value=1, max_value=20, value=5, step=1)

history_sidebar()
question = st.session_state.get("active_question", "")
if question:
    try:
        result = search(svc, question, int(k), domains, doc_ids)
    except DocQAError as err:
        st.error(str(err))
        st.stop()
    st.markdown(f"**질문:** {md(question)}")
    if result.message:
        st.info(md(result.message))
    for rank, hit in enumerate(result.hits, start=1):
        passage_card(rank, hit, svc)
    st.caption(timing_line(result))
