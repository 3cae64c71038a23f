"""Chunking: passages fit the model (counted with its own tokenizer), follow sentences, keep tables."""

from __future__ import annotations

from docqa.types import Block, Page, ParsedDocument
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


def test_a_table_stays_whole_when_it_fits(embedder):
    table = "| 구분 | 2023 | 2024 |\n| --- | --- | --- |\n| 예산 | 100 | 120 |\n| 인원 | 30 | 35 |"
    blocks = [Block(" ".join(SENTENCES * 3), (0, 0, 1, 1)), Block(table, (0, 100, 500, 200), "table")]
    chunks = Chunker.for_embedder(embedder, 128, 0).chunk(doc_of(page_of(blocks)))
    holding = [c for c in chunks if "| 예산 |" in c.text]
    assert len(holding) == 1 and table in holding[0].text


def test_a_long_table_is_split_by_rows_with_its_header_repeated(embedder):
    rows = [f"| {i}번 사업 | 지방자치단체 보조금 {i * 10}억원 | 진행 중 |" for i in range(60)]
    table = "\n".join(["| 사업 | 예산 | 상태 |", "| --- | --- | --- |", *rows])
    chunks = Chunker.for_embedder(embedder, 128, 0).chunk(doc_of(page_of([Block(table, (0, 0, 1, 1), "table")])))
    assert len(chunks) > 3
    for c in chunks:
        assert c.text.startswith("| 사업 | 예산 | 상태 |")
        assert embedder.passage_tokens(c.text) <= 128
        assert all(line.startswith("|") and line.endswith("|") for line in c.text.splitlines())
    joined = "\n".join(c.text for c in chunks)
    assert all(row in joined for row in rows)


def test_pages_not_ok_are_not_chunked_and_chunks_never_cross_pages(embedder):
    p1 = page_of([Block(SENTENCES[0], (0, 0, 1, 1))], 1)
    scan = Page(2, "", (), 595, 842, "scanned")
    p3 = page_of([Block(SENTENCES[1], (0, 0, 1, 1))], 3)
    chunks = Chunker.for_embedder(embedder, 256, 0).chunk(doc_of(p1, scan, p3))
    assert [c.pages for c in chunks] == [(1,), (3,)]
    assert len({c.chunk_id for c in chunks}) == 2
