"""The AUTOMATIC1111 door through gunicorn, as its clients reach it: HTTP Basic auth, real
pictures, and the checkpoint a key chose, the same on every worker and instance that share
a Redis."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import requests

from tests.e2e.service import Service
from tests.helpers import API_KEY, Standin, decode
from tests.servers import RedisServer

KLEIN = "@cf/black-forest-labs/flux-2-klein-4b"
BASIC = ("sillytavern", API_KEY)


def test_txt2img_draws_through_gunicorn_with_basic_auth(service: Service, standin: Standin) -> None:
    body = {"prompt": "a red fox", "width": 640, "height": 384, "batch_size": 2, "auth": "u:p"}
    response = requests.post(f"{service.url}/sdapi/v1/txt2img", json=body, auth=BASIC, timeout=30)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert [decode(image).size for image in answer["images"]] == [(640, 384)] * 2
    assert json.loads(answer["info"])["sd_model_name"] == "flux-1-schnell"
    assert "auth" not in answer["parameters"]
    assert len(standin.received()) == 2


def test_without_the_key_the_401_asks_for_basic_auth(service: Service) -> None:
    response = requests.get(f"{service.url}/sdapi/v1/options", auth=("user", ""), timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert response.json()["error"] == "AuthenticationError"


def test_a_keys_checkpoint_holds_on_every_worker_and_instance(
    make_service: Callable[..., Service], redis_store: RedisServer, standin: Standin
) -> None:
    one, other = (
        make_service(label, IMAGE_STORE=redis_store.url, WEB_CONCURRENCY="2")
        for label in ("a1111-one", "a1111-other")
    )
    chosen = requests.post(
        f"{one.url}/sdapi/v1/options",
        json={"sd_model_checkpoint": "flux-2-klein-4b"},
        auth=BASIC,
        timeout=10,
    )
    assert chosen.status_code == 200, chosen.text
    for _ in range(4):  # each request may land on either worker of the other instance
        options = requests.get(f"{other.url}/sdapi/v1/options", auth=BASIC, timeout=10).json()
        assert options["sd_model_checkpoint"].startswith("flux-2-klein-4b [")
    body = {"prompt": "a red fox", "seed": 3, "width": 512, "height": 512}
    answer = requests.post(f"{other.url}/sdapi/v1/txt2img", json=body, auth=BASIC, timeout=30)
    assert answer.status_code == 200, answer.text
    assert [entry["model"] for entry in standin.received()] == [KLEIN]
    # Redis holds the choice under a digest of the key, never the key.
    (name,) = redis_store.client().keys("flux:checkpoint:*")
    assert API_KEY.encode() not in name
    assert redis_store.client().get(name) == KLEIN.encode()
    assert base64.b64encode(API_KEY.encode()) not in name
