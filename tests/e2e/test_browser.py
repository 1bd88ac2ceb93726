"""A real browser on another origin calls the API with fetch, streams, and shows the image:
CORS proven the only way that counts."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.e2e.service import Service
from tests.helpers import API_KEY, Standin

pytestmark = pytest.mark.browser


def test_a_page_on_another_origin_streams_chat_and_shows_the_image(
    browser, other_origin: str, service: Service, standin: Standin
) -> None:
    page = browser.new_page()
    console_errors: list[str] = []
    page.on(
        "console", lambda message: message.type == "error" and console_errors.append(message.text)
    )
    standin.configure(latency=1.0)
    query = urlencode({"api": service.url, "key": API_KEY, "prompt": "a red fox in deep snow 16:9"})
    page.goto(f"{other_origin}/chat.html?{query}")
    page.wait_for_function("window.done === true", timeout=30_000)
    results = page.evaluate("window.results")
    page.close()

    assert results["error"] is None, (results["error"], console_errors)
    assert results["status"] == 200
    assert len(results["pieces"]) >= 3  # the lines arrived in parts, not all at the end
    assert "Image size: 1024x576" in results["pieces"][0]
    assert results["size"] == [1024, 576]
    assert console_errors == []
