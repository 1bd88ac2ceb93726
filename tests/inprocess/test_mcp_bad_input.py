"""Bad input on /mcp: every malformed body, unknown method or tool, wrong argument, body past
MAX_BODY_BYTES and picture the service may not fetch gets a clear error in JSON-RPC's shape
or the tool's (never a 5xx), and nothing is drawn for it."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable

import pytest
from flask import Flask

from tests.helpers import API_KEY, Standin
from tests.inprocess.mcp_api import Mcp
from tests.mcp_messages import LEGACY, MODERN, call, legacy, modern
from tests.pictures import data_uri, encoded, pattern

AUTH = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}


@pytest.fixture
def mcp(app: Flask) -> Mcp:
    return Mcp(app.test_client())


@pytest.mark.parametrize(
    ("data", "code", "words"),
    [
        (b"", -32700, "Parse error: The request body is empty"),
        (b"{bad", -32700, "Parse error: The request body is not valid JSON"),
        (b"\xff\xfe{}", -32700, "not valid UTF-8"),
        (b"[" * 100_000, -32700, "Parse error"),
        (b'"ping"', -32600, "a JSON object"),
        (b"42", -32600, "a JSON object"),
        (b"null", -32600, "a JSON object"),
        (b"{}", -32600, '"jsonrpc": "2.0"'),
        (b'{"jsonrpc": "2.0", "id": 1}', -32600, "`method`"),
        (b'{"jsonrpc": "2.0", "id": null, "method": "ping"}', -32600, "never null"),
        (b'{"jsonrpc": "2.0", "id": [1], "method": "ping"}', -32600, "`id`"),
        (b'{"jsonrpc": "2.0", "id": 1, "method": ["ping"]}', -32600, "`method`"),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": [1]}', -32602, "`params`"),
        (b"[]", -32600, "at least one"),
        (b"[1, 2]", -32600, "Message 1 of the batch"),
        (b'[{"jsonrpc": "2.0", "id": 1, "method": "ping"}]', None, None),
    ],
)
def test_a_malformed_body_is_a_json_rpc_error(
    mcp: Mcp, standin: Standin, data: bytes, code: int | None, words: str | None
) -> None:
    response = mcp.client.post("/mcp", data=data, headers=AUTH)
    if code is None:  # the control: a good batch
        assert response.status_code == 200
        return
    assert response.status_code == 400
    answer = response.get_json()
    assert answer["jsonrpc"] == "2.0"
    assert answer["error"]["code"] == code
    assert words in answer["error"]["message"]
    assert standin.received() == []


def test_an_error_names_the_request_it_answers_when_it_can(mcp: Mcp) -> None:
    bad = {"jsonrpc": "2.0", "id": "req-7", "method": "tools/call", "params": {"name": 5}}
    assert mcp.error(bad) == (
        400,
        {"code": -32602, "message": "tools/call names its tool in `name`, a string."},
        "req-7",
    )


@pytest.mark.parametrize(
    ("batch", "headers", "words"),
    [
        ([{"jsonrpc": "2.0", "id": 1, "method": "ping"}], {"MCP-Protocol-Version": LEGACY},
         "Batches are 2025-03-26's alone"),
        ([{"jsonrpc": "2.0", "id": 1, "method": "ping"}], {"MCP-Protocol-Version": MODERN},
         "Batches are 2025-03-26's alone"),
        ([{"jsonrpc": "2.0", "id": 1, "method": "ping"}] * 21, {}, "at most 20 messages"),
        ([{"jsonrpc": "2.0", "id": 1, "method": "ping"}, {"id": 2}], {},
         "Message 2 of the batch"),
    ],
)  # fmt: skip
def test_batches_outside_2025_03_26_or_malformed_are_refused_whole(
    mcp: Mcp, batch: list, headers: dict, words: str
) -> None:
    status, error, answered = mcp.error(batch, headers)
    assert (status, error["code"], answered) == (400, -32600, None)
    assert words in error["message"]


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({}, "tools/call names its tool"),
        ({"name": None}, "tools/call names its tool"),
        ({"name": "draw"}, "Unknown tool: draw"),
        ({"name": "x" * 10_000}, "Unknown tool: " + "x" * 100),
        ({"name": "generate_image", "arguments": "a fox"}, "`arguments` must be a JSON object."),
        ({"name": "generate_image", "arguments": ["a fox"]}, "`arguments` must be a JSON object."),
        ({"name": "generate_image", "arguments": 5}, "`arguments` must be a JSON object."),
    ],
)
@pytest.mark.parametrize("era", [MODERN, LEGACY])
def test_a_call_that_breaks_the_protocol_is_an_invalid_params_error(
    mcp: Mcp, standin: Standin, params: dict, words: str, era: str
) -> None:
    body, headers = modern("tools/call", params) if era == MODERN else legacy("tools/call", params)
    status, error, answered = mcp.error(body, headers)
    assert (status, error["code"], answered) == (400, -32602, 1)
    assert error["message"].startswith(words)
    assert standin.received() == []


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        ({"prompt": 42}, "`prompt` must be a string."),
        ({"prompt": ["a", "fox"]}, "`prompt` must be a string."),
        ({"prompt": "a fox", "n": "two"}, "`n` must be a whole number."),
        ({"prompt": "a fox", "n": 1.5}, "`n` must be a whole number."),
        ({"prompt": "a fox", "n": 0}, "`n` must be between 1 and 4."),
        ({"prompt": "a fox", "seed": "7"}, "`seed` must be a whole number."),
        ({"prompt": "a fox", "seed": 2**40}, "`seed` must be between 0 and 4294967295."),
        ({"prompt": "a fox", "size": 1024}, "`size` must be a string."),
        ({"prompt": "a fox", "size": "1024"}, "`size` must be `auto` or WIDTHxHEIGHT"),
        ({"prompt": "a fox", "aspect_ratio": 1.5}, "`aspect_ratio` must be a string."),
        ({"prompt": "a fox", "model": {"name": "x"}}, "`model` must be a string."),
        ({"prompt": "a fox", "output_format": "bmp"}, "`output_format` must be `png`, `jpeg`"),
        ({"prompt": "x" * 100_000}, "The prompt has 100000 characters"),
        ({"prompt": "16:9"}, "The prompt is empty: describe the image."),
    ],
)
def test_wrong_arguments_are_tool_errors_the_model_can_correct(
    mcp: Mcp, standin: Standin, arguments: dict, words: str
) -> None:
    result = mcp.call("generate_image", arguments)
    assert result["isError"] is True
    (text,) = result["content"]
    assert words in text["text"]
    assert standin.received() == []


@pytest.mark.parametrize(
    ("images", "words"),
    [
        (["http://169.254.169.254/latest/meta-data"], "private or local address (169.254.169.254)"),
        (["http://127.0.0.1:22/"], "private or local address (127.0.0.1)"),
        (["http://[::1]/x.png"], "private or local address"),
        (["file:///etc/passwd"], "must be a data: URI or an http(s) URL"),
        (["ftp://example.com/x.png"], "must be a data: URI or an http(s) URL"),
        (["just-a-name.png"], "must be a data: URI or an http(s) URL"),
        (["data:image/png;base64,!!!"], "not valid base64"),
        (["data:image/png;base64,aGVsbG8="], "image"),
    ],
)
def test_pictures_the_service_may_not_fetch_or_read_are_tool_errors(
    mcp: Mcp, standin: Standin, images: list, words: str
) -> None:
    result = mcp.call("edit_image", {"prompt": "make it red", "images": images})
    assert result["isError"] is True
    assert words in result["content"][0]["text"]
    assert standin.received() == []


def test_a_mask_without_a_fetchable_url_is_refused_too(mcp: Mcp, standin: Standin) -> None:
    arguments = {"prompt": "red", "images": [data_uri(encoded(pattern(256, 256)))],
                 "mask": "http://10.0.0.1/mask.png"}  # fmt: skip
    result = mcp.call("edit_image", arguments)
    assert result["isError"] is True
    assert "private or local address (10.0.0.1)" in result["content"][0]["text"]
    assert standin.received() == []


def test_fetching_is_refused_when_the_operator_turned_it_off(
    make_app: Callable[..., Flask],
) -> None:
    mcp = Mcp(make_app(FETCH_IMAGE_URLS="false").test_client())
    result = mcp.call("edit_image", {"prompt": "red", "images": ["https://example.com/a.png"]})
    assert "FETCH_IMAGE_URLS is off" in result["content"][0]["text"]


def test_a_body_past_max_body_bytes_is_a_413_in_json_rpc(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    mcp = Mcp(make_app(MAX_BODY_BYTES="65536").test_client())
    body, headers = call("generate_image", {"prompt": "a fox", "padding": "x" * 100_000})
    status, error, answered = mcp.error(body, headers)
    assert (status, error["code"], answered) == (413, -32600, None)
    assert error["message"] == (
        "The request body is larger than this server takes (MAX_BODY_BYTES, 0.0625 MiB)."
    )
    assert standin.received() == []


def test_a_gzipped_body_is_read_as_any_other(mcp: Mcp) -> None:
    body, headers = modern("tools/list")
    data = gzip.compress(json.dumps(body).encode())
    response = mcp.client.post(
        "/mcp", data=data, headers={**AUTH, **headers, "Content-Encoding": "gzip"}
    )
    assert response.status_code == 200
    unknown = mcp.client.post("/mcp", data=data, headers={**AUTH, "Content-Encoding": "br"})
    assert unknown.status_code == 415
    assert unknown.get_json()["error"]["code"] == -32600
