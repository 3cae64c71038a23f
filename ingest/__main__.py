"""`python -m ingest PATH... [--domain D]`: index documents (files or folders) with a progress bar.

The files become a job in the data directory's queue (ingest.jobs), processed right here;
if this process dies, the app's worker takes over the unfinished files.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import Counter
from pathlib import Path

from docqa.config import DOMAINS, Settings
from docqa.errors import DocQAError
from docqa.services import load_embedder, open_store
from docqa.types import FileResult
from ingest.formats import SUPPORTED_SUFFIXES
from ingest.jobs import JobQueue
from ingest.pipeline import STAGE_LABELS, Ingestor
from ingest.worker import Worker


def collect(paths: list[str]) -> list[Path]:
    """Files named directly, or PDF/HWP/HWPX files found (recursively) under named folders, in a stable order."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUPPORTED_SUFFIXES))
        else:
            out.append(p)
    return out


def folder_domain(path: Path, given: str) -> str:
    """The given domain, else the parent folder's name when it is one of the known domains."""
    if given:
        return given
    return path.parent.name if path.parent.name in DOMAINS else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingest", description="문서를 색인합니다.")
    parser.add_argument("paths", nargs="*", help="파일 또는 폴더")
    parser.add_argument("--domain", default="", help=f"도메인 ({', '.join(DOMAINS)} 또는 자유 입력); "
                        "생략하면 상위 폴더 이름이 도메인이면 그것을 씁니다")
    parser.add_argument("--data-dir", help="데이터 폴더 (기본: RAG_DATA_DIR 또는 ~/.korean-doc-qa)")
    parser.add_argument("--reindex", action="store_true",
                        help="저장된 원본으로 색인을 새로 만들고, 다 되면 바꿔 씁니다 (그동안 검색은 기존 색인으로)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    if not args.paths and not args.reindex:
        parser.error("색인할 파일이나 폴더를 주거나 --reindex 를 쓰세요.")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from tqdm import tqdm

    overrides = {"data_dir": Path(args.data_dir)} if args.data_dir else {}
    settings = Settings.from_env(**overrides)
    started = time.perf_counter()
    embedder = load_embedder(settings)
    print(f"임베딩 모델: {embedder.choice.model_id} ({embedder.choice.source}) - {embedder.choice.reason}")
    print(f"인코더: {embedder.encoder_choice.summary()}")
    store = open_store(settings, embedder, check=False)
    if not args.reindex:
        try:
            store.check()
        except DocQAError as exc:
            print(f"오류: {exc}\n재색인하려면 --reindex 를 붙여 실행하세요.", file=sys.stderr)
            return 2
    print(f"저장소: {settings.chroma_host or settings.chroma_dir} (문서 {len(store.documents())}개)")
    ingestor = Ingestor(store, embedder, settings)
    queue = JobQueue(settings)
    if args.reindex:
        job_id = queue.submit_reindex_all(origin="cli")
        total = 1
    else:
        files = collect(args.paths)
        job_id = queue.submit_paths(files, [folder_domain(f, args.domain) for f in files])
        total = len(files)
    bar = tqdm(total=max(total, 1), unit="file", dynamic_ncols=True)

    def progress(task, stage: str, fraction: float) -> None:
        bar.set_description(f"{task.name[:30]} · {STAGE_LABELS.get(stage, stage)}")
        if stage == "done" and not args.reindex:
            bar.update(1)

    worker = Worker(settings, services=lambda: (embedder, store, ingestor))
    try:
        worker.run(job_id=job_id, on_progress=progress)
    except KeyboardInterrupt:
        queue.cancel(job_id)
        print("\n중단했습니다. 끝나지 않은 파일은 색인하지 않았습니다.", file=sys.stderr)
        return 130
    bar.close()
    job = queue.job(job_id)
    results = [f.result() for f in job.files] if job else []
    return _summary(results, time.perf_counter() - started)


def _summary(results: list[FileResult], total_s: float) -> int:
    for f in results:
        if f.status == "failed" or f.warnings:
            print(f"- {f.message}{' ' + ' '.join(f.warnings) if f.warnings else ''}")
    count = Counter(f.status for f in results)
    print(f"\n파일 {len(results)}개: 색인 {count['indexed'] + count['replaced']}, "
          f"건너뜀 {count['skipped']}, 실패 {count['failed']} · "
          f"{sum(f.pages for f in results)}쪽, 조각 {sum(f.chunks for f in results)}개 · 전체 {total_s:.1f}초")
    return 1 if results and count["failed"] == len(results) else 0


if __name__ == "__main__":
    sys.exit(main())
