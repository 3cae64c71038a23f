"""The answer above the cards: a generated answer streamed from the in-house LLM when one is
configured, else the extractive one; every [n] links to card n. Plus the evidence downloads."""

from __future__ import annotations

import html
from collections.abc import Iterator
from functools import partial

import streamlit as st

from answer import (
    AnswerDelta,
    AnswerDone,
    ExtractiveAnswer,
    GeneratedAnswer,
    answer_from_searcher,
    answer_html,
    evidence_csv,
    evidence_xlsx,
    stream_answer,
)
from docqa.types import SearchResult
from ui.resources import Services

CSS = """<style>
.answer { font-size: 1.0rem; line-height: 1.7; padding: 0.7rem 0.9rem; border-radius: 0.5rem;
  background: #f5f8ff; border: 1px solid #d6e0f5; margin-bottom: 0.4rem; }
.answer .cite, .answer a.cite { text-decoration: none; font-weight: 600; color: #1f5fbf; padding: 0 0.1em; }
.answer .src { color: #667; font-size: 0.85rem; }
</style>"""


def extractive_html(ext: ExtractiveAnswer) -> str:
    """The picked sentences, each followed by its card link and `파일명, p. N`."""
    items = []
    for s in ext.sentences:
        items.append(f'<li>{html.escape(s.text)} <a class="cite" href="#card-{s.rank}">[{s.rank}]</a> '
                     f'<span class="src">{html.escape(s.citation)}</span></li>')
    return f'<div class="answer"><ul style="margin:0;padding-left:1.1rem">{"".join(items)}</ul></div>'


def _deltas(events: Iterator[AnswerDelta | AnswerDone], box: dict) -> Iterator[str]:
    for ev in events:
        if isinstance(ev, AnswerDelta):
            yield ev.text
        else:
            box["done"] = ev.answer


def generated(svc: Services, result: SearchResult, key: tuple, slot) -> GeneratedAnswer | None:
    """Stream the generated answer into `slot` once per search; reruns reuse the kept final answer."""
    cached = st.session_state.get("last_answer")
    if cached and cached[0] == key:
        return cached[1]
    box: dict = {}
    with slot.container(key="answer_stream"):
        st.write_stream(_deltas(stream_answer(result.query, result, svc.settings, svc.llm), box))
    final: GeneratedAnswer | None = box.get("done")
    st.session_state["last_answer"] = (key, final)
    return final


def answer_block(svc: Services, result: SearchResult, key: tuple) -> tuple[str, str]:
    """Render the answer; returns (answer text, kind) for the evidence export."""
    if not result.hits:
        return "", ""
    st.markdown(CSS, unsafe_allow_html=True)
    ext = answer_from_searcher(svc.searcher, result)
    if svc.llm is not None:
        st.markdown("##### 답변 (생성)")
        slot = st.empty()
        final = generated(svc, result, key, slot)
        if final is not None and final.text:  # the checked answer replaces the raw stream
            slot.markdown(f'<div class="answer">{answer_html(final.text, final.sources)}</div>',
                          unsafe_allow_html=True)
        else:
            slot.empty()
        if final is None or final.error:
            st.warning((final.error if final else "") or "생성 답변을 받지 못했습니다. 아래 근거 구절을 확인하세요.",
                       icon=":material/warning:")
        with st.expander("문서에서 바로 뽑은 문장 (발췌 답변)"):
            st.markdown(extractive_html(ext), unsafe_allow_html=True)
        if final is not None and final.text and not final.error:
            return final.text, "generated"
        return ext.text, "extractive"
    if ext.sentences:
        st.markdown("##### 답변 (문서에서 발췌)")
        st.markdown(extractive_html(ext), unsafe_allow_html=True)
        st.caption("생성 모델 없이, 검색된 구절에서 질문에 가장 잘 맞는 문장을 골랐습니다. "
                   "번호를 누르면 해당 근거로 갑니다.")
    return ext.text, "extractive"


def evidence_downloads(result: SearchResult, answer: str, kind: str) -> None:
    """The question, the answer and every cited passage as CSV (Excel-ready) and XLSX."""
    c1, c2, _ = st.columns([1, 1, 3])
    c1.download_button("근거 CSV 받기", data=partial(evidence_csv, result.query, result, answer, kind),
                       file_name="근거.csv", mime="text/csv", on_click="ignore", icon=":material/table:",
                       key="evidence_csv")
    c2.download_button("근거 엑셀 받기", data=partial(evidence_xlsx, result.query, result, answer, kind),
                       file_name="근거.xlsx", on_click="ignore", icon=":material/grid_on:", key="evidence_xlsx",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
