"""Shared Streamlit pieces: routing, waiting for the resources, the sidebar with the job panel, widgets."""

from __future__ import annotations

import logging
import runpy
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import streamlit as st

from answer import llm_status
from docqa.config import DOMAIN_LABELS
from docqa.types import DocumentInfo, FileResult
from ingest.jobs import ACTIVE, JobView
from ingest.pipeline import STAGE_LABELS
from retrieval.rerank import SentenceReranker
from ui import render
from ui.render import md
from ui.resources import Loader, Services, job_queue, loader

log = logging.getLogger(__name__)

APP = Path(__file__).resolve().parents[1] / "app.py"
SOURCE_LABELS = {"local": "로컬 폴더", "cache": "로컬 캐시", "hub": "허브에서 받음", "offline": "오프라인 모델"}
STATUS_ICONS = {"indexed": ":material/check_circle:", "replaced": ":material/sync:",
                "skipped": ":material/content_copy:", "failed": ":material/error:", "deleted": ":material/delete:",
                "cancelled": ":material/cancel:"}
FLAG_LABELS = {"scanned": "스캔", "garbled": "깨진 글자", "empty": "빈 쪽"}
FORMAT_LABELS = {"pdf": "PDF", "hwp": "HWP", "hwpx": "HWPX"}
_WAIT_S = 120.0


# --- routing --------------------------------------------------------------------------
_routing = threading.local()


@contextmanager
def routed() -> Iterator[None]:
    """Marks the page run started by app.py's st.navigation (see ensure_routed)."""
    _routing.depth = getattr(_routing, "depth", 0) + 1
    try:
        yield
    finally:
        _routing.depth -= 1


def ensure_routed() -> None:
    """Run this page through app.py when Streamlit started it directly.

    Streamlit 1.67 treats a `pages/` folder as a legacy multipage app until the first
    `st.navigation` call of the process: a deep link (/documents) as the very first request
    runs `pages/documents.py` by itself, without app.py's router and sidebar. Running app.py
    instead installs the router for the rest of the process.
    """
    if getattr(_routing, "depth", 0):
        return
    runpy.run_path(str(APP), run_name="__main__")
    st.stop()


# --- resources ------------------------------------------------------------------------
def wait_for_resources() -> Loader:
    """Wait for this process's resources, showing what is loading. The wait only polls (the load
    runs in its own thread), so a click elsewhere interrupts it at once and loses nothing."""
    ld = loader()
    ld.retry()
    if ld.state == "loading":
        note = st.empty()
        started = time.monotonic()
        while ld.state == "loading" and time.monotonic() - started < _WAIT_S:
            note.info(f"{ld.step}… (처음 한 번만 걸립니다)", icon=":material/hourglass_top:")
            ld.wait(0.25)
        note.empty()
    return ld


def require_services() -> Services:
    """The services, or a Korean explanation (with a re-index offer on a model mismatch) followed
    by st.stop()."""
    ld = wait_for_resources()
    if ld.state == "ready" and ld.services is not None:
        return ld.services
    if ld.state == "mismatch":
        st.error(md(ld.error))
        offer_reindex(ld)
    elif ld.state == "failed":
        st.error(md(ld.error) or "자원을 불러오지 못했습니다. 로그를 확인하세요.")
    else:
        st.warning("준비가 아직 끝나지 않았습니다. 잠시 뒤 다시 열어 주세요.")
    st.stop()
    raise AssertionError("unreachable")


def offer_reindex(ld: Loader) -> None:
    """The "재색인" button: a job that rebuilds the index from the stored files beside the old one."""
    st.caption("재색인은 저장해 둔 원본 파일로 색인을 현재 모델·설정에 맞게 새로 만든 뒤 바꿔 씁니다. "
               "문서가 많으면 시간이 걸리며, 진행 상황은 왼쪽에 보입니다.")
    queue = job_queue(ld.settings)
    if st.button("재색인", type="primary", key="reindex_all"):
        queue.submit_reindex_all()
        from ingest.worker import ensure_worker

        ensure_worker(ld.settings)
        st.rerun()


# --- sidebar ---------------------------------------------------------------------------
def sidebar() -> None:
    """Active models, store location and counts, and the job panel; shown on every page."""
    ld = loader()
    with st.sidebar:
        st.markdown("#### 모델과 색인")
        embedder = ld.embedder
        if embedder is None:
            st.caption(md(ld.step) + "…" if ld.state == "loading" else md(ld.error))
        else:
            choice = embedder.choice
            name = Path(choice.model_id).name if choice.source == "local" else choice.model_id
            st.markdown(f"**임베딩 모델**  \n{md(name)}")
            st.caption(f"{md(SOURCE_LABELS.get(choice.source, choice.source))} · {md(choice.reason)}"
                       if choice.source != "local" else md(choice.reason))
            if choice.is_fallback:
                st.caption(":material/warning: 설정한 모델 대신 오프라인 대체 모델을 쓰고 있습니다.")
            encoder = getattr(embedder, "encoder_choice", None)
            if encoder is not None:
                st.markdown(f"**실행 방식**  \n{md(encoder.summary())}")
        svc = ld.services
        if svc is not None and svc.searcher.reranker is not None:
            reranker = svc.searcher.reranker
            st.markdown(f"**재순위 모델**  \n{md(reranker.name)}")
            if isinstance(reranker, SentenceReranker):
                st.caption("교차 인코더가 없어, 임베딩 모델로 후보의 핵심 문장을 다시 비교합니다 (오프라인).")
        elif svc is not None:
            st.markdown("**재순위 모델**  \n없음 (하이브리드 점수 순)")
        settings = ld.settings
        st.markdown(f"**답변 생성 모델**  \n{md(llm_status(settings))}")
        if settings.chroma_host:
            st.markdown(f"**저장소**  \nChroma 서버 · {md(settings.chroma_host)}")
        else:
            st.markdown(f"**저장소**  \n내장 Chroma  \n{md(str(settings.chroma_dir))}")
        if svc is not None:
            index = svc.searcher.index
            index.refresh()
            c1, c2 = st.columns(2)
            c1.metric("문서", f"{len(index.docs):,}")
            c2.metric("조각", f"{index.live_count():,}")
        jobs_panel()


@st.fragment(run_every=2.0)
def jobs_panel() -> None:
    """Running ingest jobs with progress, refreshed every 2 s on every page; when one finishes the
    page reruns so lists and counts follow."""
    queue = job_queue()
    active = queue.jobs(limit=5, active_only=True)
    running = {j.id for j in active}
    before = st.session_state.get("_active_jobs", set())
    st.session_state["_active_jobs"] = running
    if before - running:
        ld = loader()
        if ld.services is not None:
            ld.services.searcher.index.refresh(force=True)
        st.rerun(scope="app")
    if not active:
        return
    st.markdown("#### 진행 중인 작업")
    for job in active:
        st.progress(job.progress, text=f"{md(job.label)} · {job.done}/{len(job.files)}")
        current = next((f for f in job.files if f.state == "running"), None)
        if current is not None:
            st.caption(f"{md(current.name)} · {md(STAGE_LABELS.get(current.stage, current.stage or '대기'))}")
        if not job.cancelled and job.kind == "ingest":
            st.button("취소", key=f"cancel_{job.id}", on_click=queue.cancel, args=(job.id,), type="tertiary",
                      icon=":material/cancel:")


# --- shared widgets -------------------------------------------------------------------
def domain_label(domain: str) -> str:
    return DOMAIN_LABELS.get(domain, domain) if domain else "미지정"


def flag_text(flagged_pages: str) -> str:
    """ "3:scanned,4:garbled" -> "3쪽 스캔, 4쪽 깨진 글자"."""
    parts = []
    for item in filter(None, flagged_pages.split(",")):
        page, _, status = item.partition(":")
        parts.append(f"{page}쪽 {FLAG_LABELS.get(status, status)}")
    return ", ".join(parts)


def document_label(doc: DocumentInfo, documents: list[DocumentInfo]) -> str:
    """The file name, with the end of its folder path when another document has the same name."""
    if sum(d.file_name == doc.file_name for d in documents) < 2:
        return doc.file_name
    folder = Path(doc.source).parent
    where = "/".join(folder.parts[-2:]) if folder.parts else ""
    return f"{doc.file_name} ({where or '올린 파일'})"


def local_time(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


def korean_uploader(limit_mb: int) -> None:
    """Korean captions for the file uploader's built-in English button and hint (CSS only)."""
    st.markdown(f"""<style>
[data-testid=stFileUploaderDropzone] button [data-testid=stMarkdownContainer] p {{ font-size: 0; }}
[data-testid=stFileUploaderDropzone] button [data-testid=stMarkdownContainer] p::after {{
  content: "파일 찾기"; font-size: 0.875rem; }}
[data-testid=stFileUploaderDropzoneInstructions] span {{ font-size: 0; }}
[data-testid=stFileUploaderDropzoneInstructions] span::after {{
  content: "또는 여기로 끌어다 놓기 · 파일당 최대 {int(limit_mb)}MB"; font-size: 0.875rem; }}
</style>""", unsafe_allow_html=True)


def show_results(results: list[FileResult]) -> None:
    """One line per file: indexed (pages, chunks), skipped as a duplicate, or failed with the reason."""
    for f in results:
        icon = STATUS_ICONS.get(f.status, "")
        if f.status == "failed":
            st.error(md(f.message), icon=icon)
        elif f.status in ("skipped", "deleted", "cancelled"):
            st.info(md(f.message or f"'{f.file_name}': 취소했습니다."), icon=icon)
        elif f.status in ACTIVE:
            continue
        else:
            st.success(md(f.message), icon=icon)
        for warning in f.warnings:
            st.warning(f"{md(f.file_name)}: {md(warning)}", icon=":material/warning:")


def show_job(job: JobView) -> None:
    """A finished (or running) job's per-file outcome."""
    show_results([f.result() for f in job.files if f.state not in ACTIVE])
    waiting = [f for f in job.files if f.state in ACTIVE]
    if waiting:
        st.caption(f"처리 중 {len(waiting)}개: " + md(", ".join(f.name for f in waiting[:5]))
                   + (" …" if len(waiting) > 5 else ""))


@st.cache_data(show_spinner=False, max_entries=256)
def page_image(doc_id: str, pdf_path: str, page: int, rects: tuple, sentences: tuple[str, ...]) -> bytes:
    """Cached PNG of a page with the passage highlighted (keyed by document, page, rects and sentences)."""
    return render.page_png(pdf_path, page, rects, sentences)
