"""Nobody gets in without a key, and no secret or upstream body leaks into an answer or a log."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import openai
import pytest
import requests

from tests.conftest import (
    GATEWAY_TOKEN,
    OPTIMIZER_KEY,
    STANDIN_TOKEN,
    Service,
    Standin,
    fetch_picture,
    image_url,
)

FOX = [{"role": "user", "content": "a red fox"}]
# Put into upstream error bodies: it must never come back to a client or reach a log line.
MARKER = "UPSTREAM-BODY-" + secrets.token_hex(8)


def test_without_api_key_nobody_generates(
    make_service: Callable[..., Service], standin: Standin
) -> None:
    service = make_service(API_KEY="")
    assert "API_KEY is not set: every generation request will be refused" in service.log()
    for key in ("", "anything", "test-key"):
        with pytest.raises(openai.AuthenticationError) as caught:
            service.client(key=key or "none").chat.completions.create(model="x", messages=FOX)
        assert "no API_KEY configured" in caught.value.message
    response = requests.post(
        f"{service.url}/v1/images/generations", json={"prompt": "a fox"}, timeout=5
    )
    assert response.status_code == 401
    assert standin.received() == []
    # What needs no key still works: health, home page, contract.
    for path in ("/healthz", "/", "/openapi.json"):
        assert requests.get(service.url + path, timeout=5).status_code == 200


def test_every_configured_key_works_and_no_other(
    make_service: Callable[..., Service], standin: Standin
) -> None:
    keys = [secrets.token_urlsafe(24) for _ in range(3)]
    service = make_service(API_KEY=" , ".join(keys))
    for key in keys:
        assert service.client(key=key).models.list().data
    for wrong in (keys[0][:-1], keys[0] + "x", keys[0].upper(), ",".join(keys), "-"):
        with pytest.raises(openai.AuthenticationError):
            service.client(key=wrong).models.list()


def test_no_secret_or_upstream_body_reaches_an_answer_or_a_log(
    make_service: Callable[..., Service], standin: Standin
) -> None:
    api_key = "sk-" + secrets.token_hex(16)
    wrong_key = "sk-wrong-" + secrets.token_hex(16)
    gateway = {"CF_AI_GATEWAY": "gw", "CF_AI_GATEWAY_BASE": f"{standin.url}/v1"}
    service = make_service(
        API_KEY=api_key,
        CF_AI_GATEWAY_TOKEN=GATEWAY_TOKEN,
        PROMPT_OPTIMIZATION="true",
        UPSTREAM_TIMEOUT="1",
        **gateway,
    )
    answers: list[str] = []

    def keep(response: requests.Response) -> None:
        answers.append(str(response.status_code) + str(dict(response.headers)) + response.text)

    def post(path: str, body: dict, key: str = api_key) -> None:
        headers = {"Authorization": f"Bearer {key}"}
        keep(requests.post(f"{service.url}{path}", json=body, headers=headers, timeout=30))

    chat = {"model": "x", "messages": FOX}
    for stream in (False, True):
        post("/v1/chat/completions", {**chat, "stream": stream})
        post("/v1/chat/completions", {**chat, "stream": stream}, key=wrong_key)
    post("/v1/images/generations", {"prompt": "a fox", "response_format": "b64_json"})
    keep(requests.get(f"{service.url}/v1/models", timeout=5))
    upstream_faults = [
        {"kind": "error", "status": 500, "code": 3043, "message": MARKER},
        {"kind": "error", "status": 429, "code": 3040, "message": MARKER},
        {"kind": "error", "status": 429, "code": 3036, "message": MARKER},
        {"kind": "error", "status": 401, "code": 10000, "message": MARKER},
        {"kind": "error", "status": 404, "code": 5007, "message": MARKER},
        {"kind": "success_false", "code": 3043, "message": MARKER},
    ]
    for fault in upstream_faults:
        for stream in (False, True):
            standin.reset()
            standin.fail(*[fault] * 10)
            post("/v1/chat/completions", {**chat, "stream": stream})
    standin.reset()
    standin.fail({"kind": "error", "status": 500}, target="optimizer")
    post("/v1/chat/completions", chat)
    assert sum(MARKER in answer for answer in answers) == 0
    assert any("Image generated" in answer for answer in answers)  # the traffic was real

    texts = [*answers, service.log()]
    for secret in (api_key, wrong_key, STANDIN_TOKEN, OPTIMIZER_KEY, GATEWAY_TOKEN, MARKER):
        leaks = [text for text in texts if secret in text]
        assert leaks == [], f"{secret[:6]}… leaked"
    assert "Traceback" not in service.log()


def test_picture_keys_are_unguessable(client: openai.OpenAI, standin: Standin) -> None:
    keys = set()
    for _ in range(5):
        content = client.chat.completions.create(model="x", messages=FOX).choices[0].message.content
        keys.add(image_url(content).rsplit("/", 1)[1])
    assert len(keys) == 5
    # base64url of 24 random bytes: 192 bits, far past the 128 nobody can guess.
    assert all(len(key) == 32 and key.replace("-", "").replace("_", "").isalnum() for key in keys)


def test_cors_never_allows_credentials(service: Service, standin: Standin) -> None:
    origin = "https://evil.example"
    content = service.client().chat.completions.create(model="x", messages=FOX)
    picture = image_url(content.choices[0].message.content)
    fetch_picture(picture)
    answers = [
        requests.options(
            f"{service.url}/v1/chat/completions",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
            timeout=5,
        ),
        requests.get(f"{service.url}/v1/models", headers={"Origin": origin}, timeout=5),
        requests.get(picture, headers={"Origin": origin, "Cookie": "session=1"}, timeout=5),
        requests.get(f"{service.url}/nowhere", headers={"Origin": origin}, timeout=5),
    ]
    for answer in answers:
        # A wildcard, never the caller's origin echoed back, and never with credentials.
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
        assert "Access-Control-Allow-Credentials" not in answer.headers
        assert "Set-Cookie" not in answer.headers
