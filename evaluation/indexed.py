"""Glue between a label CSV and the benchmark's scoring, for the documents already indexed.

`bench.quality` scores a corpus it ingests itself (labels name files under a folder);
the app instead matches each label's file *name* to a document in the open store
and hands the result to the very same `evaluation.scoring.evaluate`. No Streamlit here.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Sequence
from pathlib import PurePosixPath

from docqa.types import DocumentInfo
from evaluation.labels import Excluded, folder_domain, parse_pages, parse_rows
from evaluation.scoring import EvalQuestion, Prepared, evaluate


def _key(name: str) -> str:
    return unicodedata.normalize("NFC", PurePosixPath(name.replace("\\", "/")).name).strip()


def read_label_csv(data: bytes) -> list[dict[str, str]]:
    """Rows of an uploaded label CSV (UTF-8, or CP949 as Excel saves it in Korea), read by the
    label reader. Raises evaluation.labels.LabelError, or UnicodeDecodeError for other encodings."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp949")
    return parse_rows(io.StringIO(text, newline=""), "labels.csv")


def questions_for_index(rows: Sequence[dict[str, str]], documents: Sequence[DocumentInfo],
                        source: str = "") -> tuple[list[EvalQuestion], list[Excluded], dict[str, str]]:
    """Questions whose labelled file is indexed (matched by file name), the rows left out, doc id -> name."""
    by_name = {_key(d.file_name): d for d in documents}
    questions: list[EvalQuestion] = []
    excluded: list[Excluded] = []
    for i, row in enumerate(rows):
        qid = row.get("qid") or str(i)
        file = row.get("file", "").replace("\\", "/").strip("/")
        doc = by_name.get(_key(file)) if file else None
        reason = ""
        pages: tuple[int, ...] = ()
        if not row.get("question"):
            reason = "질문이 비어 있습니다"
        elif doc is None:
            reason = "색인된 문서 중에 이 파일이 없습니다"
        else:
            try:
                pages = tuple(p for p in parse_pages(row.get("page", "")) if 1 <= p <= doc.pages)
                if not pages:
                    reason = f"쪽 번호가 범위를 벗어났습니다 (문서는 {doc.pages}쪽)"
            except ValueError:
                reason = f"쪽 번호가 숫자가 아닙니다: {row.get('page', '')!r}"
        if reason:
            excluded.append(Excluded(qid, row.get("question", ""), file, row.get("page", ""), reason, source))
            continue
        domain = row.get("domain") or folder_domain(file) or doc.domain
        questions.append(EvalQuestion(qid, row["question"], domain, frozenset((doc.doc_id, p) for p in pages),
                                      ({"file": doc.file_name, "pages": list(pages)},),
                                      context_type=row.get("context_type", "")))
    names = {d.doc_id: d.file_name for d in documents}
    return questions, excluded, names


def evaluate_index(searcher, embedder, settings, rows: Sequence[dict[str, str]], documents: Sequence[DocumentInfo],
                   config: str = "rerank", source: str = "") -> dict:
    """Score `rows` against the open searcher with `evaluation.scoring.evaluate` (the benchmark's code too)."""
    questions, excluded, names = questions_for_index(rows, documents, source)
    prep = Prepared(searcher=searcher, questions=questions, excluded=excluded, names=names, corpus_doc_ids=(),
                    settings=settings, store_dir=settings.chroma_dir)
    return evaluate(prep, config, embedder)
