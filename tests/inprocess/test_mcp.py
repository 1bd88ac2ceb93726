"""The MCP door's transport and protocol: a legacy client's handshake and a modern client's
requests, each answer checked against its revision's schema; no session and no stream; the
key, the Origin check, and the request log and metrics that count /mcp as any route."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from tests.helpers import API_KEY
from tests.inprocess.mcp_api import Mcp
from tests.mcp_messages import LEGACY, META, MODERN, call, initialize, legacy, modern
from tests.mcp_schemas import check, example


@pytest.fixture
def mcp(app: Flask) -> Mcp:
    return Mcp(app.test_client())


@pytest.mark.parametrize("version", ["2025-03-26", "2025-06-18", "2025-11-25"])
def test_a_legacy_client_initializes_and_lists_the_tools(mcp: Mcp, version: str) -> None:
    response = mcp.post(initialize(version))
    assert response.status_code == 200
    assert "Mcp-Session-Id" not in response.headers  # no session: no GET stream, no DELETE
    result = response.get_json()["result"]
    check(version, "InitializeResult", result)
    assert result["protocolVersion"] == version
    assert result["serverInfo"]["name"] == "flux-api"
    assert "generate_image draws from a prompt" in result["instructions"]
    done = mcp.post({"jsonrpc": "2.0", "method": "notifications/initialized"}, {
        "MCP-Protocol-Version": version})  # fmt: skip
    assert done.status_code == 202
    assert done.data == b""
    assert "Content-Type" not in done.headers
    assert mcp.result(*legacy("ping", version=version), revision=version) == {}
    listed = mcp.result(*legacy("tools/list", version=version), revision=version)
    check(version, "ListToolsResult", listed)
    assert [tool["name"] for tool in listed["tools"]] == [
        "generate_image",
        "edit_image",
        "list_models",
    ]


def test_initialize_offers_the_newest_legacy_version_for_one_it_lacks(mcp: Mcp) -> None:
    result = mcp.post(initialize("2024-11-05")).get_json()["result"]
    assert result["protocolVersion"] == "2025-11-25"


def test_a_request_without_the_version_header_speaks_2025_03_26(mcp: Mcp) -> None:
    tools = mcp.result(*legacy("tools/list", version=None), revision="2025-03-26")["tools"]
    assert all("outputSchema" not in tool for tool in tools)


@pytest.mark.parametrize(
    "path",
    ["DiscoverRequest/server-discover-request.json", "ListToolsRequest/list-tools-request.json"],
)
def test_the_specs_example_requests_are_answered(mcp: Mcp, path: str) -> None:
    body = example(path)
    headers = {"MCP-Protocol-Version": MODERN, "Mcp-Method": body["method"]}
    result = mcp.result(body, headers)
    assert result["resultType"] == "complete"
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "flux-api"
    assert result["cacheScope"] == "public"
    assert result["ttlMs"] > 0
    if body["method"] == "server/discover":
        check(MODERN, "DiscoverResult", result)
        assert result["supportedVersions"] == [MODERN]
        assert result["capabilities"] == {"tools": {}}
    else:
        check(MODERN, "ListToolsResult", result)


def test_the_specs_example_call_of_an_unknown_tool_is_its_protocol_error(mcp: Mcp) -> None:
    body = example("CallToolRequest/call-tool-request.json")
    headers = {
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": "tools/call",
        "Mcp-Name": "get_weather",
    }
    status, error, answered = mcp.error(body, headers)
    assert (status, error["code"], answered) == (400, -32602, "call-tool-example")
    assert error["message"] == "Unknown tool: get_weather"  # as the spec's example words it


@pytest.mark.parametrize(
    ("headers", "code", "words"),
    [
        ({}, -32020, "MCP-Protocol-Version header does not match"),
        ({"MCP-Protocol-Version": MODERN}, -32020, "Mcp-Method"),
        ({"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call"}, -32020, "Mcp-Method"),
        ({"MCP-Protocol-Version": "2099-01-01", "Mcp-Method": "tools/list"}, -32020, "Version"),
    ],
)
def test_modern_headers_that_disagree_with_the_body_are_refused(
    mcp: Mcp, headers: dict, code: int, words: str
) -> None:
    body, _ = modern("tools/list")
    status, error, answered = mcp.error(body, headers)
    assert (status, error["code"], answered) == (400, code, 1)
    assert words in error["message"]


@pytest.mark.parametrize("name", ["MCP-Protocol-Version", "Mcp-Method", "Mcp-Name"])
def test_a_modern_header_sent_twice_is_refused(mcp: Mcp, name: str) -> None:
    body, headers = call("list_models", {})
    sent = [("Authorization", f"Bearer {API_KEY}"), *headers.items(), (name, headers[name])]
    response = mcp.client.post("/mcp", json=body, headers=sent)
    error = response.get_json()["error"]
    assert (response.status_code, error["code"]) == (400, -32020)
    assert f"the {name} header does not match" in error["message"]


def test_an_unsupported_modern_version_names_the_supported_one(mcp: Mcp) -> None:
    body, headers = modern("tools/list")
    body["params"]["_meta"] = {**META, "io.modelcontextprotocol/protocolVersion": "2099-01-01"}
    status, error, _ = mcp.error(body, {**headers, "MCP-Protocol-Version": "2099-01-01"})
    assert status == 400
    assert error == {
        "code": -32022,
        "message": "Unsupported protocol version",
        "data": {"supported": [MODERN], "requested": "2099-01-01"},
    }


def test_a_modern_header_without_meta_is_an_invalid_request(mcp: Mcp) -> None:
    body, headers = legacy("tools/list", version=None)
    status, error, _ = mcp.error(body, {**headers, "MCP-Protocol-Version": MODERN})
    assert (status, error["code"]) == (400, -32602)
    assert "params._meta" in error["message"]


@pytest.mark.parametrize(
    "message",
    [
        modern("prompts/list"),
        modern("ping"),  # 2026-07-28 removed it
        modern("initialize"),
        legacy("resources/list"),
        legacy("server/discover"),  # a modern method: its _meta is missing
    ],
)
def test_a_method_this_server_lacks_is_a_404(mcp: Mcp, message: tuple) -> None:
    body, headers = message
    status, error, _ = mcp.error(body, headers)
    if body["method"] == "server/discover":
        assert (status, error["code"]) == (400, -32602)
        return
    assert (status, error["code"]) == (404, -32601)
    assert error["message"] == f"Method not found: {body['method']}"


def test_a_modern_notification_is_accepted_at_a_served_version_only(mcp: Mcp) -> None:
    note = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}
    assert mcp.post(note, {"MCP-Protocol-Version": MODERN}).status_code == 202
    status, error, _ = mcp.error(note, {"MCP-Protocol-Version": "2099-01-01"})
    assert (status, error["code"]) == (400, -32022)


def test_a_posted_response_is_dropped_in_2025_and_refused_in_2026(mcp: Mcp) -> None:
    response = {"jsonrpc": "2.0", "id": 9, "result": {}}
    assert mcp.post(response, {"MCP-Protocol-Version": LEGACY}).status_code == 202
    status, error, _ = mcp.error(response, {"MCP-Protocol-Version": MODERN})
    assert (status, error["code"]) == (400, -32600)


def test_a_2025_03_26_batch_is_answered_as_an_array(mcp: Mcp) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": "two", "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 3, "method": "nope"},
        initialize(),
    ]
    response = mcp.post(batch)
    assert response.status_code == 200
    ping, listed, unknown, handshake = response.get_json()
    assert ping == {"jsonrpc": "2.0", "id": 1, "result": {}}
    check("2025-03-26", "JSONRPCBatchResponse", response.get_json())
    check("2025-03-26", "ListToolsResult", listed["result"])
    assert unknown["error"]["code"] == -32601
    assert handshake["error"]["message"] == "initialize must not be part of a batch."
    notes = [{"jsonrpc": "2.0", "method": "notifications/initialized"}] * 2
    assert mcp.post(notes).status_code == 202


def test_get_and_delete_are_refused_there_is_no_stream_or_session(app: Flask) -> None:
    client = app.test_client()
    for method in ("GET", "DELETE"):
        headers = {"Mcp-Session-Id": "abc", "Last-Event-ID": "1", "Accept": "text/event-stream"}
        response = client.open("/mcp", method=method, headers=headers)
        assert response.status_code == 405
        assert response.headers["Allow"] == "POST"
        assert response.get_json()["error"]["code"] == -32600


def test_a_session_id_sent_is_ignored(mcp: Mcp) -> None:
    body, headers = modern("tools/list")
    response = mcp.post(body, {**headers, "Mcp-Session-Id": "made-up"})
    assert response.status_code == 200
    assert "Mcp-Session-Id" not in response.headers


def test_a_missing_key_is_a_401_that_says_how_to_send_one(mcp: Mcp) -> None:
    response = mcp.post(initialize(), key=None)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="Flux API"'
    assert response.get_json() == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {
            "code": -32600,
            "message": (
                "Missing API key: send it as `Authorization: Bearer <key>` (or as the "
                "password of HTTP Basic auth)."
            ),
        },
    }
    wrong = mcp.post(initialize(), key="sk-wrong-key-0000000")
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"] == 'Bearer realm="Flux API", error="invalid_token"'
    assert wrong.get_json()["error"]["message"] == "Incorrect API key provided."


@pytest.mark.parametrize(
    ("settings", "origin", "allowed"),
    [
        ({}, None, True),
        ({}, "https://evil.example", False),
        ({}, "http://localhost:6274", False),
        ({"MCP_ALLOWED_ORIGINS": "http://localhost:6274"}, "http://localhost:6274", True),
        ({"MCP_ALLOWED_ORIGINS": "http://localhost:6274"}, "http://localhost:6275", False),
        ({"MCP_ALLOWED_ORIGINS": "*"}, "https://evil.example", True),
        ({"PUBLIC_BASE_URL": "https://flux.example/api"}, "https://FLUX.example", True),
        ({"PUBLIC_BASE_URL": "https://flux.example"}, "http://flux.example", False),
    ],
)
def test_browser_pages_pass_only_from_allowed_origins(
    make_app: Callable[..., Flask], settings: dict, origin: str | None, allowed: bool
) -> None:
    mcp = Mcp(make_app(**settings).test_client())
    response = mcp.post(*modern("tools/list")[:1], {
        **modern("tools/list")[1], **({"Origin": origin} if origin else {})})  # fmt: skip
    if allowed:
        assert response.status_code == 200
        return
    assert response.status_code == 403
    error = response.get_json()["error"]
    assert error["code"] == -32600
    assert "MCP_ALLOWED_ORIGINS" in error["message"]


def test_an_allowed_browser_page_may_ask_first(make_app: Callable[..., Flask]) -> None:
    client = make_app(MCP_ALLOWED_ORIGINS="https://app.example").test_client()
    headers = {
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, mcp-protocol-version",
    }
    preflight = client.options("/mcp", headers=headers)
    assert preflight.status_code == 204
    assert "mcp-protocol-version" in preflight.headers["Access-Control-Allow-Headers"].lower()


def test_mcp_requests_are_logged_and_counted_as_any_route(
    mcp: Mcp, capfd: pytest.CaptureFixture[str]
) -> None:
    mcp.call("list_models", {})
    mcp.error(*legacy("tools/call", {"name": "nope"}))  # 400: 404s are logged sparingly
    mcp.error({"jsonrpc": "2.0", "id": 1, "method": "nope"})
    lines = capfd.readouterr().err.splitlines()
    assert any('"route": "/mcp"' in line and '"tool": "list_models"' in line for line in lines)
    assert any('"mcp": "tools/call"' in line and '"rpc_error": -32602' in line for line in lines)
    metrics = mcp.client.get("/metrics").get_data(as_text=True)
    assert 'route="/mcp",status="200"' in metrics
    assert 'route="/mcp",status="404"' in metrics


def test_the_key_is_checked_before_anything_is_read(mcp: Mcp) -> None:
    assert mcp.post("not json at all", key=None).status_code == 401


def test_other_methods_get_the_apps_405(app: Flask) -> None:
    response = app.test_client().put("/mcp", headers={"Authorization": f"Bearer {API_KEY}"})
    assert response.status_code == 405
