"""The MCP envelope: reading JSON-RPC messages, telling the eras apart, the 2026-07-28 checks
of `_meta` and headers in the spec's order, the answers of each revision, checked against
the spec's own schemas and examples."""

from __future__ import annotations

import pytest

from flux_service.errors import ProtocolError
from flux_service.wire.mcp_protocol import (
    HEADER_MISMATCH,
    INVALID_PARAMS,
    INVALID_REQUEST,
    LEGACY_VERSIONS,
    MAX_BATCH,
    PARSE_ERROR,
    UNSUPPORTED_VERSION,
    Message,
    completed,
    decoded_header,
    discover_result,
    error_body,
    initialize_result,
    is_modern,
    legacy_version,
    method_not_found,
    modern_version,
    read_batch,
    read_message,
    request_id,
    result_body,
)
from tests.mcp_messages import META, MODERN, modern
from tests.mcp_schemas import REVISIONS, answer_names, check, example

SPEC_REQUESTS = [
    "DiscoverRequest/server-discover-request.json",
    "ListToolsRequest/list-tools-request.json",
    "CallToolRequest/call-tool-request.json",
]


def headers_of(body: dict, **over: str) -> dict[str, str]:
    """The routing headers a conforming client sends with `body`."""
    found = {"MCP-Protocol-Version": MODERN, "Mcp-Method": body["method"]}
    if body["method"] == "tools/call":
        found["Mcp-Name"] = body["params"]["name"]
    return {**found, **over}


def refused(call, *args) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        call(*args)
    return caught.value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"jsonrpc": "2.0", "id": 7, "method": "ping"}, Message("ping", 7)),
        ({"jsonrpc": "2.0", "id": "a", "method": "x", "params": {"k": 1}},
         Message("x", "a", {"k": 1})),
        ({"jsonrpc": "2.0", "method": "notifications/done"}, Message("notifications/done", None)),
        ({"jsonrpc": "2.0", "id": 3, "result": {}}, Message(None, 3)),
        ({"jsonrpc": "2.0", "id": 3, "error": {"code": 1, "message": "m"}}, Message(None, 3)),
    ],
)  # fmt: skip
def test_messages_are_read(value: dict, message: Message) -> None:
    assert read_message(value) == message


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ([], INVALID_REQUEST),
        ("ping", INVALID_REQUEST),
        ({"id": 1, "method": "ping"}, INVALID_REQUEST),
        ({"jsonrpc": "1.0", "id": 1, "method": "ping"}, INVALID_REQUEST),
        ({"jsonrpc": "2.0", "id": None, "method": "ping"}, INVALID_REQUEST),
        ({"jsonrpc": "2.0", "id": 1.5, "method": "ping"}, INVALID_REQUEST),
        ({"jsonrpc": "2.0", "id": True, "method": "ping"}, INVALID_REQUEST),
        ({"jsonrpc": "2.0", "id": {}, "method": "ping"}, INVALID_REQUEST),
        ({"jsonrpc": "2.0", "id": 1}, INVALID_REQUEST),
        ({"jsonrpc": "2.0", "id": 1, "result": {}, "error": {}}, INVALID_REQUEST),
        ({"jsonrpc": "2.0", "id": 1, "method": 5}, INVALID_REQUEST),
        ({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": [1]}, INVALID_PARAMS),
        ({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": None}, INVALID_PARAMS),
    ],
)
def test_what_is_no_message_is_refused_with_its_code(value: object, code: int) -> None:
    error = refused(read_message, value)
    assert (error.rpc_code, error.status) == (code, 400)


def test_a_request_id_is_kept_for_its_error_when_it_is_usable() -> None:
    assert request_id({"id": "abc"}) == "abc"
    assert request_id({"id": 4}) == 4
    assert request_id({"id": None}) is None
    assert request_id({"id": True}) is None
    assert request_id([{"id": 1}]) is None


def test_a_batch_is_read_whole() -> None:
    assert read_batch([{"jsonrpc": "2.0", "id": 1, "method": "ping"}]) == [Message("ping", 1)]
    assert refused(read_batch, []).rpc_code == INVALID_REQUEST
    ping = {"jsonrpc": "2.0", "method": "notifications/x"}
    assert "at most" in refused(read_batch, [ping] * (MAX_BATCH + 1)).message
    error = refused(read_batch, [ping, {"jsonrpc": "2.0", "id": None, "method": "x"}])
    assert error.message.startswith("Message 2 of the batch:")


@pytest.mark.parametrize(
    ("message", "header", "modern_era"),
    [
        (Message("tools/list", 1, {"_meta": META}), MODERN, True),
        (Message("tools/list", 1, {"_meta": META}), None, True),  # the body says so
        (Message("server/discover", 1), None, True),
        (Message("tools/list", 1), "2099-01-01", True),  # not a legacy version: the SDK's rule
        (Message("tools/list", 1), None, False),
        (Message("tools/list", 1, {"_meta": {"progressToken": 1}}), "2025-11-25", False),
        (Message("initialize", 1), None, False),
        (Message("ping", 1), "2025-03-26", False),
        (Message("ping", 1), "2024-11-05", False),
    ],
)
def test_the_era_is_told_by_meta_method_and_header(
    message: Message, header: str | None, modern_era: bool
) -> None:
    assert is_modern(message, header) is modern_era


def test_a_legacy_request_speaks_its_header_or_2025_03_26() -> None:
    assert legacy_version(None) == "2025-03-26"
    for version in LEGACY_VERSIONS:
        assert legacy_version(version) == version
    assert "2024-11-05 is not spoken here" in refused(legacy_version, "2024-11-05").message


@pytest.mark.parametrize("path", SPEC_REQUESTS)
def test_the_specs_example_requests_pass_the_modern_checks(path: str) -> None:
    body = example(path)
    message = read_message(body)
    assert modern_version(message, headers_of(body)) == MODERN


def test_a_tool_name_header_may_come_in_base64() -> None:
    body = example("CallToolRequest/call-tool-request.json")
    body["params"]["name"] = "météo"
    encoded = "=?base64?bcOpdMOpbw==?="
    assert modern_version(read_message(body), headers_of(body, **{"Mcp-Name": encoded})) == MODERN


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        (lambda b, _: b["params"].pop("_meta"), INVALID_PARAMS, "params._meta"),
        (lambda b, _: b["params"]["_meta"].pop("io.modelcontextprotocol/clientCapabilities"),
         INVALID_PARAMS, "clientCapabilities"),
        (lambda _, h: h.pop("MCP-Protocol-Version"), HEADER_MISMATCH, "MCP-Protocol-Version"),
        (lambda _, h: h.update({"MCP-Protocol-Version": "2025-11-25"}), HEADER_MISMATCH,
         "MCP-Protocol-Version"),
        (lambda _, h: h.pop("Mcp-Method"), HEADER_MISMATCH, "Mcp-Method"),
        (lambda _, h: h.update({"Mcp-Method": "tools/list"}), HEADER_MISMATCH, "Mcp-Method"),
        (lambda _, h: h.pop("Mcp-Name"), HEADER_MISMATCH, "Mcp-Name"),
        (lambda _, h: h.update({"Mcp-Name": "get_forecast"}), HEADER_MISMATCH, "Mcp-Name"),
        (lambda _, h: h.update({"Mcp-Name": "=?base64?not base64?="}), HEADER_MISMATCH,
         "Mcp-Name"),
        # a header sent twice, as WSGI servers hand it on: one comma-joined value
        (lambda _, h: h.update({"Mcp-Method": "tools/call,tools/call"}), HEADER_MISMATCH,
         "Mcp-Method"),
    ],
)  # fmt: skip
def test_the_modern_checks_refuse_in_the_sdks_order(change, code: int, words: str) -> None:
    body = example("CallToolRequest/call-tool-request.json")
    headers = headers_of(body)
    change(body, headers)
    error = refused(modern_version, read_message(body), headers)
    assert (error.rpc_code, error.status) == (code, 400)
    assert words in error.message


def test_an_unsupported_version_names_the_supported_ones_as_the_spec_shows() -> None:
    body = example("ListToolsRequest/list-tools-request.json")
    body["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = "1900-01-01"
    headers = headers_of(body, **{"MCP-Protocol-Version": "1900-01-01"})
    error = refused(modern_version, read_message(body), headers)
    spec = example("UnsupportedProtocolVersionError/unsupported-version.json")
    assert error.rpc_code == spec["error"]["code"] == UNSUPPORTED_VERSION
    assert error.message == spec["error"]["message"]
    assert error.data == {"supported": [MODERN], "requested": "1900-01-01"}
    check(MODERN, "JSONRPCErrorResponse", error_body(1, error.rpc_code, error.message, error.data))


def test_the_header_mismatch_error_has_the_specs_code() -> None:
    spec = example("HeaderMismatchError/header-mismatch.json")
    body, _ = modern("tools/list")
    error = refused(modern_version, read_message(body), {"Mcp-Method": "tools/list"})
    assert error.rpc_code == spec["error"]["code"]
    assert error.message.startswith("Header mismatch:")


@pytest.mark.parametrize(
    ("value", "decoded"),
    [
        ("us-west1", "us-west1"),
        ("=?base64?SGVsbG8sIOS4lueVjA==?=", "Hello, 世界"),
        ("=?base64?IHBhZGRlZCA=?=", " padded "),
        ("=?base64?bGluZTEKbGluZTI=?=", "line1\nline2"),
        ("=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=", "=?base64?literal?="),
        ("=?base64?SGVsbG8===?=", None),
        ("=?base64?SGVsbG9=?=", None),  # not the canonical form of what it decodes to
        ("=?base64?/w==?=", None),  # not UTF-8
        (None, None),
    ],
)  # the transport page's own table of encodings, and malformed ones
def test_header_values_are_decoded_as_the_spec_encodes_them(value, decoded) -> None:
    assert decoded_header(value) == decoded


@pytest.mark.parametrize(
    ("asked", "answered"),
    [(v, v) for v in LEGACY_VERSIONS]
    + [("2024-11-05", "2025-11-25"), ("2026-07-28", "2025-11-25")],
)
def test_initialize_answers_the_version_asked_or_the_newest_legacy_one(
    asked: str, answered: str
) -> None:
    result = initialize_result(asked, "Draws pictures.")
    assert result["protocolVersion"] == answered
    assert result["capabilities"] == {"tools": {"listChanged": False}}
    check(answered, "InitializeResult", result)
    check(answered, answer_names(answered)[0], result_body(1, result))
    assert ("title" in result["serverInfo"]) is (answered != "2025-03-26")


def test_discover_answers_as_the_spec_shows() -> None:
    result = completed(discover_result("Draws pictures."), MODERN)
    assert result.keys() == example("DiscoverResult/server-capabilities-discovery.json").keys()
    check(MODERN, "DiscoverResult", result)
    check(MODERN, "JSONRPCResultResponse", result_body("discover-1", result))
    assert result["supportedVersions"] == [MODERN]
    assert result["resultType"] == "complete"
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "flux-api"


def test_only_modern_results_say_they_are_complete() -> None:
    assert completed({}, "2025-11-25") == {}
    assert completed({}, MODERN)["resultType"] == "complete"


@pytest.mark.parametrize("revision", REVISIONS)
def test_error_answers_are_the_schemas_error_responses(revision: str) -> None:
    error_name = answer_names(revision)[1]
    check(revision, error_name, error_body("x", -32602, "Unknown tool: nope", {"k": 1}))
    check(revision, error_name, error_body(7, -32601, "Method not found: nope"))


def test_an_error_whose_request_id_is_unknown_has_a_null_id() -> None:
    # JSON-RPC 2.0 (section 5) says so, and the official SDK sends it and needs it: its
    # client reads no error without an `id`. The schema types the id as a string or a number
    # and lets it be left out; all else of such an error is as it says.
    body = error_body(None, -32700, "Parse error: Invalid JSON")
    assert "id" in body
    assert body["id"] is None
    check(MODERN, "JSONRPCErrorResponse", {k: v for k, v in body.items() if k != "id"})


def test_the_specs_error_examples_have_our_codes() -> None:
    assert example("ParseError/invalid-json.json")["code"] == PARSE_ERROR
    assert example("InvalidParamsError/unknown-tool.json")["code"] == INVALID_PARAMS
    missing = method_not_found("prompts/list")
    assert missing.rpc_code == example("MethodNotFoundError/prompts-not-supported.json")["code"]
    assert missing.status == 404
