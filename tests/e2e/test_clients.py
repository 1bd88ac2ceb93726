"""What real clients send and need: the Images API, routes without /v1, housekeeping
requests, usage in streams, and the SDKs' retry switches."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable

import openai
import pytest
import requests
from PIL import Image

from tests.client_requests import HOUSEKEEPING, PICTURE_PROMPTS
from tests.conftest import API_KEY, Service, Standin, fetch_picture, image_url

ALL_MODELS = "@cf/black-forest-labs/flux-1-schnell,@cf/black-forest-labs/flux-2-klein-4b"


def decode(b64: str) -> Image.Image:
    picture = Image.open(io.BytesIO(base64.b64decode(b64)))
    picture.load()
    return picture


def test_images_generate_returns_urls_by_default(client: openai.OpenAI, standin: Standin) -> None:
    result = client.images.generate(model="dall-e-3", prompt="a red fox", size="1792x1024")
    (item,) = result.data
    assert item.b64_json is None
    assert item.revised_prompt is None
    _, picture = fetch_picture(item.url)
    assert picture.size == (1024, 585)  # schnell's largest side is 1024: scaled, ratio kept
    assert isinstance(result.created, int)


def test_images_generate_in_base64_with_an_exact_size(
    client: openai.OpenAI, standin: Standin
) -> None:
    result = client.images.generate(
        model="flux-2-klein-4b", prompt="a red fox", size="1536x1024", response_format="b64_json"
    )
    (item,) = result.data
    assert item.url is None
    assert decode(item.b64_json).size == (1536, 1024)


def test_gpt_image_models_default_to_base64(client: openai.OpenAI, standin: Standin) -> None:
    item = client.images.generate(model="gpt-image-1", prompt="a red fox", size="512x512").data[0]
    assert item.url is None
    assert decode(item.b64_json).size == (512, 512)


def test_n_pictures_are_drawn_at_once(
    make_service: Callable[..., Service], standin: Standin
) -> None:
    client = make_service(MODELS=ALL_MODELS).client()
    standin.configure(latency=1.0)
    result = client.images.generate(model="flux-2-klein-4b", prompt="a red fox", n=2)
    assert len(result.data) == 2
    first, second = (fetch_picture(item.url)[0].content for item in result.data)
    assert first != second  # each got its own seed
    seeds = [entry["inputs"]["seed"] for entry in standin.received()]
    assert len(set(seeds)) == 2


def test_n_pictures_take_the_time_of_one(
    make_service: Callable[..., Service], standin: Standin
) -> None:
    client = make_service(MODELS=ALL_MODELS).client()
    standin.configure(latency=1.0)
    response = client.images.with_raw_response.generate(model="flux-2-klein-4b", prompt="x", n=4)
    assert len(response.parse().data) == 4
    assert response.elapsed.total_seconds() < 2.5


def test_output_format_changes_the_picture_type(client: openai.OpenAI, standin: Standin) -> None:
    item = client.images.generate(
        prompt="a red fox",
        size="256x256",
        response_format="b64_json",
        extra_body={"output_format": "png"},
    ).data[0]
    picture = decode(item.b64_json)
    assert (picture.format, picture.size) == ("PNG", (256, 256))


def test_the_optimizer_rewrite_is_the_revised_prompt(
    make_service: Callable[..., Service], standin: Standin
) -> None:
    client = make_service(PROMPT_OPTIMIZATION="true").client()
    item = client.images.generate(prompt="a red fox", response_format="b64_json").data[0]
    assert item.revised_prompt.startswith("A richly detailed picture of a red fox")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "x", "n": 5}, "n"),
        ({"prompt": "x", "n": 0}, "n"),
        ({"prompt": "x", "size": "huge"}, "size"),
        ({"prompt": "x", "size": "10x10"}, "size"),
        ({"prompt": "x", "response_format": "gif"}, "response_format"),
        ({"prompt": "x", "output_format": "bmp"}, "output_format"),
    ],
)
def test_bad_image_requests_name_the_field(
    service: Service, standin: Standin, body: dict, param: str
) -> None:
    response = requests.post(
        f"{service.url}/v1/images/generations",
        json=body,
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert standin.received() == []


def test_every_route_answers_without_v1(service: Service, standin: Standin) -> None:
    bare = openai.OpenAI(base_url=service.url, api_key=API_KEY, max_retries=0)
    with bare:
        assert bare.models.list().data
        assert bare.models.retrieve("flux-1-schnell").id.endswith("flux-1-schnell")
        content = (
            bare.chat.completions.create(
                model="x", messages=[{"role": "user", "content": "a fox 9:16"}]
            )
            .choices[0]
            .message.content
        )
        assert fetch_picture(image_url(content))[1].size == (576, 1024)
        assert bare.images.generate(prompt="a fox", size="256x256").data[0].url


@pytest.mark.parametrize(
    ("body", "kind", "fragment"),
    [case[1:] for case in HOUSEKEEPING],
    ids=[case[0] for case in HOUSEKEEPING],
)
@pytest.mark.parametrize("stream", [False, True])
def test_housekeeping_requests_get_text_and_draw_nothing(
    client: openai.OpenAI, standin: Standin, body: dict, kind: str, fragment: str, stream: bool
) -> None:
    options = {k: v for k, v in body.items() if k not in ("stream", "max_tokens")}
    if stream:
        chunks = list(client.chat.completions.create(**options, stream=True))
        content = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
        assert chunks[-1].choices[0].finish_reason == "stop"
    else:
        content = client.chat.completions.create(**options).choices[0].message.content
    assert fragment in content
    assert "![" not in content
    if kind in ("tags", "follow_ups", "queries", "autocomplete") or content.startswith("{"):
        json.loads(content)
    assert standin.received() == []


@pytest.mark.parametrize("prompt", PICTURE_PROMPTS)
def test_picture_prompts_still_get_pictures(
    client: openai.OpenAI, standin: Standin, prompt: str
) -> None:
    content = (
        client.chat.completions.create(model="x", messages=[{"role": "user", "content": prompt}])
        .choices[0]
        .message.content
    )
    fetch_picture(image_url(content))
    assert len(standin.received()) == 1


def test_housekeeping_can_be_turned_off(
    make_service: Callable[..., Service], standin: Standin
) -> None:
    client = make_service(SKIP_CLIENT_TASKS="false").client()
    content = (
        client.chat.completions.create(model="x", messages=[{"role": "user", "content": "hi"}])
        .choices[0]
        .message.content
    )
    fetch_picture(image_url(content))
    assert [seen["inputs"]["prompt"] for seen in standin.received()] == ["hi"]


def test_usage_comes_last_in_a_stream_when_asked(client: openai.OpenAI, standin: Standin) -> None:
    chunks = list(
        client.chat.completions.create(
            model="x",
            messages=[{"role": "user", "content": "a fox"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    *content_chunks, last = chunks
    assert last.choices == []
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens > 0
    assert all(chunk.usage is None for chunk in content_chunks)
    assert content_chunks[-1].choices[0].finish_reason == "stop"
    assert content_chunks[-1].choices[0].delta.content is None


def test_stream_headers(service: Service, standin: Standin) -> None:
    with requests.post(
        f"{service.url}/v1/chat/completions",
        json={"stream": True, "messages": [{"role": "user", "content": "a fox"}]},
        headers={"Authorization": f"Bearer {API_KEY}"},
        stream=True,
        timeout=10,
    ) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert response.headers["Cache-Control"] == "no-cache"
        assert response.headers["X-Accel-Buffering"] == "no"
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith(b"data: ") for line in lines)
    assert lines[-1] == b"data: [DONE]"
