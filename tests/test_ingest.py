"""Ingestion into a real embedded Chroma with the real offline model: idempotency, deletion,
model mismatch, atomic writes, and every kind of bad input."""

from __future__ import annotations

import subprocess
import sys

import pytest

import docqa.store
from docqa.errors import ModelMismatchError
from docqa.services import index_signature, open_store
from docqa.store import Store
from ingest.pipeline import Ingestor
from tests import pdfs
from tests.conftest import ROOT, eval_pdf

REPORT_V1 = ["2024년 지역 균형 발전 보고서입니다. 지방은행의 시중은행 전환 인가 절차를 설명합니다."]
REPORT_V2 = ["2025년 개정판입니다. 인가 심사 기간은 약 6개월로 단축되었습니다."]


def stored_doc_ids(store: Store) -> set[str]:
    """Documents that have any passage in the store, visible or not."""
    return set(store.audit())


def test_same_bytes_are_skipped_even_under_another_name(ingestor, store):
    data = pdfs.korean_pdf(REPORT_V1)
    first = ingestor.ingest([("보고서.pdf", data)]).files[0]
    assert first.status == "indexed" and first.chunks >= 1 and first.pages == 1
    chunks_before = store.count_chunks()
    again = ingestor.ingest([("보고서.pdf", data), ("사본.pdf", data)]).files
    assert [f.status for f in again] == ["skipped", "skipped"]
    assert "이미 색인된 문서" in again[1].message and "보고서.pdf" in again[1].message
    assert store.count_chunks() == chunks_before and len(store.documents()) == 1


def test_a_changed_file_replaces_the_old_version(ingestor, store):
    old = ingestor.ingest([("보고서.pdf", pdfs.korean_pdf(REPORT_V1))]).files[0]
    new = ingestor.ingest([("보고서.pdf", pdfs.korean_pdf(REPORT_V2))]).files[0]
    assert new.status == "replaced" and new.doc_id != old.doc_id
    assert [d.doc_id for d in store.documents()] == [new.doc_id]
    assert stored_doc_ids(store) == {new.doc_id}
    assert not store.file_path(old.doc_id).exists() and store.file_path(new.doc_id).exists()


def test_delete_removes_every_trace(ingestor, store):
    keep = ingestor.ingest([("유지.pdf", pdfs.korean_pdf(REPORT_V2))]).files[0]
    gone = ingestor.ingest([("삭제.pdf", pdfs.korean_pdf(REPORT_V1))]).files[0]
    store.delete_document(gone.doc_id)
    assert [d.doc_id for d in store.documents()] == [keep.doc_id]
    assert stored_doc_ids(store) == {keep.doc_id}
    assert not store.file_path(gone.doc_id).exists()
    assert all("균형" not in c.text for c in store.all_chunks())


def test_a_failure_in_the_middle_of_a_file_leaves_nothing_and_the_batch_goes_on(ingestor, store, monkeypatch):
    # Fault injection at the storage boundary: the second write of passages fails.
    monkeypatch.setattr(docqa.store, "_WRITE_BATCH", 2)
    real_upsert, calls = store.passages.upsert, []

    def flaky_upsert(**kwargs):
        calls.append(kwargs["ids"])
        if len(calls) == 2:
            raise OSError("disk full (injected)")
        return real_upsert(**kwargs)

    monkeypatch.setattr(store.passages, "upsert", flaky_upsert)
    long_doc = pdfs.korean_pdf([" ".join(REPORT_V1 * 40), " ".join(REPORT_V2 * 40)])
    report = ingestor.ingest([("깨짐.pdf", long_doc), ("정상.pdf", pdfs.korean_pdf(REPORT_V2))])
    failed, ok = report.files
    assert failed.status == "failed" and "깨짐.pdf" in failed.message and "오류" in failed.message
    assert ok.status == "indexed"
    assert [d.file_name for d in store.documents()] == ["정상.pdf"]
    assert stored_doc_ids(store) == {ok.doc_id}


def test_unregistered_passages_are_invisible(ingestor, store):
    done = ingestor.ingest([("문서.pdf", pdfs.korean_pdf(REPORT_V1))]).files[0]
    store._col("_docs").delete(ids=[done.doc_id])  # as if the registry record were never written
    assert store.all_chunks() == [] and store.count_chunks() == 0


BAD_INPUTS = {
    "가짜.pdf": lambda: "이것은 PDF가 아닙니다".encode(),
    "빈파일.pdf": lambda: b"",
    "잘림.pdf": pdfs.truncated_pdf,
    "암호.pdf": pdfs.encrypted_pdf,
    "스캔.pdf": pdfs.scanned_pdf,
}


def test_each_bad_input_gets_a_korean_message_and_nothing_is_indexed(store, embedder, settings):
    from dataclasses import replace

    ingestor = Ingestor(store, embedder, replace(settings, ocr=False))  # without OCR a scan has no text
    sources = [(name, make()) for name, make in BAD_INPUTS.items()]
    sources.insert(2, ("정상.pdf", pdfs.korean_pdf(REPORT_V1)))
    report = ingestor.ingest(sources)
    by_name = {f.file_name: f for f in report.files}
    assert by_name.pop("정상.pdf").status == "indexed"
    for name, result in by_name.items():
        assert result.status == "failed", result
        assert name in result.message and any("\uac00" <= ch <= "\ud7a3" for ch in result.message)
        assert "Traceback" not in result.message
    assert [d.file_name for d in store.documents()] == ["정상.pdf"]
    assert "OCR" in by_name["스캔.pdf"].message


def test_files_over_the_size_limit_are_refused(store, embedder, settings):
    from dataclasses import replace

    small = Ingestor(store, embedder, replace(settings, max_file_mb=1))
    big = pdfs.korean_pdf(REPORT_V1) + b"%" + b"0" * (2 * 1024 * 1024)
    (result,) = small.ingest([("큰파일.pdf", big)]).files
    assert result.status == "failed" and "너무 큽니다" in result.message
    assert store.documents() == []


def test_scanned_pages_are_flagged_but_the_rest_is_indexed(store, embedder, settings):
    from dataclasses import replace

    ingestor = Ingestor(store, embedder, replace(settings, ocr=False))  # (OCR reads them: tests/test_pdf_ocr.py)
    data = pdfs.mixed_scanned_pdf()
    (result,) = ingestor.ingest([("혼합.pdf", data)]).files
    assert result.status == "indexed" and result.warnings and "OCR" in result.warnings[0]
    assert store.documents()[0].flagged_pages


def test_a_different_model_is_refused_and_reindex_rebuilds(settings, embedder):
    other = dict(index_signature(embedder, settings), embed_model="someone/else", embed_revision="abc123")
    old_store = Store.open(settings, other)
    Ingestor(old_store, embedder, settings).ingest([("문서.pdf", pdfs.korean_pdf(REPORT_V1))])
    with pytest.raises(ModelMismatchError) as err:
        open_store(settings, embedder)
    assert "재색인" in str(err.value) and "someone/else" in str(err.value)
    listed = open_store(settings, embedder, check=False)
    report = Ingestor(listed, embedder, settings).reindex()
    assert [f.status for f in report.files] == ["indexed"]
    reopened = open_store(settings, embedder)
    assert [d.file_name for d in reopened.documents()] == ["문서.pdf"]
    assert reopened.passages.metadata["embed_model"] == embedder.choice.model_id
    assert stored_doc_ids(reopened) == {d.doc_id for d in reopened.documents()}


def test_cli_indexes_a_folder_and_a_second_run_skips_everything(tmp_path, embedder):
    folder = tmp_path / "pdfs" / "finance"
    folder.mkdir(parents=True)
    for name in ("240130(보도자료) 지방은행의 시중은행 전환시 인가방식 및 절차.pdf",
                 "240409(보도자료) 금융위 핀테크 투자 생태계 활성화 나선다.pdf"):
        (folder / name).write_bytes(eval_pdf(f"finance/{name}").read_bytes())
    (folder / "망가짐.pdf").write_bytes(b"%PDF-1.7\n garbage")
    env = {"RAG_EMBED_MODEL": embedder.choice.path, "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-m", "ingest", str(tmp_path / "pdfs"), "--data-dir", str(tmp_path / "data")]
    first = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "색인 2" in first.stdout and "실패 1" in first.stdout and "망가짐.pdf" in first.stdout
    assert "전체" in first.stdout and "초" in first.stdout
    second = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert "건너뜀 2" in second.stdout and "색인 0" in second.stdout


def test_reindexing_one_document_keeps_it_when_the_write_fails(ingestor, store, monkeypatch):
    doc = ingestor.ingest([("보고서.pdf", pdfs.korean_pdf([" ".join(REPORT_V1 * 20)]))]).files[0]
    before = sorted(c.chunk_id for c in store.all_chunks())
    again = ingestor.reindex_document(doc.doc_id)
    assert again.status == "indexed" and sorted(c.chunk_id for c in store.all_chunks()) == before

    def broken_upsert(**kwargs):  # fault injection at the storage boundary
        raise OSError("disk full (injected)")

    monkeypatch.setattr(store.passages, "upsert", broken_upsert)
    with pytest.raises(OSError):
        ingestor.reindex_document(doc.doc_id)
    assert [d.doc_id for d in store.documents()] == [doc.doc_id]
    assert sorted(c.chunk_id for c in store.all_chunks()) == before
