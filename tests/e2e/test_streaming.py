"""A slow generation feels alive: bytes at once, keep-alives while waiting, the whole answer."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable

import requests

from tests.e2e.service import Service
from tests.helpers import API_KEY, Standin, fetch_image, image_url

# A keep-alive every KEEPALIVE seconds (the default is 5): the test shows the rhythm in
# a fraction of the time the default would take.
KEEPALIVE = 0.5
UPSTREAM_SECONDS = 3


def test_a_slow_generation_streams_at_once_and_keeps_the_line_alive(
    make_service: Callable[..., Service], standin: Standin
) -> None:
    service = make_service(STREAM_KEEPALIVE=str(KEEPALIVE))
    standin.configure(latency=UPSTREAM_SECONDS)
    session = requests.Session()
    session.get(f"{service.url}/", timeout=5)  # connect first: measure the service, not TCP setup
    arrivals: list[tuple[float, bytes]] = []
    started = time.monotonic()
    with session.post(
        f"{service.url}/v1/chat/completions",
        json={"stream": True, "messages": [{"role": "user", "content": "a red fox 16:9"}]},
        headers={"Authorization": f"Bearer {API_KEY}"},
        stream=True,
        timeout=UPSTREAM_SECONDS + 30,
    ) as response:
        for piece in response.iter_content(chunk_size=None):
            arrivals.append((time.monotonic() - started, piece))
    session.close()

    # Bounds far from the 3 s a stream that waited for the image would take, or would go
    # without a byte: a busy machine (the tiers run in parallel) can delay any byte.
    first_byte = arrivals[0][0]
    assert first_byte < 1, f"first byte after {first_byte * 1000:.0f} ms"
    text = b"".join(piece for _, piece in arrivals).decode()
    events = [block for block in text.split("\n\n") if block]
    keepalives = [block for block in events if block.startswith(":")]
    assert len(keepalives) >= UPSTREAM_SECONDS / KEEPALIVE - 2
    gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(arrivals)]
    assert max(gaps) < UPSTREAM_SECONDS - 1, f"{max(gaps):.1f} s without a byte"

    data = [json.loads(block[6:]) for block in events if block.startswith("data: {")]
    content = "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in data)
    assert data[0]["choices"][0]["delta"]["role"] == "assistant"
    assert "Image size: 1024x576" in content
    assert data[-1]["choices"][0]["finish_reason"] == "stop"
    assert events[-1] == "data: [DONE]"
    assert arrivals[-1][0] >= UPSTREAM_SECONDS
    assert fetch_image(image_url(content))[1].size == (1024, 576)
