"""Routing, keys, CORS, error shapes and the small routes, answered by the app in process."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient

from flux_service.web.service_views import OPENAPI_PATH
from tests.helpers import API_KEY, AUTH, FOX, ONE_ACCOUNT, Standin, image_url
from tests.inprocess.api import Api


def test_models_are_listed_with_created_and_owner(client: FlaskClient) -> None:
    models = client.get("/v1/models", headers=AUTH).get_json()
    assert models["object"] == "list"
    assert [model["id"] for model in models["data"]] == [
        "@cf/black-forest-labs/flux-1-schnell",
        "@cf/black-forest-labs/flux-2-klein-4b",
        "@cf/black-forest-labs/flux-2-klein-9b",
    ]
    for model in models["data"]:
        assert model["object"] == "model"
        assert model["owned_by"] == "black-forest-labs"
        assert isinstance(model["created"], int)
        assert model["created"] > 1_700_000_000
    one = client.get("/v1/models/flux-2-klein-4b", headers=AUTH).get_json()
    assert one["id"] == "@cf/black-forest-labs/flux-2-klein-4b"
    missing = client.get("/v1/models/dall-e-3", headers=AUTH)
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "model_not_found"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/chat/completions"),
        ("POST", "/images/generations"),
        ("GET", "/models"),
        ("GET", "/models/flux-1-schnell"),
    ],
)
def test_every_api_route_answers_without_v1(client: FlaskClient, method: str, path: str) -> None:
    body = {"messages": FOX} if "chat" in path else {"prompt": "a fox", "size": "256x256"}
    response = client.open(
        path, method=method, json=body if method == "POST" else None, headers=AUTH
    )
    assert response.status_code == 200, response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/images/generations"),
        ("GET", "/v1/models"),
        ("GET", "/v1/models/flux-1-schnell"),
    ],
)
def test_a_missing_key_is_refused_and_nothing_is_drawn(
    client: FlaskClient, standin: Standin, method: str, path: str
) -> None:
    response = client.open(path, method=method, json={"messages": FOX, "prompt": "a fox"})
    assert response.status_code == 401
    error = response.get_json()["error"]
    assert error["message"].startswith("Missing API key")
    assert error["code"] == "missing_api_key"
    assert standin.received() == []


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {API_KEY}"}, {"X-Api-Key": "x"}],
)
def test_a_wrong_key_is_refused(client: FlaskClient, standin: Standin, headers: dict) -> None:
    response = client.post("/v1/chat/completions", json={"messages": FOX}, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["type"] == "invalid_request_error"
    assert standin.received() == []


def test_cherry_studios_key_header_is_accepted(client: FlaskClient) -> None:
    assert client.get("/v1/models", headers={"X-Api-Key": API_KEY}).status_code == 200


def test_without_api_key_nobody_generates(make_app: Callable[..., Flask], standin: Standin) -> None:
    client = make_app(API_KEY="").test_client()
    for key in ("", "anything", API_KEY):
        response = client.post(
            "/v1/chat/completions",
            json={"messages": FOX},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert response.status_code == 401
        assert "no API_KEY configured" in response.get_json()["error"]["message"]
    assert standin.received() == []
    # What needs no key still works: health, home page, contract.
    for path in ("/healthz", "/", "/openapi.json"):
        assert client.get(path).status_code == 200


def test_without_api_key_the_log_says_nobody_can_generate(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    service_log = logging.getLogger("flux_service")  # which keeps its lines from the root's
    service_log.addHandler(caplog.handler)
    try:
        make_app(API_KEY="")
    finally:
        service_log.removeHandler(caplog.handler)
    assert "API_KEY is not set: every generation request will be refused" in caplog.text


def test_every_configured_key_works_and_no_other(make_app: Callable[..., Flask]) -> None:
    keys = ["key-one-aaaaaaaa", "key-two-bbbbbbbb", "key-three-cccccc"]
    client = make_app(API_KEY=" , ".join(keys)).test_client()
    for key in keys:
        assert (
            client.get("/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        )
    for wrong in (keys[0][:-1], keys[0] + "x", keys[0].upper(), ",".join(keys), "-"):
        response = client.get("/v1/models", headers={"Authorization": f"Bearer {wrong}"})
        assert response.status_code == 401, wrong


def test_unknown_routes_and_methods_answer_in_the_openai_shape(client: FlaskClient) -> None:
    missing = client.get("/v1/nothing-here", headers=AUTH)
    assert missing.status_code == 404
    assert missing.get_json()["error"] == {
        "message": "This service does not offer GET /v1/nothing-here.",
        "type": "invalid_request_error",
        "param": None,
        "code": "unknown_route",
    }
    wrong = client.get("/v1/chat/completions", headers=AUTH)
    assert wrong.status_code == 405
    assert "POST" in wrong.headers["Allow"]
    assert wrong.get_json()["error"]["code"] == "method_not_allowed"


def test_preflight_needs_no_key_and_allows_what_the_browser_asks(client: FlaskClient) -> None:
    asked = "authorization, content-type, x-stainless-os, x-stainless-retry-count"
    for path in ("/v1/chat/completions", "/v1/models", "/anything", "/image/x"):
        response = client.options(
            path,
            headers={
                "Origin": "https://chat.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": asked,
            },
        )
        assert response.status_code == 204
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        allowed = {
            h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")
        }
        assert allowed >= {h.strip() for h in asked.split(",")}
        assert "POST" in response.headers["Access-Control-Allow-Methods"]
        assert "Access-Control-Allow-Credentials" not in response.headers


def test_cors_is_on_every_answer_and_never_allows_credentials(api: Api) -> None:
    origin = {"Origin": "https://evil.example", "Cookie": "session=1"}
    url = image_url(api.answer("a fox"))
    answers = [
        api.client.get("/v1/models", headers={**origin, **AUTH}),
        api.client.get("/v1/models", headers=origin),
        api.client.get(url, headers=origin),
        api.client.get("/image/unknown-key-0000000000", headers=origin),
        api.client.post(url, headers=origin),
        api.client.get("/nowhere", headers=origin),
    ]
    for answer in answers:
        # A wildcard, never the caller's origin echoed back, and never with credentials.
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
        assert "Access-Control-Allow-Credentials" not in answer.headers
        assert "Set-Cookie" not in answer.headers
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert "x-should-retry" in answer.headers["Access-Control-Expose-Headers"]


def test_openapi_json_is_the_yaml_contract(client: FlaskClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.get_json() == yaml.safe_load(OPENAPI_PATH.read_text())
    assert response.get_json()["openapi"] == "3.1.0"


def test_health_names_the_store(client: FlaskClient) -> None:
    response = client.get("/healthz")
    health = {"status": "ok", "store": "memory", "accounts": ONE_ACCOUNT}
    assert (response.status_code, response.get_json()) == (200, health)


def test_the_home_page_is_up_under_a_strict_policy(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "The service is up" in page
    assert "flux-1-schnell" in page
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none';" in policy
    assert "script-src 'self';" in policy
    assert response.headers["Referrer-Policy"] == "no-referrer"
