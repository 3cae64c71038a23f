"""`python -m answer "질문"`: answer from the same index as `python -m ingest`.

    python -m answer "지방은행이 시중은행으로 전환할 때 인가 방식은?"
    python -m answer --file questions.txt --json > answers.json
    python -m answer "..." --domain finance --doc "보도자료.pdf" -k 3

Prints the generated answer when an LLM server is configured (RAG_LLM_BASE_URL), the extractive
answer, and the cited passages; `--json` prints one JSON object per question (a list for
`--file`) with `question`, `answer`, `answer_kind`, `extractive`, `generated`, `hits` and
`timings_ms`. Progress and notes go to stderr, so stdout stays clean JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from answer.citations import citation
from answer.extractive import ExtractiveAnswer, answer_from_searcher
from answer.generate import AnswerDelta, AnswerDone, GeneratedAnswer, llm_status, make_llm, stream_answer
from docqa.config import DOMAINS, Settings
from docqa.errors import DocQAError
from docqa.types import SearchResult


def read_questions(args: argparse.Namespace) -> list[str]:
    """Questions from the command line, then from --file (one per line; blank lines and # comments skipped)."""
    questions = [" ".join(q.split()) for q in args.questions]
    if args.file:
        text = Path(args.file).read_text(encoding="utf-8-sig")
        questions += [" ".join(line.split()) for line in text.splitlines()
                      if line.strip() and not line.lstrip().startswith("#")]
    return [q for q in questions if q]


def resolve_documents(store, names: list[str]) -> list[str]:
    """Doc ids for --doc values (a file name as listed by the store, or a doc id)."""
    docs = store.documents()
    by_name = {d.file_name: d.doc_id for d in docs}
    ids = {d.doc_id for d in docs}
    out = []
    for name in names:
        if name in ids:
            out.append(name)
        elif name in by_name:
            out.append(by_name[name])
        else:
            matches = [d.doc_id for d in docs if name in d.file_name]
            if len(matches) != 1:
                known = ", ".join(sorted(by_name)[:10])
                why = "찾을 수 없습니다" if not matches else "하나로 정할 수 없습니다"
                raise DocQAError(f"문서 '{name}'을(를) {why}. 색인된 문서: {known}{' …' if len(by_name) > 10 else ''}")
            out.append(matches[0])
    return out


def hit_dict(rank: int, hit) -> dict:
    c = hit.chunk
    return {"rank": rank, "file": c.file_name, "page": c.page_start, "page_end": c.page_end,
            "citation": citation(hit), "text": c.text, "key_sentences": list(hit.key_sentences),
            "score": round(float(hit.score), 6), "doc_id": c.doc_id, "domain": c.domain}


def extractive_dict(ext: ExtractiveAnswer) -> dict:
    return {"text": ext.text, "sentences": [{"text": s.text, "rank": s.rank, "file": s.chunk.file_name,
                                             "page": s.page, "citation": s.citation} for s in ext.sentences]}


def generated_dict(gen: GeneratedAnswer | None) -> dict | None:
    if gen is None:
        return None
    return {"text": gen.text, "model": gen.model, "cited": list(gen.cited), "dropped": list(gen.dropped),
            "sources": list(gen.sources), "not_found": gen.not_found, "error": gen.error}


def as_json(question: str, result: SearchResult, ext: ExtractiveAnswer, gen: GeneratedAnswer | None,
            timings: dict[str, float]) -> dict:
    use_generated = gen is not None and gen.ok and bool(gen.text)
    return {"question": question,
            "answer": gen.text if use_generated else ext.text,
            "answer_kind": "generated" if use_generated else "extractive",
            "extractive": extractive_dict(ext), "generated": generated_dict(gen),
            "hits": [hit_dict(rank, h) for rank, h in enumerate(result.hits, start=1)],
            "message": result.message, "timings_ms": {k: round(v, 1) for k, v in timings.items()}}


def ask(question: str, searcher, settings: Settings, llm, args, out) -> dict:
    """Search, extract, maybe generate; in text mode print as it goes (the generated answer streams)."""
    result = searcher.search(question, k=args.k, domains=args.domain, doc_ids=args.doc_ids)
    timings = dict(result.timings_ms)
    timings["search"] = sum(result.timings_ms.values())
    ext = answer_from_searcher(searcher, result)
    timings["extract"] = ext.timings_ms.get("extract", 0.0)
    text = not args.json
    if text:
        out.write(f"\n질문: {question}\n")
        if result.message:
            out.write(f"({result.message})\n")
    gen = None
    if llm is not None and result.hits:
        t0 = time.perf_counter()
        if text:
            out.write("\n[생성 답변]\n")
        for event in stream_answer(question, result, settings, llm):
            if isinstance(event, AnswerDelta) and text:
                out.write(event.text)
                out.flush()
            elif isinstance(event, AnswerDone):
                gen = event.answer
        timings["generate"] = (time.perf_counter() - t0) * 1000
        if text:
            if gen.error:
                out.write(f"\n오류: {gen.error}\n")
            else:  # the streamed text was raw; show the checked version when it differs
                out.write("\n")
                if gen.dropped:
                    out.write(f"\n(정리한 답변)\n{gen.text}\n")
    if text:
        write_text(out, result, ext)
        out.write("시간: " + " · ".join(f"{k} {v:,.0f}ms" for k, v in timings.items()
                                        if k in ("search", "extract", "generate")) + "\n")
    return as_json(question, result, ext, gen, timings)


def write_text(out, result: SearchResult, ext: ExtractiveAnswer) -> None:
    if ext.sentences:
        out.write("\n[발췌 답변]\n")
        for s in ext.sentences:
            out.write(f"- {s.text} [{s.rank}]\n")
    if result.hits:
        out.write("\n[근거 문단]\n")
    for rank, hit in enumerate(result.hits, start=1):
        out.write(f"[{rank}] {citation(hit)} · 점수 {hit.score:.3f}\n")
        for key in hit.key_sentences:
            out.write(f"    핵심: {' '.join(key.split())}\n")
        body = " ".join(hit.chunk.text.split())
        out.write(f"    본문: {body[:300]}{'…' if len(body) > 300 else ''}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m answer", description="색인된 문서로 질문에 답합니다.")
    parser.add_argument("questions", nargs="*", help="질문 (여러 개 가능)")
    parser.add_argument("--file", help="질문 파일 (한 줄에 하나, UTF-8; #으로 시작하는 줄은 건너뜀)")
    parser.add_argument("--json", action="store_true", help="JSON으로 출력 (질문 하나면 객체, 여럿이면 목록)")
    parser.add_argument("-k", "--k", type=int, default=5, help="근거 문단 수 (기본 5, 질문 페이지와 같음)")
    parser.add_argument("--domain", action="append", default=[],
                        help=f"도메인으로 제한 ({', '.join(DOMAINS)} 등; 여러 번 지정 가능)")
    parser.add_argument("--doc", action="append", default=[], help="문서로 제한: 파일 이름 또는 문서 ID (여러 번 가능)")
    parser.add_argument("--data-dir", help="데이터 폴더 (기본: RAG_DATA_DIR 또는 ~/.korean-doc-qa)")
    parser.add_argument("--no-llm", action="store_true", help="언어 모델이 설정되어 있어도 생성 답변을 만들지 않음")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not 1 <= args.k <= 50:
        parser.error("-k는 1에서 50 사이여야 합니다")
    try:
        questions = read_questions(args)
    except OSError as exc:
        print(f"오류: 질문 파일을 읽을 수 없습니다: {exc}", file=sys.stderr)
        return 2
    if not questions:
        parser.error("질문을 주거나 --file로 질문 파일을 지정하세요")

    from docqa.services import load_embedder, open_store
    from retrieval.search import Searcher

    overrides = {"data_dir": Path(args.data_dir)} if args.data_dir else {}
    settings = Settings.from_env(**overrides)
    embedder = load_embedder(settings)
    err = sys.stderr
    print(f"임베딩 모델: {embedder.choice.model_id} ({embedder.choice.source})", file=err)
    try:
        store = open_store(settings, embedder)
        args.doc_ids = resolve_documents(store, args.doc)
    except DocQAError as exc:
        print(f"오류: {exc}", file=err)
        return 2
    searcher = Searcher.from_services(store, embedder, settings)
    llm = None if args.no_llm else make_llm(settings)
    print(f"저장소: {settings.chroma_host or settings.chroma_dir} (문서 {len(store.documents())}개) · "
          f"{llm_status(settings) if not args.no_llm else '생성 답변 끔 (--no-llm)'}", file=err)
    results = []
    for question in questions:
        try:
            results.append(ask(question, searcher, settings, llm, args, sys.stdout))
        except DocQAError as exc:  # one bad question never stops a file of them
            print(f"오류 ({question[:40]}): {exc}", file=err)
            results.append({"question": question, "error": str(exc)})
    if args.json:
        value = results[0] if len(results) == 1 and not args.file else results
        json.dump(value, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    return 1 if all("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
