"""The same ingest and search against a `chroma run` server started on 127.0.0.1 by the test."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from docqa.config import Settings
from docqa.errors import StoreError
from docqa.services import open_store
from ingest.pipeline import Ingestor
from retrieval.search import Searcher
from tests import pdfs

pytestmark = pytest.mark.server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    exe = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    port = free_port()
    proc = subprocess.Popen([exe, "run", "--path", str(tmp_path_factory.mktemp("chroma-server")),
                             "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("chroma run did not start within 30 s")
    yield f"127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


def test_ingest_and_search_through_a_chroma_server(chroma_server, tmp_path, embedder):
    settings = Settings(data_dir=tmp_path / "a", chroma_host=chroma_server, reranker="none")
    store = open_store(settings, embedder)
    report = Ingestor(store, embedder, settings).ingest(
        [("항만.pdf", pdfs.korean_pdf(["해양수산부는 부산항 신항의 스마트 항만 자동화 사업을 추진한다."])),
         ("망가짐.pdf", b"not a pdf")])
    assert [f.status for f in report.files] == ["indexed", "failed"]

    # A second app process sharing the server sees the document in both retrievers.
    other_settings = replace(settings, data_dir=tmp_path / "b")
    other = Searcher.from_services(open_store(other_settings, embedder), embedder, other_settings)
    for mode in ("dense", "lexical", "hybrid"):
        hits = other.search("스마트 항만 자동화", mode=mode).hits
        assert hits and hits[0].chunk.file_name == "항만.pdf"

    store.delete_document(report.files[0].doc_id)
    assert other.search("스마트 항만 자동화").hits == ()


def test_a_bad_host_setting_is_explained_in_korean(tmp_path, embedder):
    with pytest.raises(StoreError) as err:
        open_store(Settings(data_dir=tmp_path, chroma_host="no-port-here"), embedder)
    assert "호스트:포트" in str(err.value)
