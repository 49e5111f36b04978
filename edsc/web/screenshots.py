"""Screenshots of the console's views for the docs: ``python -m edsc.web.screenshots --out docs/console``.

Starts the services and the console on free loopback ports (the built-in bundle, small step counts, unless
``--url`` names a running console), drives Debian's Chromium with Playwright at 1280 × 800 and at phone width
(390 × 844) through each view, and writes ``{desktop,phone}-{start,thread,sweep,compare,refusal}.png``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


def shoot(url: str, out: Path, timeout_ms: int = 240_000) -> list[Path]:
    """Walk through every view at each viewport; returns the files written."""
    from playwright.sync_api import expect, sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            for name, viewport in VIEWPORTS.items():
                page = browser.new_page(viewport=viewport)
                page.set_default_timeout(timeout_ms)
                expect.set_options(timeout=timeout_ms)

                def snap(view: str, anchor: str | None = None) -> None:
                    if anchor:
                        page.locator(anchor).evaluate("e => e.scrollIntoView({block: 'start'})")
                    else:
                        page.evaluate("window.scrollTo(0, 0)")
                    page.wait_for_timeout(200)
                    path = out / f"{name}-{view}.png"
                    page.screenshot(path=str(path))
                    written.append(path)

                page.goto(url)
                expect(page.get_by_test_id("sample-button").first).to_be_visible()
                page.get_by_test_id("sample-button").nth(1).click()
                page.get_by_test_id("instruction-input").fill("make the bangs a bit longer")
                expect(page.get_by_test_id("parsed")).to_contain_text("Understood")
                snap("start")

                page.get_by_test_id("submit-button").click()
                expect(page.get_by_test_id("turn")).to_have_count(1)
                page.get_by_test_id("instruction-input").fill("now give him a big smile")
                expect(page.get_by_test_id("parsed")).to_contain_text("Understood")
                page.get_by_test_id("submit-button").click()
                expect(page.get_by_test_id("turn")).to_have_count(2)
                expect(page.get_by_test_id("progress")).to_contain_text("done")
                page.wait_for_function("[...document.querySelectorAll('[data-testid=result-image]')]"
                                       ".every(i => i.complete && i.naturalWidth > 0)")
                snap("thread", "#thread-title" if name == "desktop" else "#thread-title")

                page.get_by_test_id("instruction-input").fill("make the bangs a bit longer")
                page.get_by_test_id("sweep-button").click()
                page.wait_for_function("[...document.querySelectorAll('[data-testid=sweep-image]')]"
                                       ".filter(i => i.complete && i.naturalWidth > 0).length === 5")
                snap("sweep", "#sweep-panel")

                page.get_by_test_id("snr-input").fill("6")
                page.get_by_test_id("compare-button").click()
                expect(page.get_by_test_id("compare-image")).to_have_count(4)
                snap("compare", "#compare-panel")

                page.get_by_test_id("instruction-input").fill("put a hat on him")
                expect(page.get_by_test_id("parsed")).to_contain_text("Cannot do that")
                snap("refusal")
                page.close()
        finally:
            browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edsc.web.screenshots", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("docs/console"))
    ap.add_argument("--url", default=None, help="a running console (default: start the services here)")
    ap.add_argument("--bundle", type=Path, default=None, help="default: the built-in bundle")
    ap.add_argument("--steps", type=int, default=20, help="r_inv and r_edit of the services started here")
    args = ap.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"screenshots: error: {CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 2
    if args.url:
        files = shoot(args.url, args.out)
    else:
        from edsc.web.stack import console_stack
        with console_stack(args.bundle, steps=args.steps, root=None) as launcher:
            files = shoot(launcher.console_url, args.out)
    for f in files:
        print(f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
