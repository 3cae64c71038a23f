"""Test PDFs built in memory with PyMuPDF (each builder returns the file's bytes).

Korean text uses PyMuPDF's built-in "korea" CJK font: the file stays ~1-10 KB and the
text extracts back exactly as written. Shared by the tests of parse, ingest and search.
"""

from __future__ import annotations

import pymupdf

FONT = "korea"
SIZE = 11.0
A4 = (595.0, 842.0)
MARGIN = 72.0

_font = pymupdf.Font(FONT)  # for TextWriter; its widths differ from insert_text's built-in "korea"


def _length(text: str, size: float) -> float:
    return pymupdf.get_text_length(text, fontname=FONT, fontsize=size)


def _wrap(text: str, width: float, size: float) -> list[str]:
    """Greedy word wrap by insert_text's advance widths (a too long word is cut by characters)."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if _length(candidate, size) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = ""
        for ch in word:
            if line and _length(line + ch, size) > width:
                lines.append(line)
                line = ""
            line += ch
    if line:
        lines.append(line)
    return lines


def _write(page: pymupdf.Page, x: float, y: float, width: float, text: str, size: float = SIZE) -> float:
    """Write wrapped text from baseline y; return the baseline after the last line."""
    for line in _wrap(text, width, size):
        page.insert_text((x, y), line, fontname=FONT, fontsize=size)
        y += size * 1.6
    return y


def korean_pdf(pages: list[str], size: float = SIZE) -> bytes:
    """One A4 page per string of Korean text, wrapped in the margins.

    A string too long for one page continues on the next page(s).
    """
    doc = pymupdf.open()
    width = A4[0] - 2 * MARGIN
    for text in pages:
        page = doc.new_page(width=A4[0], height=A4[1])
        y = MARGIN
        for line in _wrap(text, width, size) or [""]:
            if y > A4[1] - MARGIN:
                page = doc.new_page(width=A4[0], height=A4[1])
                y = MARGIN
            if line:
                page.insert_text((MARGIN, y), line, fontname=FONT, fontsize=size)
            y += size * 1.6
    return doc.tobytes(garbage=3, deflate=True)


TWO_COLUMN_TITLE = "두 단 편집 문서의 읽기 순서"
TWO_COLUMN_ABSTRACT = (
    "초록: 이 문서는 제목과 초록이 페이지 폭 전체를 쓰고 본문은 두 단으로 나뉜 학술지 형식을 흉내 낸다. "
    "왼쪽 단을 끝까지 읽은 뒤 오른쪽 단을 읽어야 한다."
)
TWO_COLUMN_LEFT = [
    "왼쪽 첫째 문단입니다. 대장암은 우리나라에서 흔한 암 가운데 하나이며 조기 검진으로 사망률을 낮출 수 있다.",
    "왼쪽 둘째 문단입니다. 분변잠혈검사와 대장내시경은 선별 검사로 널리 쓰이며 각각 장단점이 있다.",
]
TWO_COLUMN_RIGHT = [
    "오른쪽 첫째 문단입니다. 젊은 성인의 대장암 발생률이 증가하고 있어 검진 시작 나이를 다시 검토해야 한다.",
    "오른쪽 둘째 문단입니다. 생활 습관 개선과 정기 검진이 함께 이루어질 때 예방 효과가 가장 크다.",
]


def two_column_pdf() -> bytes:
    """A journal-like page: large title and full-width abstract, then two columns of two paragraphs.

    Texts are TWO_COLUMN_TITLE, TWO_COLUMN_ABSTRACT, TWO_COLUMN_LEFT and TWO_COLUMN_RIGHT;
    the columns' lines sit at the same heights, so only a column-aware order reads them right.
    """
    doc = pymupdf.open()
    page = doc.new_page(width=A4[0], height=A4[1])
    page.insert_text((MARGIN, 90), TWO_COLUMN_TITLE, fontname=FONT, fontsize=20)
    y = _write(page, MARGIN, 130, A4[0] - 2 * MARGIN, TWO_COLUMN_ABSTRACT)
    top = y + 20
    col_width = (A4[0] - 2 * MARGIN - 24) / 2
    for x, paragraphs in ((MARGIN, TWO_COLUMN_LEFT), (MARGIN + col_width + 24, TWO_COLUMN_RIGHT)):
        y = top
        for text in paragraphs:
            y = _write(page, x, y, col_width, text) + SIZE
    return doc.tobytes(garbage=3, deflate=True)


TABLE_ROWS = [["구분", "2023년", "2024년"], ["매출액", "1,200억원", "1,350억원"], ["영업이익", "85억원", "120억원"]]
TABLE_BEFORE = "다음 표는 연도별 실적을 보여 준다."
TABLE_AFTER = "표의 수치는 잠정치이며 확정 시 변경될 수 있다."


def table_pdf() -> bytes:
    """A paragraph, a ruled 3x3 table (TABLE_ROWS, drawn grid lines) and a paragraph after it."""
    doc = pymupdf.open()
    page = doc.new_page(width=A4[0], height=A4[1])
    page.insert_text((MARGIN, 100), TABLE_BEFORE, fontname=FONT, fontsize=SIZE)
    x0, y0, col_w, row_h = MARGIN, 130.0, 140.0, 28.0
    rows, cols = len(TABLE_ROWS), len(TABLE_ROWS[0])
    for r in range(rows + 1):
        page.draw_line((x0, y0 + r * row_h), (x0 + cols * col_w, y0 + r * row_h), width=0.8)
    for c in range(cols + 1):
        page.draw_line((x0 + c * col_w, y0), (x0 + c * col_w, y0 + rows * row_h), width=0.8)
    for r, row in enumerate(TABLE_ROWS):
        for c, cell in enumerate(row):
            page.insert_text((x0 + c * col_w + 8, y0 + r * row_h + 18), cell, fontname=FONT, fontsize=SIZE)
    page.insert_text((MARGIN, y0 + rows * row_h + 40), TABLE_AFTER, fontname=FONT, fontsize=SIZE)
    return doc.tobytes(garbage=3, deflate=True)


RUNNING_HEADER = "2024년 중소벤처기업부 업무계획"


def running_header_pdf(n_pages: int = 4) -> bytes:
    """n pages, each with the header RUNNING_HEADER at the top, a footer "- i -" and body text
    "본문 i쪽입니다 ..." (i = 1..n) in between."""
    doc = pymupdf.open()
    for i in range(1, n_pages + 1):
        page = doc.new_page(width=A4[0], height=A4[1])
        page.insert_text((MARGIN, 40), RUNNING_HEADER, fontname=FONT, fontsize=9)
        body = f"본문 {i}쪽입니다. 소상공인 지원 정책의 {i}번째 과제를 설명한다."
        _write(page, MARGIN, 120, A4[0] - 2 * MARGIN, body)
        page.insert_text((A4[0] / 2 - 12, A4[1] - 30), f"- {i} -", fontname=FONT, fontsize=9)
    return doc.tobytes(garbage=3, deflate=True)


UNSPACED_TEXT = "벗어나기 힘든 자신을 발견한다"


def unspaced_korean_pdf(text: str = UNSPACED_TEXT, tracking: float = -0.09, word_gap: float = 0.3) -> bytes:
    """Korean set glyph by glyph: words separated by a gap (word_gap em) but no space character.

    Tight tracking (em) as in real journals. Plain PyMuPDF text extraction returns the words run
    together ("벗어나기힘든자신을발견한다"), the defect measured in 7 of the 54 eval PDFs.
    """
    doc = pymupdf.open()
    page = doc.new_page(width=A4[0], height=A4[1])
    writer = pymupdf.TextWriter(page.rect)
    x = MARGIN
    for word in text.split():
        for ch in word:
            writer.append((x, 100), ch, font=_font, fontsize=SIZE)
            x += _font.text_length(ch, fontsize=SIZE) + tracking * SIZE
        x += word_gap * SIZE
    writer.write_text(page)
    doc.subset_fonts()
    return doc.tobytes(garbage=3, deflate=True)


def lines_pdf(lines: list[str], size: float = SIZE) -> bytes:
    """One page with each string on its own line, at body line spacing (one paragraph block)."""
    doc = pymupdf.open()
    page = doc.new_page(width=A4[0], height=A4[1])
    for i, line in enumerate(lines):
        page.insert_text((MARGIN, 100 + i * size * 1.4), line, fontname=FONT, fontsize=size)
    return doc.tobytes(garbage=3, deflate=True)


def garbled_pdf() -> bytes:
    """Page 1 is ordinary Korean text; page 2's text layer is mostly glyphs without a Unicode
    mapping (they extract as control characters), like a PDF whose fonts lost their ToUnicode."""
    doc = pymupdf.open(stream=korean_pdf(["정상적인 첫 쪽입니다."]))
    page = doc.new_page(width=A4[0], height=A4[1])
    writer = pymupdf.TextWriter(page.rect)
    for row in range(10):
        writer.append((MARGIN, 100 + row * 18), "".join(chr(0xE000 + row * 30 + k) for k in range(30)), font=_font)
    writer.append((MARGIN, 300), "일부 글자", font=_font)
    writer.write_text(page)
    doc.subset_fonts()
    return doc.tobytes(garbage=3, deflate=True)


def _page_image(text: str) -> pymupdf.Pixmap:
    rendered = pymupdf.open(stream=korean_pdf([text]), filetype="pdf")
    return rendered[0].get_pixmap(dpi=40, colorspace=pymupdf.csGRAY)


def scanned_pdf(n_pages: int = 2) -> bytes:
    """Pages that are only a full-page picture of text (no text layer), like a scan."""
    doc = pymupdf.open()
    pix = _page_image("스캔한 공문서입니다. 글자는 그림으로만 들어 있습니다.")
    for _ in range(n_pages):
        page = doc.new_page(width=A4[0], height=A4[1])
        page.insert_image(page.rect, pixmap=pix)
    return doc.tobytes(garbage=3, deflate=True)


def mixed_scanned_pdf() -> bytes:
    """Page 1 has Korean text, page 2 is a scanned picture, page 3 has text again."""
    doc = pymupdf.open(stream=korean_pdf(["첫 쪽은 글자가 있는 보고서 본문입니다.", "셋째 쪽도 글자가 있습니다."]))
    page = doc.new_page(pno=1, width=A4[0], height=A4[1])
    page.insert_image(page.rect, pixmap=_page_image("둘째 쪽은 스캔 이미지입니다."))
    return doc.tobytes(garbage=3, deflate=True)


def encrypted_pdf(password: str = "secret-1234") -> bytes:
    """A Korean text PDF encrypted with AES-256 that needs a user password to open."""
    doc = pymupdf.open(stream=korean_pdf(["암호로 보호된 문서입니다."]))
    return doc.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw=password, owner_pw=password + "-owner")


def truncated_pdf() -> bytes:
    """The first third of a valid 3-page PDF, as left by an interrupted download."""
    data = korean_pdf([f"{i}쪽 본문입니다. 다운로드가 중간에 끊겼습니다." for i in (1, 2, 3)])
    return data[: len(data) // 3]


def garbage_pdf() -> bytes:
    """A %PDF header followed by bytes that are no PDF structure at all."""
    return b"%PDF-1.7\n" + bytes(range(256)) * 8


def zero_page_pdf() -> bytes:
    """A well-formed PDF (catalog, empty page tree, correct xref) with no pages."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def not_a_pdf() -> bytes:
    """Bytes of a text file renamed to .pdf."""
    return "이것은 PDF가 아니라 그냥 텍스트 파일입니다.".encode()


# ---------------------------------------------------------------------------- structure (paragraphs, tables, figures)


def _wrap_chars(text: str, width: float, size: float) -> list[str]:
    """Wrap by characters, as Korean court rulings are set: a line breaks wherever it is full,
    also in the middle of a word."""
    lines: list[str] = []
    line = ""
    for ch in text:
        if line and _length(line + ch, size) > width:
            lines.append(line)
            line = ch.lstrip()
            continue
        line += ch
    if line:
        lines.append(line)
    return lines


COURT_PARAGRAPHS = [
    "① 피고인이 녹음한 대화는 B시청 C 사무실에서 이루어진 것으로, 그 장소는 민원인들이 수시로 드나드는 "
    "민원실 안에 있기는 하나 민원인들이 자유롭게 출입할 수 있는 공간은 민원창구가 있는 부분에 한정되었다.",
    "② 따라서 위 대화가 이루어진 장소가 일반 공중에 공개된 장소였다고 할 수는 없고, 피고인이 녹음한 D과 E "
    "사이의 대화는 공개되지 아니한 타인 간의 대화에 해당한다고 봄이 타당하다.",
]
COURT_HEADING = "2) 이 법원의 판단"
COURT_AFTER = (
    "원심이 적절히 설시한 사정에다가 원심이 적법하게 채택하여 조사한 증거에 의하여 인정되는 다음의 사정을 "
    "종합하면, 위와 같은 원심의 판단은 정당하고 여기에 사실을 오인하거나 법리를 오해한 잘못이 없다."
)


def court_pdf(size: float = 12.0, pitch: float = 30.0) -> bytes:
    """A page set like a Korean court ruling: double-spaced lines wrapped by characters (words cut
    at line ends), numbered paragraphs COURT_PARAGRAPHS, a short heading COURT_HEADING and a
    plain paragraph COURT_AFTER; every line is its own text block."""
    doc = pymupdf.open()
    page = doc.new_page(width=A4[0], height=A4[1])
    width = A4[0] - 2 * MARGIN
    y = 100.0
    for text in [*COURT_PARAGRAPHS, COURT_HEADING, COURT_AFTER]:
        for line in _wrap_chars(text, width, size):
            page.insert_text((MARGIN, y), line, fontname=FONT, fontsize=size)
            y += pitch
    return doc.tobytes(garbage=3, deflate=True)


LAYOUT_HEADING = "1. 사업 개요"
LAYOUT_FIRST = (
    "중소벤처기업부는 올해 지역 소상공인의 경영 안정을 위하여 정책자금을 확대하고, 온라인 판로 지원과 "
    "디지털 전환 교육을 함께 추진한다고 밝혔다. 지원 대상은 지난해보다 두 배 늘어난다."
)
LAYOUT_SECOND = (
    "다음 달부터 신청을 받으며, 선정된 기업에는 최대 5천만원까지 저금리 융자가 제공된다. 자세한 내용은 "
    "지방중소벤처기업청 누리집에서 확인할 수 있다."
)
LAYOUT_ITEMS = [
    "• 정책자금 1조원 공급",
    "• 온라인 판로 지원과 디지털 전환 교육을 받는 소상공인에게 전문가 상담을 함께 제공",
    "• 지역 상권 활성화",
]


def layout_pdf() -> bytes:
    """A heading (larger), a paragraph, an indented second paragraph after extra space, and a
    bulleted list whose second item wraps under its text (a hanging indent)."""
    doc = pymupdf.open()
    page = doc.new_page(width=A4[0], height=A4[1])
    width = A4[0] - 2 * MARGIN
    page.insert_text((MARGIN, 90), LAYOUT_HEADING, fontname=FONT, fontsize=16)
    y = _write(page, MARGIN, 125, width, LAYOUT_FIRST)
    lines = _wrap(LAYOUT_SECOND, width - 2 * SIZE, SIZE)
    y += SIZE * 0.8
    for i, line in enumerate(lines):
        page.insert_text((MARGIN + (2 * SIZE if i == 0 else 0), y), line, fontname=FONT, fontsize=SIZE)
        y += SIZE * 1.6
    y += SIZE
    marker = _length("• ", SIZE)
    for item in LAYOUT_ITEMS:
        for i, line in enumerate(_wrap(item[2:], width - marker - 160, SIZE)):
            x = MARGIN + marker
            if i == 0:
                page.insert_text((MARGIN, y), "•", fontname=FONT, fontsize=SIZE)
            page.insert_text((x, y), line, fontname=FONT, fontsize=SIZE)
            y += SIZE * 1.6
    return doc.tobytes(garbage=3, deflate=True)


RULED_CAPTION = "<표 1> 지역별 지원 현황"
RULED_UNIT = "(단위: 억원)"
RULED_ROWS = [["지역", "2023년", "2024년"], ["서울", "1,200", "1,350"], ["부산", "430", "512"], ["광주", "215", "260"]]
BORDERLESS_CAPTION = "< 연도별 교육 인원 >"
BORDERLESS_ROWS = [["구분", "2022년", "2023년", "2024년"], ["청년", "1,520명", "1,840명", "2,105명"],
                   ["중장년", "980명", "1,120명", "1,305명"], ["합계", "2,500명", "2,960명", "3,410명"]]
TABLES_HEADING = "2. 추진 실적"


def captioned_tables_pdf() -> bytes:
    """A heading, a ruled table with a numbered caption and a unit note above it, a paragraph,
    then a borderless table (aligned columns, no rules) under a bracketed title."""
    doc = pymupdf.open()
    page = doc.new_page(width=A4[0], height=A4[1])
    page.insert_text((MARGIN, 80), TABLES_HEADING, fontname=FONT, fontsize=16)
    page.insert_text((MARGIN, 120), RULED_CAPTION, fontname=FONT, fontsize=SIZE)
    page.insert_text((430, 138), RULED_UNIT, fontname=FONT, fontsize=9)
    x0, y0, col_w, row_h = MARGIN, 145.0, 140.0, 26.0
    rows, cols = len(RULED_ROWS), len(RULED_ROWS[0])
    for r in range(rows + 1):
        page.draw_line((x0, y0 + r * row_h), (x0 + cols * col_w, y0 + r * row_h), width=0.8)
    for c in range(cols + 1):
        page.draw_line((x0 + c * col_w, y0), (x0 + c * col_w, y0 + rows * row_h), width=0.8)
    for r, row in enumerate(RULED_ROWS):
        for c, cell in enumerate(row):
            page.insert_text((x0 + c * col_w + 8, y0 + r * row_h + 17), cell, fontname=FONT, fontsize=SIZE)
    y = y0 + rows * row_h + 40
    y = _write(page, MARGIN, y, A4[0] - 2 * MARGIN, "교육 인원은 해마다 늘었으며 청년층의 증가가 두드러졌다.")
    page.insert_text((220, y + 20), BORDERLESS_CAPTION, fontname=FONT, fontsize=SIZE)
    top = y + 50
    xs = [MARGIN + 10, 200, 310, 420]
    for r, row in enumerate(BORDERLESS_ROWS):
        for c, cell in enumerate(row):
            page.insert_text((xs[c], top + r * 22), cell, fontname=FONT, fontsize=SIZE)
    return doc.tobytes(garbage=3, deflate=True)


FIGURE_CAPTION = "<그림 1> 연도별 매출 추이"
FIGURE_VALUES = [("2021", "120"), ("2022", "185"), ("2023", "240"), ("2024", "310")]
FIGURE_BEFORE = "매출은 4년 동안 꾸준히 늘었다. 아래 그림은 연도별 매출을 억원 단위로 보여 준다."
FIGURE_AFTER = "2024년 매출은 2021년의 두 배를 넘었으며 온라인 판매 비중도 함께 커졌다."


def figure_pdf() -> bytes:
    """A paragraph, a vector bar chart (axes, bars, value and year labels) under a numbered
    caption, and a paragraph after it."""
    doc = pymupdf.open()
    page = doc.new_page(width=A4[0], height=A4[1])
    width = A4[0] - 2 * MARGIN
    y = _write(page, MARGIN, 100, width, FIGURE_BEFORE)
    page.insert_text((MARGIN + 120, y + 20), FIGURE_CAPTION, fontname=FONT, fontsize=SIZE)
    left, base, top = MARGIN + 40, y + 230, y + 40
    page.draw_line((left, top), (left, base), width=1)
    page.draw_line((left, base), (left + 360, base), width=1)
    for k in range(1, 5):  # grid lines
        page.draw_line((left, base - k * 40), (left + 360, base - k * 40), width=0.3, color=(0.7, 0.7, 0.7))
    for i, (year, value) in enumerate(FIGURE_VALUES):
        x = left + 30 + i * 85
        h = float(value) * 0.55
        page.draw_rect(pymupdf.Rect(x, base - h, x + 40, base), color=None, fill=(0.2, 0.4, 0.8))
        page.insert_text((x + 8, base - h - 6), value, fontname=FONT, fontsize=9)
        page.insert_text((x + 6, base + 14), year, fontname=FONT, fontsize=9)
    _write(page, MARGIN, base + 50, width, FIGURE_AFTER)
    return doc.tobytes(garbage=3, deflate=True)


SIDE_BODY = (
    "국내 이커머스 시장 규모는 2020년 기준 159조원으로 전체 소매시장 475조원의 약 33.6%를 기록하였다. 주요 "
    "선진국에 비해 경제 규모는 작지만 시장 성장은 빠른 속도로 진행되고 있으며 온라인 침투율은 세계 2위를 "
    "기록하고 있다. 코로나19가 성장을 앞당긴 것은 사실이나 그것이 아니더라도 추세적으로 피하기 어려운 흐름이다."
)
SIDE_NOTE = "이커머스 규모 159조원 온라인 침투율 33.6%"


def side_note_pdf() -> bytes:
    """A body column (x 180-520) with a margin note (x 60-165) set beside its second line."""
    doc = pymupdf.open()
    page = doc.new_page(width=A4[0], height=A4[1])
    y = 120.0
    for line in _wrap(SIDE_BODY, 340, 10):
        page.insert_text((180, y), line, fontname=FONT, fontsize=10)
        y += 15
    note_y = 135.0
    for line in _wrap(SIDE_NOTE, 100, 10):
        page.insert_text((60, note_y), line, fontname=FONT, fontsize=10)
        note_y += 14
    page.insert_text((180, y + 30), "높은 경쟁강도는 이익 감소로 나타나고 있다.", fontname=FONT, fontsize=10)
    return doc.tobytes(garbage=3, deflate=True)


SCANNED_LINES = ["스캔한 공문서의 본문입니다.", "지원 대상은 청년 농업인입니다.", "신청 기간은 3월 말까지입니다."]


def scanned_text_pdf(dpi: int = 200) -> bytes:
    """A page that is only a picture of Korean text (SCANNED_LINES, 20 pt), sharp enough to be
    read by OCR, plus a page with a text layer."""
    src = pymupdf.open()
    page = src.new_page(width=A4[0], height=A4[1])
    for i, line in enumerate(SCANNED_LINES):
        page.insert_text((MARGIN, 120 + i * 40), line, fontname=FONT, fontsize=20)
    pix = page.get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY)
    doc = pymupdf.open(stream=korean_pdf(["글자가 있는 첫 쪽입니다. 다음 쪽은 스캔본입니다."]))
    scan = doc.new_page(width=A4[0], height=A4[1])
    scan.insert_image(scan.rect, pixmap=pix)
    return doc.tobytes(garbage=3, deflate=True)


CHART_CAPTION = "<그림 2> 국내 이커머스 시장 점유율"
CHART_LABELS = ["네이버 17%", "쿠팡 13%", "이베이코리아 12%", "기타 58%"]
CHART_BODY = "국내 이커머스 시장은 상위 사업자의 점유율이 높아지는 추세이다. 아래 그림은 2020년 업체별 비중이다."


def raster_chart_pdf(dpi: int = 200) -> bytes:
    """A text page with a chart pasted as a picture (its labels CHART_LABELS only in the image),
    under the caption CHART_CAPTION; the picture sits at (100, 200)-(460, 440)."""
    src = pymupdf.open()
    art = src.new_page(width=360, height=240)
    art.draw_rect(art.rect, color=None, fill=(1, 1, 1))
    for i, label in enumerate(CHART_LABELS):
        y = 40 + i * 50
        art.draw_rect(pymupdf.Rect(20, y - 14, 20 + 60 + 30 * (3 - i), y + 4), color=None, fill=(0.3, 0.5, 0.8))
        art.insert_text((200, y), label, fontname=FONT, fontsize=16)
    pix = art.get_pixmap(dpi=dpi)
    doc = pymupdf.open()
    page = doc.new_page(width=A4[0], height=A4[1])
    _write(page, MARGIN, 100, A4[0] - 2 * MARGIN, CHART_BODY)
    page.insert_text((100, 190), CHART_CAPTION, fontname=FONT, fontsize=SIZE)
    page.insert_image(pymupdf.Rect(100, 200, 460, 440), pixmap=pix)
    return doc.tobytes(garbage=3, deflate=True)


SPLIT_CAPTION = "<표 2> 연도별 사업 예산"
SPLIT_HEADER = ["사업", "2023년", "2024년"]
SPLIT_ROWS = [[f"{i}번 사업", f"{i * 10}억원", f"{i * 12}억원"] for i in range(1, 31)]


def _ruled(page: pymupdf.Page, rows: list[list[str]], x0: float, y0: float, col_w: float = 140.0,
           row_h: float = 24.0) -> float:
    """Draw `rows` as a ruled grid from (x0, y0); return its bottom."""
    n, cols = len(rows), len(rows[0])
    for r in range(n + 1):
        page.draw_line((x0, y0 + r * row_h), (x0 + cols * col_w, y0 + r * row_h), width=0.8)
    for c in range(cols + 1):
        page.draw_line((x0 + c * col_w, y0), (x0 + c * col_w, y0 + n * row_h), width=0.8)
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            page.insert_text((x0 + c * col_w + 8, y0 + r * row_h + 16), cell, fontname=FONT, fontsize=SIZE)
    return y0 + n * row_h


def split_table_pdf() -> bytes:
    """Page 1: text, then SPLIT_CAPTION at its foot; page 2: the table (SPLIT_HEADER and the first
    rows), going on over page 3 without its header."""
    doc = pymupdf.open()
    page = doc.new_page(width=A4[0], height=A4[1])
    _write(page, MARGIN, 100, A4[0] - 2 * MARGIN, "사업별 예산은 다음 표와 같다. " * 20)
    page.insert_text((MARGIN, A4[1] - 90), SPLIT_CAPTION, fontname=FONT, fontsize=SIZE)
    page = doc.new_page(width=A4[0], height=A4[1])
    _ruled(page, [SPLIT_HEADER, *SPLIT_ROWS[:20]], MARGIN, 80)
    page = doc.new_page(width=A4[0], height=A4[1])
    _ruled(page, SPLIT_ROWS[20:], MARGIN, 80)
    _write(page, MARGIN, 400, A4[0] - 2 * MARGIN, "예산은 매년 늘었다.")
    return doc.tobytes(garbage=3, deflate=True)


LEAD_IN = "구체적인 퇴직수당 및 퇴직연금 환수 내역은 아래와 같다."
LEAD_IN_ROWS = [["구분", "지급액", "환수액"], ["퇴직수당", "80,457,060원", "40,228,530원"],
                ["퇴직연금", "53,903,120원", "26,951,560원"]]


def lead_in_pdf() -> bytes:
    """Page 1: a paragraph ending with LEAD_IN at its foot; page 2: a ruled table with no title,
    then a paragraph that introduces nothing and a second untitled table."""
    doc = pymupdf.open()
    page = doc.new_page(width=A4[0], height=A4[1])
    _write(page, MARGIN, 100, A4[0] - 2 * MARGIN, "원고는 공무원으로 재직하다가 명예퇴직하였다. " * 12)
    _write(page, MARGIN, A4[1] - 120, A4[0] - 2 * MARGIN, "피고는 원고에게 환수 사실을 통지하였다. " + LEAD_IN)
    page = doc.new_page(width=A4[0], height=A4[1])
    bottom = _ruled(page, LEAD_IN_ROWS, MARGIN, 80)
    bottom = _write(page, MARGIN, bottom + 40, A4[0] - 2 * MARGIN, "원고는 처분에 불복하여 소를 제기하였다.")
    _ruled(page, [["연도", "금액"], ["2021년", "1,000원"], ["2022년", "2,000원"]], MARGIN, bottom + 40)
    return doc.tobytes(garbage=3, deflate=True)
