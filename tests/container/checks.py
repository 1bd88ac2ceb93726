"""What users do with a running container, checked: wait for its health, ask for a picture
through the openai SDK and look at its pixels, fetch a link, read the demo's key."""

from __future__ import annotations

import contextlib
import re
import time

import openai
import requests

from flux_service.standin.drawing import draw, prompt_seed
from tests.container.podman import Container
from tests.helpers import decode, image_url
from tests.pictures import difference

PROMPT = "a red fox"


def wait_for(url: str, timeout: float = 60, status: int = 200) -> float:
    """Poll `url` until it answers `status`; the seconds that took."""
    start = time.monotonic()
    with requests.Session() as session:
        session.trust_env = False  # no proxy, whatever the environment says: these are local
        while True:
            with contextlib.suppress(requests.RequestException):
                if session.get(url, timeout=2).status_code == status:
                    return time.monotonic() - start
            if time.monotonic() - start > timeout:
                raise AssertionError(f"{url} did not answer {status} within {timeout:g} s")
            time.sleep(0.05)


def draw_a_fox(url: str, key: str) -> tuple[str, bytes]:
    """A chat asking `url` for a picture, through the openai SDK: its link and its bytes,
    checked to be the stand-in's drawing of the prompt, pixel by pixel."""
    with openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0) as client:
        answer = client.chat.completions.create(
            model="flux-1-schnell", messages=[{"role": "user", "content": PROMPT}]
        )
    link = image_url(answer.choices[0].message.content or "")
    assert link.startswith(f"{url}/image/"), link
    picture = fetch(link)
    image = decode(picture)
    assert (image.format, image.size) == ("JPEG", (1024, 1024))
    # FLUX.1 schnell draws 1024x1024 whatever it is asked, with a seed of its own choosing:
    # the stand-in takes one from the prompt, so the picture can be drawn again here.
    drawn = decode(draw(PROMPT, prompt_seed(PROMPT), 1024, 1024))
    assert difference(image, drawn) < 1
    return link, picture


def fetch(url: str) -> bytes:
    """The bytes at `url`, which must answer 200."""
    with requests.Session() as session:
        session.trust_env = False
        response = session.get(url, timeout=10)
    assert response.status_code == 200, response.text
    return response.content


def demo_key(container: Container) -> str:
    """The API key the demo printed."""
    deadline = time.monotonic() + 30
    while not (found := re.search(r"API key: (\S+)", container.logs())):
        assert time.monotonic() < deadline, container.logs()
        time.sleep(0.1)
    return found[1]
