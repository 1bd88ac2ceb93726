"""The stand-in takes images as strictly as the real models: FLUX.2's file parts by their
exact names and under 512 pixels, Stable Diffusion's byte arrays, and a mask for inpainting."""

from __future__ import annotations

import requests

from tests.helpers import STANDIN_TOKEN
from tests.inprocess.api import STANDIN_URL, settings_with
from tests.pictures import encoded, pattern

ACCOUNT = settings_with().cf_account_id
AUTH = {"Authorization": f"Bearer {STANDIN_TOKEN}"}
KLEIN = "@cf/black-forest-labs/flux-2-klein-4b"
INPAINTING = "@cf/runwayml/stable-diffusion-v1-5-inpainting"


def run(session: requests.Session, model: str, **body: object) -> requests.Response:
    url = f"{STANDIN_URL}/client/v4/accounts/{ACCOUNT}/ai/run/{model}"
    return session.post(url, headers=AUTH, timeout=10, **body)


def parts(**files: bytes) -> dict:
    fields = {"prompt": (None, "a change"), "width": (None, "512"), "height": (None, "512")}
    return {**fields, **{name: (f"{name}.jpg", data, "image/jpeg") for name, data in files.items()}}


def test_flux2_takes_references_under_512_pixels(session: requests.Session) -> None:
    small = encoded(pattern(511, 300), "JPEG")
    assert run(session, KLEIN, files=parts(input_image_0=small, input_image_3=small)).ok
    too_big = run(session, KLEIN, files=parts(input_image_0=encoded(pattern(512, 300))))
    assert too_big.status_code == 400
    assert "smaller than 512x512" in too_big.json()["errors"][0]["message"]


def test_flux2_refuses_a_file_under_any_other_name(session: requests.Session) -> None:
    answer = run(session, KLEIN, files=parts(image=encoded(pattern(64, 64), "JPEG")))
    assert answer.status_code == 400
    assert "not allowed" in answer.json()["errors"][0]["message"]
    answer = run(session, KLEIN, files=parts(input_image_4=encoded(pattern(64, 64), "JPEG")))
    assert answer.status_code == 400


def test_inpainting_needs_its_mask(session: requests.Session) -> None:
    picture = list(encoded(pattern(256, 256)))
    answer = run(session, INPAINTING, json={"prompt": "x", "image": picture})
    assert answer.status_code == 400
    error = answer.json()["errors"][0]
    assert (error["code"], "mask_image" in error["message"]) == (3030, True)
    mask = list(encoded(pattern(256, 256).convert("L")))
    answer = run(session, INPAINTING, json={"prompt": "x", "image": picture, "mask": mask})
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "image/png"


def test_sd_images_are_byte_arrays_not_strings(session: requests.Session) -> None:
    answer = run(session, INPAINTING, json={"prompt": "x", "image": "aGVsbG8=", "mask": [1]})
    assert answer.status_code == 400
