"""Bodies sent with Content-Encoding: gzip and deflate decode for chat, images and edits alike,
within MAX_BODY_BYTES and MAX_BODY_MEMORY as decoded; other codings are a 415."""

from __future__ import annotations

import gzip
import io
import json
import tracemalloc
import zlib
from collections.abc import Callable

import pytest
from flask import Flask
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import TestResponse, encode_multipart

from tests.helpers import AUTH, FOX, Standin, gzip_bomb, image_url
from tests.inprocess.api import Api
from tests.pictures import difference, encoded, pattern, recorded, thumbnail

MIB = 1024 * 1024
CHAT = json.dumps({"messages": [{"role": "user", "content": "a red fox in deep snow"}]}).encode()


def post(api: Api, path: str, data: bytes, coding: str, content_type: str) -> TestResponse:
    headers = {**AUTH, "Content-Type": content_type, "Content-Encoding": coding}
    return api.client.post(path, data=data, headers=headers)


def post_json(api: Api, path: str, data: bytes, coding: str = "gzip") -> TestResponse:
    return post(api, path, data, coding, "application/json")


def refusal(response: TestResponse, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/json"
    error = response.get_json()["error"]
    assert error["type"] == "invalid_request_error"
    return error


@pytest.mark.parametrize(
    ("coding", "compress"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("identity", bytes),
    ],
)
def test_a_compressed_chat_draws_its_prompt(
    api: Api, standin: Standin, coding: str, compress: Callable[[bytes], bytes]
) -> None:
    response = post_json(api, "/v1/chat/completions", compress(CHAT), coding)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert api.image(image_url(response.get_json()["choices"][0]["message"]["content"]))
    assert [entry["inputs"]["prompt"] for entry in standin.received()] == ["a red fox in deep snow"]


def test_a_compressed_images_request_gets_its_size(api: Api, standin: Standin) -> None:
    fields = {"prompt": "a lighthouse", "size": "512x512", "response_format": "url"}
    body = zlib.compress(json.dumps(fields).encode())
    response = post_json(api, "/v1/images/generations", body, "deflate")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert api.image(response.get_json()["data"][0]["url"]).size == (512, 512)
    assert standin.received()[0]["inputs"]["prompt"] == "a lighthouse"


def test_a_gzipped_upload_reaches_the_model_as_sent(api: Api, standin: Standin) -> None:
    photo = pattern(600, 400)
    fields = MultiDict({"prompt": "add a moon", "size": "512x512"})
    fields.add("image", FileStorage(io.BytesIO(encoded(photo)), "photo.png"))
    boundary, data = encode_multipart(fields)
    content_type = f"multipart/form-data; boundary={boundary}"
    response = post(api, "/v1/images/edits", gzip.compress(data), "gzip", content_type)
    assert response.status_code == 200, response.get_data(as_text=True)
    (sent,) = standin.received()
    assert sent["inputs"]["prompt"] == "add a moon"
    (received,) = sent["images"]
    assert difference(recorded(received), thumbnail(photo)) < 4


def test_a_zip_bomb_is_a_413_and_never_decoded_past_the_limit(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    app = make_app(MAX_BODY_BYTES=str(MIB))
    api = Api(app.test_client())
    bomb = gzip_bomb(64)  # 64 MiB of zeros in 66 KB
    tracemalloc.start()
    try:
        response = post_json(api, "/v1/chat/completions", bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    error = refusal(response, 413)
    assert error["code"] == "request_too_large"
    assert error["message"] == (
        "The request body, decoded, is larger than this server takes (MAX_BODY_BYTES, 1 MiB)."
    )
    assert peak < 6 * MIB  # the limit, the bomb itself and the app; never its 64 MiB
    assert standin.received() == []
    response.close()
    assert app.extensions["flux"].bodies.taken == 0


def test_decoded_bodies_take_max_body_memory(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    app = make_app(MAX_BODY_MEMORY=str(MIB), GENERATION_WAIT="0.2")
    api = Api(app.test_client())
    padded = gzip.compress(CHAT + b" " * 600_000)  # 600 KB once decoded, 1 KB as sent
    bodies = app.extensions["flux"].bodies
    assert bodies.take(900 * 1024, 0)  # others' bodies, still being read
    refused = post_json(api, "/v1/chat/completions", padded)
    assert refused.status_code == 503
    assert "request bodies" in refused.get_json()["error"]["message"]
    assert standin.received() == []
    bodies.give_back(900 * 1024)
    answered = post_json(api, "/v1/chat/completions", padded)
    assert answered.status_code == 200, answered.get_data(as_text=True)
    answered.close()
    assert bodies.taken == 0


@pytest.mark.parametrize("coding", ["br", "zstd", "compress", "snappy", "gzip, gzip"])
def test_other_codings_are_a_415_that_names_them(api: Api, standin: Standin, coding: str) -> None:
    error = refusal(post_json(api, "/v1/chat/completions", CHAT, coding), 415)
    assert error["code"] == "unsupported_content_encoding"
    assert coding.split(", ")[-1] in error["message"]
    assert "gzip or deflate" in error["message"]
    assert standin.received() == []


def test_an_edit_in_another_coding_is_a_415_too(api: Api, standin: Standin) -> None:
    response = post(api, "/v1/images/edits", b"--x--", "br", "multipart/form-data; boundary=x")
    assert "not br" in refusal(response, 415)["message"]
    assert standin.received() == []


@pytest.mark.parametrize(
    "data", [b"plain JSON, not gzip", gzip.compress(CHAT)[:-12]], ids=["not-gzip", "cut-short"]
)
def test_a_corrupt_gzip_body_is_a_400_saying_so(api: Api, standin: Standin, data: bytes) -> None:
    error = refusal(post_json(api, "/v1/chat/completions", data), 400)
    assert "not valid gzip (Content-Encoding: gzip)" in error["message"]
    assert error["code"] == "invalid_content_encoding"
    assert standin.received() == []


def test_a_plain_request_is_untouched(api: Api) -> None:
    assert api.post("/v1/chat/completions", {"messages": FOX}).status_code == 200
