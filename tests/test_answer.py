"""Answers over real eval PDFs in a real Chroma with the real offline model: the extractive answer
(checked against the eval set's reference answers), evidence export files, the llama-index
retriever and `python -m answer`.

The generated-answer parts talk to tests/llm_stub.py, a boundary fake: no LLM weights can run on
these machines, so a local OpenAI-compatible stub server stands where the in-house one would be.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from answer.citations import citation
from answer.export import COLUMNS, evidence_csv, evidence_rows, evidence_xlsx
from answer.extractive import ExtractiveConfig, extractive_answer
from docqa.config import Settings
from docqa.services import open_store
from ingest.pipeline import Ingestor
from retrieval.lexical import tokenize
from retrieval.search import Searcher
from tests.conftest import ROOT, eval_file, eval_pdf
from tests.llm_stub import StubLLM

FILES = ["finance/[별첨] 지방은행의 시중은행 전환시 인가방식 및 절차.pdf", "finance/3. 향후 통화신용정책 방향.pdf"]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, embedder, model_home):
    """Two eval PDFs in a store with the product's default chunking (what `python -m ingest` builds)."""
    data = tmp_path_factory.mktemp("answer") / "data"
    data.mkdir()
    (data / "models").symlink_to(model_home / "models", target_is_directory=True)  # the CLI reuses the built model
    settings = Settings(data_dir=data, reranker="sentence")
    store = open_store(settings, embedder)
    report = Ingestor(store, embedder, settings).ingest([eval_pdf(f) for f in FILES], domain="finance")
    assert all(f.status == "indexed" for f in report.files), report.files
    return settings, store, Searcher.from_services(store, embedder, settings)


@pytest.fixture(scope="module")
def labelled():
    """(question, reference answer) of every allganize dev question about the two indexed files."""
    with eval_file("allganize_dev.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["file"] in FILES and r["answer"].strip()]
    assert len(rows) >= 6
    return [(r["question"], r["answer"]) for r in rows]


def _coverage(reference: str, shown: list[str]) -> float:
    ref = set(tokenize([reference])[0])
    return len(ref & set(tokenize([" ".join(shown)])[0])) / len(ref)


def test_extractive_sentences_are_cited_spans_of_the_top_passages(indexed, labelled, embedder):
    _, _, searcher = indexed
    config = ExtractiveConfig()
    idf = searcher.index.idf
    for question, _ in labelled:
        result = searcher.search(question, k=5)
        answer = extractive_answer(question, result, embedder=embedder, idf=idf, config=config)
        assert 1 <= len(answer.sentences) <= config.sentences
        assert answer.chars <= config.max_chars
        assert len({(s.rank, s.start) for s in answer.sentences}) == len(answer.sentences)
        for s in answer.sentences:
            hit = result.hits[s.rank - 1]
            assert 1 <= s.rank <= config.passages and s.chunk is hit.chunk
            original = " ".join(hit.chunk.text[s.start:s.end].split())
            assert s.text == original or (s.text.strip("…") in original and "…" in s.text)
            assert s.citation == citation(hit) == f"{hit.chunk.file_name}, p. {hit.chunk.page_start}" or \
                s.citation.startswith(f"{hit.chunk.file_name}, pp. ")
        assert answer.text.count("[") == len(answer.sentences)
        assert all(text in result.hits[rank - 1].chunk.text for rank, texts in answer.by_rank().items()
                   for text in texts)


def test_extractive_answer_against_the_reference_answers(indexed, labelled, embedder):
    """Coverage of the reference answers' content morphemes, ours beside today's key sentences
    (the full measurement over 91 questions and 54 PDFs is `python -m bench.answers`)."""
    _, _, searcher = indexed
    idf = searcher.index.idf
    ours, today, our_chars, today_chars = [], [], [], []
    for question, reference in labelled:
        result = searcher.search(question, k=5)
        answer = extractive_answer(question, result, embedder=embedder, idf=idf)
        ours.append(_coverage(reference, [s.text for s in answer.sentences]))
        today.append(_coverage(reference, list(result.hits[0].key_sentences)))
        our_chars.append(answer.chars)
        today_chars.append(sum(len(s) for s in result.hits[0].key_sentences))
    n = len(labelled)
    assert sum(ours) / n >= 0.35, ours  # the sentences carry a real share of what the answer says
    assert sum(ours) / n >= sum(today) / n - 0.05, (ours, today)
    assert sum(our_chars) / n <= sum(today_chars) / n * 1.15 + 10, (our_chars, today_chars)


def test_without_hits_the_answer_is_empty(embedder):
    assert extractive_answer("아무 질문", [], embedder=embedder).sentences == ()


def test_evidence_csv_and_xlsx_keep_korean_text(indexed, tmp_path):
    from openpyxl import load_workbook

    _, _, searcher = indexed
    question = "지방은행이 시중은행으로 전환할 때 예비인가를 받아야 하나요?"
    result = searcher.search(question, k=4)
    answer = "=예비인가는 생략할 수 있습니다 [1]."  # starts like a formula: must be neutralised
    data = evidence_csv(question, result, answer, "generated")
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert tuple(rows[0]) == COLUMNS and len(rows) == 1 + len(result.hits)
    first = dict(zip(COLUMNS, rows[1]))
    hit = result.hits[0]
    assert first["질문"] == question and first["답변"] == "'" + answer and first["답변 종류"] == "생성 답변"
    assert first["순위"] == "1" and first["파일"] == hit.chunk.file_name and first["쪽"] == str(hit.chunk.page_start)
    assert first["인용"] == citation(hit) and first["본문"] == hit.chunk.text
    assert first["핵심 문장"] == "\n".join(hit.key_sentences) and float(first["점수"]) == round(hit.score, 4)

    path = tmp_path / "근거.xlsx"
    path.write_bytes(evidence_xlsx(question, result, answer, "generated"))
    ws = load_workbook(path)["근거"]
    values = [[c.value for c in row] for row in ws.iter_rows()]
    assert tuple(values[0]) == COLUMNS and len(values) == 1 + len(result.hits)
    assert values[1][0] == question and values[1][4] == hit.chunk.file_name and values[1][9] == hit.chunk.text
    assert values[1][3] == 1 and values[2][3] == 2 and "지방은행" in values[1][9]
    assert values[1][1] == "'" + answer


def test_export_without_hits_still_records_the_question():
    rows = evidence_rows("없는 내용을 묻는 질문", [], "", "")
    assert len(rows) == 1 and rows[0][0] == "없는 내용을 묻는 질문"
    assert evidence_csv("질문", []).decode("utf-8-sig").splitlines()[1].startswith("질문,")


def test_llama_index_retriever_in_a_query_engine(indexed):
    from llama_index.core.query_engine import RetrieverQueryEngine

    from answer.generate import make_llm
    from answer.llama import SearcherRetriever

    _, store, searcher = indexed
    question = "시중은행, 지방은행, 인터넷은행의 최저자본금은 얼마인가요?"
    retriever = SearcherRetriever(searcher, k=3, domains=["finance"])
    nodes = retriever.retrieve(question)
    assert len(nodes) == 3 and retriever.last_result is not None
    top = nodes[0]
    meta = top.node.metadata
    assert meta["file_name"] == retriever.last_result.hits[0].chunk.file_name and meta["page"] >= 1
    assert meta["rects"] and meta["rects"][0][0] == meta["page"] and meta["citation"].startswith(meta["file_name"])
    assert top.score == pytest.approx(retriever.last_result.hits[0].score)
    assert "rects" not in top.node.get_content(metadata_mode="llm")
    assert SearcherRetriever(searcher, k=3, domains=["law"]).retrieve(question) == []

    with StubLLM(reply="최저자본금은 시중은행 1,000억원입니다.") as stub:
        llm = make_llm(Settings(llm_base_url=stub.url, llm_model="stub-model"))
        engine = RetrieverQueryEngine.from_args(retriever, llm=llm)
        response = engine.query(question)
    assert str(response) == "최저자본금은 시중은행 1,000억원입니다."
    assert [n.node.metadata["rank"] for n in response.source_nodes] == [1, 2, 3]
    sent = " ".join(m["content"] for m in stub.requests[0]["messages"])
    assert question in sent and nodes[0].node.text[:40] in sent


def _cli(args: list[str], settings: Settings, **env) -> subprocess.CompletedProcess:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "RAG_DATA_DIR": str(settings.data_dir),
                   "RAG_RERANKER": "sentence", **env}
    for name in ("RAG_LLM_BASE_URL", "RAG_LLM_MODEL"):
        if name not in env:
            environment.pop(name, None)
    return subprocess.run([sys.executable, "-m", "answer", *args], cwd=ROOT, env=environment, capture_output=True,
                          text=True, timeout=600)


def test_cli_json_answers_a_file_of_questions_with_a_configured_llm(indexed, tmp_path):
    settings, store, _ = indexed
    questions = tmp_path / "questions.txt"
    questions.write_text("# 주석은 건너뜀\n지방은행의 시중은행 전환시 예비인가를 받아야 하나요?\n\n"
                         "한국은행의 향후 통화정책 방향은 무엇인가요?\n", encoding="utf-8")
    doc = next(d.file_name for d in store.documents() if d.file_name.startswith("[별첨]"))
    with StubLLM(reply="예비인가는 생략할 수 있습니다 [1]. 근거 없는 번호 [9].") as stub:
        run = _cli(["--file", str(questions), "--json", "-k", "3", "--domain", "finance", "--doc", doc], settings,
                   RAG_LLM_BASE_URL=stub.url, RAG_LLM_MODEL="stub-model")
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert [o["question"] for o in out] == ["지방은행의 시중은행 전환시 예비인가를 받아야 하나요?",
                                            "한국은행의 향후 통화정책 방향은 무엇인가요?"]
    first = out[0]
    assert first["answer_kind"] == "generated" and first["answer"].startswith("예비인가는 생략할 수 있습니다 [1].")
    assert first["generated"]["dropped"] == [9] and first["generated"]["model"] == "stub-model"
    assert first["extractive"]["sentences"] and first["extractive"]["sentences"][0]["rank"] >= 1
    assert 1 <= len(first["hits"]) <= 3
    for rank, hit in enumerate(first["hits"], start=1):
        assert hit["rank"] == rank and hit["file"] == doc and hit["page"] >= 1 and hit["text"]
        assert isinstance(hit["key_sentences"], list) and isinstance(hit["score"], float)
    assert {"search", "extract", "generate"} <= set(first["timings_ms"])
    assert len(stub.requests) == 2 and all(r["stream"] for r in stub.requests)
    assert "생성 답변 켜짐: stub-model" in run.stderr


def test_cli_text_without_llm(indexed, capsys, monkeypatch):
    from answer.__main__ import main

    settings, _, _ = indexed
    monkeypatch.delenv("RAG_LLM_BASE_URL", raising=False)
    monkeypatch.setenv("RAG_RERANKER", "sentence")
    code = main(["지방은행이 시중은행으로 전환할 때 예비인가를 받아야 하나요?", "--data-dir", str(settings.data_dir),
                 "-k", "2"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "[발췌 답변]" in out and "[근거 문단]" in out and "[생성 답변]" not in out
    assert "[1] " in out and ", p. " in out and "생성 답변 꺼짐" in err


def test_cli_reports_an_unknown_document(indexed, capsys, monkeypatch):
    from answer.__main__ import main

    settings, _, _ = indexed
    monkeypatch.setenv("RAG_RERANKER", "none")
    assert main(["질문", "--data-dir", str(settings.data_dir), "--doc", "없는문서.pdf"]) == 2
    assert "없는문서.pdf" in capsys.readouterr().err


def test_readme_documents_the_command():
    assert "python -m answer" in Path(ROOT / "README.md").read_text(encoding="utf-8")
