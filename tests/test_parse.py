"""ingest.parse on PDFs built by tests/pdfs.py and on the real PDFs of ../shared/eval."""

from __future__ import annotations

import hashlib
import re
import unicodedata

import pymupdf
import pytest

from docqa.errors import (
    CorruptPDFError,
    EmptyFileError,
    EncryptedPDFError,
    IngestError,
    NoPagesError,
    NotPDFError,
)
from ingest.parse import parse_pdf, parse_pdf_path
from ingest.pdf.glyphs import clean as _clean
from tests import pdfs
from tests.conftest import eval_pdf  # ../shared/eval/pdfs/<relative>, or a skip when it is missing

# The 7 eval PDFs whose Korean word spaces plain PyMuPDF extraction loses (spaces per Hangul
# syllable 0.01-0.16 where text normally has about 0.3; poppler's pdftotext keeps them).
UNSPACED = [
    "commerce/01_MezzoMedia_Industrial_Report_ecommerce.pdf",
    "public/2023_2027 국가재정운용계획 주요내용.pdf",
    "medical/jkan-38-140.pdf",
    "medical/눈건강+관리를+위한+9대+생활수칙.pdf",
    "medical/20080813_E_2.pdf",
    "public/240418 도로터널 결로대책 가이드라인(최종).pdf",
    "public/전문교육기관ㆍ항공훈련기관 지정ㆍ인가 및 안전관리 현황__.pdf",
]


def space_ratio(text: str) -> float:
    """Spaces per Hangul syllable (about 0.3 in ordinary Korean prose)."""
    hangul = sum(1 for ch in text if "\uac00" <= ch <= "\ud7a3")
    return text.count(" ") / max(hangul, 1)


def hangul(text: str) -> bool:
    return any("\uac00" <= ch <= "\ud7a3" for ch in text)


# ---------------------------------------------------------------------------- built PDFs


def test_document_id_pages_and_offsets():
    data = pdfs.korean_pdf(["한국어 문서의 첫 쪽입니다.", "둘째 쪽에는 다른 내용이 있습니다."])
    doc = parse_pdf(data, "보고서.pdf")
    assert doc.doc_id == hashlib.sha256(data).hexdigest()[:32]
    assert doc.file_name == "보고서.pdf"
    assert [p.number for p in doc.pages] == [1, 2]
    assert [p.text for p in doc.pages] == ["한국어 문서의 첫 쪽입니다.", "둘째 쪽에는 다른 내용이 있습니다."]
    assert doc.flagged_pages == {}
    page = doc.pages[0]
    assert (page.width, page.height) == pytest.approx(pdfs.A4)
    x0, y0, x1, y1 = page.blocks[0].bbox
    assert pdfs.MARGIN - 1 <= x0 < x1 <= page.width and 0 < y0 < y1 < 120


@pytest.mark.parametrize(
    "build",
    [pdfs.two_column_pdf, pdfs.table_pdf, pdfs.running_header_pdf, pdfs.mixed_scanned_pdf, pdfs.garbled_pdf],
)
def test_page_text_is_its_blocks_joined(build):
    for page in parse_pdf(build(), "x.pdf").pages:
        assert page.text == "\n\n".join(b.text for b in page.blocks)
        assert all(b.text and "\n\n" not in b.text and b.text == b.text.strip() for b in page.blocks)
        assert unicodedata.is_normalized("NFC", page.text)


def test_long_text_flows_onto_more_pages():
    doc = parse_pdf(pdfs.korean_pdf([" ".join(["지방은행의 시중은행 전환 인가 절차를 설명합니다."] * 120)]), "긴.pdf")
    assert len(doc.pages) >= 2 and all(p.status == "ok" for p in doc.pages)


def test_two_columns_read_left_column_before_right():
    page = parse_pdf(pdfs.two_column_pdf(), "두단.pdf").pages[0]
    text = page.text
    first_words = [t.split(".")[0] for t in pdfs.TWO_COLUMN_LEFT + pdfs.TWO_COLUMN_RIGHT]
    positions = [text.index(w) for w in first_words]
    assert positions == sorted(positions), text
    assert text.index(pdfs.TWO_COLUMN_TITLE) < text.index("초록:") < positions[0]
    # The left column's last words come before the right column's first: columns are not interleaved.
    assert text.index("장단점이 있다.") < text.index("오른쪽 첫째 문단입니다.")
    assert page.blocks[0].kind == "heading" and page.blocks[0].text == pdfs.TWO_COLUMN_TITLE
    assert all(b.kind == "text" for b in page.blocks[1:])


def test_ruled_table_becomes_cells_with_a_linear_text_and_is_not_repeated():
    page = parse_pdf(pdfs.table_pdf(), "표.pdf").pages[0]
    assert [b.kind for b in page.blocks] == ["text", "table", "text"]
    table = page.blocks[1]
    assert table.table.rows == tuple(tuple(r) for r in pdfs.TABLE_ROWS) and table.table.header_rows == 1
    # Each row names its columns (no markdown pipes: the card renders the cells).
    assert table.text.splitlines() == [
        "구분: 매출액 · 2023년: 1,200억원 · 2024년: 1,350억원",
        "구분: 영업이익 · 2023년: 85억원 · 2024년: 120억원",
    ]
    x0, y0, x1, y1 = table.bbox
    assert (x0, y0) == pytest.approx((72, 130), abs=2) and (x1, y1) == pytest.approx((492, 214), abs=2)
    assert page.text.count("영업이익") == 1
    assert page.blocks[0].text == pdfs.TABLE_BEFORE and page.blocks[2].text == pdfs.TABLE_AFTER


def test_running_header_and_page_numbers_are_removed():
    doc = parse_pdf(pdfs.running_header_pdf(4), "머리말.pdf")
    for i, page in enumerate(doc.pages, start=1):
        assert page.text == f"본문 {i}쪽입니다. 소상공인 지원 정책의 {i}번째 과제를 설명한다."
        assert pdfs.RUNNING_HEADER not in page.text and f"- {i} -" not in page.text


def test_a_single_page_keeps_its_title_line():
    doc = parse_pdf(pdfs.korean_pdf([pdfs.RUNNING_HEADER]), "한쪽.pdf")
    assert doc.pages[0].text == pdfs.RUNNING_HEADER


def test_word_spaces_come_back_from_glyph_gaps():
    data = pdfs.unspaced_korean_pdf()
    plain = pymupdf.open(stream=data)[0].get_text().strip()
    assert plain == pdfs.UNSPACED_TEXT.replace(" ", "")  # the defect, reproduced
    assert parse_pdf(data, "붙음.pdf").pages[0].text == pdfs.UNSPACED_TEXT


def test_evenly_spread_glyphs_get_no_spaces():
    # HWP "distributed" alignment spreads a short cell's glyphs evenly: no word gaps there.
    data = pdfs.unspaced_korean_pdf("합계금액", tracking=0.6)
    assert parse_pdf(data, "배분.pdf").pages[0].text == "합계금액"


def test_lines_join_into_a_paragraph_items_stand_apart():
    data = pdfs.lines_pdf(
        [
            "The results of this exam-",
            "ple are shown below and",
            "COVID-",
            "19 cases rose in 담배-",
            "함유 제품.",
            "1. 첫째 항목입니다",
            "2. 둘째 항목이 길어서 다음",
            "줄로 이어집니다",
            "• 셋째 항목",
        ]
    )
    blocks = parse_pdf(data, "줄.pdf").pages[0].blocks
    assert [(b.kind, b.text) for b in blocks] == [
        ("text", "The results of this example are shown below and COVID-19 cases rose in 담배-함유 제품."),
        ("item", "1. 첫째 항목입니다"),
        ("item", "2. 둘째 항목이 길어서 다음 줄로 이어집니다"),
        ("item", "• 셋째 항목"),
    ]


def test_clean_normalises_to_nfc_and_maps_private_use_bullets():
    decomposed = unicodedata.normalize("NFD", "한국어 정규화")
    assert decomposed != "한국어 정규화" and _clean(decomposed) == "한국어 정규화"
    assert _clean("\uf09f실시간으로 판매") == "• 실시간으로 판매"
    assert _clean("  \uf000 혁신 벤처") == "• 혁신 벤처"
    assert _clean("1.6배 \uf000") == "1.6배"
    assert _clean("총지급로열티×\ue06d완제품가격") == "총지급로열티×완제품가격"
    assert _clean("가\u200b나\x07다\ufffd라\u00a0\u00a0마") == "가나다라 마"


def test_scanned_pages_are_flagged_and_empty():
    doc = parse_pdf(pdfs.scanned_pdf(2), "스캔.pdf", ocr=False)  # (read by OCR: tests/test_pdf_ocr.py)
    assert doc.flagged_pages == {1: "scanned", 2: "scanned"}
    assert all(p.text == "" and p.blocks == () for p in doc.pages)


def test_mixed_document_flags_only_the_scanned_page():
    doc = parse_pdf(pdfs.mixed_scanned_pdf(), "혼합.pdf", ocr=False)
    assert [p.status for p in doc.pages] == ["ok", "scanned", "ok"]
    assert doc.pages[2].text == "셋째 쪽도 글자가 있습니다."


def test_garbled_text_layer_is_flagged():
    doc = parse_pdf(pdfs.garbled_pdf(), "깨짐.pdf")
    assert doc.flagged_pages == {2: "garbled"}
    assert doc.pages[1].text == "" and doc.pages[0].text == "정상적인 첫 쪽입니다."


BAD_INPUTS = [
    (lambda: b"", EmptyFileError, "비어"),
    (pdfs.not_a_pdf, NotPDFError, "PDF 파일이 아닙니다"),
    (lambda: b"PK\x03\x04" + b"\x00" * 64, NotPDFError, "PDF 파일이 아닙니다"),
    (pdfs.garbage_pdf, CorruptPDFError, "손상"),
    (pdfs.truncated_pdf, CorruptPDFError, "손상"),
    (pdfs.encrypted_pdf, EncryptedPDFError, "암호"),
    (pdfs.zero_page_pdf, NoPagesError, "페이지가 하나도 없습니다"),
]


@pytest.mark.parametrize(("build", "error", "words"), BAD_INPUTS)
def test_bad_input_raises_a_korean_error(build, error, words):
    with pytest.raises(error) as caught:
        parse_pdf(build(), "문제.pdf")
    err = caught.value
    assert isinstance(err, IngestError) and err.file_name == "문제.pdf"
    message = str(err)
    assert "문제.pdf" in message and words in message and hangul(err.reason)
    assert "Traceback" not in message and "Error" not in message and "pymupdf" not in message.lower()


def test_a_pdf_cut_after_its_first_page_is_refused():
    data = pdfs.korean_pdf([f"{i}쪽 본문입니다." for i in range(1, 6)])
    for cut in (0.5, 0.7):
        with pytest.raises(CorruptPDFError):
            parse_pdf(data[: int(len(data) * cut)], "잘림.pdf")


def test_boxes_are_pymupdf_page_coordinates_on_a_rotated_page():
    rotated = pymupdf.open(stream=pdfs.table_pdf())
    rotated[0].set_rotation(90)
    data = rotated.tobytes()
    page = parse_pdf(data, "회전.pdf").pages[0]
    assert (page.width, page.height) == pytest.approx((pdfs.A4[1], pdfs.A4[0]))  # as displayed
    (hit,) = pymupdf.open(stream=data)[0].search_for("영업이익")  # what draw_rect/highlights use
    table = next(b for b in page.blocks if b.kind == "table")
    assert pymupdf.Rect(table.bbox).contains(hit)


def test_parse_pdf_path_uses_the_file_name(tmp_path):
    path = tmp_path / "경로 문서.pdf"
    path.write_bytes(pdfs.korean_pdf(["경로로 읽은 문서입니다."]))
    doc = parse_pdf_path(path)
    assert doc.file_name == "경로 문서.pdf" and doc.pages[0].text == "경로로 읽은 문서입니다."


# ---------------------------------------------------------------------------- real PDFs


@pytest.mark.parametrize("relative", UNSPACED)
def test_real_pdfs_get_their_word_spaces_back(relative):
    path = eval_pdf(relative)
    data = path.read_bytes()
    plain = "".join(page.get_text() for page in pymupdf.open(stream=data))
    assert space_ratio(plain) < 0.17  # the defect on this file
    doc = parse_pdf(data, path.name)
    text = "\n".join(re.sub(r" ?\| ?", "\t", p.text) for p in doc.pages)  # table cell bars are no spaces
    assert 0.18 <= space_ratio(text) <= 0.6


def test_real_spacing_reads_like_words():
    page = parse_pdf_path(eval_pdf("medical/jkan-38-140.pdf")).pages[2]
    assert "암 환자들은 죽음을 연상하는 두려움을 한쪽으로 접어둔 채" in page.text
    assert "암이가리키는" not in page.text


@pytest.mark.parametrize("relative", ["medical/Kafm015-11-15.pdf", "law/당직 중 사적 행위의 공무수행성 여부.pdf"])
def test_real_scans_are_flagged(relative):
    doc = parse_pdf_path(eval_pdf(relative), ocr=False)
    assert doc.pages and all(p.status == "scanned" and p.text == "" for p in doc.pages)


def test_real_two_column_journal_reads_column_by_column():
    doc = parse_pdf_path(eval_pdf("medical/jkan-38-140.pdf"))
    page3 = doc.pages[2].text
    # Bottom of the left column, then top of the right column.
    assert page3.index("암 진단을 받을 때 대부분의 환자들은") < page3.index("이야 기가 아닙니다")
    page1 = doc.pages[0].text
    # Full-width title and abstract first; the left column's paragraph before the right column's.
    assert page1.index("암환자의 생활세계 경험") < page1.index("Purpose:") < page1.index("암이란 어느 연령층에서도")
    assert page1.index("사망률이 급증하는 것으로") < page1.index("암환자의 약 50%는")


def test_real_running_headers_and_page_numbers_are_gone():
    doc = parse_pdf_path(eval_pdf("medical/journal-31-3-308.pdf"))
    for page in doc.pages[1:]:
        assert "보건사회연구" not in page.text[:40] and "Health and Social Welfare Review" not in page.text
    judgment = parse_pdf_path(eval_pdf("law/2023노1373(비실명).pdf"))
    for page in judgment.pages:
        assert not re.match(rf"-\s*{page.number}\s*-", page.text) and f"- {page.number} -" not in page.text


def test_real_private_use_bullets_become_bullets():
    doc = parse_pdf_path(eval_pdf("commerce/PRP008.pdf"))
    text = "\n".join(p.text for p in doc.pages)
    assert "• 실시간으로" in text
    assert not re.search("[\ue000-\uf8ff]", text)


def test_real_broken_running_stamp_does_not_hide_pages():
    # Every page carries a header in a font without Unicode mapping; it is removed as a running
    # line, and the judgment's short last pages stay readable instead of being called garbled.
    doc = parse_pdf_path(eval_pdf("law/서울고등법원 2021나2036470.pdf"))
    assert doc.flagged_pages == {}
    assert "\ufffd" not in "".join(p.text for p in doc.pages)
    assert "상가 도면" in doc.pages[9].text
