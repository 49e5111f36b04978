"""How long the console takes from "Send" to the first progress event and to the received image.

Starts the services and the console on loopback (built-in bundle, CPU), then measures two ways:

* HTTP, as the page does it: POST /console/api/submit → first Server-Sent Event → ``result`` event → the received
  PNG through the console's results proxy; for a new photo (inversion), the same photo again (the inversion
  cache), and a follow-up in the same session (no inversion);
* in Chromium (when /usr/bin/chromium is there): click on the submit button → the progress line shows a stage →
  the received image is displayed.

    python benchmarks/bench_console.py [--steps N] [--repeats R]

``--steps 0`` keeps the services' defaults (r_inv = 110, r_edit = 100, as the paper). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import statistics
import time
from pathlib import Path

import httpx


def photo(seed: int) -> bytes:
    from edsc.web.samples import sample_png
    return sample_png(seed % 6, 6, 128) if seed < 6 else _noise_face(seed)


def _noise_face(seed: int) -> bytes:
    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(seed).random((128, 128, 3)) * 255).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def one(http: httpx.Client, data: dict, files=None) -> dict:
    """Send one submission; seconds to the first event, the result event and the received PNG."""
    t0 = time.perf_counter()
    first = result = None
    body = None
    with http.stream("POST", "/console/api/submit", data=data, files=files) as r:
        if r.status_code != 200:
            raise SystemExit(f"submit answered HTTP {r.status_code}: {r.read()[:300]!r}")
        event = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
                if first is None:
                    first = time.perf_counter() - t0
            elif line.startswith("data: ") and event == "result":
                result = time.perf_counter() - t0
                body = json.loads(line[6:])
            elif line.startswith("data: ") and event == "error":
                raise SystemExit(f"submit failed: {line[6:]}")
    png = http.get(body["image_url"], params={"wait": 30})
    png.raise_for_status()
    return {"first_event_s": first, "result_s": result, "image_s": time.perf_counter() - t0,
            "session_id": body["session_id"], "cache_hit": body["timings"].get("inversion_cache_hit")}


def browser_times(url: str, repeats: int) -> dict | None:
    if not Path("/usr/bin/chromium").exists():
        return None
    from playwright.sync_api import sync_playwright

    out = {"first_event_s": [], "image_s": []}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(600_000)
        page.goto(url)
        page.get_by_test_id("sample-button").first.wait_for()
        for i in range(repeats):
            page.get_by_test_id("new-button").click() if i else None
            page.get_by_test_id("sample-button").nth(i % 6).click()
            page.get_by_test_id("instruction-input").fill("make the bangs a bit longer")
            page.get_by_test_id("parsed").filter(has_text="Understood").wait_for()
            n = page.evaluate("document.querySelectorAll('[data-testid=result-image]').length")
            t0 = time.perf_counter()
            page.get_by_test_id("submit-button").click()
            page.wait_for_function("!['Idle', 'sending…'].includes(document.getElementById('progress-text')"
                                   ".textContent)", polling=5)
            out["first_event_s"].append(time.perf_counter() - t0)
            page.wait_for_function(f"(() => {{ const i = document.querySelectorAll('[data-testid=result-image]'); "
                                   f"return i.length > {n} && i[i.length - 1].naturalWidth > 0; }})()", polling=5)
            out["image_s"].append(time.perf_counter() - t0)
        browser.close()
    return out


def summary(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3), "n": len(values)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=0, help="r_inv and r_edit of the services (0: their defaults)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from edsc.web.stack import console_stack

    env = {} if args.steps else {"EDSC_TRANSMITTER_INVERSION_STEPS": "110", "EDSC_TRANSMITTER_EDIT_STEPS": "100"}
    result: dict = {"machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
                    "steps": args.steps or "service defaults (r_inv 110, r_edit 100)", "repeats": args.repeats}
    with console_stack(steps=args.steps or 110, env=env) as launcher:
        http = httpx.Client(base_url=launcher.console_url, timeout=900)
        new, again, follow = [], [], []
        for i in range(args.repeats):
            png = photo(100 + i)                                          # a photo the cache has not seen
            form = {"instruction": "make the bangs a bit longer", "snr_db": "6", "channel": "awgn"}
            new.append(one(http, form, {"image": ("face.png", png, "image/png")}))
            again.append(one(http, {**form, "snr_db": "18"}, {"image": ("face.png", png, "image/png")}))
            follow.append(one(http, {"instruction": "now a bigger smile", "snr_db": "6",
                                     "session_id": new[-1]["session_id"]}))
        assert all(x["cache_hit"] == 0.0 for x in new) and all(x["cache_hit"] == 1.0 for x in again)
        for name, runs in (("new_photo", new), ("same_photo_again", again), ("follow_up", follow)):
            result[name] = {k: summary([r[k] for r in runs]) for k in ("first_event_s", "result_s", "image_s")}
        t0 = time.perf_counter()
        browser = browser_times(launcher.console_url, args.repeats)
        if browser is not None:
            result["browser_sample_face"] = {k: summary(v) for k, v in browser.items()}
            result["browser_wall_s"] = round(time.perf_counter() - t0, 1)
        http.close()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
