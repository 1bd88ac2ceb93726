"""Serving stored images: their bytes and type, caching, ETags and ranges, HEAD, odd keys, links
behind proxies."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from flask import Flask

from tests.helpers import AUTH, FOX, decode, image_url
from tests.inprocess.api import Api


def test_an_image_is_served_with_its_real_type_and_never_cached_longer_than_it_lives(
    make_app: Callable[..., Flask],
) -> None:
    api = Api(make_app(IMAGE_EXPIRATION="90").test_client())
    url = image_url(api.answer("a red fox"))
    response = api.client.get(urlsplit(url).path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    assert decode(response.data).format == "JPEG"
    assert response.headers["Cache-Control"] in ("public, max-age=89", "public, max-age=90")
    assert response.headers["Content-Disposition"].startswith('inline; filename="flux-')


def test_images_answer_head_and_refuse_other_methods(api: Api) -> None:
    path = urlsplit(image_url(api.answer("a fox"))).path
    head = api.client.head(path)
    assert head.status_code == 200
    assert head.data == b""
    assert int(head.headers["Content-Length"]) == len(api.client.get(path).data)
    refused = api.client.post(path)
    assert refused.status_code == 405
    assert "GET" in refused.headers["Allow"]
    assert refused.get_json()["error"]["code"] == "method_not_allowed"


def test_unknown_and_odd_image_keys_are_404(api: Api) -> None:
    for key in ("nope", "..%2F..%2Fetc%2Fpasswd", "a" * 300, "x" * 32):
        response = api.client.get(f"/image/{key}")
        assert response.status_code == 404
        error = response.get_json()["error"]
        assert error["code"] == "image_not_found"
        # Expired or never stored, the answer is the same (the store's own expiry is unit-tested).
        assert "does not exist or has expired" in error["message"]


def test_links_follow_the_proxy_headers(api: Api) -> None:
    response = api.client.post(
        "/v1/chat/completions",
        json={"messages": FOX},
        headers={**AUTH, "X-Forwarded-Proto": "https", "X-Forwarded-Host": "flux.example.com"},
    )
    url = image_url(response.get_json()["choices"][0]["message"]["content"])
    assert url.startswith("https://flux.example.com/image/")
    assert api.client.get(urlsplit(url).path).status_code == 200


def test_public_base_url_wins(make_app: Callable[..., Flask]) -> None:
    api = Api(make_app(PUBLIC_BASE_URL="https://images.example.org/flux").test_client())
    assert image_url(api.answer("a fox")).startswith("https://images.example.org/flux/image/")


def test_image_keys_are_fresh_and_unguessable(api: Api) -> None:
    keys = {image_url(api.answer("a fox")).rsplit("/", 1)[1] for _ in range(5)}
    assert len(keys) == 5
    # base64url of 24 random bytes: 192 bits, far past the 128 nobody can guess.
    assert all(len(key) == 32 and key.replace("-", "").replace("_", "").isalnum() for key in keys)


def test_an_image_has_a_strong_etag_and_takes_ranges(api: Api) -> None:
    path = urlsplit(image_url(api.answer("a fox"))).path
    response = api.client.get(path)
    assert response.headers["ETag"] == f'"{path.rsplit("/", 1)[1]}"'
    assert response.headers["Accept-Ranges"] == "bytes"
    assert api.client.head(path).headers["ETag"] == response.headers["ETag"]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_if_none_match_is_a_304_without_a_body(api: Api, method: str) -> None:
    path = urlsplit(image_url(api.answer("a fox"))).path
    etag = api.client.get(path).headers["ETag"]
    for header in (etag, f"W/{etag}", f'"old", {etag}', "*"):
        response = api.client.open(path, method=method, headers={"If-None-Match": header})
        assert response.status_code == 304, header
        assert response.data == b""
        assert response.headers["ETag"] == etag
        assert response.headers["Cache-Control"].startswith("public, max-age=")
        assert "Content-Type" not in response.headers
    other = api.client.open(path, method=method, headers={"If-None-Match": '"old"'})
    assert other.status_code == 200


def test_a_range_is_a_206_of_exactly_those_bytes(api: Api) -> None:
    path = urlsplit(image_url(api.answer("a fox"))).path
    whole = api.client.get(path).data
    size = len(whole)
    for asked, start, stop in (
        ("bytes=0-99", 0, 100),
        ("bytes=100-", 100, size),
        ("bytes=-50", size - 50, size),
        (f"bytes=10-{size * 2}", 10, size),
    ):
        response = api.client.get(path, headers={"Range": asked})
        assert response.status_code == 206, asked
        assert response.data == whole[start:stop]
        assert response.headers["Content-Range"] == f"bytes {start}-{stop - 1}/{size}"
        assert response.headers["Content-Length"] == str(stop - start)
        assert response.headers["Content-Type"] == "image/jpeg"
    # Resuming a download: the range holds under the picture's own tag, not another's.
    etag = api.client.get(path).headers["ETag"]
    assert api.client.get(path, headers={"Range": "bytes=5-", "If-Range": etag}).status_code == 206
    stale = api.client.get(path, headers={"Range": "bytes=5-", "If-Range": '"old"'})
    assert (stale.status_code, stale.data) == (200, whole)


def test_a_range_past_the_end_is_a_416_with_the_length(api: Api) -> None:
    path = urlsplit(image_url(api.answer("a fox"))).path
    size = len(api.client.get(path).data)
    response = api.client.get(path, headers={"Range": f"bytes={size}-"})
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{size}"
    error = response.get_json()["error"]
    assert error["code"] == "range_not_satisfiable"
    assert f"{size} bytes long" in error["message"]


def test_several_ranges_and_a_head_get_the_whole_picture(api: Api) -> None:
    path = urlsplit(image_url(api.answer("a fox"))).path
    whole = api.client.get(path).data
    several = api.client.get(path, headers={"Range": "bytes=0-9,20-29"})
    assert (several.status_code, several.data) == (200, whole)
    head = api.client.head(path, headers={"Range": "bytes=0-9"})
    assert head.status_code == 200  # ranges are defined for GET only (RFC 9110 §14.2)
    assert head.headers["Content-Length"] == str(len(whole))
