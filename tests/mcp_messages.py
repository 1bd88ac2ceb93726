"""MCP messages as clients send them, body and headers, for the tests of /mcp: modern
(2026-07-28: `_meta` in every request, its version, method and tool name in headers) and
legacy (after `initialize`, the version in one header)."""

from __future__ import annotations

from typing import Any

MODERN = "2026-07-28"
LEGACY = "2025-11-25"
META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientInfo": {"name": "tests", "version": "1.0.0"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


def modern(method: str, params: dict | None = None, id: Any = 1) -> tuple[dict, dict[str, str]]:
    """A 2026-07-28 request, with the headers a conforming client sends beside it."""
    params = {**(params or {}), "_meta": META}
    headers = {"MCP-Protocol-Version": MODERN, "Mcp-Method": method}
    if method == "tools/call" and isinstance(params.get("name"), str):
        headers["Mcp-Name"] = params["name"]
    return {"jsonrpc": "2.0", "id": id, "method": method, "params": params}, headers


def legacy(
    method: str, params: dict | None = None, id: Any = 1, version: str | None = LEGACY
) -> tuple[dict, dict[str, str]]:
    """A request of a legacy client after `initialize` (`version` None: before, or 2025-03-26)."""
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        body["params"] = params
    return body, {} if version is None else {"MCP-Protocol-Version": version}


def call(tool: str, arguments: dict, era: str = MODERN, id: Any = 1) -> tuple[dict, dict]:
    """A tools/call of `tool`, in the modern era or after a legacy `initialize` of `era`."""
    params = {"name": tool, "arguments": arguments}
    return (
        modern("tools/call", params, id) if era == MODERN else legacy("tools/call", params, id, era)
    )


def initialize(version: str = LEGACY) -> dict:
    return {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": {"name": "tests", "version": "1.0.0"},
        },
    }
