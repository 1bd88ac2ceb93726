"""The same picture is not paid for twice: identical repeatable requests are answered from
the store, with answers that say so, and random seeds always draw anew."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
from flask import Flask

from tests.helpers import API_KEY, OTHER_KEY, Standin, image_url
from tests.inprocess.api import Api
from tests.pictures import data_uri, encoded, pattern

REUSED = "♻️ Reused: an identical request drew this image, so it was not drawn again"


@pytest.fixture
def api(make_app: Callable[..., Flask]) -> Api:
    return Api(make_app(REUSE_IMAGES="true").test_client())


def content(api: Api, prompt: str, **fields: object) -> str:
    return api.answer(prompt, **fields)


def test_the_same_schnell_prompt_is_drawn_once(api: Api, standin: Standin) -> None:
    first = content(api, "a red fox 16:9")
    second = content(api, "a red fox 16:9", stream=True)
    assert len(standin.received()) == 1
    assert REUSED not in first
    assert REUSED in second
    assert image_url(first) == image_url(second)
    assert "- ⏳ Kept: 30 min\n" in first
    assert "- ⏳ Kept: 29 min\n" in second  # what is left of its 30 minutes
    assert api.image(image_url(second)).size == (1024, 576)  # the stored picture's size


def test_what_differs_is_drawn_again(api: Api, standin: Standin) -> None:
    content(api, "a red fox")
    content(api, "a red fox 16:9")
    content(api, "a red fox", model="flux-2-klein-4b", seed=1)
    content(api, "a grey fox")
    assert len(standin.received()) == 4


def test_another_key_never_gets_a_keys_picture(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    api = Api(make_app(REUSE_IMAGES="true", API_KEY=f"{API_KEY},{OTHER_KEY}").test_client())
    fox = {"messages": [{"role": "user", "content": "a fox"}]}
    api.post("/v1/chat/completions", fox, API_KEY)
    answer = api.post("/v1/chat/completions", fox, OTHER_KEY)
    assert REUSED not in answer.get_json()["choices"][0]["message"]["content"]
    assert len(standin.received()) == 2


def test_n_schnell_choices_are_one_picture_drawn_once(api: Api, standin: Standin) -> None:
    response = api.chat("a lighthouse", n=3)
    choices = [choice["message"]["content"] for choice in response.get_json()["choices"]]
    assert len(standin.received()) == 1
    assert len({image_url(text) for text in choices}) == 1
    assert sum(REUSED in text for text in choices) == 2


def test_a_chosen_seed_is_reused_and_random_seeds_never(api: Api, standin: Standin) -> None:
    body = {"model": "flux-2-klein-4b", "prompt": "a paper boat", "response_format": "url"}
    first = api.images(**body, seed=42, n=2).get_json()
    again = api.images(**body, seed=43).get_json()
    assert len(standin.received()) == 2
    assert [item.get("reused") for item in first["data"]] == [None, None]
    assert again["data"][0] == {"url": first["data"][1]["url"], "reused": True}
    assert again["size"] == first["size"]
    api.images(**body)
    api.images(**body)
    assert len(standin.received()) == 4  # a random seed each, drawn each time
    streamed = api.images(**body, seed=42, stream=True).get_data(as_text=True)
    assert '"reused": true' in streamed
    assert len(standin.received()) == 4


def test_an_edit_is_reused_for_the_same_picture_only(api: Api, standin: Standin) -> None:
    def edit(picture: bytes) -> str:
        parts = [
            {"type": "text", "text": "make the sun red"},
            {"type": "image_url", "image_url": {"url": data_uri(picture)}},
        ]
        body = {
            "model": "flux-2-klein-4b",
            "seed": 3,
            "messages": [{"role": "user", "content": parts}],
        }
        response = api.post("/v1/chat/completions", body)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()["choices"][0]["message"]["content"]

    photo = encoded(pattern(600, 400))
    first, again = edit(photo), edit(photo)
    other = edit(encoded(pattern(600, 401)))
    assert len(standin.received()) == 2
    assert REUSED in again
    assert REUSED not in other
    assert image_url(first) == image_url(again) != image_url(other)


def test_an_expired_picture_is_drawn_anew(make_app: Callable[..., Flask], standin: Standin) -> None:
    api = Api(make_app(REUSE_IMAGES="true", IMAGE_EXPIRATION="1").test_client())
    first = content(api, "a red fox")
    time.sleep(1.1)
    second = content(api, "a red fox")
    assert len(standin.received()) == 2
    assert REUSED not in second
    assert image_url(first) != image_url(second)


def test_the_log_line_counts_the_reused_images(
    api: Api, standin: Standin, capfd: pytest.CaptureFixture[str]
) -> None:
    content(api, "a red fox")
    content(api, "a red fox")
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if "{" in line]
    chats = [line for line in lines if line.get("route") == "/v1/chat/completions"]
    assert [line.get("reused") for line in chats] == [None, 1]
    assert len(standin.received()) == 1
