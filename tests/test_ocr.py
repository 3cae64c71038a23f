"""OCR of scanned pages built here: Korean text drawn with a CJK font, rasterised, put on a page as its only content.

Real Tesseract (PyMuPDF + Debian's Hangul model) on small pages at 150 dpi, so each OCR call
takes a fraction of a second. The text layer of the page the image was rendered from gives
the ground truth: what was written and where.
"""

from __future__ import annotations

import difflib
import shutil
from concurrent.futures import ThreadPoolExecutor

import pymupdf
import pytest

from docqa.config import Settings
from docqa.errors import DocQAError, OcrUnavailableError
from ingest.ocr import OcrLine, ocr_page, ocr_status, plausible, raster_regions
from tests.conftest import eval_pdf

DPI = 150
LINES = ["대한민국 헌법 제1조 대한민국은 민주공화국이다.", "모든 국민은 법 앞에 평등하다.", "국회는 법률을 제정한다."]
LEFT = ["조기발병 대장암의 위험 요인은", "유전성 대장암 증후군과 가족력", "비만과 당뇨병 그리고 흡연이며",
        "선별 검사를 일찍 시작하는 것이", "예방에 가장 중요한 방법이다"]
RIGHT = ["당뇨병 환자는 대장암 발생의", "위험도가 일반 인구보다 높고", "아스피린 복용률이 높은 것으로",
         "나타났으며 스타틴 복용 여부도", "함께 조사하여 결과를 비교했다"]


@pytest.fixture(scope="module")
def ocr_settings() -> Settings:
    settings = Settings.from_env()
    available, reason = ocr_status(settings)
    assert available, reason  # the Debian packages are part of the setup (.ci/run installs them)
    return settings


def _scan(blocks: list[tuple[float, float, list[str]]], size: tuple[float, float], rotation: int = 0,
          scan_dpi: int = 200) -> tuple[pymupdf.Document, list[tuple[str, pymupdf.Rect]]]:
    """An image-only page showing `blocks` (x, y of the first baseline, lines) as displayed.

    Returns the document and the drawn lines with their rectangles in displayed coordinates.
    With `rotation` the page carries /Rotate and its image is stored turned the other way,
    so it still displays upright (as a scanner's rotated page does).
    """
    src = pymupdf.open()
    page = src.new_page(width=size[0], height=size[1])
    for x, y, lines in blocks:
        for line in lines:
            page.insert_text((x, y), line, fontname="korea", fontsize=12)
            y += 24
    truth = [(ln["spans"][0]["text"], pymupdf.Rect(ln["bbox"]))
             for b in page.get_text("dict")["blocks"] for ln in b["lines"]]
    pix = page.get_pixmap(dpi=scan_dpi, colorspace=pymupdf.csGRAY)
    out = pymupdf.open()
    if rotation in (90, 270):
        scanned = out.new_page(width=size[1], height=size[0])
    else:
        scanned = out.new_page(width=size[0], height=size[1])
    scanned.insert_image(scanned.rect, pixmap=pix, rotate=rotation)
    scanned.set_rotation(rotation)
    assert not scanned.get_text().strip()  # no text layer: only OCR can read it
    return out, truth


def _similar(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a.replace(" ", ""), b.replace(" ", ""), autojunk=False).ratio()


def _displayed(line: OcrLine, page: pymupdf.Page) -> pymupdf.Rect:
    return pymupdf.Rect(line.bbox) * page.rotation_matrix


def _inside(inner: pymupdf.Rect, outer: pymupdf.Rect, tol: float = 3.0) -> bool:
    return (inner.x0 >= outer.x0 - tol and inner.y0 >= outer.y0 - tol and inner.x1 <= outer.x1 + tol
            and inner.y1 <= outer.y1 + tol)


def test_scanned_page_text_and_rectangles(ocr_settings):
    doc, truth = _scan([(30, 40, LINES)], (360, 130))
    page = doc[0]
    lines = ocr_page(page, dpi=DPI, settings=ocr_settings)

    assert len(lines) == len(LINES)
    for line, (text, rect) in zip(lines, truth):
        assert _similar(line.text, text) >= 0.9, (line.text, text)
        assert line.text == line.text.strip() and "  " not in line.text
        assert _inside(pymupdf.Rect(line.bbox), rect)
        assert abs(line.bbox[0] - rect.x0) < 4 and line.bbox[2] > rect.x1 - 15  # spans the drawn line
        assert line.confidence == 1.0
        for word in line.words:
            assert _inside(pymupdf.Rect(word.bbox), pymupdf.Rect(line.bbox), tol=0.5)
        assert " ".join(w.text for w in line.words) == line.text
    # Word spaces come from the gaps between Tesseract's boxes (it splits most syllables apart).
    first = lines[0].text
    assert first.split()[:2] == ["대한민국", "헌법"], first
    assert "민주공화국이다." in first


def test_word_boxes_sit_over_their_words(ocr_settings):
    doc, _ = _scan([(30, 40, LINES)], (360, 130))
    src = pymupdf.open()
    page = src.new_page(width=360, height=130)
    for i, line in enumerate(LINES):
        page.insert_text((30, 40 + 24 * i), line, fontname="korea", fontsize=12)
    drawn = [(w[4], pymupdf.Rect(w[:4])) for w in page.get_text("words")]
    words = [w for ln in ocr_page(doc[0], dpi=DPI, settings=ocr_settings) for w in ln.words]
    found = 0
    for text, rect in drawn:
        same = [w for w in words if w.text == text]
        if same:
            found += 1
            box = pymupdf.Rect(min(same, key=lambda w: abs(w.bbox[0] - rect.x0)).bbox)
            assert box.intersect(rect).get_area() >= 0.6 * box.get_area(), (text, box, rect)
    assert found >= len(drawn) - 2, ([w[0] for w in drawn], [w.text for w in words])


def test_clip_reads_only_the_region_in_page_coordinates(ocr_settings):
    doc, truth = _scan([(30, 40, LINES[:1]), (30, 140, LINES[2:])], (360, 180))
    page = doc[0]
    clip = pymupdf.Rect(20, 110, 340, 170)
    lines = ocr_page(page, clip=clip, dpi=DPI, settings=ocr_settings)
    assert len(lines) == 1
    assert _similar(lines[0].text, LINES[2]) >= 0.9
    box, drawn = pymupdf.Rect(lines[0].bbox), truth[1][1]
    assert _inside(box, clip)
    # Tesseract's boxes on a lone line run a few points tall; the line is where it was drawn.
    assert abs(box.x0 - drawn.x0) < 4 and drawn.y0 < (box.y0 + box.y1) / 2 < drawn.y1


@pytest.mark.parametrize("rotation", [90, 270])
def test_rotated_page_boxes_are_unrotated_page_coordinates(ocr_settings, rotation):
    doc, truth = _scan([(30, 40, LINES)], (360, 130), rotation=rotation)
    page = doc[0]
    assert page.rotation == rotation
    lines = ocr_page(page, dpi=DPI, settings=ocr_settings)
    assert len(lines) == len(LINES)
    for line, (text, rect) in zip(lines, truth):
        assert _similar(line.text, text) >= 0.9
        # Stored like page.get_text's boxes: unrotated; shown where the line is displayed.
        assert _inside(_displayed(line, page), rect)
        assert pymupdf.Rect(line.bbox).height > pymupdf.Rect(line.bbox).width  # a vertical strip unrotated

    # A clip on a rotated page is in the same unrotated coordinates.
    clip = pymupdf.Rect(truth[2][1] + (-5, -5, 5, 5)) * page.derotation_matrix
    clipped = ocr_page(page, clip=clip, dpi=DPI, settings=ocr_settings)
    assert [_similar(ln.text, LINES[2]) >= 0.9 for ln in clipped] == [True]


def test_two_columns_read_left_column_first(ocr_settings):
    doc, _ = _scan([(30, 60, LEFT), (250, 60, RIGHT)], (440, 200))
    lines = ocr_page(doc[0], dpi=DPI, settings=ocr_settings)
    text = [ln.text for ln in lines]
    assert len(text) == len(LEFT) + len(RIGHT), text
    for got, want in zip(text, LEFT + RIGHT):
        assert _similar(got, want) >= 0.85, (got, want)


def test_two_threads_share_tesseract(ocr_settings):
    """MuPDF refuses a second concurrent Tesseract in one process; ocr_page takes turns."""
    doc, _ = _scan([(30, 40, LINES)], (360, 130))
    data = doc.tobytes()

    def read(_: int) -> str:
        with pymupdf.open(stream=data) as d:
            return " ".join(ln.text for ln in ocr_page(d[0], dpi=DPI, settings=ocr_settings))

    with ThreadPoolExecutor(2) as pool:
        texts = list(pool.map(read, range(2)))
    assert texts[0] == texts[1] and _similar(texts[0], " ".join(LINES)) >= 0.9


def test_blank_image_gives_no_lines(ocr_settings):
    doc = pymupdf.open()
    page = doc.new_page(width=200, height=100)
    pix = pymupdf.Pixmap(pymupdf.csGRAY, pymupdf.IRect(0, 0, 400, 200), 0)
    pix.clear_with(255)
    page.insert_image(page.rect, pixmap=pix)
    assert ocr_page(page, dpi=DPI, settings=ocr_settings) == []


def test_plausible_keeps_text_and_drops_what_tesseract_reads_in_rules_and_pictures():
    for text in ["대한민국은 민주공화국이다.", "다.", "2023. 8. 25.", "1/14", "J Korean Acad Fam Med Vol. 15",
                 "Blackwell Scientific Publications, 1990.", "gentamycin 안약 또는 0.3% tobramycin 안약"]:
        assert plausible(text), text
    for text in ["toons ma a fie i pe a ene |", "n nnnnnnn n n TEn", "mu m m m e", "=! 기", "e e e,", "W N", "“Os"]:
        assert not plausible(text), text


def test_unavailable_without_korean_model(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", tessdata=str(tmp_path))
    available, reason = ocr_status(settings)
    assert not available
    assert reason.startswith("OCR을 쓸 수 없습니다") and "tesseract-ocr-script-hang" in reason

    doc, _ = _scan([(30, 40, LINES[:1])], (360, 70))
    with pytest.raises(OcrUnavailableError) as err:
        ocr_page(doc[0], settings=settings)
    assert isinstance(err.value, DocQAError) and str(err.value) == reason


def test_unavailable_without_tessdata_folder_or_switched_off(tmp_path):
    available, reason = ocr_status(Settings(data_dir=tmp_path, tessdata=str(tmp_path / "missing")))
    assert not available and "문자 인식 데이터 폴더" in reason and "RAG_TESSDATA" in reason
    available, reason = ocr_status(Settings(data_dir=tmp_path, ocr=False))
    assert not available and "RAG_OCR" in reason


def test_falls_back_to_kor_when_hangul_model_is_missing(tmp_path, ocr_settings):
    source = ocr_settings.tessdata
    shutil.copy(f"{source}/kor.traineddata", tmp_path / "kor.traineddata")
    settings = Settings(data_dir=tmp_path / "data", tessdata=str(tmp_path))
    assert ocr_status(settings) == (True, "")
    doc, _ = _scan([(30, 40, LINES)], (360, 130))
    lines = ocr_page(doc[0], dpi=DPI, settings=settings)
    assert len(lines) == len(LINES)
    assert _similar(" ".join(ln.text for ln in lines), " ".join(LINES)) >= 0.8


def test_env_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("RAG_OCR", "off")
    monkeypatch.setenv("RAG_OCR_DPI", "240")
    monkeypatch.setenv("RAG_OCR_LANG", "kor")
    monkeypatch.setenv("RAG_TESSDATA", str(tmp_path))
    s = Settings.from_env()
    assert (s.ocr, s.ocr_dpi, s.ocr_lang, s.tessdata) == (False, 240, "kor", str(tmp_path))
    monkeypatch.delenv("RAG_TESSDATA")
    monkeypatch.setenv("TESSDATA_PREFIX", str(tmp_path / "prefix"))
    assert Settings.from_env().tessdata == str(tmp_path / "prefix")


def test_raster_regions_keeps_images_big_enough_for_text():
    doc = pymupdf.open()
    page = doc.new_page(width=400, height=600)
    big = pymupdf.Pixmap(pymupdf.csGRAY, pymupdf.IRect(0, 0, 300, 200), 0)
    big.clear_with(200)
    icon = pymupdf.Pixmap(pymupdf.csGRAY, pymupdf.IRect(0, 0, 20, 20), 0)
    icon.clear_with(100)
    page.insert_image(pymupdf.Rect(50, 300, 350, 500), pixmap=big)
    page.insert_image(pymupdf.Rect(10, 10, 30, 30), pixmap=icon)
    page.insert_image(pymupdf.Rect(100, 350, 200, 400), pixmap=icon)  # inside the big one
    page.insert_image(pymupdf.Rect(0, 0, 400, 60), pixmap=big)  # a banner in the top margin
    page.insert_text((50, 100), "본문 텍스트", fontname="korea")
    assert raster_regions(page) == [pymupdf.Rect(50, 300, 350, 500)]
    page.set_rotation(90)
    assert raster_regions(page) == [pymupdf.Rect(50, 300, 350, 500)]  # unrotated, like page.get_text

    # A page-size image under the page's own text (a background, or a scan with a text layer): its text is there.
    doc = pymupdf.open()
    page = doc.new_page(width=400, height=600)
    page.insert_image(page.rect, pixmap=big)
    for i in range(20):
        page.insert_text((40, 60 + 25 * i), "이미 텍스트 층에 있는 문장입니다. " * 2, fontname="korea", fontsize=10)
    assert raster_regions(page) == []


def test_real_scanned_court_ruling(ocr_settings):
    path = eval_pdf("law/당직 중 사적 행위의 공무수행성 여부.pdf")
    with pymupdf.open(path) as doc:
        page = doc[0]
        assert not page.get_text().strip()
        lines = ocr_page(page, settings=ocr_settings)
        text = "\n".join(ln.text for ln in lines)
        assert "순직유족급여불승인처분취소" in text.replace(" ", "")
        assert "원고의 청구를 기각한다" in text
        page_rect = page.rect
        for ln in lines:
            assert _inside(pymupdf.Rect(ln.bbox), page_rect)


def test_bench_metrics():
    from bench.ocr import edit_distance, space_counts

    assert edit_distance("대한민국", "대한민국") == 0
    assert edit_distance("대한민국", "대한국") == 1
    assert edit_distance("kitten", "sitting") == 3
    # (true, false, missed) word breaks on aligned characters
    assert space_counts("모든 국민은 법 앞에", "모든 국민은 법 앞에") == (3, 0, 0)
    assert space_counts("모든 국 민은 법앞에", "모든 국민은 법 앞에") == (2, 1, 1)
