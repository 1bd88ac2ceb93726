"""The Model Context Protocol on the wire (/mcp): JSON-RPC messages read and checked, the
protocol revisions and which one a message speaks, and the bodies of the answers.

One endpoint serves both eras of the protocol (a "dual-era" server, in the spec's words):

- modern, 2026-07-28: every request carries its protocol version and the client's
  capabilities in `params._meta`, and repeats the version, its method and its tool's name
  in headers that must agree with the body. No handshake, no session.
- legacy, 2025-03-26, 2025-06-18 and 2025-11-25: `initialize` first, then the version in
  the `MCP-Protocol-Version` header (a request without one speaks 2025-03-26). No session
  id is ever given out, so no client opens a GET stream or sends DELETE.

A message is modern when its `_meta` names a version, when it is `server/discover`, or when
its header names a version that is not a legacy one (the official SDK's rule); else it is
legacy. Every refusal is a ProtocolError with its JSON-RPC code and HTTP status, the same
in both eras: 404 for an unknown method, 400 for the rest.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ProtocolError

MODERN_VERSIONS = ("2026-07-28",)
LEGACY_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26")  # newest first
# The header values the SDK takes for a handshake revision; 2024-11-05 is the HTTP+SSE
# transport's, which this endpoint does not speak.
HANDSHAKE_VERSIONS = ("2024-11-05", *LEGACY_VERSIONS)
# What a legacy request without the header speaks (the 2025-06-18 transport says so).
ASSUMED_VERSION = "2025-03-26"
# The revision that brought titles, output schemas, structured content and resource links.
RICH_VERSION = "2025-06-18"

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
HEADER_MISMATCH = -32020
UNSUPPORTED_VERSION = -32022

META_VERSION = "io.modelcontextprotocol/protocolVersion"
META_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
META_SERVER_INFO = "io.modelcontextprotocol/serverInfo"
VERSION_HEADER = "MCP-Protocol-Version"
METHOD_HEADER = "Mcp-Method"
NAME_HEADER = "Mcp-Name"
ROUTING_HEADERS = (VERSION_HEADER, METHOD_HEADER, NAME_HEADER)

SERVER_INFO = {"name": "flux-api", "title": "Flux API", "version": "1.0.0"}
# How long a client may keep what `server/discover` and `tools/list` said: the tools change
# only when the operator changes MODELS and restarts.
LIST_TTL_MS = 300_000
# The most messages a 2025-03-26 batch may hold.
MAX_BATCH = 20
_SENTINEL = re.compile(r"=\?base64\?(.*)\?=", re.DOTALL)


@dataclass(frozen=True)
class Message:
    """One JSON-RPC message from a client, its envelope checked."""

    method: str | None  # None: a response to a request (this server sends none)
    id: str | int | None  # None: a notification, which gets no answer
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def answered(self) -> bool:
        """Whether the message is a request, owed an answer."""
        return self.method is not None and self.id is not None


def request_id(value: Any) -> str | int | None:
    """The id of a request in `value`, when it has a usable one, for its error's answer."""
    found = value.get("id") if isinstance(value, dict) else None
    return found if _is_id(found) else None


def read_message(value: Any) -> Message:
    """The message `value` is; ProtocolError when it is no JSON-RPC message at all."""
    if not isinstance(value, dict):
        raise _invalid("The body must be one JSON-RPC message: a JSON object.")
    if value.get("jsonrpc") != "2.0":
        raise _invalid('A JSON-RPC message carries "jsonrpc": "2.0".')
    has_id = "id" in value
    if has_id and not _is_id(value["id"]):
        raise _invalid("A request's `id` is a string or a whole number, never null.")
    method = value.get("method")
    if method is None and has_id and ("result" in value) != ("error" in value):
        return Message(None, value["id"])
    if not isinstance(method, str):
        raise _invalid("A request or notification names its `method`, a string.")
    params = value.get("params", {})
    if not isinstance(params, dict):
        raise ProtocolError("`params` must be a JSON object.", INVALID_PARAMS)
    return Message(method, value["id"] if has_id else None, params)


def read_batch(value: list[Any]) -> list[Message]:
    """A 2025-03-26 batch's messages, read whole: one that is not a message refuses it all."""
    if not value:
        raise _invalid("A batch holds at least one message.")
    if len(value) > MAX_BATCH:
        raise _invalid(f"A batch holds at most {MAX_BATCH} messages.")
    messages = []
    for place, item in enumerate(value, 1):
        try:
            messages.append(read_message(item))
        except ProtocolError as error:
            raise ProtocolError(
                f"Message {place} of the batch: {error.message}", error.rpc_code
            ) from None
    return messages


def is_modern(message: Message, header: str | None) -> bool:
    """Whether `message` speaks the modern protocol, its version header being `header`."""
    meta = message.params.get("_meta")
    if isinstance(meta, dict) and META_VERSION in meta:
        return True
    return message.method == "server/discover" or (
        header is not None and header not in HANDSHAKE_VERSIONS
    )


def legacy_version(header: str | None) -> str:
    """The legacy revision a request speaks by its header; 400 for one this server lacks."""
    if header is None:
        return ASSUMED_VERSION
    if header not in LEGACY_VERSIONS:
        raise _invalid(
            f"{VERSION_HEADER} {header} is not spoken here: this endpoint speaks "
            f"{', '.join(LEGACY_VERSIONS)} (after initialize) and {', '.join(MODERN_VERSIONS)}."
        )
    return header


def modern_version(message: Message, headers: Mapping[str, str]) -> str:
    """The modern revision a request speaks, its envelope and headers checked in the SDK's
    order: `_meta` (-32602), then the headers against the body (-32020), then the version
    (-32022). A header sent twice reaches WSGI as one comma-joined value, which matches no
    body and is refused here as a mismatch."""
    meta = message.params.get("_meta")
    if not isinstance(meta, dict) or not {META_VERSION, META_CAPABILITIES} <= meta.keys():
        raise ProtocolError(
            f"params._meta must be an object with {META_VERSION!r} and "
            f"{META_CAPABILITIES!r}: revision {MODERN_VERSIONS[0]} sends them with every request.",
            INVALID_PARAMS,
        )
    version = meta[META_VERSION]
    if headers.get(VERSION_HEADER) != version:
        raise _mismatch(f"the {VERSION_HEADER} header does not match params._meta's version")
    if headers.get(METHOD_HEADER) != message.method:
        raise _mismatch(f"the {METHOD_HEADER} header does not match the body's method")
    tool = message.params.get("name") if message.method == "tools/call" else None
    if tool is not None and decoded_header(headers.get(NAME_HEADER)) != tool:
        raise _mismatch(f"the {NAME_HEADER} header does not match the body's tool name")
    if not isinstance(version, str):
        raise ProtocolError("The protocol version in params._meta is a string.", INVALID_PARAMS)
    check_modern(version)
    return version


def check_modern(version: str | None) -> None:
    """Raise the UnsupportedProtocolVersion error unless `version` is a modern one served."""
    if version not in MODERN_VERSIONS:
        raise ProtocolError(
            "Unsupported protocol version",
            UNSUPPORTED_VERSION,
            data={"supported": list(MODERN_VERSIONS), "requested": version or ""},
        )


def decoded_header(value: str | None) -> str | None:
    """A header value, its `=?base64?…?=` form decoded; None when that form is malformed."""
    if value is None:
        return None
    match = _SENTINEL.fullmatch(value)
    if match is None:
        return value
    try:
        data = base64.b64decode(match[1], validate=True)
        if base64.b64encode(data).decode() != match[1]:
            return None
        return data.decode()
    except (binascii.Error, UnicodeDecodeError):
        return None


def initialize_result(requested: object, instructions: str) -> dict:
    """The answer to `initialize`: the version the client asked for if it is one of ours,
    else the newest legacy one (the client then decides)."""
    version = requested if requested in LEGACY_VERSIONS else LEGACY_VERSIONS[0]
    info = SERVER_INFO if str(version) >= RICH_VERSION else _plain_info()
    return {
        "protocolVersion": version,
        "capabilities": {"tools": {"listChanged": False}},
        "serverInfo": info,
        "instructions": instructions,
    }


def discover_result(instructions: str) -> dict:
    """The answer to `server/discover` (before `completed` adds what every result has)."""
    return {
        "supportedVersions": list(MODERN_VERSIONS),
        "capabilities": {"tools": {}},
        "instructions": instructions,
        "ttlMs": LIST_TTL_MS,
        "cacheScope": "public",
    }


def completed(result: dict, version: str) -> dict:
    """`result` as `version` has it: a modern one says it is complete and who answered."""
    if version not in MODERN_VERSIONS:
        return result
    return {"resultType": "complete", **result, "_meta": {META_SERVER_INFO: _plain_info()}}


def result_body(message_id: str | int | None, result: dict) -> dict:
    return {"jsonrpc": "2.0", "id": message_id, "result": result}


def error_body(message_id: str | int | None, code: int, message: str, data: object = None) -> dict:
    """A JSON-RPC error response; `id` null when the request's own could not be read."""
    error: dict[str, object] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": message_id, "error": error}


def method_not_found(method: str) -> ProtocolError:
    return ProtocolError(f"Method not found: {method}", METHOD_NOT_FOUND, status=404)


def _plain_info() -> dict:
    return {"name": SERVER_INFO["name"], "version": SERVER_INFO["version"]}


def _is_id(value: object) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _invalid(message: str) -> ProtocolError:
    return ProtocolError(message, INVALID_REQUEST)


def _mismatch(what: str) -> ProtocolError:
    return ProtocolError(f"Header mismatch: {what}.", HEADER_MISMATCH)
