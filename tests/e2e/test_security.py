"""No secret or upstream body leaks into an answer or a log line of the running service."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import requests

from tests.e2e.service import Service
from tests.helpers import FOX, GATEWAY_TOKEN, OPTIMIZER_KEY, STANDIN_TOKEN, Standin

# Put into upstream error bodies: it must never come back to a client or reach a log line.
MARKER = "UPSTREAM-BODY-" + secrets.token_hex(8)


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
        {"kind": "error", "status": 401, "code": 10000, "message": MARKER},
        {"kind": "error", "status": 404, "code": 5007, "message": MARKER},
        {"kind": "success_false", "code": 3043, "message": MARKER},
        # Last: the account then rests, and nothing more reaches the stand-in.
        {"kind": "error", "status": 429, "code": 3036, "message": MARKER},
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
