"""HWP 5 and HWPX: real files laid out into cited pages, tiny HWPX built here, the text-only
fallback, every kind of bad input, and a question answered from a real .hwp regulation through
the real Searcher with the real offline model."""

from __future__ import annotations

import collections
import io
import re
import unicodedata
import zipfile

import pymupdf
import pytest

from docqa.config import Settings
from docqa.errors import (
    CorruptDocumentError,
    EmptyFileError,
    EncryptedDocumentError,
    IngestError,
    NotPDFError,
    UnsupportedFormatError,
)
from docqa.services import open_store
from ingest.__main__ import collect
from ingest.formats import SUPPORTED_SUFFIXES, parse_document, sniff_format
from ingest.hwp import TEXT_ONLY_NOTE, coverage, plain_text, read_owpml, read_unhwp, text_document
from ingest.pipeline import Ingestor
from retrieval.search import Searcher
from tests import pdfs
from tests.conftest import eval_file, eval_pdf

HWP = "hwp/moel_04_instructor_education.hwp"  # 9 pages: the small real HWP
LOAN = "hwp/moel_03_livelihood_loan.hwp"  # 16 pages: a regulation with forms and nested tables
HWPX = "public/(240411보도자료) 재정동향 4월호.hwpx"  # 4 pages: tables, coloured and bold runs
HWPX_EDU = "public/(보도자료)2024년+교육부+주요정책+추진계획+발표.hwpx"
HWPX_DISTRIBUTION = "public/2024년 행정안전부 업무계획.hwpx"  # 배포용: its parts are encrypted
ALL_HWP = [f"hwp/moel_0{i}_{n}.hwp" for i, n in enumerate(
    ["goyang_center", "vocational_training", "livelihood_loan", "instructor_education", "quality_management"], 1)]


# ---------------------------------------------------------------------------- tiny OWPML builder

_NS = ('xmlns:hp="http://www.hancom.co.kr/hwpml/2011/paragraph" xmlns:hs="http://www.hancom.co.kr/hwpml/2011/section" '
       'xmlns:hh="http://www.hancom.co.kr/hwpml/2011/head"')


def para(text: str) -> str:
    return (f'<hp:p paraPrIDRef="0" styleIDRef="0" pageBreak="0" columnBreak="0"><hp:run charPrIDRef="0">'
            f"<hp:t>{text}</hp:t></hp:run></hp:p>")


def table(rows: list[list[str]]) -> str:
    """A table paragraph; each cell is OWPML paragraph markup (so a cell may hold another table)."""
    trs = "".join(
        "<hp:tr>" + "".join(
            f'<hp:tc><hp:subList>{cell}</hp:subList><hp:cellAddr colAddr="{c}" rowAddr="{r}"/>'
            f'<hp:cellSpan colSpan="1" rowSpan="1"/><hp:cellSz width="10000" height="1000"/></hp:tc>'
            for c, cell in enumerate(row)) + "</hp:tr>"
        for r, row in enumerate(rows))
    return (f'<hp:p paraPrIDRef="0" styleIDRef="0"><hp:run charPrIDRef="0"><hp:tbl rowCnt="{len(rows)}" '
            f'colCnt="{len(rows[0])}" cellSpacing="0" borderFillIDRef="1"><hp:sz width="30000" height="3000"/>'
            f'<hp:pos treatAsChar="1"/>{trs}</hp:tbl></hp:run></hp:p>')


def tiny_hwpx(*sections: str, header: bool = False, mimetype: str = "application/hwp+zip",
              manifest: str = "", package_attrs: str = "") -> bytes:
    """An HWPX (zip of OWPML XML) with the given section bodies; without header.xml by default."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("mimetype"), mimetype)  # stored, first, as OCF wants
        z.writestr("version.xml", '<?xml version="1.0" encoding="UTF-8"?><hv:HCFVersion '
                   'xmlns:hv="http://www.hancom.co.kr/hwpml/2011/version" major="5" minor="1"/>')
        z.writestr("META-INF/container.xml", '<?xml version="1.0" encoding="UTF-8"?><ocf:container '
                   'xmlns:ocf="urn:oasis:names:tc:opendocument:xmlns:container"><ocf:rootfiles><ocf:rootfile '
                   'full-path="Contents/content.hpf" media-type="application/hwpml-package+xml"/></ocf:rootfiles>'
                   '</ocf:container>')
        items = "".join(f'<opf:item id="section{i}" href="Contents/section{i}.xml" media-type="application/xml"/>'
                        for i in range(len(sections)))
        z.writestr("Contents/content.hpf", f'<?xml version="1.0" encoding="UTF-8"?><opf:package '
                   f'xmlns:opf="http://www.idpf.org/2007/opf/" xmlns:hpf="http://www.hancom.co.kr/schema/2011/hpf" '
                   f'{package_attrs}><opf:manifest>{items}</opf:manifest></opf:package>')
        if manifest:
            z.writestr("META-INF/manifest.xml", manifest)
        if header:
            z.writestr("Contents/header.xml", f'<?xml version="1.0" encoding="UTF-8"?><hh:head {_NS} '
                       f'version="1.4" secCnt="{len(sections)}"><hh:refList/></hh:head>')
        for i, body in enumerate(sections):
            z.writestr(f"Contents/section{i}.xml",
                       f'<?xml version="1.0" encoding="UTF-8"?><hs:sec {_NS}>{body}</hs:sec>')
    return buf.getvalue()


REGULATION = [
    para("제1조(목적) 이 규정은 시험용 대부 사업의 운영에 필요한 사항을 정한다."),
    para("1. 대부금은 3년 거치 5년 균등 분할상환한다."),
    table([[para("구분"), para("한도")], [para("생계비 대부"), para("1천만원")]]),
]


# ---------------------------------------------------------------------------- real files, rendered


@pytest.fixture(scope="module")
def small_hwp():
    data = eval_file(HWP).read_bytes()
    return data, parse_document(data, "moel_04.hwp")


@pytest.fixture(scope="module")
def small_hwpx():
    data = eval_pdf(HWPX).read_bytes()
    return data, parse_document(data, "재정동향.hwpx")


def test_a_real_hwp_is_laid_out_into_printed_pages_with_a_text_layer(small_hwp):
    data, doc = small_hwp
    assert doc.format == "hwp" and doc.page_pdf is not None and not doc.notes
    assert [p.number for p in doc.pages] == list(range(1, 10))
    assert all(p.status == "ok" for p in doc.pages)
    with pymupdf.open("pdf", doc.page_pdf) as pdf:
        assert pdf.page_count == 9
        # A4 as printed (points), and the text layer holds the words the page shows.
        assert round(pdf[0].rect.width) == 595 and round(pdf[0].rect.height) == 842
        layer = pdf[0].get_text()
    assert "직업능력개발훈련" in layer.replace(" ", "")
    # Everything the file says is on the pages: the file's own text, read by a second extractor.
    ours = "\n".join(p.text for p in doc.pages)
    assert coverage(plain_text(read_unhwp(data)), ours) >= 0.99
    assert all(unicodedata.is_normalized("NFC", p.text) for p in doc.pages)


def cell_text(page) -> str:
    """A page's words as the file holds them: tables as their cells (a table block's text adds
    the column names to each value)."""
    return "\n".join(" ".join(dict.fromkeys(c for row in b.table.rows for c in row))  # a spanning cell once
                     if b.table is not None else b.text for b in page.blocks)


def test_word_spaces_and_paragraphs_are_the_documents_own(small_hwp):
    data, doc = small_hwp
    source = plain_text(read_unhwp(data))
    words = collections.Counter(re.findall(r"\S+", source))
    ours = [w for p in doc.pages for w in re.findall(r"\S+", cell_text(p))]
    # A word of ours that the file spells as two words lost a space; measured 0 of ~1,000 here.
    glued = [w for w in ours if w not in words and any(w[:i] in words and w[i:] in words for i in range(1, len(w)))]
    assert len(glued) <= 3, glued[:10]
    assert "제1조(목적) 이 고시는" in "\n".join(p.text for p in doc.pages)


def test_every_block_points_into_its_rendered_page(small_hwp):
    _, doc = small_hwp
    with pymupdf.open("pdf", doc.page_pdf) as pdf:
        for page in doc.pages:
            rendered = pdf[page.number - 1]
            for block in page.blocks:
                rect = pymupdf.Rect(block.bbox)
                assert rect in rendered.rect + (-2, -2, 2, 2)
                shown = rendered.get_textbox(rect + (-1, -1, 1, 1)).replace(" ", "").replace("\n", "")
                first = re.sub(r"\s", "", block.text)[:8]
                assert first[:4] in shown, (page.number, block.text[:40], shown[:60])


def test_a_real_hwpx_keeps_tables_colours_and_bold_runs_in_reading_order(small_hwpx):
    data, doc = small_hwpx
    assert doc.format == "hwpx" and len(doc.pages) == 4 and doc.page_pdf is not None
    tables = [b for p in doc.pages for b in p.blocks if b.kind == "table"]
    assert len(tables) >= 2 and all(b.table is not None and b.table.rows for b in tables)
    text = "\n".join(p.text for p in doc.pages)
    # Bold and coloured words sit inside their sentence, not gathered after the page's plain text.
    assert "24.2월말 누계 총수입은 국세" in text.replace("’", "")
    source = plain_text(read_unhwp(data))
    assert coverage(source, text) >= 0.99
    cells = "\n".join(cell_text(p) for p in doc.pages)  # a table's text names its columns: cells only
    assert coverage(cells, source) >= 0.95  # hardly anything of ours is missing from the file: no duplicates
    # Shaded tables without rules come back as the file's own tables, cells and all.
    assert len(tables) == 6
    assert any(b.table is not None and "’24년(잠정)" in b.table.rows[0] for b in tables)


def test_nested_table_cells_are_not_duplicated():
    data = eval_file(LOAN).read_bytes()
    doc = parse_document(data, "loan.hwp")
    source = re.sub(r"\s", "", plain_text(read_unhwp(data)))
    counts = collections.Counter(b.text for p in doc.pages for b in p.blocks if len(b.text) >= 20)
    for text, n in counts.items():
        if n > 1:  # a passage repeated on the pages is repeated in the file too (e.g. 부칙 clauses)
            assert source.count(re.sub(r"\s", "", text)) >= n, text


@pytest.mark.parametrize("name", [*ALL_HWP, "pdfs/" + HWPX, "pdfs/" + HWPX_EDU])
def test_every_real_hwp_and_hwpx_is_read_with_pages_and_page_images(name):
    data = eval_file(name).read_bytes()
    doc = parse_document(data, name.rsplit("/", 1)[-1])
    assert doc.page_pdf is not None and len(doc.pages) >= 4
    with pymupdf.open("pdf", doc.page_pdf) as pdf:
        assert pdf.page_count == len(doc.pages)
    assert sum(1 for p in doc.pages if p.status == "ok") >= len(doc.pages) - 1
    assert coverage(plain_text(read_unhwp(data)), "\n".join(p.text for p in doc.pages)) >= 0.98


# ---------------------------------------------------------------------------- text-only fallback


def test_a_file_that_cannot_be_laid_out_is_indexed_from_its_text_per_section():
    # rhwp needs Contents/header.xml to lay a document out; the text reader does not.
    data = tiny_hwpx("".join(REGULATION), para("제2조(기타) 둘째 구역의 문단입니다."))
    doc = parse_document(data, "작은규정.hwpx")
    assert doc.format == "hwpx" and doc.page_pdf is None and doc.notes == (TEXT_ONLY_NOTE,)
    assert "쪽 이미지" in doc.notes[0]
    assert [p.number for p in doc.pages] == [1, 2]  # page = section
    kinds = [b.kind for b in doc.pages[0].blocks]
    assert kinds == ["text", "item", "table"]
    table_block = doc.pages[0].blocks[2]
    assert table_block.table.rows == (("구분", "한도"), ("생계비 대부", "1천만원"))
    assert table_block.text == "구분: 생계비 대부 · 한도: 1천만원"  # as the PDF parser writes a table
    assert doc.pages[0].text == "\n\n".join(b.text for b in doc.pages[0].blocks)
    assert doc.pages[1].text == "제2조(기타) 둘째 구역의 문단입니다."


def test_the_text_only_pages_of_a_real_hwpx_are_its_printed_pages(small_hwpx):
    # OWPML keeps the line positions of the last layout: the text-only reader cuts pages there.
    data, rendered = small_hwpx
    pages = read_owpml(data)
    assert len(pages) == len(rendered.pages) == 4
    squeeze = lambda page: re.sub(r"\s", "", cell_text(page))  # noqa: E731
    for number, items in enumerate(pages, start=1):
        page = text_document(data, "x.hwpx", "hwpx", [items]).pages[0]
        last_words = squeeze(page)[-12:]  # a page's last words are printed on that page
        assert last_words in squeeze(rendered.pages[number - 1]), (number, last_words)


def test_a_layout_that_loses_the_text_falls_back_to_the_text():
    # With a bare header.xml rhwp lays out pages but draws none of the text: the pages show
    # too little of the file's own text, so the text is indexed instead.
    doc = parse_document(tiny_hwpx("".join(REGULATION), header=True), "빈배치.hwpx")
    assert doc.page_pdf is None and doc.notes == (TEXT_ONLY_NOTE,)
    assert "3년 거치 5년 균등 분할상환" in doc.pages[0].text


def test_a_text_only_document_is_indexed_with_its_note(ingestor, store):
    report = ingestor.ingest([("작은규정.hwpx", tiny_hwpx("".join(REGULATION)))])
    result = report.files[0]
    assert result.status == "indexed" and result.pages == 1 and result.chunks >= 1
    assert TEXT_ONLY_NOTE in result.warnings
    info = store.document(result.doc_id)
    assert info.format == "hwpx" and not info.page_images


# ---------------------------------------------------------------------------- bad input


def _flip_flags(data: bytes, bits: int) -> bytes:
    """The HWP with FileHeader property bits set (the 256-byte header is stored uncompressed)."""
    at = data.index(b"HWP Document File")
    flags = int.from_bytes(data[at + 36:at + 40], "little") | bits
    return data[:at + 36] + flags.to_bytes(4, "little") + data[at + 40:]


def _bad_inputs() -> dict[str, tuple[bytes, type[IngestError], str]]:
    hwp = eval_file(HWP).read_bytes()
    good_hwpx = tiny_hwpx(para("본문"))
    encrypted = '<odf:manifest xmlns:odf="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><odf:file-entry ' \
                'full-path="Contents/section0.xml"><odf:encryption-data checksum="x"/></odf:file-entry></odf:manifest>'
    random_zip = io.BytesIO()
    with zipfile.ZipFile(random_zip, "w") as z:
        z.writestr("readme.txt", "not a document")
    crc = bytearray(tiny_hwpx(para("검사합이 틀린 본문입니다. " * 20)))
    crc[crc.index(b"Contents/section0.xml") + 60] ^= 0xFF  # inside the section's compressed data
    return {
        "truncated.hwp": (hwp[: len(hwp) * 9 // 10], CorruptDocumentError, "잘렸거나 손상"),
        "cut-in-half.hwp": (hwp[: len(hwp) // 2], CorruptDocumentError, "손상"),
        "password.hwp": (_flip_flags(hwp, 0x02), EncryptedDocumentError, "암호로 보호된 HWP"),
        "distribution.hwp": (_flip_flags(hwp, 0x04), EncryptedDocumentError, "배포용 HWP"),
        "old.hwp": (b"HWP Document File V3.00 \x1a\x01\x02\x03\x04\x05" + bytes(200), UnsupportedFormatError,
                    "HWP 3.0"),
        "random.zip": (random_zip.getvalue(), UnsupportedFormatError, "HWPX(OWPML) 문서가 아닌 ZIP"),
        "docx-like.hwpx": (tiny_hwpx(para("x"), mimetype="application/vnd.openxmlformats"), UnsupportedFormatError,
                           "HWPX(OWPML) 문서가 아닌 ZIP"),
        "truncated.hwpx": (good_hwpx[: len(good_hwpx) * 2 // 3], CorruptDocumentError, "손상"),
        "crc.hwpx": (bytes(crc), CorruptDocumentError, "손상"),
        "password.hwpx": (tiny_hwpx(para("x"), manifest=encrypted), EncryptedDocumentError, "암호로 보호된 HWPX"),
        "distribution.hwpx": (tiny_hwpx(para("x"), manifest=encrypted, package_attrs='hpf:distribution="1"'),
                              EncryptedDocumentError, "배포용 HWPX"),
        "not-hwp.hwp": (b"plain text saved as .hwp", CorruptDocumentError, "HWP 파일이 아니거나"),
        "empty.hwpx": (b"", EmptyFileError, "비어 있습니다"),
        "notes.txt": ("메모입니다".encode(), UnsupportedFormatError, "PDF, HWP, HWPX 파일만"),
        "fake.pdf": (b"no header here", NotPDFError, "PDF 파일이 아닙니다"),
    }


BAD_NAMES = ["truncated.hwp", "cut-in-half.hwp", "password.hwp", "distribution.hwp", "old.hwp", "random.zip",
             "docx-like.hwpx", "truncated.hwpx", "crc.hwpx", "password.hwpx", "distribution.hwpx", "not-hwp.hwp",
             "empty.hwpx", "notes.txt", "fake.pdf"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_input_is_refused_with_a_korean_message_naming_the_file(name):
    data, error, words = _bad_inputs()[name]
    with pytest.raises(error) as info:
        parse_document(data, name)
    message = str(info.value)
    assert name in message and words in message, message


def test_the_real_distribution_only_hwpx_is_refused():
    with pytest.raises(EncryptedDocumentError, match="배포용 HWPX"):
        parse_document(eval_pdf(HWPX_DISTRIBUTION).read_bytes(), "업무계획.hwpx")


def test_bad_files_fail_alone_and_leave_nothing_in_the_index(ingestor, store):
    bad = _bad_inputs()
    batch = [(n, bad[n][0]) for n in ("truncated.hwp", "password.hwp", "old.hwp", "random.zip")]
    report = ingestor.ingest([*batch, ("작은규정.hwpx", tiny_hwpx("".join(REGULATION)))])
    assert [f.status for f in report.files] == ["failed"] * 4 + ["indexed"]
    assert all(f.file_name in f.message for f in report.files[:4])
    assert [d.file_name for d in store.documents()] == ["작은규정.hwpx"]
    assert {c.doc_id for c in store.all_chunks()} == {report.files[4].doc_id}


def test_sniffing_goes_by_bytes_first():
    pdf = pdfs.korean_pdf(["한글 본문"])
    assert sniff_format(pdf, "misnamed.hwp") == "pdf"
    assert sniff_format(tiny_hwpx(para("x")), "misnamed.pdf") == "hwpx"
    assert sniff_format(eval_file(HWP).read_bytes()[:4096], "x.bin") == "hwp"
    assert parse_document(pdf, "misnamed.hwp").format == "pdf"


def test_the_cli_collects_hwp_and_hwpx_from_folders(tmp_path):
    for name in ("a.pdf", "b.HWP", "sub/c.hwpx", "d.docx", "e.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in collect([str(tmp_path)])] == ["a.pdf", "b.HWP", "c.hwpx"]
    assert SUPPORTED_SUFFIXES == (".pdf", ".hwp", ".hwpx")


# ---------------------------------------------------------------------------- search


@pytest.fixture(scope="module")
def hwp_index(tmp_path_factory, embedder):
    settings = Settings(data_dir=tmp_path_factory.mktemp("hwp-search"))
    store = open_store(settings, embedder)
    files = [eval_file(LOAN), eval_file(HWP), eval_pdf(HWPX), eval_pdf(HWPX_EDU), eval_pdf(HWPX_DISTRIBUTION)]
    report = Ingestor(store, embedder, settings).ingest(files, domain="public")
    assert [f.status for f in report.files] == ["indexed"] * 4 + ["failed"], report.files
    assert "배포용" in report.files[4].message
    return store, Searcher.from_services(store, embedder, settings)


def test_a_clause_of_an_hwp_regulation_is_found_cited_by_file_and_printed_page(hwp_index):
    store, searcher = hwp_index
    result = searcher.search("직업훈련 생계비 대부금의 상환 방법은 무엇인가요?", k=5)
    top = result.hits[:3]
    clause = [h for h in top if h.chunk.file_name == "moel_03_livelihood_loan.hwp"
              and "제17조(대부금 상환방법)" in h.chunk.text]
    assert clause, [(h.chunk.file_name, h.chunk.page_start, h.chunk.text[:60]) for h in top]
    chunk = clause[0].chunk
    assert chunk.page_start == chunk.page_end == 8  # the clause's page as printed
    assert "3년 거치 5년의 기간 동안 매월 균등 분할상환" in chunk.text
    # Its rectangles point at the clause on the stored printable PDF (what the page image shows).
    info = store.document(chunk.doc_id)
    assert info.format == "hwp" and info.page_images
    with pymupdf.open(store.page_pdf_path(chunk.doc_id)) as pdf:
        assert pdf.page_count == info.pages == 16
        page = pdf[7]
        shown = "".join(page.get_textbox(pymupdf.Rect(r[1:]) + (-1, -1, 1, 1)) for r in chunk.rects if r[0] == 8)
    assert "대부금상환방법" in shown.replace(" ", "").replace("\n", "")
