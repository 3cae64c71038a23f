"""Chunking: passages fit the model (counted with its own tokenizer), follow sentences, keep tables."""

from __future__ import annotations

from docqa.text import table_text
from docqa.types import Block, Page, ParsedDocument, Table
from ingest.chunk import Chunker

SENTENCES = [
    "금융위원회는 지방은행의 시중은행 전환 시 인가 방식과 절차를 마련하였다.",
    "기존 인가를 유지하면서 인가 내용을 변경하는 방식으로 심사한다.",
    "대주주 요건과 자본금 요건은 시중은행과 동일한 기준을 적용한다.",
    "심사 기간은 신청 후 약 6개월 내외가 소요될 것으로 예상된다.",
]


def page_of(blocks: list[Block], number: int = 1) -> Page:
    return Page(number, "\n\n".join(b.text for b in blocks), tuple(blocks), 595.0, 842.0)


def doc_of(*pages: Page) -> ParsedDocument:
    return ParsedDocument("d" * 32, "문서.pdf", pages)


def test_every_chunk_fits_including_prefix_and_specials(embedder):
    long_text = " ".join(SENTENCES * 30)
    chunker = Chunker.for_embedder(embedder, max_tokens=128, overlap=16)
    chunks = chunker.chunk(doc_of(page_of([Block(long_text, (0, 0, 100, 100))])))
    assert len(chunks) > 5
    for c in chunks:
        exact = embedder.passage_tokens(c.text)
        assert exact == c.n_tokens and exact <= 128


def test_default_size_never_exceeds_the_models_512_limit(embedder):
    chunker = Chunker.for_embedder(embedder, max_tokens=4096, overlap=0)
    assert chunker.max_tokens == 512
    one_huge_sentence = "가나다라마바사아자차카타파하" * 400  # no sentence end, no spaces
    chunks = chunker.chunk(doc_of(page_of([Block(one_huge_sentence, (0, 0, 1, 1))])))
    assert chunks and all(embedder.passage_tokens(c.text) <= 512 for c in chunks)


def test_chunks_end_on_sentence_boundaries_and_overlap(embedder):
    text = " ".join(SENTENCES * 6)
    chunker = Chunker.for_embedder(embedder, max_tokens=96, overlap=24)
    chunks = chunker.chunk(doc_of(page_of([Block(text, (0, 0, 1, 1))])))
    assert len(chunks) >= 3
    for c in chunks:
        assert c.text.endswith("."), c.text
        assert c.text[0] in "금기대심", c.text
    # consecutive chunks share their boundary sentence (overlap)
    assert any(a.text.split(". ")[-1] in b.text for a, b in zip(chunks, chunks[1:]))


def test_offsets_and_rects_point_back_into_the_page(embedder):
    blocks = [Block("1. 추진 배경", (50, 40, 300, 60), "heading"), Block(" ".join(SENTENCES), (50, 70, 540, 200))]
    page = page_of(blocks, number=3)
    (chunk,) = Chunker.for_embedder(embedder, 256, 0).chunk(doc_of(page), domain="finance")
    assert page.text[chunk.char_start:chunk.char_end].strip() == chunk.text
    assert chunk.page_start == chunk.page_end == 3 and chunk.pages == (3,)
    assert chunk.heading == "1. 추진 배경" and chunk.domain == "finance"
    assert (3, 50, 70, 540, 200) in chunk.rects


def table_block(rows: list[list[str]], caption: str = "", header_rows: int = 1) -> Block:
    table = Table(tuple(tuple(r) for r in rows), header_rows, caption)
    return Block(table_text(caption, table.rows, header_rows), (60, 300, 540, 500), "table", table)


def test_a_table_is_a_passage_of_its_own_with_caption_heading_and_column_names(embedder):
    rows = [["구분", "2023", "2024"], ["예산", "100억원", "120억원"], ["인원", "30명", "35명"]]
    blocks = [Block("2. 추진 실적", (60, 40, 300, 60), "heading"), Block(" ".join(SENTENCES * 2), (60, 70, 540, 200)),
              table_block(rows, "<표 1> 연도별 예산"), Block(SENTENCES[3], (60, 520, 540, 540))]
    page = page_of(blocks)
    chunks = Chunker.for_embedder(embedder, 256, 0).chunk(doc_of(page))
    assert [c.kind for c in chunks] == ["text", "table", "text"]
    table = chunks[1]
    # Read alone, the passage still says what it is: caption / section heading, then named values.
    assert table.text.splitlines() == [
        "<표 1> 연도별 예산 / 2. 추진 실적",
        "구분: 예산 · 2023: 100억원 · 2024: 120억원",
        "구분: 인원 · 2023: 30명 · 2024: 35명",
    ]
    assert "|" not in table.text and table.heading == "2. 추진 실적"
    assert table.table == Table(tuple(tuple(r) for r in rows), 1, "<표 1> 연도별 예산")
    assert table.rects == ((1, 60, 300, 540, 500),)
    # Text passages never take the table's lines, and the table's text is in no text passage.
    assert all("100억원" not in c.text for c in chunks if c.kind == "text")
    assert page.text[table.char_start:table.char_end].startswith("구분: 예산")


def test_a_long_table_is_split_by_rows_repeating_caption_and_header(embedder):
    header = ["사업", "예산", "상태"]
    body = [[f"{i}번 사업", f"지방자치단체 보조금 {i * 10}억원", "진행 중"] for i in range(60)]
    block = table_block([header, *body], "<표 3> 지역 사업 현황")
    chunks = Chunker.for_embedder(embedder, 128, 16).chunk(doc_of(page_of([block])))
    assert len(chunks) > 3 and all(c.kind == "table" for c in chunks)
    seen = []
    for c in chunks:
        lines = c.text.splitlines()
        assert lines[0] == "<표 3> 지역 사업 현황"
        assert all(line.startswith("사업: ") and " · 예산: " in line for line in lines[1:])
        assert embedder.passage_tokens(c.text) <= 128 and c.n_tokens <= 128
        # The part's cells: the header row, then exactly the rows in this passage.
        assert c.table.rows[0] == tuple(header) and c.table.header_rows == 1
        assert [f"사업: {r[0]} · 예산: {r[1]} · 상태: {r[2]}" for r in c.table.rows[1:]] == lines[1:]
        seen += lines[1:]
    assert seen == [f"사업: {r[0]} · 예산: {r[1]} · 상태: {r[2]}" for r in body]  # every row once, in order


def test_a_figure_is_a_passage_of_its_own_and_ocr_text_is_marked(embedder):
    figure = Block("<그림 1> 연도별 매출\n2021 2022 2023\n120 185 240", (100, 200, 500, 400), "figure", None, "ocr")
    blocks = [Block(SENTENCES[0], (60, 70, 540, 100)), figure, Block(SENTENCES[1], (60, 420, 540, 450))]
    chunks = Chunker.for_embedder(embedder, 256, 0).chunk(doc_of(page_of(blocks)))
    assert [c.kind for c in chunks] == ["text", "figure", "text"]
    assert chunks[1].text == figure.text and chunks[1].rects == ((1, 100, 200, 500, 400),)
    assert [c.ocr for c in chunks] == [False, True, False]


def test_pages_not_ok_are_not_chunked_and_chunks_never_cross_pages(embedder):
    p1 = page_of([Block(SENTENCES[0], (0, 0, 1, 1))], 1)
    scan = Page(2, "", (), 595, 842, "scanned")
    p3 = page_of([Block(SENTENCES[1], (0, 0, 1, 1))], 3)
    chunks = Chunker.for_embedder(embedder, 256, 0).chunk(doc_of(p1, scan, p3))
    assert [c.pages for c in chunks] == [(1,), (3,)]
    assert len({c.chunk_id for c in chunks}) == 2


def test_a_table_passage_is_indexed_for_bm25_with_each_column_name_once(embedder):
    from retrieval.lexical import lexical_text

    rows = [["구분", "2023", "2024"], ["예산", "100억원", "120억원"], ["인원", "30명", "35명"]]
    blocks = [Block("2. 추진 실적", (60, 40, 300, 60), "heading"), table_block(rows, "<표 1> 연도별 예산")]
    (chunk,) = [c for c in Chunker.for_embedder(embedder, 256, 0).chunk(doc_of(page_of(blocks))) if c.kind == "table"]
    assert chunk.text.count("구분") == 2  # the linear form names the column in every row ...
    assert lexical_text(chunk).split("\n") == ["2. 추진 실적", "<표 1> 연도별 예산", "구분 2023 2024",
                                               "예산 100억원 120억원", "인원 30명 35명"]  # ... BM25 counts it once
