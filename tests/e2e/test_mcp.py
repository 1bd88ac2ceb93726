"""/mcp through gunicorn, over real sockets: bad input of every kind is a clear JSON-RPC or
tool error and never a 5xx, a 100 MB `arguments` object is refused before it is read, the
fetcher's guard holds for edit_image's URLs, a picture on a public address is edited, and
the worker serves the next call."""

from __future__ import annotations

from collections.abc import Callable

import requests

from tests.e2e.service import Service
from tests.helpers import AUTH, Standin, decode
from tests.image_host import NETWORK, PHOTO, ImageHost
from tests.mcp_messages import MODERN, call, initialize, legacy, modern
from tests.pictures import difference, recorded, thumbnail


def post(
    service: Service, body: object, headers: dict | None = None, **options
) -> requests.Response:
    return requests.post(
        f"{service.url}/mcp", json=body, headers={**AUTH, **(headers or {})}, timeout=60, **options
    )


def tool(service: Service, name: str, arguments: dict) -> dict:
    response = post(service, *call(name, arguments))
    assert response.status_code == 200, response.text
    return response.json()["result"]


def test_a_100_mb_arguments_object_is_refused_before_it_is_read(
    service: Service, standin: Standin
) -> None:
    body, headers = call("generate_image", {"prompt": "a fox", "notes": "x" * 100_000_000})
    response = post(service, body, headers)
    assert response.status_code == 413
    assert response.json() == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {
            "code": -32600,
            "message": (
                "The request body is larger than this server takes (MAX_BODY_BYTES, 50 MiB)."
            ),
        },
    }
    assert standin.received() == []
    assert "isError" not in tool(service, "generate_image", {"prompt": "a fox"})


def test_a_chunked_body_past_the_limit_is_a_413_in_json_rpc(service: Service) -> None:
    chunks = (b" " * 65536 for _ in range(51 * 16))
    response = requests.post(f"{service.url}/mcp", data=chunks, headers=AUTH, timeout=60)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == -32600


def test_no_bad_input_gets_a_server_error(service: Service) -> None:
    cases: list[tuple[object, dict]] = [
        ("{not json", {}),
        ([], {}),
        ([1, "two", None], {}),
        ([{"jsonrpc": "2.0", "id": 1, "method": "ping"}] * 3, {}),
        ([{"jsonrpc": "2.0", "id": 1, "method": "ping"}], {"MCP-Protocol-Version": MODERN}),
        ({"jsonrpc": "2.0", "id": {"a": 1}, "method": "tools/list"}, {}),
        ({"jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": {"uri": "x"}}, {}),
        (legacy("tools/call", {"name": "no_such_tool"})[0], {}),
        (legacy("tools/call", {"name": "generate_image", "arguments": [1]})[0], {}),
        modern("tools/call", {"name": "generate_image", "arguments": {"prompt": {"x": 1}}}),
        modern("tools/call", {"name": "edit_image", "arguments": {"prompt": "p", "images": 7}}),
        modern("tools/call", {"name": "generate_image", "arguments": {"prompt": "p", "n": 1e300}}),
        modern("tools/call", {"name": "list_models", "arguments": None}),
        (initialize("1999-01-01"), {"MCP-Protocol-Version": "1999-01-01"}),
        ({"jsonrpc": "2.0", "method": "notifications/initialized"}, {"Mcp-Session-Id": "x"}),
    ]
    for body, headers in cases:
        if isinstance(body, str):
            response = requests.post(
                f"{service.url}/mcp", data=body, headers={**AUTH, **headers}, timeout=60
            )
        else:
            response = post(service, body, headers)
        assert response.status_code < 500, (body, response.text)
        if response.status_code != 202:
            answers = response.json()
            for answer in answers if isinstance(answers, list) else [answers]:
                assert answer["jsonrpc"] == "2.0"
    assert "Traceback" not in service.log()


def test_edit_image_fetches_a_public_picture_and_refuses_private_ones(
    make_service: Callable[..., Service], standin: Standin, image_host: ImageHost
) -> None:
    service = make_service(FETCH_PRIVATE_NETWORKS=NETWORK)
    port = service.url.rsplit(":", 1)[1]
    for url, words in [
        (f"http://127.0.0.1:{port}/healthz", "private or local address (127.0.0.1)"),
        ("http://169.254.169.254/latest/meta-data", "private or local address (169.254.169.254)"),
        (f"{image_host.url}/to-loopback", "private or local address (127.0.0.1)"),
        (f"{image_host.url}/page", "text/html, not an image"),
    ]:
        result = tool(service, "edit_image", {"prompt": "add snow", "images": [url]})
        assert result["isError"] is True
        assert words in result["content"][0]["text"], url
    assert standin.received() == []
    result = tool(
        service, "edit_image", {"prompt": "add snow", "images": [f"{image_host.url}/photo.png"]}
    )
    assert "isError" not in result
    (sent,) = standin.received()
    assert difference(recorded(sent["images"][0]), thumbnail(PHOTO)) < 4
    image = result["structuredContent"]["images"][0]
    assert (image["width"], image["height"]) == (1024, 683)  # the photo's own 3:2
    assert decode(requests.get(image["url"], timeout=10).content).size == (1024, 683)
    assert result["structuredContent"]["worked_from"][0]["origin"] == "fetched from its URL"


def test_get_opens_no_stream_and_the_worker_keeps_serving(service: Service) -> None:
    response = requests.get(
        f"{service.url}/mcp", headers={**AUTH, "Accept": "text/event-stream"}, timeout=10
    )
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    listed = post(service, *modern("tools/list"))
    assert listed.status_code == 200
    assert "Mcp-Session-Id" not in listed.headers
