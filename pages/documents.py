"""문서: drag-and-drop PDFs with progress, the table of indexed documents, delete and re-index."""

from __future__ import annotations

import logging

import streamlit as st

from docqa.config import DOMAINS
from docqa.types import DocumentInfo, FileResult
from ingest.pipeline import Progress
from pages import common
from pages.render import md

common.ensure_routed()

log = logging.getLogger(__name__)


def uploader_key() -> str:
    return f"uploads_{st.session_state.get('upload_round', 0)}"


def clear_uploader() -> None:
    st.session_state["upload_round"] = st.session_state.get("upload_round", 0) + 1


def too_large(name: str, size: int, limit_mb: int) -> FileResult:
    reason = f"파일이 너무 큽니다 ({size / 2**20:.1f}MB, 한도 {limit_mb}MB). 올리지 않았습니다."
    return FileResult(name, "failed", message=f"'{name}': {reason}")


def ingest_uploads(svc: common.Services, files: list, domain: str, limit_mb: int) -> list[FileResult]:
    """Index the uploaded files with per-file and overall progress; oversized files are refused unread."""
    refused = {i: too_large(f.name, f.size, limit_mb) for i, f in enumerate(files) if f.size > limit_mb * 2**20}
    accepted = [f for i, f in enumerate(files) if i not in refused]
    progress = common.BatchProgress([f.name for f in accepted])
    report = svc.ingestor.ingest([(f.name, f.getvalue()) for f in accepted], domain=domain, progress=progress)
    results = iter(report.files)
    return [refused[i] if i in refused else next(results) for i in range(len(files))]


def reindex_documents(svc: common.Services, docs: list[DocumentInfo]) -> list[FileResult]:
    """Index the stored originals again in place (a failure keeps the old passages)."""
    progress = common.BatchProgress([d.file_name for d in docs])
    results = []
    for n, d in enumerate(docs):
        progress(Progress(n, len(docs), d.file_name, "parse"))
        results.append(svc.ingestor.reindex_document(d.doc_id))
        progress(Progress(n, len(docs), d.file_name, "done", 1.0))
    return results


def delete_documents(svc: common.Services, docs: list[DocumentInfo]) -> None:
    """Button callback: remove every trace of the chosen documents and clear the choice."""
    for d in docs:
        svc.store.delete_document(d.doc_id)
        log.info("deleted %s (%s)", d.file_name, d.doc_id)
    st.session_state["ingest_results"] = [
        FileResult(d.file_name, "deleted", d.doc_id, message=f"'{d.file_name}': 삭제했습니다.") for d in docs]
    st.session_state["chosen_docs"] = []


def documents_table(documents: list[DocumentInfo]) -> None:
    rows = [{"이름": d.file_name, "도메인": common.domain_label(d.domain), "쪽수": d.pages, "조각 수": d.chunks,
             "추가한 날짜": common.local_time(d.added_at), "확인 필요한 쪽": common.flag_text(d.flagged_pages)}
            for d in documents]
    st.dataframe(rows, hide_index=True, width="stretch")
    flagged = [d for d in documents if d.flagged_pages]
    if flagged:
        st.warning("텍스트가 없거나(스캔·빈 쪽) 글자가 깨진 쪽은 색인하지 않았습니다. 스캔이라면 OCR이 필요합니다:  \n"
                   + "  \n".join(f"- {md(d.file_name)}: {md(common.flag_text(d.flagged_pages))}" for d in flagged),
                   icon=":material/warning:")


st.title("문서")
svc = common.require_services()
limit_mb = common.upload_limit_mb(svc.settings)

st.subheader("PDF 올리기")
common.korean_uploader(limit_mb)
domain = st.selectbox("도메인", ["", *DOMAINS], format_func=common.domain_label,
                      help="이번에 올리는 파일 모두에 적용됩니다. 질문할 때 도메인으로 거를 수 있습니다.")
files = st.file_uploader(f"PDF 파일을 여기로 끌어다 놓거나 찾아보기를 누르세요 "
                         f"(여러 개 가능, 파일당 최대 {limit_mb}MB)",
                         type=["pdf"], accept_multiple_files=True, key=uploader_key(), max_upload_size=limit_mb)
if st.button("색인하기", type="primary", disabled=not files, icon=":material/upload_file:"):
    st.session_state["ingest_results"] = ingest_uploads(svc, files, domain, limit_mb)
    clear_uploader()
    st.rerun()

results: list[FileResult] | None = st.session_state.get("ingest_results")
if results:
    st.markdown("##### 최근 올린 파일")
    common.show_results(results)

st.subheader("색인된 문서")
documents = svc.store.documents()
if not documents:
    st.info("아직 색인된 문서가 없습니다. 위에서 PDF를 올려 주세요.", icon=":material/inbox:")
    st.stop()
documents_table(documents)

by_id = {d.doc_id: d for d in documents}
chosen = st.multiselect("작업할 문서", list(by_id), format_func=lambda i: by_id[i].file_name, key="chosen_docs",
                        placeholder="삭제하거나 다시 색인할 문서를 고르세요")
c1, c2, _ = st.columns([1, 1, 4])
c1.button("삭제", disabled=not chosen, icon=":material/delete:", width="stretch", on_click=delete_documents,
          args=(svc, [by_id[i] for i in chosen]))
if c2.button("재색인", disabled=not chosen, icon=":material/refresh:", width="stretch"):
    st.session_state["ingest_results"] = reindex_documents(svc, [by_id[i] for i in chosen])
    st.rerun()
