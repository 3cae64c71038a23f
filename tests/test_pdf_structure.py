"""ingest.pdf structure: paragraphs rebuilt from lines, tables with captions and headers, figures
with their text, margin notes, on PDFs built by tests/pdfs.py and on real PDFs of ../shared/eval."""

from __future__ import annotations

import re

import pytest

from bench.parse_quality import breaks_of, mid_sentence
from ingest.parse import parse_pdf, parse_pdf_path
from tests import pdfs
from tests.conftest import eval_pdf


def blocks_of(data: bytes, page: int = 0):
    return parse_pdf(data, "x.pdf", ocr=False).pages[page].blocks


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


# ---------------------------------------------------------------------------- paragraphs


def test_court_ruling_lines_join_into_their_paragraphs():
    blocks = blocks_of(pdfs.court_pdf())
    # Double-spaced lines cut in the middle of words come back as the paragraphs they were.
    assert [squash(b.text) for b in blocks] == [squash(t) for t in (*pdfs.COURT_PARAGRAPHS, pdfs.COURT_HEADING,
                                                                     pdfs.COURT_AFTER)]
    assert [b.kind for b in blocks] == ["item", "item", "item", "text"]
    assert all("\n" not in b.text for b in blocks)


def test_headings_indented_paragraphs_and_items_stay_apart():
    blocks = blocks_of(pdfs.layout_pdf())
    assert [b.kind for b in blocks] == ["heading", "text", "text", "item", "item", "item"]
    assert blocks[0].text == pdfs.LAYOUT_HEADING
    assert blocks[1].text == pdfs.LAYOUT_FIRST and blocks[2].text == pdfs.LAYOUT_SECOND
    assert [b.text for b in blocks[3:]] == pdfs.LAYOUT_ITEMS  # the wrapped item is whole, the items apart


def test_margin_note_does_not_cut_the_body_sentence():
    blocks = blocks_of(pdfs.side_note_pdf())
    texts = [b.text for b in blocks]
    assert texts[0] == pdfs.SIDE_BODY  # one paragraph, the note read after it
    assert squash(pdfs.SIDE_NOTE) in [squash(t) for t in texts[1:]]


@pytest.mark.parametrize("relative", ["law/2023노1373(비실명).pdf", "law/2021나2050919(비실명).pdf",
                                      "law/서울행정법원_2022구합82219.pdf"])
def test_real_court_rulings_keep_sentences_whole(relative):
    doc = parse_pdf_path(eval_pdf(relative), ocr=False)
    breaks = mid = 0
    for page in doc.pages:
        for block in page.blocks:
            if block.kind in ("text", "item"):
                assert "\n" not in block.text
        for a, b in breaks_of(page.text):
            breaks += 1
            mid += mid_sentence(a, b)
    assert breaks > 50 and mid / breaks <= 0.10, (mid, breaks)


def test_real_court_ruling_paragraphs_stay_separate():
    page = parse_pdf_path(eval_pdf("law/2023노1373(비실명).pdf"), ocr=False).pages[2]
    texts = [b.text for b in page.blocks]
    # The numbered paragraphs ②, ③, ④ and the heading 2) are separate blocks; ③ reads whole.
    starts = [t[:2] for t in texts]
    assert starts[:4] == ["② ", "③ ", "④ ", "2)"]
    assert "달리 D과 E이 자신들의 대화 내용을 사무실 내 다른 직원들이나 민원 업무를 보는" in texts[1]
    assert texts[1].endswith("사정은 보이지 않는다.")


def test_mid_sentence_measure_tells_cut_sentences_from_headings():
    assert mid_sentence("④ 앞서 살펴본 대화의 내용을 종합적으로 고려하여 보면, 피고인이 녹음한 D과 E",
                        "사이의 대화는 일반 공중과의 관계에서는 물론 피고인과의 관계에서도 공개되지 아니한")
    assert mid_sentence("수사기관에서 진술하였고, 달리 D과 E이 자신들의 대화 내용을", "적극적으로 알리거나")
    assert not mid_sentence("2) 이 법원의 판단", "원심이 적절히 설시한 사정에다가 원심이 적법하게 채택하여 조사한")
    assert not mid_sentence("따라서 공개된 장소였다고 할 수는 없다.", "피고인이 녹음한 대화는")
    assert not mid_sentence("지원 대상은 청년 농업인으로 한정하되 예외를 둘 수 있도록 규정을 정비", "• 정책자금 공급")


# ---------------------------------------------------------------------------- tables


def test_ruled_and_borderless_tables_carry_caption_and_header():
    blocks = blocks_of(pdfs.captioned_tables_pdf())
    tables = [b for b in blocks if b.kind == "table"]
    assert len(tables) == 2
    ruled, borderless = tables
    assert ruled.table.caption == f"{pdfs.RULED_CAPTION} {pdfs.RULED_UNIT}"
    assert [list(r) for r in ruled.table.rows] == pdfs.RULED_ROWS and ruled.table.header_rows == 1
    assert borderless.table.caption == pdfs.BORDERLESS_CAPTION
    assert [list(r) for r in borderless.table.rows] == pdfs.BORDERLESS_ROWS and borderless.table.header_rows == 1
    # The linear form: caption, then each row naming its columns; no markdown pipes anywhere.
    assert ruled.text.splitlines() == [
        f"{pdfs.RULED_CAPTION} {pdfs.RULED_UNIT}",
        "지역: 서울 · 2023년: 1,200 · 2024년: 1,350",
        "지역: 부산 · 2023년: 430 · 2024년: 512",
        "지역: 광주 · 2023년: 215 · 2024년: 260",
    ]
    assert "중장년" in borderless.text and "|" not in "".join(b.text for b in blocks)
    # Captions are not repeated as text; the heading stays a heading.
    assert blocks[0].kind == "heading" and blocks[0].text == pdfs.TABLES_HEADING
    page_text = "\n".join(b.text for b in blocks)
    assert page_text.count("지역별 지원 현황") == 1 and page_text.count("연도별 교육 인원") == 1
    x0, y0, x1, y1 = ruled.bbox
    assert x0 <= 73 and y1 >= 145 + 4 * 26 - 1 and x1 >= 72 + 3 * 140 - 1


def test_real_borderless_table_with_title_and_units():
    page = parse_pdf_path(eval_pdf("public/2023_2027 국가재정운용계획 주요내용.pdf"), ocr=False).pages[8]
    tables = [b.table for b in page.blocks if b.kind == "table"]
    captions = [t.caption for t in tables]
    assert "< 중기 조세부담률 및 국민부담률 전망 > (단위 : %)" in captions
    burden = tables[captions.index("< 중기 조세부담률 및 국민부담률 전망 > (단위 : %)")]
    assert burden.header_rows == 1 and burden.rows[0][1:] == ("’23년*", "’24년", "’25년", "’26년", "’27년")
    assert burden.rows[2] == ("▣ 국민부담률", "31.4", "29.3", "29.6", "29.5", "29.3")


def test_real_ruled_table_with_numbered_caption():
    page = parse_pdf_path(eval_pdf("law/2023누36352(비실명).pdf"), ocr=False).pages[1]
    (block,) = [b for b in page.blocks if b.kind == "table"]
    assert block.table.caption.startswith("<표 1> 상호출자제한기업집단 ｢C｣의 일반현황")
    assert block.table.rows[0][:2] == ("동일인", "지정순위")
    assert "동일인: E · 지정순위: 15 · 소속회사 수: 136개사" in block.text


def test_real_table_header_merged_over_label_columns():
    # "구 분" spans the two label columns; "GMV" spans three rows that share one ruled band.
    page = parse_pdf_path(eval_pdf("commerce/이커머스 시장 분석.pdf"), ocr=False).pages[6]
    gmv = next(b for b in page.blocks if b.kind == "table" and "Alibaba" in b.text)
    lines = gmv.text.splitlines()
    assert "구 분: GMV · JD.com · 2018: 279 · 2019: 352 · 2020: 446" in lines


# ---------------------------------------------------------------------------- figures


def test_chart_text_goes_into_a_figure_block_with_its_caption():
    blocks = blocks_of(pdfs.figure_pdf())
    assert [b.kind for b in blocks] == ["text", "figure", "text"]
    figure = blocks[1]
    lines = figure.text.splitlines()
    assert lines[0] == pdfs.FIGURE_CAPTION
    for year, value in pdfs.FIGURE_VALUES:
        assert year in figure.text and value in figure.text
    x0, y0, x1, y1 = figure.bbox  # the chart's rectangle, for the highlight
    assert x0 <= 112 and x1 >= 72 + 40 + 360 - 1 and y1 - y0 > 200
    assert blocks[0].text == pdfs.FIGURE_BEFORE and blocks[2].text == pdfs.FIGURE_AFTER


def test_real_margin_notes_no_longer_interleave():
    page = parse_pdf_path(eval_pdf("commerce/이커머스 시장 분석.pdf"), ocr=False).pages[9]
    text = page.text
    assert "전체 소매시장 475조원의 약 33.6%를 기록하였다." in text
    assert "2019년 37.8%에서 2020년 43.6%로 확대되었다." in text
    # The notes come after the body, each whole.
    texts = [b.text for b in page.blocks]
    notes = [texts.index("이커머스 규모 159조원/ 온라인 침투율 33.6%"),
             texts.index("높은 경쟁강도에 따른 이익감소는 온∙오프라인 모두에 영향")]
    body = next(i for i, t in enumerate(texts) if "2019년 37.8%에서" in t)
    assert body < min(notes)


def test_a_table_overleaf_keeps_its_caption_and_header():
    doc = parse_pdf(pdfs.split_table_pdf(), "표.pdf", ocr=False)
    first = next(b for b in doc.pages[1].blocks if b.kind == "table")
    assert first.table.caption == pdfs.SPLIT_CAPTION and first.table.rows[0] == tuple(pdfs.SPLIT_HEADER)
    rest = next(b for b in doc.pages[2].blocks if b.kind == "table")
    # The rows going on over the page read as that table's rows, under its caption and header.
    assert rest.table.caption == pdfs.SPLIT_CAPTION and rest.table.header_rows == 1
    assert rest.table.rows[0] == tuple(pdfs.SPLIT_HEADER) and len(rest.table.rows) == 1 + 10
    assert rest.text.splitlines()[:2] == [pdfs.SPLIT_CAPTION, "사업: 21번 사업 · 2023년: 210억원 · 2024년: 252억원"]


def test_an_untitled_table_takes_the_sentence_that_introduces_it():
    doc = parse_pdf(pdfs.lead_in_pdf(), "판결.pdf", ocr=False)
    tables = [b for b in doc.pages[1].blocks if b.kind == "table"]
    assert len(tables) == 2
    # "… 내역은 아래와 같다." at the foot of page 1 titles the table that opens page 2
    assert tables[0].table.caption == pdfs.LEAD_IN and tables[0].text.splitlines()[0] == pdfs.LEAD_IN
    assert "구분: 퇴직수당 · 지급액: 80,457,060원 · 환수액: 40,228,530원" in tables[0].text
    # a paragraph that introduces nothing gives no title; the sentence stays in its paragraph
    assert tables[1].table.caption == ""
    assert any(pdfs.LEAD_IN in b.text for b in doc.pages[0].blocks if b.kind == "text")


def test_a_form_label_ending_with_a_colon_introduces_nothing():
    from ingest.pdf.captions import LEAD_IN

    assert LEAD_IN.search(pdfs.LEAD_IN) and LEAD_IN.search("주요 현황은 다음과 같습니다:")
    assert not LEAD_IN.search("1. 성 명 :") and not LEAD_IN.search("다음 해에는 예산이 늘었다.")
