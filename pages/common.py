"""Shared UI pieces: the heavy resources (created once per process), the sidebar, progress bars.

Not a page itself (app.py registers pages explicitly with st.navigation).
"""

from __future__ import annotations

import logging
import runpy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import streamlit as st

from docqa.config import DOMAIN_LABELS, Settings
from docqa.errors import DocQAError, ModelMismatchError
from docqa.models import Embedder
from docqa.services import load_embedder, open_store
from docqa.store import Store
from docqa.types import FileResult
from ingest.pipeline import STAGE_LABELS, Ingestor, Progress
from pages import render
from pages.render import md
from retrieval.rerank import SentenceReranker, load_reranker
from retrieval.search import Searcher

log = logging.getLogger(__name__)

APP = Path(__file__).resolve().parents[1] / "app.py"
SOURCE_LABELS = {"local": "로컬 폴더", "cache": "로컬 캐시", "hub": "허브에서 받음", "offline": "오프라인 모델"}
STATUS_ICONS = {"indexed": ":material/check_circle:", "replaced": ":material/sync:",
                "skipped": ":material/content_copy:", "failed": ":material/error:", "deleted": ":material/delete:"}
FLAG_LABELS = {"scanned": "스캔", "garbled": "깨진 글자", "empty": "빈 쪽"}


@dataclass(frozen=True)
class Services:
    """Everything a page needs; one instance per process, shared by all sessions."""

    settings: Settings
    embedder: Embedder
    store: Store
    searcher: Searcher
    ingestor: Ingestor


def current_settings() -> Settings:
    return Settings.from_env()


def _embedder_key(settings: Settings) -> tuple[str, ...]:
    # A local model folder doesn't depend on the data dir; anything else may be built under it.
    if Path(settings.embed_model).expanduser().is_dir():
        return (settings.embed_model,)
    return (settings.embed_model, str(settings.models_dir))


@st.cache_resource(show_spinner="임베딩 모델을 불러오는 중입니다… (처음 한 번만 걸립니다)")
def _embedder(key: tuple[str, ...], _settings: Settings) -> Embedder:
    return load_embedder(_settings)


@st.cache_resource(show_spinner="재순위 모델을 확인하는 중입니다…")
def _reranker(key: tuple[str, ...], _settings: Settings, _embedder: Embedder):
    return load_reranker(_settings, _embedder)


@st.cache_resource(show_spinner="색인을 여는 중입니다…")
def _services(key: str, _settings: Settings) -> Services:
    embedder = embedder_for(_settings)
    store = open_store(_settings, embedder)
    reranker = _reranker((_settings.reranker, *_embedder_key(_settings)), _settings, embedder)
    searcher = Searcher.from_services(store, embedder, _settings, reranker=reranker)
    return Services(_settings, embedder, store, searcher, Ingestor(store, embedder, _settings))


def embedder_for(settings: Settings) -> Embedder:
    """The process-wide embedder for these settings (loaded on first use)."""
    return _embedder(_embedder_key(settings), settings)


def services(settings: Settings | None = None) -> Services:
    """The process-wide services; raises ModelMismatchError when the index was built otherwise."""
    settings = settings or current_settings()
    return _services(repr(settings), settings)


def require_services() -> Services:
    """The services, or a Korean explanation (and a re-index offer) followed by st.stop()."""
    settings = current_settings()
    try:
        svc = services(settings)
    except ModelMismatchError as err:
        st.error(str(err))
        offer_reindex(settings)
        st.stop()
    except DocQAError as err:
        st.error(str(err))
        st.stop()
    done = st.session_state.pop("reindex_results", None)
    if done is not None:
        st.success(f"재색인을 마쳤습니다. 문서 {sum(f.status != 'failed' for f in done)}개를 다시 색인했습니다.")
        show_results(done)
    return svc


def offer_reindex(settings: Settings) -> None:
    """The "재색인" button: rebuild the index from the stored files with the current model."""
    st.caption("재색인은 저장해 둔 원본 PDF로 색인을 현재 모델·설정에 맞게 다시 만듭니다. "
               "문서가 많으면 시간이 걸립니다.")
    if not st.button("재색인", type="primary", key="reindex_all"):
        return
    embedder = embedder_for(settings)
    store = open_store(settings, embedder, check=False)
    names = [d.file_name for d in store.documents()]
    report = Ingestor(store, embedder, settings).reindex(progress=BatchProgress(names))
    st.session_state["reindex_results"] = report.files
    _services.clear()
    st.rerun()


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

    With a `pages/` folder present, Streamlit 1.67 wraps the app in its legacy
    multipage runner, which executes `pages/<name>.py` by itself for a deep link
    (/documents) and for some reruns, skipping app.py: no sidebar, and a navigation
    listing every module. Running app.py instead restores the real router.
    """
    if getattr(_routing, "depth", 0):
        return
    runpy.run_path(str(APP), run_name="__main__")
    st.stop()


# --- sidebar ---------------------------------------------------------------------------
def sidebar() -> None:
    """Active models, store location and counts; shown on every page."""
    settings = current_settings()
    try:
        embedder = embedder_for(settings)
    except Exception:  # noqa: BLE001 - shown to the user, trace logged
        log.exception("could not load the embedding model")
        st.error("임베딩 모델을 불러오지 못했습니다. 로그를 확인하세요.")
        st.stop()
    try:
        svc: Services | None = services(settings)
    except DocQAError:
        svc = None  # the page explains it
    choice = embedder.choice
    with st.sidebar:
        st.markdown("#### 모델과 색인")
        name = Path(choice.model_id).name if choice.source == "local" else choice.model_id
        st.markdown(f"**임베딩 모델**  \n{md(name)}")
        st.caption(f"{md(SOURCE_LABELS.get(choice.source, choice.source))} · {md(choice.reason)}"
                   if choice.source != "local" else md(choice.reason))
        if choice.is_fallback:
            st.caption(":material/warning: 설정한 모델 대신 오프라인 대체 모델을 쓰고 있습니다.")
        if svc is not None and svc.searcher.reranker is not None:
            reranker = svc.searcher.reranker
            st.markdown(f"**재순위 모델**  \n{md(reranker.name)}")
            if isinstance(reranker, SentenceReranker):
                st.caption("교차 인코더가 없어, 임베딩 모델로 후보의 핵심 문장을 다시 비교합니다 (오프라인).")
        else:
            st.markdown("**재순위 모델**  \n없음 (하이브리드 점수 순)")
        if settings.chroma_host:
            st.markdown(f"**저장소**  \nChroma 서버 · {md(settings.chroma_host)}")
        else:
            st.markdown(f"**저장소**  \n내장 Chroma  \n{md(str(settings.chroma_dir))}")
        if svc is None:
            st.caption("색인을 열지 못했습니다.")
            return
        c1, c2 = st.columns(2)
        c1.metric("문서", f"{len(svc.store.doc_ids()):,}")
        c2.metric("조각", f"{svc.store.count_chunks():,}")


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


def local_time(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


def upload_limit_mb(settings: Settings) -> int:
    """Per-file upload limit: server.maxUploadSize and RAG_MAX_FILE_MB should agree; the lower one wins."""
    server = int(st.get_option("server.maxUploadSize"))
    if server != settings.max_file_mb:
        log.warning("server.maxUploadSize=%s MB but RAG_MAX_FILE_MB=%s MB; using the lower", server,
                    settings.max_file_mb)
    return min(server, settings.max_file_mb)


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


# Share of a file's bar taken by each stage (embedding dominates).
_STAGE_SPAN = {"read": (0.0, 0.05), "parse": (0.05, 0.30), "chunk": (0.30, 0.35), "embed": (0.35, 0.85),
               "lexical": (0.85, 0.90), "store": (0.90, 1.0), "done": (1.0, 1.0)}


class BatchProgress:
    """Progress bars for an ingest batch: one overall, one per file (callable as the progress callback)."""

    def __init__(self, names: list[str]):
        self.names = list(names)
        self.overall = st.progress(0.0, text=f"전체 0/{len(self.names)}개 파일")
        self.box = st.container()
        self.bars = {i: self.box.progress(0.0, text=f"{md(n)} · 대기 중") for i, n in enumerate(self.names)}
        self._last: dict[int, tuple[str, int]] = {}

    def __call__(self, p: Progress) -> None:
        a, b = _STAGE_SPAN.get(p.stage, (0.0, 0.0))
        share = min(1.0, a + (b - a) * max(0.0, min(1.0, p.fraction)))
        shown = (p.stage, int(share * 100))
        if self._last.get(p.index) == shown:  # embedding reports often; redraw only on a visible change
            return
        self._last[p.index] = shown
        label = STAGE_LABELS.get(p.stage, p.stage)
        if p.stage == "embed":
            label += f" {int(p.fraction * 100)}%"
        if p.index not in self.bars:
            self.bars[p.index] = self.box.progress(0.0)
        self.bars[p.index].progress(share, text=f"{md(p.file_name)} · {label}")
        done = p.index + (1 if p.stage == "done" else 0)
        self.overall.progress(min(1.0, (p.index + share) / max(p.total, 1)),
                              text=f"전체 {done}/{p.total}개 파일 · {md(p.file_name)} {label}")


def show_results(results: list[FileResult]) -> None:
    """One line per file: indexed (pages, chunks), skipped as a duplicate, or failed with the reason."""
    for f in results:
        icon = STATUS_ICONS.get(f.status, "")
        if f.status == "failed":
            st.error(md(f.message), icon=icon)
        elif f.status in ("skipped", "deleted"):
            st.info(md(f.message), icon=icon)
        else:
            st.success(md(f.message), icon=icon)
        for warning in f.warnings:
            st.warning(f"{md(f.file_name)}: {md(warning)}", icon=":material/warning:")


@st.cache_data(show_spinner=False, max_entries=256)
def page_image(doc_id: str, pdf_path: str, page: int, rects: tuple, sentences: tuple[str, ...]) -> bytes:
    """Cached PNG of a page with the passage highlighted (keyed by document, page, rects and sentences)."""
    return render.page_png(pdf_path, page, rects, sentences)
