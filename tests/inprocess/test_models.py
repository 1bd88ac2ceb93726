"""Every Workers AI model, every ratio: the image has exactly the size the answer states,
and each model is called with only its own fields, in its own body format."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from flask import Flask
from PIL import Image, ImageChops, ImageOps, ImageStat

from flux_service.generation.prompt import RATIO_SIZES
from flux_service.standin.drawing import draw, prompt_seed
from flux_service.upstream.catalog import MODELS
from tests.helpers import AUTH, GATEWAY_TOKEN, Standin, decode, image_url
from tests.inprocess.api import STANDIN_URL, Api

ALL_MODELS = ",".join(model.id for model in MODELS)
SIZED = {"prompt", "width", "height", "seed"}
# Written from Cloudflare's model pages, not from our catalogue.
EXPECTED = {
    "flux-1-schnell": ("application/json", {"prompt", "steps"}, None),
    "flux-2-klein-4b": ("multipart/form-data", SIZED, "JPEG"),
    "flux-2-klein-9b": ("multipart/form-data", SIZED, "PNG"),
    "flux-2-dev": ("multipart/form-data", SIZED | {"steps"}, "PNG"),
    "lucid-origin": ("application/json", SIZED | {"num_steps"}, "JPEG"),
    "phoenix-1.0": ("application/json", SIZED | {"num_steps"}, "JPEG"),
    "sdxl-base": ("application/json", SIZED | {"num_steps"}, "PNG"),
    "sdxl-lightning": ("application/json", SIZED | {"num_steps"}, "JPEG"),
    "dreamshaper-8-lcm": ("application/json", SIZED | {"num_steps"}, "PNG"),
}
MIME = {"JPEG": "image/jpeg", "PNG": "image/png"}
PROMPT = "a paper boat on a puddle"


@pytest.fixture
def every_model(make_app: Callable[..., Flask]) -> Api:
    return Api(make_app(MODELS=ALL_MODELS).test_client())


def ask(api: Api, prompt: str, model: str, **fields: object) -> str:
    return api.answer(prompt, model=model, **fields)


def fetch(api: Api, content: str) -> tuple[bytes, str, Image.Image]:
    """The bytes, type and decoded image that an answer links to."""
    response = api.client.get(urlsplit(image_url(content)).path)
    assert response.status_code == 200
    return response.data, response.headers["Content-Type"], decode(response.data)


def stated_seed(content: str) -> int | None:
    match = re.search(r"Seed: (\d+)", content)
    return int(match[1]) if match else None


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


@pytest.mark.parametrize("ratio", list(RATIO_SIZES))
@pytest.mark.parametrize("model", list(EXPECTED))
def test_every_model_draws_every_ratio_at_the_stated_size(
    every_model: Api, standin: Standin, model: str, ratio: str
) -> None:
    width, height = RATIO_SIZES[ratio]
    content = ask(every_model, f"{PROMPT} {ratio}", model)
    assert f"Image size: {width}x{height}" in content
    assert f"Model: {model}" in content
    data, mime, image = fetch(every_model, content)
    assert image.size == (width, height)

    (sent,) = standin.received()
    body, fields, fmt = EXPECTED[model]
    assert sent["content_type"] == body
    assert set(sent["inputs"]) == fields
    assert sent["inputs"]["prompt"] == PROMPT
    if fmt is None:
        # FLUX.1 schnell takes no size: the image is the centre of its 1024x1024 drawing.
        drawn = Image.open(io.BytesIO(draw(PROMPT, prompt_seed(PROMPT), 1024, 1024)))
        expected = ImageOps.fit(drawn, (width, height), Image.Resampling.LANCZOS)
        assert mean_difference(image, expected) < 2
        assert mime == "image/jpeg"
    else:
        # Models that take a size draw it exactly, and their bytes pass through untouched.
        assert (sent["inputs"]["width"], sent["inputs"]["height"]) == (width, height)
        assert sent["inputs"]["seed"] == stated_seed(content)
        assert data == draw(PROMPT, sent["inputs"]["seed"], width, height, fmt)
        assert mime == MIME[fmt]


def test_sdxl_lightning_jpeg_labelled_png_is_served_as_jpeg(every_model: Api) -> None:
    _, mime, image = fetch(every_model, ask(every_model, PROMPT, "sdxl-lightning"))
    assert (image.format, mime) == ("JPEG", "image/jpeg")


@pytest.mark.parametrize(
    ("model", "asked", "requested", "delivered"),
    [
        ("flux-2-klein-4b", "1280x720", (1280, 720), (1280, 720)),
        ("flux-2-klein-4b", "1000x700", (1008, 704), (1000, 700)),
        ("lucid-origin", "1001x701", (1008, 704), (1001, 701)),
        ("sdxl-base", "200x100", (256, 256), (200, 100)),
        ("flux-2-dev", "3840x2160", (1920, 1088), (1920, 1080)),
    ],
)
def test_explicit_sizes_are_honoured_or_scaled_down_and_said(
    every_model: Api,
    standin: Standin,
    model: str,
    asked: str,
    requested: tuple[int, int],
    delivered: tuple[int, int],
) -> None:
    content = ask(every_model, f"{PROMPT} {asked}", model)
    (sent,) = standin.received()
    assert (sent["inputs"]["width"], sent["inputs"]["height"]) == requested
    assert fetch(every_model, content)[2].size == delivered
    assert f"Image size: {delivered[0]}x{delivered[1]}" in content
    assert ("scaled down from" in content) == (asked != f"{delivered[0]}x{delivered[1]}")


def test_schnell_scales_a_large_size_down_to_what_it_draws(api: Api) -> None:
    content = ask(api, f"{PROMPT} 1920x1080", "flux-1-schnell")
    assert "Image size: 1024x576 (16:9), scaled down from 1920x1080" in content
    assert fetch(api, content)[2].size == (1024, 576)


def test_a_seed_is_passed_through_and_stated(every_model: Api, standin: Standin) -> None:
    content = ask(every_model, PROMPT, "flux-2-klein-4b", seed=1234)
    assert standin.received()[0]["inputs"]["seed"] == 1234
    assert stated_seed(content) == 1234


def test_without_a_seed_the_same_prompt_gives_new_images(every_model: Api) -> None:
    first, second = (ask(every_model, PROMPT, "flux-2-klein-9b") for _ in range(2))
    assert stated_seed(first) != stated_seed(second)
    assert fetch(every_model, first)[0] != fetch(every_model, second)[0]


def test_schnell_is_never_sent_a_seed(api: Api, standin: Standin) -> None:
    content = ask(api, PROMPT, "flux-1-schnell", seed=99)
    assert "seed" not in standin.received()[0]["inputs"]
    assert stated_seed(content) is None


def test_a_refused_field_is_dropped_once_and_remembered(api: Api, standin: Standin) -> None:
    standin.refuse("@cf/black-forest-labs/flux-2-klein-4b", "seed")
    content = ask(api, PROMPT, "flux-2-klein-4b", seed=5)
    rejected, accepted = standin.received()
    assert rejected["inputs"]["seed"] == 5
    assert "seed" not in accepted["inputs"]
    assert stated_seed(content) is None  # the answer does not claim a seed the model never got
    fetch(api, content)

    ask(api, PROMPT, "flux-2-klein-4b", seed=6)
    assert [set(entry["inputs"]) for entry in standin.received()[2:]] == [
        {"prompt", "width", "height"}
    ]


def test_model_names_pick_a_model_and_unknown_names_use_the_default(
    every_model: Api, standin: Standin
) -> None:
    for name in (
        "@cf/leonardo/phoenix-1.0",
        "leonardo/phoenix-1.0",
        "phoenix-1.0",
        "gpt-4o",
        "dall-e-3",
    ):
        ask(every_model, PROMPT, name)
    models = [entry["model"] for entry in standin.received()]
    assert models == ["@cf/leonardo/phoenix-1.0"] * 3 + ["@cf/black-forest-labs/flux-1-schnell"] * 2


def test_models_lists_what_models_says(every_model: Api) -> None:
    listed = every_model.client.get("/v1/models", headers=AUTH).get_json()["data"]
    assert [model["id"] for model in listed] == ALL_MODELS.split(",")
    assert {model["owned_by"] for model in listed} == {
        "black-forest-labs",
        "leonardo",
        "stabilityai",
        "bytedance",
        "lykon",
        "runwayml",
    }


def refused(api: Api, prompt: str = PROMPT) -> tuple[int, dict, dict]:
    """The status, error and headers of a chat request that must fail."""
    response = api.chat(prompt)
    assert response.status_code != 200
    return response.status_code, response.get_json()["error"], dict(response.headers)


def test_an_input_the_model_refuses_is_a_400_with_its_reason(api: Api, standin: Standin) -> None:
    reason = "AiError: Bad input: Error: String is too long (3000 > 2048) at '/prompt'"
    standin.fail({"kind": "error", "status": 400, "code": 5006, "message": reason})
    status, error, _ = refused(api)
    assert status == 400
    assert error["message"].endswith(f"Workers AI rejected the request: {reason}")
    assert error["code"] == "upstream_invalid_input"


def test_a_prompt_over_the_model_limit_is_refused_before_any_call(
    api: Api, standin: Standin
) -> None:
    status, error, _ = refused(api, "many words " * 190 + "at last")
    assert status == 400
    assert "2097 characters; flux-1-schnell takes at most 2048" in error["message"]
    assert standin.received() == []


def test_refused_cloudflare_credentials_are_a_502_not_a_401(
    make_app: Callable[..., Flask],
) -> None:
    api = Api(make_app(CF_API_TOKEN="a-revoked-token").test_client())
    status, error, _ = refused(api)
    assert status == 502
    assert "refused this server's Cloudflare credentials" in error["message"]
    assert "a-revoked-token" not in error["message"]


@pytest.mark.parametrize("code", [3036, 4006])
def test_a_used_up_daily_allocation_is_a_429_until_midnight_utc(
    api: Api, standin: Standin, code: int
) -> None:
    message = f"{code}: you have used up your daily free allocation of 10,000 neurons"
    standin.fail({"kind": "error", "status": 429, "code": code, "message": message})
    status, error, headers = refused(api)
    assert status == 429
    assert (
        "daily free Workers AI allocation of this server's Cloudflare account is used up"
        in (error["message"])
    )
    assert 0 < int(headers["Retry-After"]) <= 86400
    assert headers["x-should-retry"] == "false"


def test_calls_go_through_ai_gateway_when_configured(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    gateway = {"CF_AI_GATEWAY": "my-gateway", "CF_AI_GATEWAY_BASE": f"{STANDIN_URL}/v1"}
    api = Api(make_app(**gateway, CF_AI_GATEWAY_TOKEN=GATEWAY_TOKEN).test_client())
    fetch(api, ask(api, PROMPT, "flux-1-schnell"))
    assert standin.received()[0]["gateway"] == "my-gateway"

    wrong = Api(make_app(**gateway, CF_AI_GATEWAY_TOKEN="wrong").test_client())
    status, error, _ = refused(wrong)
    assert status == 502
    assert "CF_AI_GATEWAY_TOKEN" in error["message"]
