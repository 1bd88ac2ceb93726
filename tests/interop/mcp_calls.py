"""Drive the service's /mcp with the official MCP Python SDK's Streamable HTTP client and
print what the SDK gave back, as JSON.

Run with the SDK's own environment by tests/interop/test_mcp_sdk.py:

    python mcp_calls.py <URL of /mcp> <API key> <scenario> <picture to edit>

Scenarios: `modern` (the SDK's `Client`, which asks `server/discover` first and so speaks
2026-07-28), `legacy` (a `ClientSession` and its `initialize`, 2025-11-25), `errors` (a
wrong argument, an unsafe URL, an unknown tool), `bad-key` (connecting with a wrong key).
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client, ClientSession, MCPError
from mcp.client.streamable_http import streamable_http_client

URL, KEY, SCENARIO, PICTURE = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])


def http() -> httpx2.AsyncClient:
    """The HTTP client an agent configures: its key as a Bearer header, long reads."""
    headers = {"Authorization": f"Bearer {KEY}"}
    return httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300))


def dumped(result: Any) -> dict:
    return result.model_dump(mode="json", by_alias=True, exclude_none=True)


async def modern() -> dict:
    picture = "data:image/png;base64," + base64.b64encode(PICTURE.read_bytes()).decode()
    async with http() as client, Client(streamable_http_client(URL, http_client=client)) as mcp:
        tools = await mcp.list_tools()
        return {
            "protocol_version": mcp.session.protocol_version,
            "server_info": dumped(mcp.session.server_info),
            "tools": [dumped(tool) for tool in tools.tools],
            "generate": dumped(
                await mcp.call_tool(
                    "generate_image", {"prompt": "a red fox", "aspect_ratio": "16:9"}
                )
            ),
            "edit": dumped(
                await mcp.call_tool("edit_image", {"prompt": "make it winter", "images": [picture]})
            ),
            "models": dumped(await mcp.call_tool("list_models", {})),
        }


async def legacy() -> dict:
    async with (
        http() as client,
        streamable_http_client(URL, http_client=client) as (read, write),
        ClientSession(read, write) as session,
    ):
        started = await session.initialize()
        await session.send_ping()
        tools = await session.list_tools()
        drawn = await session.call_tool("generate_image", {"prompt": "a lighthouse", "n": 2})
        return {
            "protocol_version": started.protocol_version,
            "server_info": dumped(started.server_info),
            "instructions": started.instructions,
            "tools": [tool.name for tool in tools.tools],
            "generate": dumped(drawn),
        }


async def errors() -> dict:
    async with http() as client, Client(streamable_http_client(URL, http_client=client)) as mcp:
        found: dict[str, Any] = {
            "wrong_argument": dumped(
                await mcp.call_tool("generate_image", {"prompt": "a fox", "n": 9})
            ),
            "unsafe_url": dumped(
                await mcp.call_tool(
                    "edit_image",
                    {"prompt": "x", "images": ["http://169.254.169.254/latest/meta-data"]},
                )
            ),
        }
        try:
            await mcp.call_tool("draw_a_cat", {})
        except MCPError as error:
            found["unknown_tool"] = {"code": error.error.code, "message": error.error.message}
        return found


async def bad_key() -> dict:
    try:
        async with http() as client, Client(streamable_http_client(URL, http_client=client)) as mcp:
            await mcp.list_tools()
    except BaseException as error:  # the SDK's task groups wrap it in exception groups
        return {"refused": _innermost(error)}
    return {"refused": None}


def _innermost(error: BaseException) -> str:
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return f"{type(error).__name__}: {error}"


SCENARIOS = {"modern": modern, "legacy": legacy, "errors": errors, "bad-key": bad_key}

if __name__ == "__main__":
    print(json.dumps(asyncio.run(SCENARIOS[SCENARIO]())))
