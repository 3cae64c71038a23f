"""End to end: `streamlit run app.py` on 127.0.0.1, driven by Debian's headless Chromium.

Real server, real Chroma in a temporary data dir, the offline model built by the session
fixture, real Korean PDFs from ../shared/eval. Screenshots go to the test's tmp_path.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pymupdf
import pytest

from tests.conftest import ROOT, eval_file, eval_pdf

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
FINANCE = "240130(보도자료) 지방은행의 시중은행 전환시 인가방식 및 절차.pdf"
# Not "…전환 인가방식은 무엇인가요?": that repeats p. 4's Q&A heading ("…전환 인가방식 및 절차를 발표한
# 이유는?"), which phrase matching ranks above p. 2 (README, Benchmarks: pairs).
QUESTION = "지방은행이 시중은행으로 전환할 때 인가는 어떤 방식으로 하나요?"
ANSWER_PAGES = {"1", "2"}  # the pages that state the method ("인가내용의 변경")
MUTUAL = "240320(보도자료) 금융권의 상생금융 추진현황.pdf"
FINTECH = "240409(보도자료) 금융위 핀테크 투자 생태계 활성화 나선다.pdf"
SLOW = 180_000  # ms: first visit loads the model; ingesting a PDF embeds it on CPU


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(home: Path, embedder):
    """The app as users run it (`streamlit run app.py`), on a free port, with its own data dir."""
    if not CHROMIUM.exists():
        if os.environ.get("RAG_REQUIRE_EVAL") == "1":
            pytest.fail("Debian's chromium is not installed (.ci/run installs it)")
        pytest.skip("Debian's chromium is not installed")
    port = _free_port()
    env = {**os.environ, "RAG_DATA_DIR": str(home / "data"), "RAG_EMBED_MODEL": embedder.choice.path,
           "HF_HUB_OFFLINE": "1"}
    env.pop("RAG_CHROMA_HOST", None)
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / "streamlit.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
             "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        print(f"streamlit log: {log_path}")


@pytest.fixture(scope="module")
def server(tmp_path_factory, embedder):
    with running_app(tmp_path_factory.mktemp("browser"), embedder) as url:
        yield url


REQUESTS: list[str] = []  # every request any test page made (checked by the last test)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=SLOW)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def new_page(browser, url: str, wait_for_models: bool = True):
    page = browser.new_page(viewport={"width": 1360, "height": 900}, locale="ko-KR")
    page.set_default_timeout(SLOW)
    page.on("request", lambda request: REQUESTS.append(request.url))
    page.goto(url)
    if wait_for_models:
        page.locator("[data-testid=stSidebar]").get_by_text("임베딩 모델", exact=True).wait_for()
    return page


def upload(page, files, domain: str = "") -> None:
    """Choose the domain, put `files` on the uploader (its hidden input[type=file]) and press 색인하기."""
    if domain:
        page.get_by_role("combobox", name="도메인").click()
        page.get_by_role("option", name=domain, exact=True).click()
    page.locator("[data-testid=stFileUploader] input[type=file]").set_input_files(files)
    page.get_by_role("button", name="색인하기").click()


def full_screenshot(page, path: Path) -> Path:
    """The whole page: Streamlit scrolls inside its main block, so grow the viewport to fit it first."""
    height = page.evaluate("() => Math.max(...[...document.querySelectorAll("
                           "'[data-testid=stMain], [data-testid=stAppViewContainer], section')]"
                           ".map(e => e.scrollHeight))")
    page.set_viewport_size({"width": 1360, "height": min(int(height) + 40, 16000)})
    page.wait_for_timeout(500)
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def sidebar_count(page, label: str) -> int:
    metric = page.locator("[data-testid=stSidebar] [data-testid=stMetric]").filter(has_text=label)
    return int(metric.locator("[data-testid=stMetricValue]").inner_text().replace(",", ""))


def test_upload_a_korean_pdf_then_ask_and_see_the_highlighted_page(server, browser, tmp_path):
    from playwright.sync_api import expect

    page = new_page(browser, f"{server}/documents")
    upload(page, str(eval_pdf(f"finance/{FINANCE}")), domain="금융")
    expect(page.get_by_text(re.compile(r"7쪽, \d+개 조각으로 색인했습니다"))).to_be_visible()
    expect(page.locator("[data-testid=stSidebar]")).to_contain_text("문서")
    assert sidebar_count(page, "문서") == 1
    full_screenshot(page, tmp_path / "documents.png")

    page.set_viewport_size({"width": 1360, "height": 900})
    page.locator("[data-testid=stSidebarNav]").get_by_text("질문", exact=True).click()
    box = page.locator(".st-key-question_box input")
    box.fill(QUESTION)
    box.press("Enter")
    card = page.locator(".st-key-card_1")
    expect(card).to_contain_text(FINANCE)
    head = card.locator(".card-head").inner_text()
    cited = re.search(r"· (\d+)쪽 ·", head)
    assert cited and cited[1] in ANSWER_PAGES and "금융" in head, head
    expect(card.locator(".passage mark").first).to_be_visible()

    card.locator("[data-testid=stExpander] summary").first.click()
    image = card.locator("[data-testid=stExpander] img").first
    expect(image).to_be_visible()
    assert image.evaluate("img => img.naturalWidth") > 600
    with page.expect_download() as download:
        card.get_by_role("button", name="이 쪽만 PDF로 받기").click()
    saved = tmp_path / "page.pdf"
    download.value.save_as(saved)
    assert download.value.suggested_filename.endswith(f"_{cited[1]}쪽.pdf")
    with pymupdf.open(saved) as one_page:
        assert one_page.page_count == 1
    expect(page.get_by_text(re.compile(r"검색 시간 [\d,]+ms"))).to_be_visible()
    expect(page.locator("[data-testid=stSidebar]")).to_contain_text(QUESTION)  # the session's history
    full_screenshot(page, tmp_path / "ask.png")


def test_an_hwp_passage_is_cited_by_printed_page_with_its_page_image(server, browser, tmp_path):
    from playwright.sync_api import expect

    name = "moel_03_livelihood_loan.hwp"
    page = new_page(browser, f"{server}/documents")
    upload(page, str(eval_file(f"hwp/{name}")), domain="공공")
    expect(page.get_by_text(re.compile(r"16쪽, \d+개 조각으로 색인했습니다"))).to_be_visible()
    page.locator("[data-testid=stSidebarNav]").get_by_text("질문", exact=True).click()
    box = page.locator(".st-key-question_box input")
    box.fill("직업훈련 생계비 대부금의 상환 방법은 무엇인가요?")
    box.press("Enter")
    card = page.locator("[class*=st-key-card_]").filter(has_text=name).filter(has_text="8쪽").first
    expect(card).to_be_visible()
    expect(card.locator(".passage mark").first).to_be_visible()
    card.locator("[data-testid=stExpander] summary").first.click()
    image = card.locator("[data-testid=stExpander] img").first
    expect(image).to_be_visible()
    assert image.evaluate("img => img.naturalWidth") > 600
    full_screenshot(page, tmp_path / "hwp.png")


def test_corrupt_file_fails_alone_while_another_session_uploads_and_asks(server, browser, tmp_path):
    from playwright.sync_api import expect

    a = new_page(browser, f"{server}/documents")
    b = new_page(browser, f"{server}/documents")
    before = sidebar_count(a, "문서")
    corrupt = {"name": "깨진 파일.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.7\n%%EOF garbage"}
    good = {"name": MUTUAL, "mimeType": "application/pdf", "buffer": eval_pdf(f"finance/{MUTUAL}").read_bytes()}
    upload(a, [corrupt, good])
    upload(b, str(eval_pdf(f"finance/{FINTECH}")))  # a second session, while the first one is indexing

    error = a.locator("[data-testid=stAlertContentError]").filter(has_text="깨진 파일.pdf")
    expect(error).to_be_visible()
    assert re.search(r"[가-힣]{2,}", error.inner_text().replace("깨진 파일", "")), error.inner_text()
    expect(a.get_by_text(re.compile(r"상생금융 추진현황\.pdf': \d+쪽, \d+개 조각으로 색인했습니다"))).to_be_visible()
    expect(b.get_by_text(re.compile(r"핀테크 투자 생태계 활성화 나선다\.pdf': \d+쪽, \d+개 조각으로 색인했습니다"))
           ).to_be_visible()
    full_screenshot(a, tmp_path / "documents-with-error.png")

    b.set_viewport_size({"width": 1360, "height": 900})
    b.locator("[data-testid=stSidebarNav]").get_by_text("질문", exact=True).click()
    box = b.locator(".st-key-question_box input")
    box.fill("금융권 상생금융 추진 현황은 어떤가요?")
    box.press("Enter")
    expect(b.locator(".st-key-card_1")).to_contain_text("상생금융")  # indexed by the other session
    a.reload()
    expect(a.locator("[data-testid=stSidebar]").get_by_text("임베딩 모델", exact=True)).to_be_visible()
    assert sidebar_count(a, "문서") == before + 2  # nothing lost, the corrupt file not added


def test_clicking_a_page_while_the_app_is_still_loading_gets_that_page(browser, tmp_path, embedder):
    """A fresh server: the model is still loading when the first page appears; a click on 문서 right
    away must open 문서 (the load runs outside the page run and is not restarted by the click)."""
    from playwright.sync_api import expect

    with running_app(tmp_path / "fresh", embedder) as url:
        page = new_page(browser, url, wait_for_models=False)
        nav = page.locator("[data-testid=stSidebarNav]")
        nav.get_by_text("문서", exact=True).click()
        expect(page.get_by_role("heading", name="문서", exact=True)).to_be_visible(timeout=60_000)
        expect(page.locator("[data-testid=stFileUploader]")).to_be_visible()
        assert page.url.endswith("/documents")
        nav.get_by_text("질문", exact=True).click()
        expect(page.get_by_role("heading", name="질문", exact=True)).to_be_visible()
        full_screenshot(page, tmp_path / "fresh-start.png")


def test_no_request_leaves_the_machine():
    """Every request the pages above made went to the app itself (no font host, no telemetry)."""
    assert REQUESTS, "the browser tests made no request"
    hosts = {urlparse(u).hostname for u in REQUESTS if urlparse(u).scheme in ("http", "https", "ws", "wss")}
    assert hosts == {"127.0.0.1"}, sorted(hosts)
