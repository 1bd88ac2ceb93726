"""The official openai Node SDK, run by node in its own process, against the service."""

from __future__ import annotations

import base64
import io
import json
import subprocess
from pathlib import Path

from PIL import Image

from tests.e2e.service import Service
from tests.helpers import API_KEY, Standin, fetch_image, image_url

SCRIPT = Path(__file__).resolve().parent.parent / "node" / "clients.mjs"


def test_the_node_sdk_streams_chat_and_draws_images(service: Service, standin: Standin) -> None:
    done = subprocess.run(
        ["node", str(SCRIPT), f"{service.url}/v1", API_KEY],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)

    chat = seen["chat"]
    assert chat["roles"] == ["assistant"]
    assert chat["finish"] == "stop"
    assert chat["usage"]["total_tokens"] > 0
    assert fetch_image(image_url(chat["content"]))[1].size == (1024, 576)

    assert len(seen["urls"]) == 2
    for url in seen["urls"]:
        assert fetch_image(url)[1].size == (768, 512)
    (inline,) = seen["inline"]
    assert Image.open(io.BytesIO(base64.b64decode(inline))).size == (512, 512)

    assert seen["refused"]["status"] == 401
    assert "Incorrect API key" in seen["refused"]["message"]
    assert "@cf/black-forest-labs/flux-1-schnell" in seen["models"]
    assert standin.received()[0]["inputs"]["prompt"] == "a red fox in deep snow"
