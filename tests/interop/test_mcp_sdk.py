"""The official MCP Python SDK (2.3.0, the version Open WebUI pins) against the running
service's /mcp, from its own environment: its `Client` (which asks `server/discover` and so
speaks 2026-07-28) and a `ClientSession` with the 2025 handshake list the tools and call
each one; the pictures are decoded and measured, compared with what the stand-in drew and
with the stored pictures their links serve; a wrong argument and an unsafe URL come back as
tool errors, an unknown tool as the protocol's error, and a wrong key is refused.

The SDK validates every result against the tool's outputSchema itself: a mismatch would
fail the call.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.service import Service
from tests.helpers import API_KEY, Standin, decode, fetch_image
from tests.interop.clients import HERE, Pictures, clean_env, program, run_program
from tests.pictures import difference, encoded, pattern, recorded, thumbnail

CLIENT = "mcp (Python SDK) 2.3.0"
PICTURE = pattern(900, 600)
SCRIPT = HERE / "mcp_calls.py"


def sdk(service: Service, scenario: str, folder: Path, key: str = API_KEY) -> dict:
    """What the SDK gave back for `scenario`, run from its own environment."""
    picture = folder / "picture.png"
    picture.write_bytes(encoded(PICTURE))
    command = [program("mcp", "python"), SCRIPT, f"{service.url}/mcp", key, scenario, picture]
    return json.loads(run_program(command, env=clean_env(), timeout=120))


def blocks(result: dict, kind: str) -> list[dict]:
    return [block for block in result["content"] if block["type"] == kind]


def shown_and_stored(result: dict) -> list[tuple[Any, Any]]:
    """Each picture of a result as its image block shows it and as its link serves it."""
    images = blocks(result, "image")
    links = result["structuredContent"]["images"]
    assert len(images) == len(links)
    return [(decode(block["data"]), fetch_image(facts["url"])[1]) for block, facts in
            zip(images, links, strict=True)]  # fmt: skip


def test_the_sdks_client_speaks_2026_07_28_and_calls_every_tool(
    service: Service, standin: Standin, pictures: Pictures, tmp_path: Path
) -> None:
    found = sdk(service, "modern", tmp_path)
    assert found["protocol_version"] == "2026-07-28"
    assert found["server_info"]["name"] == "flux-api"
    tools = {tool["name"]: tool for tool in found["tools"]}
    assert list(tools) == ["generate_image", "edit_image", "list_models"]
    assert tools["generate_image"]["inputSchema"]["required"] == ["prompt"]

    generated = found["generate"]
    assert generated.get("isError") is not True
    ((shown, stored),) = shown_and_stored(generated)
    assert shown.size == stored.size == (1024, 576)
    assert difference(shown, stored) == 0
    assert "a red fox" in blocks(generated, "text")[0]["text"]
    (link,) = blocks(generated, "resource_link")
    assert link["uri"] == generated["structuredContent"]["images"][0]["url"]

    edited = found["edit"]
    ((shown, stored),) = shown_and_stored(edited)
    assert shown.size == stored.size == (1024, 683)  # the picture's own 3:2
    assert edited["structuredContent"]["worked_from"] == [
        {"origin": "sent as a data: URI", "width": 900, "height": 600}
    ]
    drawn, edit = standin.received()
    assert drawn["inputs"]["prompt"] == "a red fox"
    assert edit["model"] == "@cf/black-forest-labs/flux-2-klein-4b"
    (received,) = edit["images"]
    assert difference(recorded(received), thumbnail(PICTURE)) < 4  # drawn from the picture sent

    models = found["models"]["structuredContent"]
    assert models["defaults"] == {
        "generate_image": "flux-1-schnell",
        "edit_image": "flux-2-klein-4b",
    }
    assert pictures.shown(CLIENT, 2) == 2


def test_a_2025_client_initializes_and_gets_two_pictures(
    service: Service, pictures: Pictures, tmp_path: Path
) -> None:
    found = sdk(service, "legacy", tmp_path)
    assert found["protocol_version"] == "2025-11-25"
    assert found["server_info"] == {"name": "flux-api", "title": "Flux API", "version": "1.0.0"}
    assert "generate_image draws from a prompt" in found["instructions"]
    assert found["tools"] == ["generate_image", "edit_image", "list_models"]
    pairs = shown_and_stored(found["generate"])
    assert [shown.size for shown, _ in pairs] == [(1024, 1024), (1024, 1024)]
    assert all(difference(shown, stored) == 0 for shown, stored in pairs)
    assert len({shown.tobytes() for shown, _ in pairs}) == 1  # schnell: no seed, same prompt
    assert pictures.shown(CLIENT, 2) == 2


def test_failures_are_tool_errors_and_an_unknown_tool_the_protocols(
    service: Service, pictures: Pictures, tmp_path: Path
) -> None:
    found = sdk(service, "errors", tmp_path)
    wrong = found["wrong_argument"]
    assert wrong["isError"] is True
    assert blocks(wrong, "text")[0]["text"] == "`n` must be between 1 and 4."
    unsafe = found["unsafe_url"]
    assert unsafe["isError"] is True
    assert "private or local address (169.254.169.254)" in blocks(unsafe, "text")[0]["text"]
    assert found["unknown_tool"] == {"code": -32602, "message": "Unknown tool: draw_a_cat"}
    assert pictures.shown(CLIENT, 0) == 0


def test_a_wrong_key_is_refused_with_the_services_message(
    service: Service, standin: Standin, tmp_path: Path
) -> None:
    found = sdk(service, "bad-key", tmp_path, key="sk-not-a-key-123456789")
    assert found["refused"] is not None
    assert "Incorrect API key provided." in found["refused"]
    assert standin.received() == []


@pytest.fixture(autouse=True)
def _installed() -> None:
    program("mcp", "python")  # fails with what to run when `make interop` has not
