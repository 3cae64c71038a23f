"""질문: ask in Korean, see cited passages with the key sentence marked and the page highlighted."""

from __future__ import annotations

import streamlit as st

from docqa.config import DOMAINS
from docqa.errors import DocQAError
from docqa.types import DocumentInfo, SearchResult
from ui import answers, cards, common
from ui.render import md
from ui.resources import Services

common.ensure_routed()

STAGE_NAMES = {"index": "색인 확인", "dense": "의미 검색", "lexical": "형태소 검색", "fusion": "결합",
               "fetch": "구절 읽기", "rerank": "재순위", "cite": "인용 정리"}
HISTORY_MAX = 20


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


def search(svc: Services, question: str, k: int, domains: list[str], doc_ids: list[str]) -> tuple[SearchResult, tuple]:
    """Search once per (question, filters, index generation); reruns (expanders, downloads) reuse it.
    Returns the result and its key (the generated answer is kept under the same key)."""
    svc.searcher.index.refresh()
    key = (question, k, tuple(domains), tuple(doc_ids), svc.searcher.index.generation)
    cached = st.session_state.get("last_search")
    if cached and cached[0] == key:
        return cached[1], key
    result = svc.searcher.search(question, k=k, domains=domains, doc_ids=doc_ids)
    st.session_state["last_search"] = (key, result)
    return result, key


st.markdown(cards.CSS, unsafe_allow_html=True)
st.title("질문")
svc = common.require_services()
documents: list[DocumentInfo] = svc.store.documents()
if not documents:
    st.info("아직 색인된 문서가 없습니다. 먼저 문서 페이지에서 문서(PDF, HWP, HWPX)를 올려 주세요.",
            icon=":material/inbox:")
    st.page_link("pages/documents.py", label="문서 페이지로 가서 문서 올리기", icon=":material/description:")
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
    names = {d.doc_id: common.document_label(d, documents) for d in documents}
    doc_ids = c2.multiselect("문서", list(names), format_func=names.get, placeholder="전체 문서")
    k = c3.number_input("결과 수", min_value=1, max_value=20, value=5, step=1)

history_sidebar()
question = st.session_state.get("active_question", "")
if question:
    try:
        result, key = search(svc, question, int(k), domains, doc_ids)
    except DocQAError as err:
        st.error(str(err))
        st.stop()
    st.markdown(f"**질문:** {md(question)}")
    if result.message:
        st.info(md(result.message))
    answer_text, kind = answers.answer_block(svc, result, key)
    if result.hits:
        st.markdown(f"##### 근거 구절 {len(result.hits)}개")
    for rank, hit in enumerate(result.hits, start=1):
        cards.passage_card(rank, hit, svc)
    if result.hits:
        answers.evidence_downloads(result, answer_text, kind)
    st.caption(timing_line(result))
