"""문서: drop documents to index them (a job the worker runs), the table of indexed documents,
delete and re-index."""

from __future__ import annotations

import logging

import streamlit as st

from docqa.config import DOMAINS
from docqa.types import DocumentInfo, FileResult
from ingest.formats import SUPPORTED_SUFFIXES
from ui import common
from ui.render import md
from ui.resources import Services, upload_limit_mb

common.ensure_routed()

log = logging.getLogger(__name__)
MY_JOBS = "my_jobs"  # this session's submissions, newest first


def uploader_key() -> str:
    return f"uploads_{st.session_state.get('upload_round', 0)}"


def too_large(name: str, size: int, limit_mb: int) -> FileResult:
    reason = f"파일이 너무 큽니다 ({size / 2**20:.1f}MB, 한도 {limit_mb}MB). 올리지 않았습니다."
    return FileResult(name, "failed", message=f"'{name}': {reason}")


def submit_uploads(svc: Services, files: list, domain: str, limit_mb: int) -> None:
    """Spool the dropped files into a job (oversized ones are refused unread) and start the worker.
    Once this returns the files are on disk: leaving the page loses nothing."""
    refused = [too_large(f.name, f.size, limit_mb) for f in files if f.size > limit_mb * 2**20]
    accepted = [f for f in files if f.size <= limit_mb * 2**20]
    st.session_state["refused"] = refused
    if accepted:
        job_id = svc.queue.submit_uploads([(f.name, f.getvalue()) for f in accepted], domain)
        st.session_state[MY_JOBS] = [job_id, *st.session_state.get(MY_JOBS, [])][:10]
        svc.submit_worker()
    st.session_state["upload_round"] = st.session_state.get("upload_round", 0) + 1


def submit_documents(svc: Services, kind: str, docs: list[DocumentInfo]) -> None:
    """Button callback: delete or re-index the chosen documents (a job), and clear the choice."""
    job_id = svc.queue.submit_documents(kind, [(d.doc_id, d.file_name) for d in docs])
    st.session_state[MY_JOBS] = [job_id, *st.session_state.get(MY_JOBS, [])][:10]
    st.session_state["chosen_docs"] = []
    svc.submit_worker()


def recent_jobs(svc: Services) -> None:
    """What happened to this session's submissions (running ones show their progress in the sidebar)."""
    refused: list[FileResult] = st.session_state.get("refused", [])
    jobs = [j for j in (svc.queue.job(i) for i in st.session_state.get(MY_JOBS, [])[:3]) if j is not None]
    if not refused and not jobs:
        return
    st.markdown("##### 최근 작업")
    common.show_results(refused)
    for job in jobs:
        common.show_job(job)


def documents_table(documents: list[DocumentInfo]) -> None:
    rows = [{"이름": common.document_label(d, documents), "형식": common.FORMAT_LABELS.get(d.format, d.format),
             "도메인": common.domain_label(d.domain), "쪽수": d.pages, "조각 수": d.chunks,
             "추가한 날짜": common.local_time(d.added_at), "확인 필요한 쪽": common.flag_text(d.flagged_pages)}
            for d in documents]
    st.dataframe(rows, hide_index=True, width="stretch")
    flagged = [d for d in documents if d.flagged_pages]
    if flagged:
        st.warning("텍스트를 읽지 못한 쪽(스캔·빈 쪽·깨진 글자)은 색인하지 않았습니다:  \n"
                   + "  \n".join(f"- {md(d.file_name)}: {md(common.flag_text(d.flagged_pages))}" for d in flagged),
                   icon=":material/warning:")


st.title("문서")
svc = common.require_services()
limit_mb = upload_limit_mb(svc.settings, int(st.get_option("server.maxUploadSize")))

st.subheader("문서 올리기")
common.korean_uploader(limit_mb)
domain = st.selectbox("도메인", ["", *DOMAINS], format_func=common.domain_label,
                      help="이번에 올리는 파일 모두에 적용됩니다. 질문할 때 도메인으로 거를 수 있습니다.")
files = st.file_uploader(f"PDF·HWP·HWPX 파일을 여기로 끌어다 놓거나 찾아보기를 누르세요 "
                         f"(여러 개 가능, 파일당 최대 {limit_mb}MB)",
                         type=[s.lstrip(".") for s in SUPPORTED_SUFFIXES], accept_multiple_files=True,
                         key=uploader_key(), max_upload_size=limit_mb)
st.button("색인하기", type="primary", disabled=not files, icon=":material/upload_file:", on_click=submit_uploads,
          args=(svc, files or [], domain, limit_mb))
st.caption("색인은 서버에서 따로 진행되므로 다른 페이지로 가거나 창을 닫아도 계속됩니다. 진행 상황은 왼쪽에 보입니다.")
recent_jobs(svc)

st.subheader("색인된 문서")
documents = svc.store.documents()
if not documents:
    st.info("아직 색인된 문서가 없습니다. 위에서 문서를 올려 주세요.", icon=":material/inbox:")
    st.stop()
documents_table(documents)

by_id = {d.doc_id: d for d in documents}
chosen = st.multiselect("작업할 문서", list(by_id), format_func=lambda i: common.document_label(by_id[i], documents),
                        key="chosen_docs", placeholder="삭제하거나 다시 색인할 문서를 고르세요")
c1, c2, _ = st.columns([1, 1, 4])
c1.button("삭제", disabled=not chosen, icon=":material/delete:", width="stretch", on_click=submit_documents,
          args=(svc, "delete", [by_id[i] for i in chosen]))
c2.button("재색인", disabled=not chosen, icon=":material/refresh:", width="stretch", on_click=submit_documents,
          args=(svc, "reindex", [by_id[i] for i in chosen]))
