"""Take docs/home.png: the home page in Chromium after a 16:9 generation from the stand-in,
and an edit of that image.

Run from the repository root, by hand, when the page changes:

    .venv/bin/python -m docs.screenshot

It needs what the browser tests need (Playwright and Debian's Chromium); with an emoji font
installed (Debian's fonts-noto-color-emoji) the answer's icons show as in a desktop browser.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import requests
from playwright.sync_api import sync_playwright

from config import read_environment
from flux_service.launcher import standin_env
from tests.servers import CHROMIUM, CHROMIUM_FLAGS, start_service, start_standin

OUTPUT = Path(__file__).resolve().parent / "home.png"
KEY = "sk-screenshot-3b8e6a"
VIEWPORT = {"width": 1100, "height": 900}


def main() -> None:
    standin = start_standin()
    env = {**read_environment(env_file=None), **standin_env(standin.url), "API_KEY": KEY}
    service = start_service({**env, "DEMO_MODE": "true"})
    with standin, service, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(f"{service.url}/")
        page.fill("#key", KEY)
        page.fill("#prompt", "a red fox in deep snow")
        page.select_option("#ratio", "16:9")
        page.click("#generate")
        page.wait_for_selector("#generated", state="visible", timeout=30_000)
        # Then change it: the image just drawn, picked as the picture to edit.
        drawn = requests.get(page.get_attribute("#image", "src"), timeout=10).content
        # The browser reads a picked file when the form is sent: it must still be there.
        with tempfile.TemporaryDirectory() as folder:
            picture = Path(folder) / "fox.jpg"
            picture.write_bytes(drawn)
            page.set_input_files("#picture", str(picture))
            page.fill("#prompt", "make it night, with a full moon")
            page.select_option("#ratio", "")
            page.click("#generate")
            page.wait_for_selector("#source", state="visible", timeout=30_000)
        page.screenshot(path=OUTPUT, full_page=True)
        browser.close()
    print(f"wrote {OUTPUT} ({OUTPUT.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
