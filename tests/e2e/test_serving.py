"""Serving pictures: expiry and caching, CORS, and absolute URLs behind a proxy."""

from __future__ import annotations

import time
from collections.abc import Callable

import openai
import requests

from tests.conftest import API_KEY, Service, Standin, fetch_picture, image_url

FOX = [{"role": "user", "content": "a red fox"}]


def draw(client: openai.OpenAI) -> str:
    return image_url(
        client.chat.completions.create(model="x", messages=FOX).choices[0].message.content
    )


def test_pictures_expire_and_are_never_cached_longer_than_they_live(
    make_service: Callable[..., Service], standin: Standin
) -> None:
    url = draw(make_service(IMAGE_EXPIRATION="2").client())
    response, _ = fetch_picture(url)
    assert response.headers["Cache-Control"] in ("public, max-age=1", "public, max-age=2")
    time.sleep(2.2)
    gone = requests.get(url, timeout=5)
    assert gone.status_code == 404
    assert gone.headers["Content-Type"] == "application/json"
    assert "expired" in gone.json()["error"]["message"]


def test_unknown_and_odd_image_keys_are_404(service: Service) -> None:
    for key in ("nope", "..%2F..%2Fetc%2Fpasswd", "a" * 300):
        response = requests.get(f"{service.url}/image/{key}", timeout=5)
        assert response.status_code == 404
        assert response.json()["error"]["code"] in ("image_not_found", "not_found")


def test_preflight_needs_no_key_and_allows_what_the_browser_asks(service: Service) -> None:
    asked = "authorization, content-type, x-stainless-os, x-stainless-retry-count"
    for path in ("/v1/chat/completions", "/v1/models", "/anything"):
        response = requests.options(
            service.url + path,
            headers={
                "Origin": "https://chat.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": asked,
            },
            timeout=5,
        )
        assert response.status_code == 204
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        allowed = {
            h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")
        }
        assert allowed >= {h.strip() for h in asked.split(",")}
        assert "POST" in response.headers["Access-Control-Allow-Methods"]
        assert "Access-Control-Allow-Credentials" not in response.headers


def test_answers_and_errors_carry_cors_headers(service: Service, standin: Standin) -> None:
    origin = {"Origin": "https://chat.example"}
    ok = requests.get(
        f"{service.url}/v1/models",
        headers={**origin, "Authorization": f"Bearer {API_KEY}"},
        timeout=5,
    )
    refused = requests.get(f"{service.url}/v1/models", headers=origin, timeout=5)
    for response in (ok, refused):
        assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert refused.status_code == 401


def test_urls_follow_the_proxy_headers(service: Service, standin: Standin) -> None:
    response = requests.post(
        f"{service.url}/v1/chat/completions",
        json={"messages": FOX},
        headers={
            "Authorization": f"Bearer {API_KEY}",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "flux.example.com",
        },
        timeout=10,
    )
    url = image_url(response.json()["choices"][0]["message"]["content"])
    assert url.startswith("https://flux.example.com/image/")
    # The same picture is really there, under the host we can reach.
    fetch_picture(url.replace("https://flux.example.com", service.url))


def test_public_base_url_wins(make_service: Callable[..., Service], standin: Standin) -> None:
    service = make_service(PUBLIC_BASE_URL="https://images.example.org/flux")
    url = draw(service.client())
    assert url.startswith("https://images.example.org/flux/image/")


def test_pictures_answer_head_and_refuse_other_methods(service: Service, standin: Standin) -> None:
    url = draw(service.client())
    head = requests.head(url, timeout=5)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["Content-Length"]) == len(requests.get(url, timeout=5).content)
    refused = requests.post(url, timeout=5)
    assert refused.status_code == 405
    assert "GET" in refused.headers["Allow"]
    assert refused.json()["error"]["code"] == "method_not_allowed"
    assert refused.headers["Access-Control-Allow-Origin"] == "*"
