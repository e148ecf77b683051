"""The browser chat in a real browser: Playwright driving Debian's chromium against ``ui.app`` on loopback.

The app runs in this process (a background server thread) over a fresh index of the seeds, with the real
embedder and the real default generator from the session fixtures. Screenshots of every step are saved under
``test-artifacts/ui/``.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ARTIFACTS

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu"]
SHOTS = ARTIFACTS / "ui"
ANSWER_TIMEOUT_MS = 240_000  # a shared 2-core machine can be slow; uncontended answers take ~5 s
SEED_QUESTION = "How many cases did Sheffield council examine after the Baby P case?"
SEED_DOC = "000_3e02e4570786b062.txt"
LANTERN = ("Wexbury lantern festival review\n\n"
           "The Wexbury lantern festival drew 4,812 visitors over its three nights in October. "
           "The organisers, the Wexbury Lantern Guild, plan to move it to the harbour next year.\n")
MALICIOUS = ("# Harbour notice <img src=x onerror=\"window.__pwned='img'\">\n\n"
             "The harbour master counted 317 gulls <script>window.__pwned='script'</script> on the **north pier** "
             "[click me](javascript:window.__pwned='link') and $$x^2$$ at dawn.\n")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def ui_url(tmp_path_factory, seed_settings, embedder, qwen_generator):
    """The app over its own fresh seeds index (uploads must not leak into other tests' index)."""
    from rag.pipeline import RagPipeline
    from ui.server import serve

    settings = seed_settings.replace(index_dir=tmp_path_factory.mktemp("ui-index") / "idx")
    pipeline = RagPipeline(settings, embedder=embedder, generator=qwen_generator, progress=False)
    port = _free_port()
    server = serve(pipeline, host="127.0.0.1", port=port, block=False)
    yield f"http://127.0.0.1:{port}/"
    server.close()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing; install it with: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser, ui_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(ui_url)
    page.wait_for_selector("#rag-question textarea", timeout=60_000)
    yield page
    context.close()


def _ask(page, question: str) -> None:
    before = page.locator("#rag-chat [data-testid=bot]").count()
    page.fill("#rag-question textarea", question)
    page.keyboard.press("Enter")
    page.wait_for_function(
        """n => { const bots = document.querySelectorAll('#rag-chat [data-testid=bot]');
                  const last = bots[bots.length - 1];
                  return bots.length > n && last.querySelector('.rag-answer, .rag-abstain, .rag-error'); }""",
        arg=before, timeout=ANSWER_TIMEOUT_MS)


def _last_bot(page):
    return page.locator("#rag-chat [data-testid=bot]").last


def _open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def _upload(page, path: Path, expect: str) -> str:
    _open_tab(page, "Documents")
    page.locator("#rag-upload input[type=file]").set_input_files(str(path))
    status = page.locator(f"#rag-upload-status {expect}")
    status.wait_for(timeout=ANSWER_TIMEOUT_MS)
    return status.inner_text()


def _documents(page) -> str:
    return page.locator("#rag-docs").inner_text()


@pytest.mark.slow
def test_seed_question_answered_with_clickable_citation(page):
    _shot(page, "01-first-screen")
    # The example questions are on the first screen; clicking one fills the question box.
    page.get_by_text("How many cases did Sheffield council").first.click()
    page.wait_for_function(f"() => document.querySelector('#rag-question textarea').value === {SEED_QUESTION!r}")
    _ask(page, SEED_QUESTION)
    bot = _last_bot(page)
    assert "272" in bot.locator(".rag-answer").inner_text()
    marker = bot.locator("a.rag-cite").first
    assert marker.inner_text() == "[1]"
    assert "272 cases" in marker.get_attribute("title")  # hover shows the quoted span
    sources = page.locator("#rag-sources")
    assert SEED_DOC in sources.inner_text() and "cited [1]" in sources.inner_text()
    assert "score" in sources.inner_text()
    _shot(page, "02-seed-answer")

    block = bot.locator("details.rag-source").first
    assert block.get_attribute("open") is None
    marker.click()
    page.wait_for_function("() => document.querySelector('#rag-chat details.rag-source').open")
    assert SEED_DOC in block.locator("summary").inner_text()
    assert "Sheffield child care services to boost staffing" in block.locator("summary").inner_text()
    assert "All 272 cases" in block.locator(".rag-passage mark").inner_text()
    assert block.locator(".rag-passage mark").evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
    _shot(page, "03-citation-opened")

    # A follow-up with the standalone rewrite and timings shown on request; the draft streams in token by token.
    # Evidence first (issue 15): the best evidence sentences are on screen before the model's first token.
    page.evaluate("""() => {
        window.__drafts = new Set();
        window.__evidenceBeforeDraft = null;
        new MutationObserver(() => {
            const drafts = document.querySelectorAll('#rag-chat .rag-draft');
            if (window.__evidenceBeforeDraft === null && drafts.length) {
                const last = drafts[drafts.length - 1];
                const evidence = last.parentElement.querySelector('.rag-evidence');
                if (evidence) window.__evidenceBeforeDraft = last.textContent === '…';
                else if (last.textContent !== '…') window.__evidenceBeforeDraft = false;
            }
            drafts.forEach(d => { if (d.textContent !== '…') window.__drafts.add(d.textContent); });
        }).observe(document.body, {subtree: true, childList: true, characterData: true});
    }""")
    page.locator("#rag-settings").get_by_text("Settings").first.click()
    page.locator("#rag-show-rewrite input").check()
    page.locator("#rag-show-timings input").check()
    _ask(page, "What will newly qualified staff do there?")
    bot = _last_bot(page)
    assert bot.locator(".rag-rewrite").inner_text().startswith("Read as:")
    assert "total" in bot.locator(".rag-timings").inner_text()
    assert page.locator("#rag-chat [data-testid=user]").count() == 2
    assert page.evaluate("() => window.__drafts.size") >= 2  # partial drafts were shown before the answer
    assert page.evaluate("() => window.__evidenceBeforeDraft") is True
    assert bot.locator(".rag-evidence").count() == 0  # the checked answer replaced the evidence
    _shot(page, "04-follow-up-rewrite-timings")


@pytest.mark.slow
def test_document_picker_limits_the_sources(page):
    """Choosing documents in the chat settings limits retrieval to them: every source shown is one of them."""
    other = "003_880be84fd3658657.txt"
    page.locator("#rag-settings").get_by_text("Settings").first.click()
    page.locator("#rag-doc-filter input").click()
    page.get_by_role("option", name=other).click()
    page.keyboard.press("Escape")
    _ask(page, SEED_QUESTION)
    sources = page.locator("#rag-sources").inner_text()
    assert other in sources and SEED_DOC not in sources
    assert "272" not in _last_bot(page).inner_text()
    _shot(page, "05-document-filter")


@pytest.mark.slow
def test_upload_ask_and_remove(page, tmp_path):
    lantern = tmp_path / "Wexbury lantern.md"
    lantern.write_text(LANTERN)
    _open_tab(page, "Documents")
    page.wait_for_function("() => document.querySelector('#rag-docs').innerText.includes('000_')")
    assert "uploads/Wexbury lantern.md" not in _documents(page)
    status = _upload(page, lantern, ".rag-ok")
    assert "Added" in status and "Wexbury lantern.md" in status
    page.wait_for_function("() => document.querySelector('#rag-docs').innerText.includes('uploads/Wexbury')")
    _shot(page, "05-uploaded")

    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 this is not really a PDF")
    docs_before = _documents(page)
    status = _upload(page, broken, ".rag-error")
    assert "Not added" in status and "broken.pdf" in status and "PDF" in status
    assert _documents(page) == docs_before
    _shot(page, "06-broken-upload-refused")

    _open_tab(page, "Chat")
    _ask(page, "How many visitors did the Wexbury lantern festival draw?")
    bot = _last_bot(page)
    assert "4,812" in bot.locator(".rag-answer").inner_text()
    assert "uploads/Wexbury lantern.md" in bot.locator("details.rag-source summary").first.inner_text()
    _shot(page, "07-answer-from-upload")

    _open_tab(page, "Documents")
    page.locator("#rag-remove-choice input").click()
    page.get_by_role("option", name="uploads/Wexbury lantern.md").click()
    page.locator("#rag-remove").click()
    page.locator("#rag-upload-status .rag-ok").get_by_text("Removed").wait_for(timeout=ANSWER_TIMEOUT_MS)
    page.wait_for_function("() => !document.querySelector('#rag-docs').innerText.includes('Wexbury')")
    assert SEED_DOC in _documents(page)
    _shot(page, "08-removed")


@pytest.mark.slow
def test_malicious_document_renders_as_text(page, tmp_path):
    evil = tmp_path / "harbour.md"
    evil.write_text(MALICIOUS)
    _upload(page, evil, ".rag-ok")
    page.wait_for_function("() => document.querySelector('#rag-docs').innerText.includes('uploads/harbour.md')")
    assert "<img src=x" in _documents(page)  # the title, shown as text
    _shot(page, "09-malicious-title-in-documents")

    _open_tab(page, "Chat")
    _ask(page, "How many gulls did the harbour master count on the north pier?")
    sources = page.locator("#rag-sources").inner_text()
    assert "<script>window.__pwned='script'</script>" in sources
    assert "**north pier**" in sources and "[click me](javascript:" in sources and "$$x^2$$" in sources
    assert "<img src=x onerror=" in sources
    for root in ("#rag-chat", "#rag-sources", "#rag-docs"):
        assert page.locator(f"{root} script, {root} img[src=x], {root} a[href^='javascript']").count() == 0
    assert page.locator("#rag-sources strong, #rag-sources .katex").count() == 0
    bot = _last_bot(page)
    if bot.locator(".rag-answer").count():
        bot.locator("a.rag-cite").first.click()
        assert "<script>" in bot.locator("details.rag-source").first.inner_text()
    time.sleep(0.5)
    assert page.evaluate("() => window.__pwned") is None
    _shot(page, "10-malicious-document-as-text")


@pytest.mark.slow
def test_two_sessions_have_separate_chats_and_queue(browser, ui_url):
    pages = []
    for _ in range(2):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        p = context.new_page()
        p.goto(ui_url)
        p.wait_for_selector("#rag-question textarea", timeout=60_000)
        pages.append(p)
    a, b = pages
    # Both submit before either waits: the requests queue; both questions abstain before generation.
    for p, q in ((a, "What is the capital of France?"), (b, "What is the boiling point of mercury in kelvin?")):
        p.fill("#rag-question textarea", q)
        p.keyboard.press("Enter")
    for p in pages:
        p.locator("#rag-chat .rag-abstain").wait_for(timeout=ANSWER_TIMEOUT_MS)
    assert "capital of France" in a.locator("#rag-chat").inner_text()
    assert "mercury" not in a.locator("#rag-chat").inner_text()
    assert "mercury" in b.locator("#rag-chat").inner_text()
    assert "capital of France" not in b.locator("#rag-chat").inner_text()
    assert "The documents don't say." in a.locator("#rag-chat .rag-abstain").inner_text()
    assert "Abstained" in a.locator("#rag-sources").inner_text()
    _shot(a, "11-session-a-abstains")
    _shot(b, "12-session-b-separate-chat")
    for p in pages:
        p.context.close()


def test_auth_refuses_unauthenticated_requests(seed_pipeline):
    from ui.server import Access, serve

    port = _free_port()
    demo = serve(seed_pipeline, host="127.0.0.1", port=port, access=Access(login=("alice", "s3cret:pw")), block=False)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            assert client.get("/config").status_code == 401
            assert client.post("/gradio_api/queue/join", json={}).status_code in (401, 403)
            assert client.post("/login", data={"username": "alice", "password": "wrong"}).status_code >= 400
            assert client.get("/config").status_code == 401
            assert client.post("/login", data={"username": "alice", "password": "s3cret:pw"}).status_code == 200
            assert client.get("/config").status_code == 200
    finally:
        demo.close()
