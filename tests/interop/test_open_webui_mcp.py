"""Open WebUI 0.12.4 with the service as an MCP tool server (its native MCP support, over
Streamable HTTP with the API key as a Bearer token), driven in headless Chromium: a chat
with a model that calls tools ends with the picture shown.

The chat model is a small stand-in (`tool_model.py`) that answers with a `tool_calls`
request for generate_image, so that Open WebUI itself calls /mcp, shows the picture of the
tool's result and gives the model the text; the model then answers in words. Titles, tags
and follow-ups go to that model, not to the service: one picture is drawn.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page

from tests.e2e.service import Service
from tests.helpers import API_KEY, Standin
from tests.interop.clients import Pictures, ThirdPartyServer
from tests.interop.test_open_webui import (
    FILE_PICTURES,
    new_chat,
    open_webui_env,
    running_open_webui,
    send,
    shown,
    sign_in,
)
from tests.interop.tool_model import ANSWER, ToolModel

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

CLIENT = "Open WebUI 0.12.4 (MCP)"
SERVER_ID = "flux"
SERVER_NAME = "Flux images"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "mcp.md"


def tool_servers(service: Service) -> list[dict]:
    """docs/mcp.md's TOOL_SERVER_CONNECTIONS, pointed at the service under test."""
    block = DOCS.read_text().split("TOOL_SERVER_CONNECTIONS='", 1)[1].split("'\n", 1)[0]
    shown_in_docs = block.replace("http://your-host:8000", service.url).replace("your-key", API_KEY)
    return json.loads(shown_in_docs)


@pytest.fixture(scope="module")
def tool_model() -> Iterator[ToolModel]:
    model = ToolModel()
    try:
        yield model
    finally:
        model.close()


@pytest.fixture(scope="module")
def open_webui(
    make_service: Callable[..., Service],
    tool_model: ToolModel,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ThirdPartyServer]:
    folder = tmp_path_factory.mktemp("open-webui-mcp")
    service = make_service()
    env = open_webui_env(service, folder / "data")
    env.update(
        OPENAI_API_BASE_URL=tool_model.url,  # the chat model: one that calls tools
        OPENAI_API_KEY="unused",
        TOOL_SERVER_CONNECTIONS=json.dumps(tool_servers(service)),
    )
    with running_open_webui(env, folder) as running:
        sign_in(running.url, legacy_function_calling=False)  # Native offers the tools
        yield running


@pytest.fixture
def chat(browser, open_webui: ThirdPartyServer, tool_model: ToolModel) -> Iterator[Page]:
    """A new chat, the tool model's requests forgotten."""
    tool_model.requests.clear()
    with new_chat(browser, open_webui.url) as page:
        yield page


def choose_tool(page: Page, name: str) -> None:
    """Turn a tool server on for this chat, as a person does: + → Tools → its switch."""
    page.click("#integration-menu-button")
    page.locator("[role=menu] [role=menuitem]", has_text="Tools").first.click()
    page.locator("[role=menu] [role=menuitemcheckbox]", has_text=name).first.click()
    page.keyboard.press("Escape")


def test_open_webui_verifies_the_tool_server_and_lists_its_tools(
    open_webui: ThirdPartyServer, make_service: Callable[..., Service]
) -> None:
    headers = sign_in(open_webui.url, legacy_function_calling=False)
    (connection,) = tool_servers(make_service())
    verify = f"{open_webui.url}/api/v1/configs/tool_servers/verify"
    answer = requests.post(verify, json=connection, headers=headers, timeout=60)
    assert answer.status_code == 200, answer.text
    names = [spec["name"] for spec in answer.json()["specs"]]
    assert names == ["generate_image", "edit_image", "list_models"]
    tools = requests.get(f"{open_webui.url}/api/v1/tools/", headers=headers, timeout=30).json()
    assert f"server:mcp:{SERVER_ID}" in [tool["id"] for tool in tools]


def test_a_chat_calls_the_mcp_tool_and_shows_its_picture(
    chat: Page, tool_model: ToolModel, standin: Standin, pictures: Pictures
) -> None:
    choose_tool(chat, SERVER_NAME)
    send(chat, "a lighthouse at dusk 16:9")
    assert shown(chat, FILE_PICTURES, 1) == [[1024, 576]]  # the tool result's picture
    chat.wait_for_function(
        "text => document.body.innerText.includes(text)", arg=ANSWER, timeout=60_000
    )
    (called,) = tool_model.tool_calls()
    assert called["function"]["name"] == f"{SERVER_ID}_generate_image"
    (sent,) = standin.received()
    assert sent["inputs"]["prompt"] == "a lighthouse at dusk"  # the ratio was read
    (result,) = tool_model.tool_results()
    assert "Drew an image with flux-1-schnell: 1024x576 (16:9)" in json.dumps(result)
    assert pictures.shown(CLIENT, 1) == 1
