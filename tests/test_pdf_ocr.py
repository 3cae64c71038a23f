"""OCR inside PDF parsing: a scanned page and a chart pasted as a picture, built by the tests and read
by the real Tesseract (Debian's Hangul model through PyMuPDF); the OCR-unavailable path; the OCR
stage of an ingest."""

from __future__ import annotations

import difflib
import re

import pytest

from docqa.config import Settings
from ingest.chunk import Chunker
from ingest.ocr import ocr_status
from ingest.parse import parse_pdf
from ingest.pipeline import Ingestor
from tests import pdfs


@pytest.fixture(scope="module")
def ocr_settings() -> Settings:
    settings = Settings.from_env()
    available, reason = ocr_status(settings)
    assert available, reason  # .ci/run installs Tesseract's Korean models
    return settings


def similar(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, re.sub(r"\s", "", a), re.sub(r"\s", "", b)).ratio()


def test_scanned_page_is_read_with_its_rectangles(ocr_settings, embedder):
    doc = parse_pdf(pdfs.scanned_text_pdf(), "스캔.pdf", settings=ocr_settings)
    assert doc.flagged_pages == {} and doc.notes == ()
    assert doc.seconds["ocr"] > 0
    text_page, scan = doc.pages
    assert all(b.source == "text" for b in text_page.blocks)
    assert scan.status == "ok" and scan.blocks and all(b.source == "ocr" for b in scan.blocks)
    # Each drawn line comes back (OCR may split a word), in its own place on the page.
    for i, line in enumerate(pdfs.SCANNED_LINES):
        block = max(scan.blocks, key=lambda b: similar(b.text, line))
        assert similar(block.text, line) >= 0.85, (line, block.text)
        x0, y0, x1, y1 = block.bbox
        baseline = 120 + i * 40  # tests/pdfs.scanned_text_pdf: 20 pt text from (72, baseline)
        assert abs(x0 - pdfs.MARGIN) <= 6 and y0 <= baseline <= y1 + 4 and y1 - y0 < 40
    chunks = Chunker.for_embedder(embedder, 256, 0).chunk(doc)
    assert [c.ocr for c in chunks] == [False, True]
    assert all(r[0] == 2 for r in chunks[1].rects)


def test_chart_pasted_as_a_picture_is_read_into_its_figure(ocr_settings, embedder):
    doc = parse_pdf(pdfs.raster_chart_pdf(), "그림.pdf", settings=ocr_settings)
    blocks = doc.pages[0].blocks
    assert [b.kind for b in blocks] == ["text", "figure"]
    figure = blocks[1]
    assert figure.source == "ocr" and figure.text.splitlines()[0] == pdfs.CHART_CAPTION
    for label in pdfs.CHART_LABELS:  # numbers exactly, words nearly (OCR)
        number = label.split()[-1]
        assert number in figure.text
    assert "쿠팡" in figure.text
    x0, y0, x1, y1 = figure.bbox  # the picture (and its caption) for the highlight
    assert (x0, x1, y1) == pytest.approx((100, 460, 440), abs=1) and y0 < 200
    (chunk,) = [c for c in Chunker.for_embedder(embedder, 256, 0).chunk(doc) if c.kind == "figure"]
    assert chunk.ocr and chunk.rects == ((1, *figure.bbox),)


def test_without_ocr_data_the_parse_succeeds_and_says_why(tmp_path):
    settings = Settings(data_dir=tmp_path, tessdata=str(tmp_path / "no-tessdata"))
    doc = parse_pdf(pdfs.scanned_text_pdf(), "스캔.pdf", settings=settings)
    assert doc.flagged_pages == {2: "scanned"} and doc.pages[0].text
    (note,) = doc.notes
    assert "OCR을 사용할 수 없어" in note and "2쪽" in note and "tesseract-ocr-script-hang" in note
    assert "ocr" not in doc.seconds
    pictured = parse_pdf(pdfs.raster_chart_pdf(), "그림.pdf", settings=settings)
    assert [b.kind for b in pictured.pages[0].blocks] == ["text", "text"]  # the caption stays text
    assert "그림 속 글자는 읽지 않았습니다" in pictured.notes[0]


def test_ocr_switched_off_flags_scans_without_a_note(tmp_path):
    doc = parse_pdf(pdfs.scanned_text_pdf(), "스캔.pdf", settings=Settings(data_dir=tmp_path, ocr=False))
    assert doc.flagged_pages == {2: "scanned"} and doc.notes == () and doc.seconds == {}


def test_ingest_reports_ocr_as_its_own_stage(ocr_settings, store, embedder, settings):
    from dataclasses import replace

    ingestor = Ingestor(store, embedder, replace(settings, ocr=True, tessdata=ocr_settings.tessdata))
    seen = []
    report = ingestor.ingest([("스캔.pdf", pdfs.scanned_text_pdf())], progress=seen.append)
    (result,) = report.files
    assert result.status == "indexed" and result.warnings == ()
    assert report.seconds["ocr"] > 0 and report.seconds["parse"] > 0
    ocr_progress = [p.fraction for p in seen if p.stage == "ocr"]
    assert ocr_progress and ocr_progress[-1] == 1.0
    stored = [c for c in store.all_chunks() if c.doc_id == result.doc_id]
    assert any(c.ocr and c.page_start == 2 for c in stored)
