"""AUTOMATIC1111's wire format: what is read from txt2img and img2img bodies, the names a
checkpoint goes by, and what its answers hold (and never hold)."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from config import Settings
from flux_service.errors import InvalidRequestError
from flux_service.generation.codec import EncodedImage
from flux_service.generation.inputs import mask_from_white, read_input_image
from flux_service.generation.pipeline import Stored
from flux_service.generation.plan import Order, PromptChoice
from flux_service.upstream.catalog import CATALOG, MAX_SEED, ServedModels
from flux_service.wire.a1111 import (
    SdRequest,
    checkpoint_title,
    find_checkpoint,
    parse_img2img,
    parse_txt2img,
)
from flux_service.wire.a1111_answers import error_body, images_body, parameters
from tests.helpers import planner
from tests.pictures import encoded

SCHNELL = "@cf/black-forest-labs/flux-1-schnell"
KLEIN = "@cf/black-forest-labs/flux-2-klein-4b"
MODELS = ServedModels.from_ids(SCHNELL, (SCHNELL, KLEIN))


def test_a_bare_txt2img_body_gets_a1111s_defaults() -> None:
    asked = parse_txt2img({"prompt": "a fox"})
    assert asked == SdRequest("a fox", size=(512, 512))
    assert (asked.seed, asked.steps, asked.cfg_scale, asked.n) == (None, None, None, 1)


def test_what_decides_the_picture_is_read() -> None:
    asked = parse_txt2img({
        "prompt": "a fox", "negative_prompt": "blurry", "width": 768, "height": 432.0,
        "steps": 20, "seed": 42, "batch_size": 2, "n_iter": 2, "cfg_scale": 7,
        "send_images": False, "sampler_name": "DPM++ 2M", "styles": ["cinematic", 3],
        "override_settings": {"sd_model_checkpoint": "flux-2-klein-4b [x]",
                              "samples_format": "png"},
    })  # fmt: skip
    assert (asked.size, asked.steps, asked.seed, asked.batch_size, asked.n) == (
        (768, 432), 20, 42, 2, 4,
    )  # fmt: skip
    assert (asked.negative_prompt, asked.cfg_scale, asked.send_images) == ("blurry", 7.0, False)
    assert (asked.checkpoint, asked.mime) == ("flux-2-klein-4b [x]", "image/png")
    assert asked.styles == ("cinematic",)
    # Any sampler is taken: the name is only repeated in the answer's parameters.
    assert parameters(asked)["sampler_name"] == "DPM++ 2M"


@pytest.mark.parametrize("seed", [-1, -2, None])
def test_a_negative_seed_is_a_random_one(seed: int | None) -> None:
    assert parse_txt2img({"prompt": "a fox", "seed": seed}).seed is None
    assert parse_txt2img({"prompt": "a fox", "seed": MAX_SEED}).seed == MAX_SEED


@pytest.mark.parametrize(
    "ignored",
    [
        {"override_settings": "not a dict", "sampler_name": 3, "styles": "x"},
        {"enable_hr": "yes", "hr_scale": "big", "restore_faces": 1, "url": "x", "auth": "a:b"},
        {"override_settings": {"sd_model_checkpoint": 5, "samples_format": "gif"}},
        {"scheduler": None, "clip_skip": [], "alwayson_scripts": {"ADetailer": {}}},
    ],
)
def test_forwarded_fields_are_accepted_and_ignored(ignored: dict) -> None:
    asked = parse_txt2img({"prompt": "a fox", **ignored})
    assert (asked.checkpoint, asked.mime, asked.styles) == (None, None, ())


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"prompt": "a fox", "width": 63}, "width"),
        ({"prompt": "a fox", "height": 8193}, "height"),
        ({"prompt": "a fox", "width": True}, "width"),
        ({"prompt": "a fox", "batch_size": 5}, "batch_size"),
        ({"prompt": "a fox", "batch_size": 2, "n_iter": 3}, "batch_size"),
        ({"prompt": "a fox", "batch_size": 0}, "batch_size"),
        ({"prompt": "a fox", "seed": MAX_SEED + 1}, "seed"),
        ({"prompt": "a fox", "steps": 2.5}, "steps"),
        ({"prompt": "a fox", "cfg_scale": True}, "cfg_scale"),
        ({"prompt": "  "}, "prompt"),
        ({"prompt": 3}, "prompt"),
    ],
)
def test_bad_fields_are_named(body: dict, param: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_txt2img(body)
    assert caught.value.param == param


def test_img2img_reads_its_pictures_mask_and_strength() -> None:
    asked = parse_img2img({
        "prompt": "winter", "init_images": ["aGk=", "data:image/png;base64,aGk="],
        "mask": "bWFzaw==", "inpainting_mask_invert": 1, "denoising_strength": 0.4,
    })  # fmt: skip
    assert asked.init_images == ("aGk=", "data:image/png;base64,aGk=")
    assert (asked.mask, asked.mask_invert, asked.denoising_strength) == ("bWFzaw==", True, 0.4)
    assert asked.size is None  # the picture's own proportions
    assert parse_img2img({"prompt": "w", "init_images": ["aGk="], "width": 640}).size == (640, 512)


@pytest.mark.parametrize(
    "name",
    [
        "flux-2-klein-4b",
        "flux-2-klein-4b [2dc7480b0b]",
        "flux-2-klein-4b.safetensors [whatever]",
        "  FLUX-2-KLEIN-4B  ",
        KLEIN,
        "black-forest-labs/flux-2-klein-4b",
    ],
)
def test_a_checkpoint_goes_by_any_of_its_names(name: str) -> None:
    assert find_checkpoint(MODELS, name) is CATALOG[KLEIN]


@pytest.mark.parametrize("name", ["", "[abc]", "sdxl-base", "x" * 301, " " * 10_000 + "["])
def test_other_names_are_no_checkpoint_of_ours(name: str) -> None:
    assert find_checkpoint(MODELS, name) is None


def test_a_title_is_a_short_name_and_a_stable_short_hash() -> None:
    # The first 10 hex digits of the SHA-256 of the model's id: the same in every release,
    # so a title a client saved keeps naming the model.
    assert checkpoint_title(CATALOG[KLEIN]) == "flux-2-klein-4b [2dc7480b0b]"


def test_parameters_repeat_a1111s_fields_never_the_clients_others() -> None:
    body = {"prompt": "a fox", "auth": "user:secret", "url": "http://x", "steps": 20}
    repeated = parameters(parse_txt2img(body))
    assert "auth" not in repeated
    assert "url" not in repeated
    assert (repeated["prompt"], repeated["steps"], repeated["cfg_scale"]) == ("a fox", 20, 7.0)
    img2img = parameters(parse_img2img({"prompt": "w", "init_images": ["aGk="], "mask": "aGk="}))
    assert (img2img["init_images"], img2img["mask"], img2img["resize_mode"]) == (None, None, 0)


def test_info_says_what_was_drawn_and_what_was_dropped() -> None:
    plan = planner(Settings(cf_account_id="a", cf_api_token="t")).plan(
        Order("a fox 2048x2048", negative_prompt="blurry", guidance=7.0, seed=3, steps=20)
    )
    image = EncodedImage(b"data", "image/jpeg", 1024, 1024)
    stored = [Stored(0, image=image, key="k", seed=None, upstream_seconds=0.1)]
    asked = parse_txt2img({"prompt": "a fox", "negative_prompt": "blurry", "cfg_scale": 7,
                           "seed": 3, "steps": 20})  # fmt: skip
    body = images_body(asked, plan, PromptChoice("a fox"), stored, 0.0)
    assert body["images"] == ["ZGF0YQ=="]
    info = json.loads(body["info"])
    assert (info["width"], info["height"], info["seed"], info["steps"]) == (1024, 1024, None, 8)
    assert info["job_timestamp"] == "19700101000000"
    assert info["extra_generation_params"] == {
        "Model id": SCHNELL,
        "Negative prompt": "dropped: flux-1-schnell takes none",
        "CFG scale": "dropped: flux-1-schnell takes no guidance",
        "Seed": "dropped: flux-1-schnell takes no seed",
        "Steps": "20 asked; 8 is the nearest flux-1-schnell takes",
        "Size": "2048x2048 asked; flux-1-schnell draws 1024 pixels a side at most",
    }
    assert info["infotexts"] == [
        "a fox\nSteps: 8, Sampler: Euler, Size: 1024x1024, Model hash: "
        f"{info['sd_model_hash']}, Model: flux-1-schnell, Version: Flux API"
    ]


def test_the_error_body_is_a1111s() -> None:
    assert error_body("InvalidRequestError", 400, "`width` is wrong.") == {
        "error": "InvalidRequestError",
        "detail": "`width` is wrong.",
        "body": "",
        "errors": "400: `width` is wrong.",
    }


@pytest.mark.parametrize(("invert", "changed"), [(False, "left"), (True, "right")])
def test_an_a1111_mask_becomes_transparent_where_to_paint(invert: bool, changed: str) -> None:
    white_left = Image.new("L", (100, 50), 0)
    white_left.paste(255, (0, 0, 50, 50))
    read = read_input_image(encoded(white_left), 100)
    converted = mask_from_white(read, invert)
    mask = converted.image
    assert mask.mode == "RGBA"
    left, right = mask.getpixel((10, 10))[3], mask.getpixel((90, 10))[3]
    assert (left, right) == ((0, 255) if changed == "left" else (255, 0))
    # Read A1111's way, or inverted, the file is another mask than read OpenAI's way.
    assert converted.digest not in (read.digest, mask_from_white(read, not invert).digest)
