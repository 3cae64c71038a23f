"""Cited passage cards: rank, document, page, the passage (text with its key sentences marked, or a
table as a table), OCR and page-image notes, the highlighted page image and downloads."""

from __future__ import annotations

import html
from functools import partial
from pathlib import Path

import streamlit as st

from answer import citation
from docqa.types import Hit
from ui import common, render
from ui.render import md
from ui.resources import Services

CSS = """<style>
.passage { line-height: 1.6; font-size: 0.95rem; }
.passage .gap { display: block; height: 0.45em; }
.passage mark { background: #ffe066; padding: 0.05em 0.15em; border-radius: 0.2em; }
.table-wrap { overflow-x: auto; }
.table-wrap table { border-collapse: collapse; font-size: 0.88rem; margin: 0.2rem 0; }
.table-wrap caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: 0.2rem; }
.table-wrap th, .table-wrap td { border: 1px solid #d0d4da; padding: 0.2rem 0.45rem; vertical-align: top; }
.table-wrap th { background: #f2f4f7; }
.card-head { font-size: 1.02rem; margin-bottom: 0.25rem; }
.card-head .meta { color: #555; font-size: 0.9rem; }
</style>"""
MIME = {"hwp": "application/x-hwp", "hwpx": "application/hwp+zip", "pdf": "application/pdf"}


def pages_label(hit: Hit) -> str:
    c = hit.chunk
    return f"{c.page_start}쪽" if c.page_start == c.page_end else f"{c.page_start}–{c.page_end}쪽"


def card_head(rank: int, hit: Hit) -> str:
    """Rank, document, page, domain and score as safe HTML (the file name is escaped); the anchor
    `card-<rank>` is where an answer's citation [rank] jumps to."""
    c = hit.chunk
    esc = html.escape
    kind = {"table": " · 표", "figure": " · 그림"}.get(c.kind, "")
    return (f'<div class="card-head" id="card-{rank}"><b>[{rank}] {esc(c.file_name)}</b> '
            f'<span class="meta">· {esc(pages_label(hit))}{kind} · {esc(common.domain_label(c.domain))} '
            f'· 점수 {hit.score:.3f}</span></div>')


def passage_body(hit: Hit) -> str:
    c = hit.chunk
    if c.kind == "table" and c.table is not None:
        return render.table_html(c.table)
    return render.passage_html(c.text, hit.key_sentences)


def passage_card(rank: int, hit: Hit, svc: Services) -> None:
    c = hit.chunk
    with st.container(border=True, key=f"card_{rank}"):
        st.markdown(card_head(rank, hit), unsafe_allow_html=True)
        if c.heading:
            st.caption(md(c.heading))
        st.markdown(passage_body(hit), unsafe_allow_html=True)
        if c.ocr:
            st.caption(":material/document_scanner: 이미지에서 글자를 인식(OCR)한 내용입니다. "
                       "인식 오류가 있을 수 있습니다.")
        st.code(citation(hit), language=None)  # one click copies it (the code block's copy button)
        info = svc.store.document(c.doc_id)
        printable = svc.store.page_pdf_path(c.doc_id)
        if info is not None and not info.page_images:
            st.caption("이 문서는 쪽 배치를 그릴 수 없어 텍스트만 색인했습니다. 쪽 이미지는 없습니다.")
        elif not printable.exists():
            st.caption("원본 파일이 이 컴퓨터에 저장되어 있지 않아 쪽 이미지를 보여 줄 수 없습니다.")
        else:
            for page in c.pages:
                with st.expander(f"{page}쪽 이미지 보기 (근거 위치 강조)"):
                    png = common.page_image(c.doc_id, str(printable), page, c.rects, hit.key_sentences)
                    st.image(png, caption=f"{page}쪽 · 노란색: 핵심 문장, 파란색: 인용 구절", width=820)
        cols = st.columns(2)
        if printable.exists():
            cols[0].download_button("이 쪽만 PDF로 받기", data=partial(render.page_pdf, str(printable), c.page_start),
                                    file_name=render.download_name(c.file_name, c.page_start), mime="application/pdf",
                                    on_click="ignore", key=f"dl_page_{rank}", icon=":material/description:")
        original = svc.store.original_path(c.doc_id, info.format if info else None)
        if original.exists():
            mime = MIME.get(info.format if info else "pdf") or "application/octet-stream"
            cols[1].download_button("원본 문서 받기", data=partial(Path(original).read_bytes),
                                    file_name=render.download_name(c.file_name), mime=mime,
                                    on_click="ignore", key=f"dl_doc_{rank}", icon=":material/download:")
