"""Search over real Korean PDFs in a real Chroma with the real offline model."""

from __future__ import annotations

import pytest

from docqa.config import Settings
from docqa.services import open_store
from ingest.pipeline import Ingestor
from retrieval.lexical import tokenize
from retrieval.rerank import SentenceReranker
from retrieval.search import Searcher
from tests.conftest import eval_pdf

DOCS = {
    "finance": ["240130(보도자료) 지방은행의 시중은행 전환시 인가방식 및 절차.pdf",
                "240320(보도자료) 금융권의 상생금융 추진현황.pdf"],
    "medical": ["위식도역류성질환(Gastroesophageal Reflux Disease) (3)(0).pdf"],
}


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, embedder):
    settings = Settings(data_dir=tmp_path_factory.mktemp("search"), reranker="none")
    store = open_store(settings, embedder)
    ingestor = Ingestor(store, embedder, settings)
    for domain, names in DOCS.items():
        report = ingestor.ingest([eval_pdf(f"{domain}/{n}") for n in names], domain=domain)
        assert all(f.status == "indexed" for f in report.files), report.files
    return store, Searcher.from_services(store, embedder, settings)


def doc_id(store, name: str) -> str:
    return next(d.doc_id for d in store.documents() if d.file_name == name)


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_each_mode_finds_the_right_document(indexed, mode):
    _, searcher = indexed
    result = searcher.search("위식도 역류 질환의 증상은 무엇인가요?", k=5, mode=mode)
    assert result.hits and result.hits[0].chunk.file_name.startswith("위식도역류성질환")
    expected = {"dense": ("dense",), "lexical": ("lexical",), "hybrid": ("dense", "lexical", "fusion")}[mode]
    assert result.stages == expected
    assert all(stage in result.timings_ms for stage in expected if stage != "fusion")


def test_the_offline_sentence_reranker_reorders_the_fused_head_only(indexed, embedder):
    store, plain = indexed
    reranked = Searcher(store, embedder, SentenceReranker(embedder))
    question = "지방은행이 시중은행으로 전환할 때 인가 방식은 무엇인가?"
    before, after = plain.search(question, k=20), reranked.search(question, k=20)
    assert after.stages == ("dense", "lexical", "fusion", "rerank:sentence-e5") and after.timings_ms["rerank"] > 0
    ids = [[h.chunk.chunk_id for h in r.hits] for r in (before, after)]
    assert set(ids[1][:10]) == set(ids[0][:10]) and ids[1][10:] == ids[0][10:]
    assert after.hits[0].chunk.file_name == DOCS["finance"][0]
    assert all(a.score >= b.score for a, b in zip(after.hits, after.hits[1:]))


def test_hits_are_cited_with_page_rects_and_key_sentences(indexed):
    store, searcher = indexed
    result = searcher.search("지방은행이 시중은행으로 전환할 때 인가 방식은 무엇인가?", k=5)
    top = result.hits[0]
    assert top.chunk.file_name == DOCS["finance"][0] and top.chunk.doc_id == doc_id(store, DOCS["finance"][0])
    assert top.chunk.page_start >= 1 and top.chunk.rects and top.chunk.rects[0][0] == top.chunk.page_start
    assert top.key_sentences and all(s in top.chunk.text for s in top.key_sentences)
    assert "인가" in " ".join(top.key_sentences)
    assert [h.ranks["final"] for h in result.hits] == list(range(1, len(result.hits) + 1))
    assert all(a.score >= b.score for a, b in zip(result.hits, result.hits[1:]))


def test_no_passage_is_shown_twice(indexed):
    _, searcher = indexed
    hits = searcher.search("상생금융 추진 현황", k=10).hits
    seen = set()
    for h in hits:
        key = (h.chunk.doc_id, h.chunk.page_start)
        overlapping = [s for s in seen if s[:2] == key and s[2] < h.chunk.char_end and h.chunk.char_start < s[3]]
        assert not overlapping
        seen.add((*key, h.chunk.char_start, h.chunk.char_end))


def test_filters_by_domain_and_document_combine(indexed):
    store, searcher = indexed
    q = "은행 인가 절차"
    assert {h.chunk.domain for h in searcher.search(q, domains=["medical"]).hits} == {"medical"}
    only = doc_id(store, DOCS["finance"][1])
    hits = searcher.search(q, domains=["finance"], doc_ids=[only]).hits
    assert hits and {h.chunk.doc_id for h in hits} == {only}
    none = searcher.search(q, domains=["medical"], doc_ids=[only])
    assert none.hits == () and "조건" in none.message
    assert searcher.search(q, domains=["law"]).hits == ()


@pytest.mark.parametrize("query", ["", "   \n\t "])
def test_empty_questions_get_a_message(indexed, query):
    result = indexed[1].search(query)
    assert result.hits == () and result.message == "질문을 입력하세요."


@pytest.mark.parametrize("query", [
    "What are the symptoms of gastroesophageal reflux disease?",
    "GERD 증상 heartburn",
    "銀行 認可 節次",
    "!!! @@@ ### $$$ %%% ^^^ &&& *** ((( )))",
    "지방은행 " * 600,
])
def test_unusual_questions_never_raise(indexed, query):
    result = indexed[1].search(query, k=3)
    assert isinstance(result.hits, tuple) and len(result.hits) <= 3
    if len(query) > 2000:
        assert "앞 2000자" in result.message and result.hits


def test_an_empty_index_leads_to_the_documents_page(tmp_path, embedder):
    settings = Settings(data_dir=tmp_path, reranker="none")
    result = Searcher.from_services(open_store(settings, embedder), embedder, settings).search("질문")
    assert result.hits == () and "문서" in result.message and "올려" in result.message


def test_the_lexical_index_follows_additions_and_deletions(tmp_path, embedder):
    from tests import pdfs

    settings = Settings(data_dir=tmp_path, reranker="none")
    store = open_store(settings, embedder)
    searcher = Searcher.from_services(store, embedder, settings)
    ingestor = Ingestor(store, embedder, settings)
    ingestor.ingest([("가.pdf", pdfs.korean_pdf(["해양수산부는 갯벌 복원 사업을 확대한다."]))])
    assert searcher.search("갯벌 복원", mode="lexical").hits[0].chunk.file_name == "가.pdf"
    doc = ingestor.ingest([("나.pdf", pdfs.korean_pdf(["국토교통부는 도로터널 결로 대책을 발표했다."]))]).files[0]
    assert searcher.search("도로터널 결로", mode="lexical").hits[0].chunk.file_name == "나.pdf"
    store.delete_document(doc.doc_id)
    assert searcher.search("도로터널 결로", mode="lexical").hits == ()


def test_a_phrase_written_as_in_the_question_outranks_the_same_words_apart(tmp_path, embedder):
    """Both passages hold the same morphemes once each (same BM25 over morphemes); only one holds
    the question's side by side (the pairs of retrieval.lexical.term_pairs): it scores higher."""
    from tests import pdfs

    settings = Settings(data_dir=tmp_path, reranker="none")
    store = open_store(settings, embedder)
    searcher = Searcher.from_services(store, embedder, settings)
    Ingestor(store, embedder, settings).ingest([
        ("붙음.pdf", pdfs.korean_pdf(["시행령은 권리사용료 가산 요건을 정한다."])),
        ("떨어짐.pdf", pdfs.korean_pdf(["요건을 정한 시행령의 권리, 가산, 사용료."])),
    ])
    assert sorted(tokenize(["시행령은 권리사용료 가산 요건을 정한다."])[0]) == sorted(
        tokenize(["요건을 정한 시행령의 권리, 가산, 사용료."])[0])
    hits = searcher.search("권리사용료 가산 요건", mode="lexical").hits
    assert [h.chunk.file_name for h in hits] == ["붙음.pdf", "떨어짐.pdf"]
    assert hits[0].score > hits[1].score


def test_a_date_counts_the_same_however_it_is_written():
    """Questions write "2020년 3월 24일", rulings and official documents "2020. 3. 24." (which Kiwi
    tags as one serial token): BM25 counts the same morphemes and pairs for both. Units with no
    number before them stay, and other serials keep their numbers."""
    from retrieval.lexical import index_terms, term_pairs

    questions_way, documents_way = "2020년 3월 24일 정기 주주총회", "2020. 3. 24. 개최된 정기 주주총회"
    spoken, written = (index_terms(t) for t in tokenize([questions_way, documents_way]))
    assert spoken == ["2020", "3", "24", "정기", "주주", "총회"]
    assert written == ["2020", "3", "24", "개최", "정기", "주주", "총회"]
    assert set(term_pairs(spoken).tolist()) - set(term_pairs(written).tolist()) == {term_pairs(["24", "정기"])[0]}
    (monthly,) = tokenize(["행사의 월별 일정"])
    assert "월" in monthly and index_terms(monthly) == monthly
    assert tokenize(["2-5호 안건"])[0][:2] == ["2", "5"]


def test_row_files_of_an_older_format_are_read_from_the_store_again(tmp_path, embedder):
    """A row file without the pair counts (written before they existed) is not trusted: the rows
    come from the store, are scored with pairs, and the file is rewritten in the new format."""
    import numpy as np

    from retrieval.index import ROW_FILE_VERSION, DerivedIndex
    from tests import pdfs

    settings = Settings(data_dir=tmp_path, reranker="none")
    store = open_store(settings, embedder)
    pdf = pdfs.korean_pdf(["해양수산부는 갯벌 복원 사업을 확대한다."])
    Ingestor(store, embedder, settings).ingest([("가.pdf", pdf)])
    (path,) = (tmp_path / "derived").glob("*.npz")
    with np.load(path) as z:
        old = {k: z[k] for k in z.files if not k.startswith("pair_")}
    np.savez(path, **old)
    index = DerivedIndex(store)
    index.refresh(force=True)
    assert index.lexical_scores(["갯벌", "복원"])[0] > 0
    with np.load(path) as z:
        assert {"pair_cols", "pair_tfs", "pair_nnz"} <= set(z.files) and str(z["version"]) == ROW_FILE_VERSION


def test_a_restarted_process_reads_the_derived_rows_from_files_not_the_store(tmp_path, embedder, monkeypatch):
    """The writer keeps each committed build's vectors and term counts as a file; a new process
    (here: a new index over a new Store) loads them without asking Chroma, with the same rows and
    scores as reading the store. A deleted document's file goes with it."""
    import numpy as np

    from docqa.store import Store
    from retrieval.index import DerivedIndex, RowFiles
    from tests import pdfs

    settings = Settings(data_dir=tmp_path, reranker="none")
    store = open_store(settings, embedder)
    ingestor = Ingestor(store, embedder, settings)
    first_pdf = pdfs.korean_pdf(["해양수산부는 갯벌 복원 사업을 확대한다.", "올해는 서해안 세 곳에서 시작한다."])
    second_pdf = pdfs.korean_pdf(["국토교통부는 도로터널 결로 대책을 발표했다."])
    kept, gone = ingestor.ingest([("가.pdf", first_pdf), ("나.pdf", second_pdf)]).files
    assert len(list((tmp_path / "derived").glob("*.npz"))) == 2  # written by the writer at commit

    from_store = DerivedIndex(store)
    from_store.files = RowFiles(None)  # this one reads every row from Chroma
    from_store.refresh(force=True)
    again = Store(settings, store.signature)
    monkeypatch.setattr(again, "passage_rows", lambda *a: pytest.fail("read from the store"))
    from_files = DerivedIndex(again)
    from_files.refresh(force=True)
    query = embedder.embed_query("갯벌 복원")
    assert from_files.record_ids == from_store.record_ids and from_files.n == from_store.n > 0
    assert np.allclose(from_files.dense_scores(query), from_store.dense_scores(query))
    for terms in (["갯벌", "복원"], ["도로", "터널", "결로"]):
        assert np.allclose(from_files.lexical_scores(terms), from_store.lexical_scores(terms))

    store.delete_document(gone.doc_id)
    from_files.refresh(force=True)
    assert [p.name.split("-")[0] for p in (tmp_path / "derived").glob("*.npz")] == [kept.doc_id]
