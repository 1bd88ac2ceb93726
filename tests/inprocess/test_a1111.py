"""The AUTOMATIC1111 door: txt2img and img2img through the one pipeline, the checkpoints and
the model each key chooses, the lists clients fill their menus from, auth as these clients
send it, and errors in A1111's shape."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image, ImageChops, ImageDraw, ImageOps, ImageStat
from werkzeug.test import TestResponse

from flux_service.standin.drawing import draw, prompt_seed
from flux_service.upstream.catalog import MAX_SEED
from flux_service.web import a1111_views
from flux_service.web.service_views import OPENAPI_PATH
from tests.helpers import API_KEY, OTHER_KEY, Standin, decode
from tests.pictures import difference, encoded, pattern, recorded, thumbnail

SCHNELL = "@cf/black-forest-labs/flux-1-schnell"
KLEIN = "@cf/black-forest-labs/flux-2-klein-4b"
SDXL = "@cf/stabilityai/stable-diffusion-xl-base-1.0"
MODELS = f"{SCHNELL},{KLEIN},{SDXL},sd-1.5-img2img,sd-1.5-inpainting"
PROMPT = "a paper boat on a puddle"
# What SillyTavern 1.19.0 sends (recorded), its own `url` and `auth` included.
SILLYTAVERN = {
    "url": "http://127.0.0.1:8000", "auth": "user:hunter2-secret", "prompt": PROMPT,
    "negative_prompt": "blurry", "sampler_name": "DDIM", "scheduler": "normal", "steps": 20,
    "cfg_scale": 7, "width": 512, "height": 512, "restore_faces": False, "enable_hr": False,
    "hr_upscaler": "Latent", "hr_scale": 1, "hr_additional_modules": [],
    "denoising_strength": 0.7, "hr_second_pass_steps": 0,
    "override_settings": {"CLIP_stop_at_last_layers": 1},
    "override_settings_restore_afterwards": True, "clip_skip": 1, "save_images": True,
    "send_images": True, "do_not_save_grid": False, "do_not_save_samples": False,
}  # fmt: skip


def basic(credentials: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


class Sd:
    """A client of the A1111 door: HTTP Basic with the key as the password, as they send it."""

    def __init__(self, client: FlaskClient, key: str = API_KEY) -> None:
        self.client = client
        self.headers = basic(f"user:{key}")

    def get(self, route: str) -> TestResponse:
        return self.client.get(f"/sdapi/v1/{route}", headers=self.headers)

    def post(self, route: str, body: object) -> TestResponse:
        return self.client.post(f"/sdapi/v1/{route}", json=body, headers=self.headers)

    def draw(self, route: str = "txt2img", **body: object) -> dict:
        """A successful txt2img (or img2img) answer, its `info` read."""
        response = self.post(route, body)
        assert response.status_code == 200, response.get_data(as_text=True)
        answer = response.get_json()
        assert set(answer) == {"images", "parameters", "info"}
        return {**answer, "info": json.loads(answer["info"])}

    def choose(self, checkpoint: str) -> None:
        response = self.post("options", {"sd_model_checkpoint": checkpoint})
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json() is None


@pytest.fixture
def sd(make_app: Callable[..., Flask]) -> Sd:
    return Sd(make_app(MODELS=MODELS).test_client())


def refused(response: TestResponse, status: int) -> dict:
    """An error in A1111's shape, with its status."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error", "detail", "body", "errors"}
    assert body["errors"] == f"{status}: {body['detail']}"
    return body


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


def test_txt2img_draws_the_pixels_asked_for_and_says_what_was_drawn(
    sd: Sd, standin: Standin
) -> None:
    sd.choose("flux-2-klein-4b")
    answer = sd.draw(prompt=PROMPT, width=768, height=432, seed=7, batch_size=2)
    first, second = (base64.b64decode(image) for image in answer["images"])  # bare base64
    # The stand-in's own drawings, byte for byte, each with its seed.
    assert first == draw(PROMPT, 7, 768, 432, "JPEG")
    assert second == draw(PROMPT, 8, 768, 432, "JPEG")
    info = answer["info"]
    assert (info["width"], info["height"], info["all_seeds"]) == (768, 432, [7, 8])
    assert (info["prompt"], info["sd_model_name"]) == (PROMPT, "flux-2-klein-4b")
    assert info["infotexts"][1].startswith(f"{PROMPT}\nSampler: Euler, Seed: 8, Size: 768x432")
    assert sorted(entry["inputs"]["seed"] for entry in standin.received()) == [7, 8]


def test_sillytaverns_request_is_drawn_and_its_secret_never_sent_back(
    sd: Sd, standin: Standin
) -> None:
    response = sd.post("txt2img", SILLYTAVERN)
    assert response.status_code == 200
    assert "hunter2-secret" not in response.get_data(as_text=True)
    answer = response.get_json()
    parameters = answer["parameters"]
    assert "auth" not in parameters
    assert "url" not in parameters
    assert (parameters["sampler_name"], parameters["steps"]) == ("DDIM", 20)
    assert parameters["n_iter"] == 1  # A1111's default, filled in
    (image,) = answer["images"]
    picture = decode(image)
    drawn = Image.open(io.BytesIO(draw(PROMPT, prompt_seed(PROMPT), 1024, 1024)))
    assert picture.size == (512, 512)
    assert mean_difference(picture, ImageOps.fit(drawn, (512, 512))) < 2
    info = json.loads(answer["info"])
    # FLUX.1 schnell takes no negative prompt, no guidance and no seed, and runs 8 steps at most.
    assert info["extra_generation_params"] == {
        "Model id": SCHNELL,
        "Negative prompt": "dropped: flux-1-schnell takes none",
        "CFG scale": "dropped: flux-1-schnell takes no guidance",
        "Steps": "20 asked; 8 is the nearest flux-1-schnell takes",
    }
    assert (info["negative_prompt"], info["cfg_scale"], info["steps"]) == ("", None, 8)
    (sent,) = standin.received()
    assert sent["inputs"] == {"prompt": PROMPT, "steps": 8}


def test_a_negative_prompt_and_cfg_scale_reach_a_model_that_takes_them(
    sd: Sd, standin: Standin
) -> None:
    sd.choose("sdxl-base")
    info = sd.draw(prompt=PROMPT, negative_prompt="blurry", cfg_scale=45, steps=12)["info"]
    (sent,) = standin.received()
    assert sent["inputs"]["negative_prompt"] == "blurry"
    assert (sent["inputs"]["guidance"], sent["inputs"]["num_steps"]) == (30, 12)
    assert (info["negative_prompt"], info["cfg_scale"], info["steps"]) == ("blurry", 30, 12)
    assert info["extra_generation_params"]["CFG scale"] == (
        "45 asked; 30 is the nearest sdxl-base takes"
    )


def test_open_webuis_request_runs_the_steps_the_model_takes(sd: Sd, standin: Standin) -> None:
    body = {"prompt": PROMPT, "batch_size": 1, "width": 512, "height": 512, "steps": 50}
    assert decode(sd.draw(**body)["images"][0]).size == (512, 512)
    assert standin.received()[0]["inputs"]["steps"] == 8


def test_a1111s_defaults_and_what_is_ignored(sd: Sd) -> None:
    answer = sd.draw(prompt=PROMPT, enable_hr=True, hr_scale=2, restore_faces=True,
                     alwayson_scripts={"ADetailer": {"args": [True]}}, tiling=True)  # fmt: skip
    assert decode(answer["images"][0]).size == (512, 512)  # A1111's default size
    assert answer["parameters"]["enable_hr"] is True
    assert answer["parameters"]["seed"] == -1


def test_batch_size_times_n_iter_pictures_with_random_seeds_or_the_one_asked_for(
    sd: Sd, standin: Standin
) -> None:
    sd.choose("flux-2-klein-4b")
    answer = sd.draw(prompt=PROMPT, batch_size=2, n_iter=2, seed=-1, width=256, height=256)
    assert len(answer["images"]) == 4
    seeds = answer["info"]["all_seeds"]
    assert all(0 <= seed <= MAX_SEED for seed in seeds)
    assert seeds == [(seeds[0] + index) % (MAX_SEED + 1) for index in range(4)]
    assert len(standin.received()) == 4


def test_send_images_false_answers_without_them(sd: Sd, standin: Standin) -> None:
    answer = sd.draw(prompt=PROMPT, send_images=False)
    assert answer["images"] == []
    assert len(standin.received()) == 1


def test_samples_format_chooses_the_image_type(sd: Sd) -> None:
    answer = sd.draw(prompt=PROMPT, override_settings={"samples_format": "png"})
    assert decode(answer["images"][0]).format == "PNG"
    assert decode(sd.draw(prompt=PROMPT)["images"][0]).format == "JPEG"  # the model's own


def test_the_checkpoints_are_the_models_offered(sd: Sd) -> None:
    listed = sd.get("sd-models").get_json()
    assert [entry["model_name"] for entry in listed] == [
        "flux-1-schnell", "flux-2-klein-4b", "sdxl-base", "sd-1.5-img2img", "sd-1.5-inpainting",
    ]  # fmt: skip
    schnell = listed[0]
    assert schnell["title"] == f"flux-1-schnell [{schnell['hash']}]"
    assert len(schnell["hash"]) == 10
    assert schnell["sha256"].startswith(schnell["hash"])
    assert (schnell["filename"], schnell["config"]) == (SCHNELL, None)
    options = sd.get("options").get_json()
    assert options["sd_model_checkpoint"] == schnell["title"]  # FLUX_MODEL until one is chosen
    assert "forge_preset" not in options  # SillyTavern would take the service for Forge


@pytest.mark.parametrize(
    "name",
    ["flux-2-klein-4b", "flux-2-klein-4b.safetensors", KLEIN, "flux-2-klein-4b [0000000000]"],
)
def test_a_checkpoint_is_chosen_by_its_title_or_any_of_its_names(sd: Sd, name: str) -> None:
    sd.choose(name)
    assert sd.get("options").get_json()["sd_model_checkpoint"].startswith("flux-2-klein-4b [")


def test_each_key_draws_with_the_checkpoint_it_chose(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    client = make_app(MODELS=MODELS, API_KEY=f"{API_KEY},{OTHER_KEY}").test_client()
    mine, theirs = Sd(client), Sd(client, OTHER_KEY)
    title = next(e["title"] for e in mine.get("sd-models").get_json() if "klein" in e["title"])
    # Open WebUI sends back the whole options dict it read, the checkpoint changed.
    options = mine.get("options").get_json()
    assert mine.post("options", {**options, "sd_model_checkpoint": title}).status_code == 200
    assert mine.get("options").get_json()["sd_model_checkpoint"] == title
    assert theirs.get("options").get_json()["sd_model_checkpoint"].startswith("flux-1-schnell")
    mine.draw(prompt=PROMPT)
    theirs.draw(prompt=PROMPT)
    # One request may name its own, without changing the key's.
    mine.draw(prompt=PROMPT, override_settings={"sd_model_checkpoint": "sdxl-base"})
    assert [entry["model"] for entry in standin.received()] == [KLEIN, SCHNELL, SDXL]
    # An empty checkpoint changes nothing (Open WebUI sends one when it has none set).
    assert mine.post("options", {"sd_model_checkpoint": ""}).status_code == 200
    assert mine.get("options").get_json()["sd_model_checkpoint"] == title


def test_an_unknown_checkpoint_is_refused_with_those_offered(sd: Sd) -> None:
    error = refused(sd.post("options", {"sd_model_checkpoint": "sd_xl_base_1.0.safetensors"}), 400)
    assert "There is no checkpoint 'sd_xl_base_1.0.safetensors'" in error["detail"]
    assert "flux-2-klein-4b [" in error["detail"]
    assert sd.get("options").get_json()["sd_model_checkpoint"].startswith("flux-1-schnell")


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        ("samplers", [{"name": "Euler", "aliases": ["k_euler"], "options": {}}]),
        ("latent-upscale-modes", []),
        ("sd-vae", []),
        ("sd-modules", []),
    ],
)
def test_the_menus_are_short_and_well_formed(sd: Sd, route: str, expected: list) -> None:
    assert sd.get(route).get_json() == expected


def test_schedulers_upscalers_progress_interrupt_and_skip(sd: Sd) -> None:
    assert [s["name"] for s in sd.get("schedulers").get_json()] == ["automatic"]
    assert [u["name"] for u in sd.get("upscalers").get_json()] == ["None"]
    progress = sd.get("progress").get_json()
    # SillyTavern waits after choosing a model until progress is 0 and no job is counted.
    assert (progress["progress"], progress["state"]["job_count"]) == (0.0, 0)
    assert sd.post("interrupt", None).get_json() == {}
    skipped = sd.post("skip", None)
    assert (skipped.status_code, skipped.get_json()) == (200, None)


def test_img2img_draws_from_bare_base64_or_a_data_uri(sd: Sd, standin: Standin) -> None:
    photo = pattern(900, 600)
    bare = base64.b64encode(encoded(photo)).decode()
    for image in (bare, f"data:image/png;base64,{bare}"):
        answer = sd.draw("img2img", prompt="make it winter", init_images=[image])
        # Without a size, the edit keeps its picture's proportions.
        assert decode(answer["images"][0]).size == (1024, 683)
        assert answer["parameters"]["init_images"] is None  # never sent back
    first, second = standin.received()
    assert first["model"] == second["model"] == KLEIN
    assert difference(recorded(first["images"][0]), thumbnail(photo)) < 4


def test_denoising_strength_moves_sd_img2img_and_flux2_says_it_has_none(
    sd: Sd, standin: Standin
) -> None:
    picture = base64.b64encode(encoded(pattern(512, 512))).decode()
    body = {"prompt": "make it winter", "init_images": [picture], "width": 512, "height": 512}
    sd.choose("sd-1.5-img2img")
    info = sd.draw("img2img", **body, denoising_strength=0.3)["info"]
    assert standin.received()[0]["inputs"]["strength"] == 0.3
    assert info["denoising_strength"] == 0.3
    sd.choose("flux-2-klein-4b")
    info = sd.draw("img2img", **body, denoising_strength=0.3)["info"]
    flux2 = standin.received()[1]
    assert flux2["model"] == KLEIN
    assert "strength" not in flux2["inputs"]
    assert info["denoising_strength"] is None
    assert "Denoising strength" in info["extra_generation_params"]


def white_on_black(box: tuple[int, int, int, int]) -> str:
    """An A1111 mask: white where to paint."""
    mask = Image.new("L", (512, 512), 0)
    ImageDraw.Draw(mask).rectangle(box, fill=255)
    return base64.b64encode(encoded(mask)).decode()


@pytest.mark.parametrize("invert", [0, 1])
def test_an_inpainting_mask_is_white_where_to_paint(sd: Sd, standin: Standin, invert: int) -> None:
    photo = pattern(512, 512)
    left = (0, 0, 255, 511)
    body = {
        "prompt": "a window",
        "init_images": [base64.b64encode(encoded(photo)).decode()],
        "mask": white_on_black(left),
        "inpainting_mask_invert": invert,
        "width": 512,
        "height": 512,
        "override_settings": {"sd_model_checkpoint": "sd-1.5-inpainting"},
    }
    info = sd.draw("img2img", **body)["info"]
    assert info["is_using_inpainting_conditioning"] is True
    got = recorded(standin.received()[0]["mask"])
    painted = (0, 0, 0) if invert else (255, 255, 255)
    assert got.getpixel((2, 8)) == painted  # the left half
    assert got.getpixel((13, 8)) == tuple(255 - value for value in painted)


def test_flux2_keeps_the_picture_outside_an_a1111_mask(sd: Sd) -> None:
    photo = pattern(512, 512)
    body = {
        "prompt": "a window",
        "init_images": [base64.b64encode(encoded(photo)).decode()],
        "mask": white_on_black((0, 0, 255, 511)),
    }
    answer = sd.draw("img2img", **body)
    result = decode(answer["images"][0]).resize((512, 512))
    right = (300, 0, 512, 512)
    assert difference(result.crop(right), photo.crop(right)) < 4
    assert answer["info"]["extra_generation_params"]["Mask"] == (
        "applied after drawing: flux-2-klein-4b takes no mask"
    )


@pytest.mark.parametrize(
    "headers",
    [
        basic(f"any:{API_KEY}"),
        basic(f":{API_KEY}"),
        basic(API_KEY),  # the key alone, in a setting of "user:pass"
        {"Authorization": f"Bearer {API_KEY}"},
        {"X-Api-Key": API_KEY},
    ],
)
def test_the_key_in_every_form_these_clients_send_it(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    assert client.get("/sdapi/v1/options", headers=headers).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic "},  # SillyTavern without a password
        basic("undefined"),  # SillyTavern without an auth setting
        basic("user:wrong-key-12345678"),
        {"Authorization": "Basic %%%"},
        {"Authorization": "Bearer wrong-key-12345678"},
    ],
)
def test_without_the_key_a_401_asks_for_basic_auth_and_nothing_is_drawn(
    client: FlaskClient, standin: Standin, headers: dict[str, str]
) -> None:
    for method, route in (("GET", "options"), ("GET", "sd-models"), ("POST", "txt2img")):
        response = client.open(
            f"/sdapi/v1/{route}", method=method, json={"prompt": PROMPT}, headers=headers
        )
        error = refused(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Basic ")
        assert error["error"] == "AuthenticationError"
    assert standin.received() == []


def test_a_preflight_needs_no_key(client: FlaskClient) -> None:
    assert client.options("/sdapi/v1/txt2img").status_code == 204


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"prompt": PROMPT, "width": 100000, "height": 512}, "`width` must be between 64 and 8192"),
        ({"prompt": PROMPT, "height": 10}, "`height` must be between 64 and 8192"),
        (
            {"prompt": PROMPT, "batch_size": 1000},
            "asks for 1000 images; this server draws at",
        ),
        ({"prompt": PROMPT, "batch_size": 3, "n_iter": 2}, "asks for 6 images"),
        ({"prompt": PROMPT, "n_iter": 0}, "`n_iter` must be 1 or more"),
        ({"prompt": ""}, "`prompt` must be a non-empty string"),
        ({"negative_prompt": "blurry"}, "`prompt` must be a non-empty string"),
        ({"prompt": PROMPT, "seed": 2**40}, "`seed` must be -1 (random) or between 0 and"),
        ({"prompt": PROMPT, "steps": "many"}, "`steps` must be a whole number"),
        ({"prompt": PROMPT, "cfg_scale": "high"}, "`cfg_scale` must be a number"),
        ({"prompt": PROMPT, "send_images": "yes"}, "`send_images` must be a boolean"),
        ({"prompt": "x" * 100_000}, "takes at most 2048"),
        ([PROMPT], "must be a JSON object"),
    ],
)
def test_bad_txt2img_input_is_a_400_that_says_why(
    sd: Sd, standin: Standin, body: object, words: str
) -> None:
    error = refused(sd.post("txt2img", body), 400)
    assert words in error["detail"]
    assert error["error"] == "InvalidRequestError"
    assert standin.received() == []


NOT_AN_IMAGE = base64.b64encode(b"hello, not a picture").decode()


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"init_images": ["iVBORw0KGgo%%%broken"]}, "`init_images[0]` is not valid base64"),
        ({"init_images": [NOT_AN_IMAGE]}, "Image 1 cannot be used: it is not an image"),
        ({"init_images": "iVBORw0KGgo="}, "`init_images` must be a list"),
        ({"init_images": []}, "`init_images` must be a list of at least one image"),
        ({"init_images": None}, "`init_images` must be a list"),
        ({"init_images": [""]}, "must be a non-empty string"),
        ({"init_images": [NOT_AN_IMAGE] * 5}, "holds 5 images; at most 4"),
        ({"init_images": ["ftp://example.com/a.png"]}, "not valid base64"),
        ({"mask": "%%%"}, "`mask` is not valid base64"),
        ({"mask": NOT_AN_IMAGE}, "The mask cannot be used"),
    ],
)
def test_bad_img2img_input_is_a_400_that_says_why(
    sd: Sd, standin: Standin, fields: dict, words: str
) -> None:
    picture = base64.b64encode(encoded(pattern(64, 64))).decode()
    body = {"prompt": "make it winter", "init_images": [picture], **fields}
    error = refused(sd.post("img2img", body), 400)
    assert words in error["detail"]
    assert standin.received() == []


def test_unknown_routes_are_404_and_wrong_methods_405_in_a1111s_shape(client: FlaskClient) -> None:
    error = refused(client.get("/sdapi/v1/png-info"), 404)
    assert "does not offer GET /sdapi/v1/png-info" in error["detail"]
    response = client.get("/sdapi/v1/txt2img")
    refused(response, 405)
    assert response.headers["Allow"] == "OPTIONS, POST"
    assert client.delete("/sdapi/v1/options").headers["Allow"] == "GET, HEAD, OPTIONS, POST"


def test_an_upstream_failure_answers_in_a1111s_shape(sd: Sd, standin: Standin) -> None:
    standin.fail({"kind": "error", "status": 400, "code": 5006, "message": "AiError: Bad input"})
    error = refused(sd.post("txt2img", {"prompt": PROMPT}), 400)
    assert "Workers AI" in error["detail"]


def test_the_contract_has_every_a1111_route_and_method(app: Flask) -> None:
    contract = yaml.safe_load(OPENAPI_PATH.read_text())["paths"]
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/sdapi/") and "<" not in rule.rule:
            methods = {method.lower() for method in rule.methods or ()} - {"head", "options"}
            routes.setdefault(rule.rule, set()).update(methods)
    assert len(routes) == 13
    assert routes == {path: set(contract[path]) for path in routes}


def test_without_a_shared_redis_several_workers_hear_each_keeps_its_own(
    make_app: Callable[..., Flask], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    said: list[str] = []
    monkeypatch.setattr(a1111_views.log, "warning", said.append)
    make_app(IMAGE_STORE=f"file://{tmp_path}", WEB_CONCURRENCY="2")
    assert len(said) == 1
    assert "/sdapi/v1/options is kept by each worker alone" in said[0]
    make_app()  # one worker: nothing to say
    assert len(said) == 1


@pytest.mark.parametrize(
    ("data", "headers", "status", "words"),
    [
        (b'{"prompt": "a fox", "x": "' + b"x" * 2_000_000 + b'"}', {}, 413, "MAX_BODY_BYTES"),
        (b"[" * 200_000 + b"]" * 200_000, {}, 400, "nested too deeply"),
        (b'{"prompt": "\xff\xfe a fox"}', {}, 400, "UTF-8"),
        (b'{"prompt": "a fox"', {}, 400, "not valid JSON"),
        (b"", {}, 400, "empty"),
        (b'{"prompt": "a fox"}', {"Content-Encoding": "br"}, 415, "br"),
    ],
    ids=["too-large", "deep", "not-utf8", "unclosed", "empty", "brotli"],
)
def test_unreadable_bodies_are_refused_in_a1111s_shape(
    make_app: Callable[..., Flask],
    standin: Standin,
    data: bytes,
    headers: dict[str, str],
    status: int,
    words: str,
) -> None:
    sd = Sd(make_app(MAX_BODY_BYTES=str(1 << 20)).test_client())
    for route in ("txt2img", "img2img", "options"):
        response = sd.client.post(
            f"/sdapi/v1/{route}",
            data=data,
            headers={**sd.headers, "Content-Type": "application/json", **headers},
        )
        assert words in refused(response, status)["detail"]
    assert standin.received() == []
