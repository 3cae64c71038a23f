"""Many writers and readers on one index, with real processes, a real Chroma (embedded and
`chroma run`) and the real offline model: nothing lost, nothing half-written, nothing stale."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from docqa.config import Settings
from docqa.services import index_signature, open_store
from docqa.store import Store, close_connections
from ingest.jobs import JobQueue
from ingest.pipeline import Ingestor
from retrieval.search import Searcher
from tests import pdfs
from tests.conftest import ROOT, eval_pdf
from tests.test_chroma_server import chroma_server  # noqa: F401 - the `chroma run` fixture

FINANCE = ["240130(보도자료) 지방은행의 시중은행 전환시 인가방식 및 절차.pdf",
           "240320(보도자료) 금융권의 상생금융 추진현황.pdf",
           "240409(보도자료) 금융위 핀테크 투자 생태계 활성화 나선다.pdf"]
MEDICAL = ["위식도역류성질환(Gastroesophageal Reflux Disease) (3)(0).pdf",
           "눈건강+관리를+위한+9대+생활수칙.pdf",
           "질환별 약제정보_송영천_안구건조증(1).pdf"]


def env_for(embedder, **extra) -> dict[str, str]:
    # OCR off: these tests are about processes sharing an index (OCR has tests of its own), and the
    # pictures in the real PDFs would make every writer spend most of its time in Tesseract.
    env = {**os.environ, "RAG_EMBED_MODEL": embedder.choice.path, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT),
           "RAG_OCR": "0"}
    env.pop("RAG_CHROMA_HOST", None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def assert_consistent(store: Store, expected_docs: int | None = None) -> None:
    """Every registered document holds exactly the passages of its live build; nothing else is stored."""
    registry = store.registry()
    audit = store.audit()
    for doc_id, (build, info) in registry.items():
        assert audit.get(doc_id) == {build: info.chunks}, (info.file_name, audit.get(doc_id), build, info.chunks)
    assert set(audit) <= set(registry), {d: audit[d] for d in set(audit) - set(registry)}
    assert not store.leases()
    if expected_docs is not None:
        assert len(registry) == expected_docs, [i.file_name for _, i in registry.values()]


READER = """
import json, sys, time
from pathlib import Path
from docqa.config import Settings
from docqa.services import load_embedder, open_store
from retrieval.search import Searcher
settings = Settings.from_env(data_dir=Path(sys.argv[1]), reranker="none")
embedder = load_embedder(settings)
first_seen = {}
deadline = time.time() + float(sys.argv[2])
searcher = None
while time.time() < deadline:
    store = open_store(settings, embedder)          # what every new app process does, again and again
    if searcher is None:
        searcher = Searcher.from_services(store, embedder, settings)
    searcher.search("금융 질환 관리", k=5)
    for doc_id in searcher.index.docs:
        first_seen.setdefault(doc_id, time.time())
    if Path(sys.argv[3]).exists():
        break
    time.sleep(0.3)
print(json.dumps(first_seen))
"""


def test_two_cli_runs_and_a_reader_share_one_data_directory(tmp_path, embedder):
    """Two `python -m ingest` writers at once, while another process opens the store every 0.3 s and
    searches: every file is indexed once, every document holds exactly its passages, and the reader
    sees each new document within seconds of its commit."""
    data = tmp_path / "data"
    folders = []
    for domain, names in (("finance", FINANCE), ("medical", MEDICAL)):
        folder = tmp_path / domain
        folder.mkdir()
        for name in names:
            (folder / name).write_bytes(eval_pdf(f"{domain}/{name}").read_bytes())
        folders.append(folder)
    env = env_for(embedder, RAG_DATA_DIR=data)
    stop = tmp_path / "stop"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(data), "600", str(stop)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    writers = [subprocess.Popen([sys.executable, "-m", "ingest", str(f), "--data-dir", str(data)], cwd=ROOT,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for f in folders]
    outs = [w.communicate(timeout=900) for w in writers]
    for w, (out, err) in zip(writers, outs):
        assert w.returncode == 0, err[-3000:]
        assert "색인 3" in out and "실패 0" in out, out
    time.sleep(3)
    stop.touch()
    out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err[-3000:]
    first_seen = json.loads(out.strip().splitlines()[-1])

    store = open_store(Settings(data_dir=data), embedder, check=False)  # built by the CLI's model path
    assert_consistent(store, expected_docs=6)
    commits = {}
    for got in store.paged("_log", include=["metadatas"]):
        for m in got["metadatas"]:
            commits[m["doc_id"]] = m["at"]
    assert set(first_seen) == set(commits)
    delays = [first_seen[d] - commits[d] for d in commits]
    assert max(delays) <= 5.0, delays


def test_two_app_workers_on_one_chroma_server(chroma_server, tmp_path, embedder):  # noqa: F811
    """Two app processes' workers (own data dirs, one `chroma run` server) index uploads at once."""
    env = env_for(embedder, RAG_CHROMA_HOST=chroma_server, RAG_COLLECTION="shared_docs")
    uploads = {"a": [(n, eval_pdf(f"finance/{n}").read_bytes()) for n in FINANCE[:2]],
               "b": [(n, eval_pdf(f"medical/{n}").read_bytes()) for n in MEDICAL[:2]]}
    workers = []
    for name, files in uploads.items():
        settings = Settings(data_dir=tmp_path / name, chroma_host=chroma_server, collection="shared_docs", ocr=False,
                            embed_model=embedder.choice.path)  # a job carries its submitter's settings
        JobQueue(settings).submit_uploads(files, domain="")
        workers.append(subprocess.Popen([sys.executable, "-m", "ingest.worker", "--data-dir", str(tmp_path / name),
                                         "--idle", "2"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True))
    for w in workers:
        out, _ = w.communicate(timeout=900)
        assert w.returncode == 0, out[-3000:]
    for name in uploads:
        job = JobQueue(Settings(data_dir=tmp_path / name)).jobs()[0]
        assert [f.state for f in job.files] == ["indexed", "indexed"], job.files
    settings = Settings(data_dir=tmp_path / "reader", chroma_host=chroma_server, collection="shared_docs",
                        reranker="none")
    store = open_store(settings, embedder, check=False)  # the workers loaded the model by its path
    assert_consistent(store, expected_docs=4)
    hits = Searcher.from_services(store, embedder, settings).search("위식도 역류 질환의 증상", k=3).hits
    assert hits and hits[0].chunk.file_name.startswith("위식도")


def test_a_writer_killed_mid_document_leaves_nothing_visible_and_a_restart_finishes(tmp_path, embedder):
    """SIGKILL a CLI while it writes a document's passages, then run it again: the dead write is swept
    (after its lease times out, not on open) and the file ends up indexed exactly once."""
    data = tmp_path / "data"
    folder = tmp_path / "in"
    folder.mkdir()
    name = "240130(보도자료) 지방은행의 시중은행 전환시 인가방식 및 절차.pdf"
    (folder / name).write_bytes(eval_pdf(f"finance/{name}").read_bytes())
    env = env_for(embedder, RAG_DATA_DIR=data, RAG_LEASE_TIMEOUT=3)
    args = [str(folder), "--data-dir", str(data)]
    # The real CLI, writing 2 passages per Chroma batch so that the kill can land between batches.
    slow = ("import sys, docqa.store as store; store._WRITE_BATCH = 2; from ingest.__main__ import main; "
            f"sys.exit(main({args!r}))")
    writer = subprocess.Popen([sys.executable, "-c", slow], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    signature = index_signature(embedder, Settings())  # the CLI's model folder is the same offline build
    store = None
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and writer.poll() is None:
        if store is None and (data / "chroma").exists():
            store = Store(Settings(data_dir=data), signature, check=False)
        if store is not None and store.leases() and store.audit():
            break
        time.sleep(0.02)
    assert writer.poll() is None, "the writer finished before it could be interrupted"
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert store.registry() == {} and store.audit()  # half a document is stored, none of it visible
    assert Searcher.from_services(store, embedder, Settings(data_dir=data, reranker="none")).search(
        "지방은행 인가").hits == ()
    store.sweep_leases()  # the lease is still fresh: a living writer's work is never touched
    assert store.audit() and store.leases()
    time.sleep(3.5)  # now the dead writer's lease is stale
    close_connections()
    again = subprocess.run([sys.executable, "-m", "ingest", *args], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=900)
    assert again.returncode == 0 and "색인 1" in again.stdout, again.stdout + again.stderr[-2000:]
    assert_consistent(Store(Settings(data_dir=data), signature), expected_docs=1)


@pytest.fixture
def indexed(tmp_path, embedder):
    settings = Settings(data_dir=tmp_path / "data", reranker="none", chunk_tokens=256, chunk_overlap=32, ocr=False)
    store = open_store(settings, embedder)
    return settings, store, Ingestor(store, embedder, settings), Searcher.from_services(store, embedder, settings)


def test_a_replacement_with_the_same_passage_count_is_never_stale(indexed):
    _, store, ingestor, searcher = indexed
    ingestor.ingest([("보고서.pdf", pdfs.korean_pdf(["올해 예산은 사과 수출 지원에 집중합니다."]))])
    assert searcher.search("사과 수출", k=3).hits
    new = ingestor.ingest([("보고서.pdf", pdfs.korean_pdf(["올해 예산은 배추 수입 관리에 집중합니다."]))]).files[0]
    assert new.status == "replaced" and new.chunks == 1
    hits = searcher.search("배추 수입", k=3).hits
    assert hits and "배추" in hits[0].chunk.text
    assert all("사과" not in h.chunk.text for h in searcher.search("사과 수출", k=3).hits)
    assert_consistent(store, expected_docs=1)


def test_reindex_builds_beside_the_live_index_and_switches_without_a_gap(indexed, embedder):
    settings, store, ingestor, searcher = indexed
    ingestor.ingest([("가.pdf", pdfs.korean_pdf(["지방은행의 시중은행 전환 인가 방식을 설명합니다."])),
                     ("나.pdf", pdfs.korean_pdf(["핀테크 투자 생태계 활성화 방안입니다."]))])
    old_prefix = store.prefix
    results: list[int] = []
    done = threading.Event()

    def keep_searching() -> None:
        while not done.is_set():
            results.append(len(searcher.search("시중은행 전환 인가", k=3).hits))

    thread = threading.Thread(target=keep_searching)
    thread.start()
    rebuilder = Ingestor(open_store(settings, embedder, check=False), embedder, settings)
    report = rebuilder.reindex()
    time.sleep(0.5)
    done.set()
    thread.join()
    assert [f.status for f in report.files] == ["indexed", "indexed"]
    assert results and min(results) > 0  # never an empty or partial answer while rebuilding
    assert searcher.search("핀테크 투자", k=3).hits  # the old handle followed the switch
    assert searcher.index.generation[0] == rebuilder.store.prefix != old_prefix
    assert rebuilder.store.drop_retired(older_than_s=0) == [old_prefix]
    assert_consistent(open_store(settings, embedder), expected_docs=2)


def test_same_file_name_in_two_folders_are_two_documents(tmp_path, embedder):
    for folder, text in (("서울", "서울 지점의 연간 보고서입니다."), ("부산", "부산 지점의 연간 보고서입니다.")):
        (tmp_path / "in" / folder).mkdir(parents=True)
        (tmp_path / "in" / folder / "보고서.pdf").write_bytes(pdfs.korean_pdf([text]))
    env = env_for(embedder, RAG_DATA_DIR=tmp_path / "data")
    run = subprocess.run([sys.executable, "-m", "ingest", str(tmp_path / "in")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0 and "색인 2" in run.stdout, run.stdout + run.stderr[-2000:]
    docs = open_store(Settings(data_dir=tmp_path / "data"), embedder, check=False).documents()
    assert sorted(Path(d.source).parent.name for d in docs) == ["부산", "서울"]
    from ui.common import document_label

    assert sorted(document_label(d, docs) for d in docs) == ["보고서.pdf (in/부산)", "보고서.pdf (in/서울)"]


def test_a_job_resumes_after_its_worker_dies_and_cancel_stops_the_rest(tmp_path, embedder):
    settings = Settings(data_dir=tmp_path / "data", embed_model=embedder.choice.path)  # the job's model
    queue = JobQueue(settings)
    files = [(f"문서{i}.pdf", pdfs.korean_pdf([f"{i}번 문서: 지역 금융 지원 사업 {i}단계 안내입니다."]))
             for i in range(4)]
    job = queue.submit_uploads(files, domain="finance")
    assert list((settings.spool_dir / job).iterdir())  # the bytes are on disk before anyone works on them
    env = env_for(embedder, RAG_DATA_DIR=settings.data_dir)
    worker = subprocess.Popen([sys.executable, "-m", "ingest.worker", "--idle", "1"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and sum(f.state == "indexed" for f in queue.job(job).files) < 1:
        time.sleep(0.1)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    assert 1 <= sum(f.state == "indexed" for f in queue.job(job).files) < 4
    restarted = subprocess.run([sys.executable, "-m", "ingest.worker", "--idle", "1"], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=600)
    assert restarted.returncode == 0, restarted.stderr[-2000:]
    assert [f.state for f in queue.job(job).files] == ["indexed"] * 4
    assert not (settings.spool_dir / job).exists()
    store = open_store(Settings(data_dir=settings.data_dir, lease_timeout_s=0), embedder, check=False)
    with store.writing():
        store.sweep_leases()  # the killed worker may have died inside a write
    assert_consistent(store, expected_docs=4)

    second = queue.submit_uploads(files[:2], domain="finance")
    queue.cancel(second)
    assert [f.state for f in queue.job(second).files] == ["cancelled", "cancelled"]
    assert queue.pending() == 0 and not (settings.spool_dir / second).exists()
