"""The benchmark's scoring and label rules, on hand-made rankings with numbers worked out by hand."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench.common import markdown_table, pdf_page_count, store_name
from docqa.types import Chunk, Hit, SearchResult
from evaluation.labels import LabelError, folder_domain, load_labels, parse_pages
from evaluation.metrics import (
    QuestionScore,
    aggregate,
    first_relevant_rank,
    percentile,
    rank_pages,
    score_rank,
)

# ------------------------------------------------------------------ page ranking


def test_rank_pages_first_occurrence_wins_and_repeats_take_no_rank():
    slots = rank_pages([("a", (3,)), ("a", (3,)), ("b", (1, 2)), ("a", (4,)), ("b", (2,))])
    assert slots == [frozenset({("a", 3)}), frozenset({("b", 1), ("b", 2)}), frozenset({("a", 4)})]
    assert first_relevant_rank(slots, {("a", 4)}) == 3  # the repeated a:3 passage did not push it to 4
    assert first_relevant_rank(slots, {("b", 2)}) == 2  # a spanning passage matches on any page it spans
    assert first_relevant_rank(slots, {("c", 1)}) is None


def test_rank_pages_keeps_only_new_pages_of_a_partly_seen_passage():
    slots = rank_pages([("a", (3, 4)), ("a", (4, 5))])
    assert slots == [frozenset({("a", 3), ("a", 4)}), frozenset({("a", 5)})]


def test_same_page_number_in_another_document_is_not_a_hit():
    slots = rank_pages([("other", (4,)), ("doc", (4,))])
    assert first_relevant_rank(slots, {("doc", 4)}) == 2


def test_alternative_pages_any_one_answers():
    slots = rank_pages([("a", (6,)), ("a", (5,))])
    assert first_relevant_rank(slots, {("a", 5), ("a", 6)}) == 1
    assert score_rank(1) == {"hit@1": 1.0, "recall@5": 1.0, "mrr@10": 1.0, "ndcg@10": 1.0}


def test_rank_pages_from_real_hits():
    def hit(doc: str, start: int, end: int, n: int) -> Hit:
        chunk = Chunk(f"{doc}-{n}", doc, f"{doc}.pdf", "text", start, end, 0, 4, 3)
        return Hit(chunk, 1.0 / n)

    result = SearchResult("q", (hit("x", 2, 2, 1), hit("y", 7, 8, 2), hit("x", 2, 2, 3), hit("y", 9, 9, 4)), {}, ())
    slots = rank_pages((h.chunk.doc_id, h.chunk.pages) for h in result.hits)
    assert [sorted(s) for s in slots] == [[("x", 2)], [("y", 7), ("y", 8)], [("y", 9)]]
    assert first_relevant_rank(slots, {("y", 8)}) == 2
    assert first_relevant_rank(slots, {("y", 9)}) == 3


# ------------------------------------------------------------------ metric values


@pytest.mark.parametrize(
    ("rank", "expected"),
    [
        (1, (1.0, 1.0, 1.0, 1.0)),
        (2, (0.0, 1.0, 0.5, 1 / math.log2(3))),  # 0.6309...
        (3, (0.0, 1.0, 1 / 3, 0.5)),  # 1/log2(4)
        (5, (0.0, 1.0, 0.2, 1 / math.log2(6))),  # 0.3868...
        (6, (0.0, 0.0, 1 / 6, 1 / math.log2(7))),  # past Recall@5 but inside @10
        (10, (0.0, 0.0, 0.1, 1 / math.log2(11))),
        (11, (0.0, 0.0, 0.0, 0.0)),  # past every cut-off
        (None, (0.0, 0.0, 0.0, 0.0)),
    ],
)
def test_metrics_by_rank(rank, expected):
    got = score_rank(rank)
    assert (got["hit@1"], got["recall@5"], got["mrr@10"]) == pytest.approx(expected[:3])
    assert got["ndcg@10"] == pytest.approx(expected[3])


def test_ndcg_hand_values():
    assert score_rank(2)["ndcg@10"] == pytest.approx(0.6309297535714575)
    assert score_rank(5)["ndcg@10"] == pytest.approx(0.38685280723454163)


def test_aggregate_overall_and_by_domain():
    law_1 = QuestionScore.of("1", "law", rank_pages([("a", (1,))]), {("a", 1)})  # rank 1
    law_2 = QuestionScore.of("2", "law", rank_pages([("b", (1,)), ("c", (1,)), ("a", (2,))]), {("a", 2)})  # rank 3
    fin = QuestionScore.of("3", "finance", rank_pages([("b", (1,))]), {("a", 9)})  # not found
    out = aggregate([law_1, law_2, fin])
    law = out["by_domain"]["law"]
    assert law["n"] == 2
    assert law["hit@1"] == pytest.approx(0.5)
    assert law["recall@5"] == pytest.approx(1.0)
    assert law["mrr@10"] == pytest.approx((1 + 1 / 3) / 2)  # 0.6667
    assert law["ndcg@10"] == pytest.approx((1 + 0.5) / 2)  # 0.75
    assert out["by_domain"]["finance"] == {"hit@1": 0.0, "recall@5": 0.0, "mrr@10": 0.0, "ndcg@10": 0.0, "n": 1}
    overall = out["overall"]
    assert overall["n"] == 3
    assert overall["hit@1"] == pytest.approx(1 / 3)
    assert overall["recall@5"] == pytest.approx(2 / 3)
    assert overall["mrr@10"] == pytest.approx(4 / 9)
    assert overall["ndcg@10"] == pytest.approx(0.5)
    assert list(out["by_domain"]) == ["finance", "law"]


def test_aggregate_of_nothing_and_blank_domain():
    assert aggregate([])["overall"]["n"] == 0
    out = aggregate([QuestionScore.of("1", "", [], {("a", 1)})])
    assert list(out["by_domain"]) == ["-"]


def test_percentile_interpolates_like_numpy():
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == pytest.approx(2.5)
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == pytest.approx(3.85)
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) == 0.0


# ------------------------------------------------------------------ labels


def test_parse_pages():
    assert parse_pages("4") == (4,)
    assert parse_pages("5;6") == (5, 6)
    assert parse_pages(" 17 ; 18 ;") == (17, 18)
    assert parse_pages("4.0") == (4,)
    assert parse_pages("3;3") == (3,)
    for bad in ("", "x", "4.5", ";"):
        with pytest.raises(ValueError):
            parse_pages(bad)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def corpus(tmp_path) -> Path:
    root = tmp_path / "pdfs"
    for rel in ("law/판결.pdf", "finance/a.pdf", "top.pdf", "broken.pdf"):
        _write(root / rel, "x")
    return root


PAGES = {"판결.pdf": 10, "a.pdf": 3, "top.pdf": 23, "broken.pdf": None}


def test_load_labels_rules(corpus, tmp_path):
    csv = _write(tmp_path / "labels.csv", "\ufeffqid,domain,question,file,page,answer\n"
                 "0,law,판결 요지는?,law/판결.pdf,4,x\n"
                 "1,,금리는?,finance/a.pdf,2;3,\n"
                 "2,public,두 쪽 중 하나?,top.pdf,5;99,\n"
                 "3,law,없는 쪽?,law/판결.pdf,11,\n"
                 "4,law,없는 파일?,law/없음.pdf,1,\n"
                 "5,law,쪽 번호가 글자?,law/판결.pdf,x,\n"
                 "6,law,,law/판결.pdf,1,\n"
                 "7,law,깨진 파일?,broken.pdf,1,\n"
                 "8,law,0쪽?,law/판결.pdf,0,\n")
    questions, excluded = load_labels([csv], corpus, lambda p: PAGES[p.name])
    got = {q.qid: (q.domain, q.file, q.pages) for q in questions}
    assert got == {
        "0": ("law", "law/판결.pdf", (4,)),
        "1": ("finance", "finance/a.pdf", (2, 3)),  # no domain given: the file's first folder
        "2": ("public", "top.pdf", (5,)),  # 99 is out of range, 5 still answers it
    }
    reasons = {e.qid: e.reason for e in excluded}
    assert reasons == {
        "3": "page out of range (the file has 10 pages)",
        "4": "file not found",
        "5": "page is not a number: 'x'",
        "6": "empty question",
        "7": "file can't be read",
        "8": "page out of range (the file has 10 pages)",
    }
    assert all(e.source == "labels.csv" for e in excluded)
    assert excluded[0].as_dict()["page"] == "11"


def test_load_labels_optional_columns_and_several_files(corpus, tmp_path):
    a = _write(tmp_path / "a.csv", "question,file,page\n질문?,top.pdf,1\n질문2?,law/판결.pdf,2\n")
    b = _write(tmp_path / "b.csv", "file,page,question\ntop.pdf,23,마지막 쪽?\n")
    questions, excluded = load_labels([a, b], corpus, lambda p: PAGES[p.name])
    assert [(q.qid, q.domain, q.pages, q.source) for q in questions] == [
        ("a:0", "", (1,), "a.csv"), ("a:1", "law", (2,), "a.csv"), ("b:0", "", (23,), "b.csv")]
    assert excluded == []


def test_load_labels_refuses_missing_required_column(corpus, tmp_path):
    csv = _write(tmp_path / "bad.csv", "qid,question,file\n0,q,top.pdf\n")
    with pytest.raises(LabelError, match="page"):
        load_labels([csv], corpus, lambda p: 1)


def test_restrict_to_corpus_excludes_files_outside_limit(corpus, tmp_path):
    from bench.common import CorpusFile
    from bench.quality import excluded_report, restrict_to_corpus

    _write(corpus / "public/보도자료.docx", "x")  # .hwp/.hwpx are corpus files now; a .docx never is
    csv = _write(tmp_path / "l.csv", "qid,question,file,page\n0,q,top.pdf,1\n1,r,finance/a.pdf,2;3\n"
                 "2,s,public/보도자료.docx,1\n")
    questions, _ = load_labels([csv], corpus, lambda p: PAGES.get(p.name, 5))
    kept, excluded = restrict_to_corpus(questions, [CorpusFile(corpus / "top.pdf", "top.pdf", "d", "", 1)])
    assert [q.qid for q in kept] == ["0"]
    assert [(e.qid, e.page) for e in excluded] == [("1", "2;3"), ("2", "1")]
    assert "outside --limit" in excluded[0].reason
    assert "not a PDF" in excluded[1].reason
    report = excluded_report(excluded)
    assert "- outside --limit (file not in this run's corpus): 1" in report
    assert "보도자료.docx" in report and "finance/a.pdf" not in report  # rows cut by --limit are only counted


def test_page_count_of_a_real_pdf(tmp_path):
    import pymupdf

    path = tmp_path / "three.pdf"
    doc = pymupdf.open()
    for _ in range(3):
        doc.new_page()
    doc.save(path)
    doc.close()
    assert pdf_page_count(path) == 3
    assert pdf_page_count(_write(tmp_path / "not.pdf", "not a pdf")) is None


# ------------------------------------------------------------------ AutoRAG rows


def test_autorag_documents_and_questions():
    from bench.quality import autorag_documents, autorag_questions

    rows = [("law - 판결.pdf - 2", "둘째 쪽"), ("law - 판결.pdf - 1", "첫째 쪽"), ("finance - 금리.pdf - 1", "금리")]
    docs, ids = autorag_documents(rows)
    assert {d.file_name: (domain, [p.number for p in d.pages]) for d, domain in docs} == {
        "판결.pdf": ("law", [1, 2]), "금리.pdf": ("finance", [1])}
    for doc, _ in docs:
        for page in doc.pages:
            assert page.text == "\n\n".join(b.text for b in page.blocks)
    law_id = ids["law - 판결.pdf"][0]
    questions, excluded = autorag_questions(
        [("0_law", "질문", [["law - 판결.pdf - 2"]]), ("1_law", "없는 쪽", [["law - 없음.pdf - 1"]])], ids)
    assert [(q.qid, q.domain, q.relevant) for q in questions] == [("0_law", "law", frozenset({(law_id, 2)}))]
    assert [(e.qid, e.reason) for e in excluded] == [("1_law", "page not in the corpus")]


# ------------------------------------------------------------------ scoring plumbing and output


class _ListSearcher:
    """Answers from a hand-made hit list per question (the metric plumbing, not retrieval, is under test)."""

    reranker = None

    def __init__(self, answers: dict[str, list[tuple[str, int]]]):
        self.answers = answers

    def search(self, query, k=10, *, domains=(), doc_ids=(), mode="hybrid", rerank=True):
        hits = tuple(Hit(Chunk(f"{d}{p}", d, f"{d}.pdf", "본문", p, p, 0, 2, 3), 1.0 / i)
                     for i, (d, p) in enumerate(self.answers[query], start=1))
        return SearchResult(query, hits[:k], {"dense": 1.0}, ("dense",))


def test_evaluate_scores_and_lists_misses():
    from types import SimpleNamespace

    from bench.quality import EvalQuestion, Prepared, evaluate

    searcher = _ListSearcher({"q1": [("a", 1)], "q2": [("b", 5), ("a", 2)], "q3": []})
    questions = [
        EvalQuestion("1", "q1", "law", frozenset({("a", 1)}), ({"file": "law/a.pdf", "pages": [1]},)),
        EvalQuestion("2", "q2", "law", frozenset({("a", 2)}), ({"file": "law/a.pdf", "pages": [2]},)),
        EvalQuestion("3", "q3", "finance", frozenset({("a", 3)}), ({"file": "law/a.pdf", "pages": [3]},),
                     "labelled file not indexed: scan"),
    ]
    prep = Prepared(searcher, questions, [], {"a": "law/a.pdf", "b": "finance/b.pdf"}, (),
                    SimpleNamespace(chunk_tokens=320, chunk_overlap=48, reranker="none"), Path("store"))
    embedder = SimpleNamespace(choice=SimpleNamespace(model_id="m", revision="r", source="offline"))
    run = evaluate(prep, "dense", embedder)
    assert run["overall"]["n"] == 3
    assert run["overall"]["hit@1"] == pytest.approx(1 / 3)
    assert run["overall"]["mrr@10"] == pytest.approx(0.5)  # (1 + 1/2 + 0) / 3
    assert run["by_domain"]["law"]["ndcg@10"] == pytest.approx((1 + 1 / math.log2(3)) / 2)
    assert [m["qid"] for m in run["misses"]] == ["2", "3"]
    assert run["misses"][0]["first"]["file"] == "finance/b.pdf" and run["misses"][0]["rank"] == 2
    assert run["misses"][1]["first"] is None and run["misses"][1]["note"].endswith("scan")
    assert "note" not in run["misses"][0]
    assert set(run) >= {"overall", "by_domain", "config", "timings", "misses"}


def test_markdown_table_and_store_names():
    table = markdown_table(["a", "b"], [["x|y", 0.12345], [1, "z"]])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | 0.123 |", "| 1 | z |"]
    base = store_name("pdf", "pdfs", "intfloat/multilingual-e5-small", "r1", 320, 48, "abc")
    assert base != store_name("pdf", "pdfs", "intfloat/multilingual-e5-small", "r1", 512, 48, "abc")
    assert base != store_name("pdf", "pdfs", "dragonkue/multilingual-e5-small-ko", "r1", 320, 48, "abc")
    assert base != store_name("pdf", "pdfs", "intfloat/multilingual-e5-small", "r1", 320, 48, "abd")
    assert "/" not in base and base.isascii()
    assert folder_domain("law/x.pdf") == "law" and folder_domain("x.pdf") == ""


def test_cli_parses_the_documented_commands():
    from bench.__main__ import build_parser

    parser = build_parser()
    args = parser.parse_args(["quality", "--pdfs", "p", "--labels", "a.csv", "b.csv", "--config", "dense",
                              "--config", "rerank", "--chunk-tokens", "256", "--chunk-tokens", "512",
                              "--store", "s", "--json", "o.json", "--limit", "3"])
    assert args.labels == [Path("a.csv"), Path("b.csv")] and args.config == ["dense", "rerank"]
    assert args.chunk_tokens == [256, 512] and args.limit == 3
    args = parser.parse_args(["autorag", "--dir", "d", "--json", "o.json"])
    assert args.dir == Path("d")
    args = parser.parse_args(["speed", "--pdfs", "p", "--labels", "q.csv", "--json", "o.json", "-v"])
    assert args.verbose is True and args.labels == [Path("q.csv")]
    args = parser.parse_args(["rerank-cost", "--questions", "2", "--json", "o.json"])
    assert args.command == "rerank-cost" and args.questions == 2


def test_rerank_cost_times_the_stage_through_search(tmp_path, embedder):
    """Real store, real model, the shipped sentence reranker; only the timing bookkeeping is checked."""
    from types import SimpleNamespace

    from bench.rerank_cost import _time_stage, cost_table
    from docqa.config import Settings
    from docqa.services import open_store
    from ingest.pipeline import Ingestor
    from retrieval.rerank import SentenceReranker
    from retrieval.search import Searcher
    from tests import pdfs

    settings = Settings(data_dir=tmp_path, reranker="none")
    store = open_store(settings, embedder)
    texts = [f"{i}번 저수지의 저수율은 {50 + i}퍼센트이다." for i in range(12)]
    Ingestor(store, embedder, settings).ingest([(f"{i}.pdf", pdfs.korean_pdf([t])) for i, t in enumerate(texts)])
    questions = [SimpleNamespace(question="저수지 저수율"), SimpleNamespace(question="3번 저수지")]
    row = _time_stage(Searcher(store, embedder), SentenceReranker(embedder), questions, ())
    assert row["name"] == "sentence-e5" and row["questions"] == 2 and row["candidates"] == 10
    assert 0 < row["per_candidate_p50_ms"] * 10 <= row["stage_p95_ms"] * 1.0001
    assert "| sentence-e5 | 10 | 2 |" in cost_table([row])
