"""`python -m ingest PATH... [--domain D]`: index PDFs (files or folders) with a progress bar."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from docqa.config import DOMAINS, Settings
from docqa.errors import DocQAError
from docqa.services import load_embedder, open_store
from ingest.pipeline import STAGE_LABELS, Ingestor, Progress


def collect(paths: list[str]) -> list[Path]:
    """PDF files named directly or found (recursively) under named folders, in a stable order."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() == ".pdf"))
        else:
            out.append(p)
    return out


def folder_domain(path: Path, given: str) -> str:
    """The given domain, else the parent folder's name when it is one of the known domains."""
    if given:
        return given
    return path.parent.name if path.parent.name in DOMAINS else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingest", description="PDF를 색인합니다.")
    parser.add_argument("paths", nargs="+", help="PDF 파일 또는 폴더")
    parser.add_argument("--domain", default="", help=f"도메인 ({', '.join(DOMAINS)} 또는 자유 입력); "
                        "생략하면 상위 폴더 이름이 도메인이면 그것을 씁니다")
    parser.add_argument("--data-dir", help="데이터 폴더 (기본: RAG_DATA_DIR 또는 ~/.korean-doc-qa)")
    parser.add_argument("--reindex", action="store_true", help="색인을 지우고 저장된 원본으로 다시 만듭니다")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from tqdm import tqdm

    overrides = {"data_dir": Path(args.data_dir)} if args.data_dir else {}
    settings = Settings.from_env(**overrides)
    started = time.perf_counter()
    embedder = load_embedder(settings)
    print(f"임베딩 모델: {embedder.choice.model_id} ({embedder.choice.source}) - {embedder.choice.reason}")
    print(f"인코더: {embedder.encoder_choice.summary()}")
    try:
        store = open_store(settings, embedder, check=not args.reindex)
    except DocQAError as exc:
        print(f"오류: {exc}\n재색인하려면 --reindex 를 붙여 실행하세요.", file=sys.stderr)
        return 2
    print(f"저장소: {settings.chroma_host or settings.chroma_dir} (문서 {len(store.documents())}개)")
    ingestor = Ingestor(store, embedder, settings)
    files = collect(args.paths)
    bar = tqdm(total=max(len(files), 1), unit="file", dynamic_ncols=True)

    def progress(p: Progress) -> None:
        bar.set_description(f"{p.file_name[:30]} · {STAGE_LABELS.get(p.stage, p.stage)}")
        if p.stage == "done":
            bar.update(1)

    if args.reindex:
        report = ingestor.reindex(progress=progress)
    else:
        report = ingestor.ingest(files, progress=progress, domain_of=lambda src: folder_domain(src, args.domain))
    bar.close()
    return _summary(report, time.perf_counter() - started)


def _summary(report, total_s: float) -> int:
    for f in report.files:
        if f.status == "failed" or f.warnings:
            print(f"- {f.message}{' ' + ' '.join(f.warnings) if f.warnings else ''}")
    print(f"\n파일 {len(report.files)}개: 색인 {report.count('indexed') + report.count('replaced')}, "
          f"건너뜀 {report.count('skipped')}, 실패 {report.count('failed')} · "
          f"{report.pages}쪽, 조각 {report.chunks}개, 토큰 {report.tokens:,}개")
    stages = " · ".join(f"{STAGE_LABELS.get(k, k)} {v:.1f}초" for k, v in report.seconds.items())
    print(f"단계별 시간: {stages} · 전체 {total_s:.1f}초")
    return 1 if report.files and report.count("failed") == len(report.files) else 0


if __name__ == "__main__":
    sys.exit(main())
