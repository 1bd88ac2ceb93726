"""The OpenAI Images API: n images, URLs or base64, exact sizes and types, and bad fields."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from flask import Flask

from tests.helpers import Standin, decode
from tests.inprocess.api import Api, events

ALL_MODELS = "@cf/black-forest-labs/flux-1-schnell,@cf/black-forest-labs/flux-2-klein-4b"


@pytest.fixture
def klein(make_app: Callable[..., Flask]) -> Api:
    return Api(make_app(MODELS=ALL_MODELS).test_client())


def test_urls_by_default_scaled_to_what_the_model_draws(api: Api) -> None:
    response = api.images(model="dall-e-3", prompt="a red fox", size="1792x1024")
    body = response.get_json()
    assert isinstance(body["created"], int)
    (item,) = body["data"]
    assert set(item) == {"url"}
    assert api.image(item["url"]).size == (1024, 585)  # schnell's largest side is 1024


def test_base64_with_an_exact_size(klein: Api) -> None:
    body = klein.images(
        model="flux-2-klein-4b", prompt="a red fox", size="1536x1024", response_format="b64_json"
    ).get_json()
    (item,) = body["data"]
    assert set(item) == {"b64_json"}
    assert decode(item["b64_json"]).size == (1536, 1024)


def test_gpt_image_models_default_to_base64(api: Api) -> None:
    item = api.images(model="gpt-image-1", prompt="a red fox", size="512x512").get_json()["data"][0]
    assert decode(item["b64_json"]).size == (512, 512)


def test_n_images_each_get_their_own_seed(klein: Api, standin: Standin) -> None:
    body = klein.images(model="flux-2-klein-4b", prompt="a red fox", n=2, seed=7).get_json()
    first, second = (klein.picture(item) for item in body["data"])
    assert first.tobytes() != second.tobytes()
    assert sorted(entry["inputs"]["seed"] for entry in standin.received()) == [7, 8]


def test_n_images_take_the_time_of_one(klein: Api, standin: Standin) -> None:
    standin.configure(latency=0.5)
    started = time.monotonic()
    body = klein.images(model="flux-2-klein-4b", prompt="x", n=4, size="256x256").get_json()
    assert len(body["data"]) == 4
    # One after another they would take 2 s at least; at once, 0.5 s and what a busy machine
    # adds to it.
    assert time.monotonic() - started < 1.5


def test_base64_by_default_with_what_was_really_delivered(api: Api, standin: Standin) -> None:
    body = api.images(model="gpt-image-1", prompt="a red fox", size="1536x1024").get_json()
    (item,) = body["data"]
    image = decode(item["b64_json"])
    # schnell draws 1024 at most: the answer says so, and the pixels agree.
    assert (image.format, image.size) == ("PNG", (1024, 683))
    assert body["size"] == "1024x683"
    assert (body["output_format"], body["quality"], body["background"]) == (
        "png",
        "medium",
        "opaque",
    )
    assert body["usage"]["input_tokens"] > 0
    (sent,) = standin.received()
    assert sent["inputs"]["steps"] == 4


def test_a_transparent_background_is_answered_as_the_opaque_one_drawn(api: Api) -> None:
    body = api.images(prompt="a red fox", size="256x256", background="transparent").get_json()
    assert body["background"] == "opaque"
    assert decode(body["data"][0]["b64_json"]).mode in ("RGB", "L")


@pytest.mark.parametrize(("quality", "steps", "said"), [("low", 2, "low"), ("high", 8, "high")])
def test_quality_is_the_steps_the_model_runs(
    api: Api, standin: Standin, quality: str, steps: int, said: str
) -> None:
    body = api.images(prompt="a red fox", size="256x256", quality=quality).get_json()
    assert body["quality"] == said
    (sent,) = standin.received()
    assert sent["inputs"]["steps"] == steps


def test_a_model_with_fixed_steps_draws_at_medium_whatever_is_asked(
    klein: Api, standin: Standin
) -> None:
    body = klein.images(model="flux-2-klein-4b", prompt="x", size="256x256", quality="high")
    assert body.get_json()["quality"] == "medium"
    (sent,) = standin.received()
    assert "steps" not in sent["inputs"]


def test_a_stream_sends_an_event_for_each_image(klein: Api, standin: Standin) -> None:
    response = klein.images(model="flux-2-klein-4b", prompt="a red fox", n=2, stream=True)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    text = response.get_data(as_text=True)
    assert text.count("event: image_generation.completed\n") == 2
    completed = events(response)
    assert [event["type"] for event in completed] == ["image_generation.completed"] * 2
    for event in completed:
        assert decode(event["b64_json"]).size == (1024, 1024)
        assert event["size"] == "1024x1024"
    assert len(standin.received()) == 2


def test_a_stream_that_fails_ends_with_an_error_event(api: Api, standin: Standin) -> None:
    standin.fail({"kind": "not_image"})
    response = api.images(prompt="a red fox", stream=True)
    assert response.status_code == 200  # the stream had begun
    (event,) = events(response)
    assert event["type"] == "error"
    assert "unusable image" in event["error"]["message"]


def test_output_format_changes_the_image_type(api: Api) -> None:
    body = api.images(
        prompt="a red fox", size="256x256", response_format="b64_json", output_format="png"
    ).get_json()
    image = decode(body["data"][0]["b64_json"])
    assert (image.format, image.size) == ("PNG", (256, 256))


def test_the_optimizer_rewrite_is_the_revised_prompt(make_app: Callable[..., Flask]) -> None:
    api = Api(make_app(PROMPT_OPTIMIZATION="true").test_client())
    item = api.images(prompt="a red fox", response_format="b64_json").get_json()["data"][0]
    assert item["revised_prompt"].startswith("A richly detailed image of a red fox")


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"prompt": ""}, "prompt"), ({"prompt": "16:9"}, "prompt"), ({"prompt": ["x"]}, "prompt"),
        ({"n": 0}, "n"), ({"n": 5}, "n"), ({"n": "2"}, "n"), ({"n": 1.5}, "n"), ({"n": True}, "n"),
        ({"size": "big"}, "size"), ({"size": "99999x1"}, "size"), ({"size": "10x10"}, "size"),
        ({"size": ["1024x1024"]}, "size"), ({"seed": -1}, "seed"), ({"seed": 2**32}, "seed"),
        ({"seed": "42"}, "seed"), ({"seed": 1e300}, "seed"),
        ({"response_format": "jpeg"}, "response_format"),
        ({"output_format": "gif"}, "output_format"),
        ({"model": {"id": "x"}}, "model"), ({"quality": "best"}, "quality"),
        ({"background": "none"}, "background"), ({"stream": "true"}, "stream"),
    ],
)  # fmt: skip
def test_bad_fields_are_a_400_naming_them(
    api: Api, standin: Standin, fields: dict, param: str
) -> None:
    response = api.images(**{"prompt": "a fox", **fields})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"
    assert standin.received() == []


def test_a_ratio_typed_in_the_prompt_wins_over_the_size_field(api: Api, standin: Standin) -> None:
    # Open WebUI sends its 512x512 default with every image; the user asked for 16:9.
    body = api.images(prompt="a lighthouse at dusk 16:9", size="512x512").get_json()
    assert decode(body["data"][0]["b64_json"]).size == (1024, 576)
    assert standin.received()[0]["inputs"]["prompt"] == "a lighthouse at dusk"
