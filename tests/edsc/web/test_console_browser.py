"""The console in a real browser (Debian's Chromium driven by Playwright) against the real services with the
built-in bundle, small step counts and auth on: sign-in, a whole conversation with a follow-up, the SNR sweep, the
comparison, a refused instruction, a non-image upload, and the layout at phone width."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed at /usr/bin/chromium "
                                                               "(apt-get install chromium; .ci/run does it)")
WAIT_MS = 90_000


@pytest.fixture(scope="module")
def console(console_services):
    return console_services.console_url


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


def sign_in(p, token: str) -> None:
    """The services want tokens: the page asks for one up front; it is kept in sessionStorage only."""
    from playwright.sync_api import expect

    expect(p.get_by_test_id("token-input")).to_be_visible()
    p.get_by_test_id("token-input").fill(token)
    p.get_by_test_id("token-input").press("Enter")
    expect(p.get_by_test_id("token-input")).to_be_hidden()
    assert p.evaluate("window.localStorage.length") == 0 and token not in p.url


@pytest.fixture
def page(browser, console, tokens):
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    p = browser.new_page(viewport={"width": 1280, "height": 800})
    p.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    p.goto(console)
    expect(p.get_by_test_id("sample-button").first).to_be_visible()
    sign_in(p, tokens["alice"])
    yield p
    p.close()
    assert errors == [], errors


def face_png() -> bytes:
    from PIL import Image
    from skimage import data

    buf = io.BytesIO()
    Image.fromarray(data.astronaut()).resize((128, 128)).save(buf, "PNG")
    return buf.getvalue()


def loaded(page, testid: str) -> int:
    return page.evaluate(f"[...document.querySelectorAll('[data-testid={testid}]')]"
                         ".filter(i => i.complete && i.naturalWidth > 0).length")


def test_conversation_with_a_follow_up(page):
    from playwright.sync_api import expect

    page.get_by_test_id("image-input").set_input_files(
        files=[{"name": "astronaut.png", "mimeType": "image/png", "buffer": face_png()}])
    expect(page.get_by_test_id("source-preview")).to_be_visible()
    page.get_by_test_id("instruction-input").fill("put glasses on her")
    expect(page.get_by_test_id("parsed")).to_contain_text("Understood: glasses")
    page.get_by_test_id("snr-input").fill("6")
    page.get_by_test_id("channel-select").select_option("rayleigh")
    page.get_by_test_id("submit-button").click()
    expect(page.get_by_test_id("progress")).to_contain_text("done")
    expect(page.get_by_test_id("turn")).to_have_count(1)
    page.wait_for_function("document.querySelectorAll('[data-testid=result-image]')[0].naturalWidth > 0")
    assert loaded(page, "source-image") == 1 and loaded(page, "ideal-image") == 1
    turn = page.get_by_test_id("turn").first
    expect(turn).to_contain_text("rayleigh at 6.0 dB")
    expect(turn).to_contain_text("0.0104")
    # the follow-up, from the keyboard: Enter in the instruction box sends it; no new upload
    expect(page.get_by_test_id("submit-button")).to_have_text("Send follow-up")
    page.get_by_test_id("instruction-input").fill("make her smile a lot more")
    page.get_by_test_id("instruction-input").press("Enter")
    expect(page.get_by_test_id("turn")).to_have_count(2)
    expect(page.get_by_test_id("turn").nth(1)).to_contain_text("Turn 2")
    page.wait_for_function("[...document.querySelectorAll('[data-testid=result-image]')]"
                           ".every(i => i.complete && i.naturalWidth > 0)")
    assert loaded(page, "result-image") == 2
    expect(page.get_by_test_id("history").locator("li").first).to_contain_text("make her smile a lot more")


def test_sweep_and_comparison(page):
    from playwright.sync_api import expect

    page.get_by_test_id("sample-button").first.click()
    page.get_by_test_id("instruction-input").fill("make the bangs a bit longer")
    page.get_by_test_id("sweep-button").click()
    expect(page.get_by_test_id("sweep").locator("figure")).to_have_count(5)
    for snr in ("-6 dB", "0 dB", "6 dB", "12 dB", "18 dB"):
        expect(page.get_by_test_id("sweep")).to_contain_text(snr)
    page.wait_for_function("[...document.querySelectorAll('[data-testid=sweep-image]')]"
                           ".filter(i => i.complete && i.naturalWidth > 0).length === 5")
    expect(page.get_by_test_id("submit-button")).to_be_enabled()
    page.get_by_test_id("compare-button").click()
    expect(page.get_by_test_id("compare-image")).to_have_count(4)
    compare = page.get_by_test_id("compare")
    for name in ("Noiseless edit", "Editable-DeepSC", "JPEG + LDPC", "DeepJSCC"):
        expect(compare).to_contain_text(name)
    expect(compare).to_contain_text("LPIPS")
    assert loaded(page, "compare-image") == 4


def test_refused_instruction_and_non_image_upload(page):
    from playwright.sync_api import expect

    page.get_by_test_id("image-input").set_input_files(
        files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a photo at all"}])
    expect(page.get_by_test_id("error")).to_contain_text("is not an image")
    page.get_by_test_id("sample-button").nth(2).click()
    expect(page.get_by_test_id("error")).to_be_hidden()
    page.get_by_test_id("instruction-input").fill("put a hat on him")
    expect(page.get_by_test_id("parsed")).to_contain_text("Cannot do that")
    expect(page.get_by_test_id("parsed")).to_contain_text("bangs")       # names what the bundle can edit
    page.get_by_test_id("submit-button").click()
    expect(page.get_by_test_id("error")).to_contain_text("hat")
    expect(page.get_by_test_id("turn")).to_have_count(0)
    expect(page.get_by_test_id("progress")).to_contain_text("failed")


def test_phone_width_has_no_sideways_scroll(browser, console):
    from playwright.sync_api import expect

    p = browser.new_page(viewport={"width": 390, "height": 844})
    try:
        p.goto(console)
        expect(p.get_by_test_id("sample-button").first).to_be_visible()
        for testid in ("image-input", "instruction-input", "snr-input", "channel-select", "submit-button"):
            expect(p.get_by_test_id(testid)).to_be_visible()
        assert p.evaluate("document.documentElement.scrollWidth") <= 390
        # keyboard order: the file input, the samples, then the instruction, SNR, channel, CSI and buttons
        order = p.evaluate("[...document.querySelectorAll('input, select, button')].filter(e => !e.hidden && "
                           "e.offsetParent !== null).map(e => e.dataset.testid || e.id)")
        picked = [t for t in order if t in ("image-input", "instruction-input", "snr-input", "channel-select",
                                            "submit-button")]
        assert picked == ["image-input", "instruction-input", "snr-input", "channel-select", "submit-button"]
    finally:
        p.close()
