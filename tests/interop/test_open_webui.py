"""Open WebUI 0.12.4 (the slim install) with the service as its OpenAI connection and as its
image engine, driven in headless Chromium as a person uses it: a chat that asks for a
picture, the "Image" button, and a picture attached to a chat, with and without that button.

Open WebUI then asks the same model for a title, tags and follow-ups (no task model is set),
and after drawing with its own image call it tells the model so in a `<context>` message:
every test waits for those calls and shows that only the picture asked for was drawn.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page

from tests.e2e.service import Service
from tests.helpers import API_KEY, Standin
from tests.interop.clients import (
    Pictures,
    ThirdPartyServer,
    assert_drew_from,
    clean_env,
    clients_page_block,
    program,
    serve,
)
from tests.pictures import encoded, pattern

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

CLIENT = "Open WebUI 0.12.4"
PICTURE = pattern(900, 600)
BACKGROUND_TASKS = {"title", "tags", "follow_ups"}
# Markdown pictures in an answer, and pictures Open WebUI stored as its own files.
ANSWER_PICTURES = "#response-content-container img"
FILE_PICTURES = "[id^='message-'] img[src*='/api/v1/files/']"
SETTLE_TIMEOUT = 30.0


def open_webui_env(service: Service, data_dir: Path) -> dict[str, str]:
    """The settings of docs/clients.md's Open WebUI section, and what keeps it offline."""
    api = f"{service.url}/v1"
    return clean_env(
        DATA_DIR=str(data_dir),
        WEBUI_SECRET_KEY="interop-secret",
        WEBUI_AUTH="False",  # one user, the admin, signed in at once
        ENABLE_PERSISTENT_CONFIG="False",  # these settings win over any saved ones
        OFFLINE_MODE="true",
        HF_HUB_OFFLINE="1",
        USE_SLIM_DOCKER="true",
        RAG_EMBEDDING_ENGINE="openai",  # no local embedding model to load
        ENABLE_OLLAMA_API="false",
        ENABLE_VERSION_UPDATE_CHECK="false",
        OPENAI_API_BASE_URL=api,
        OPENAI_API_KEY=API_KEY,
        ENABLE_IMAGE_GENERATION="true",
        IMAGE_GENERATION_ENGINE="openai",
        IMAGES_OPENAI_API_BASE_URL=api,
        IMAGES_OPENAI_API_KEY=API_KEY,
        IMAGE_GENERATION_MODEL="flux",
        ENABLE_IMAGE_EDIT="true",
        IMAGE_EDIT_ENGINE="openai",
        IMAGES_EDIT_OPENAI_API_BASE_URL=api,
        IMAGES_EDIT_OPENAI_API_KEY=API_KEY,
    )


@contextmanager
def running_open_webui(env: dict[str, str], folder: Path) -> Iterator[ThirdPartyServer]:
    """Open WebUI serving on loopback with `env`, its log in `folder`."""
    command = [program("open-webui", "open-webui"), "serve", "--host", "127.0.0.1"]
    with serve([*command, "--port", "{port}"], env, "/health", folder / "log") as running:
        yield running


def sign_in(url: str, *, legacy_function_calling: bool) -> dict[str, str]:
    """The admin's headers, past the release notes: what the admin would click once.

    In 0.12 the default ("native") function calling turns the Image button into a tool
    offered to the model; "legacy" makes Open WebUI draw with its own image call.
    """
    admin = {"email": "admin@localhost", "password": ""}  # without auth, anyone is the admin
    signed_in = requests.post(f"{url}/api/v1/auths/signin", json=admin, timeout=10)
    signed_in.raise_for_status()
    headers = {"Authorization": f"Bearer {signed_in.json()['token']}"}
    ui: dict = {"version": "0.12.4"}
    if legacy_function_calling:
        ui["params"] = {"function_calling": "legacy"}
    update = f"{url}/api/v1/users/user/settings/update"
    requests.post(update, json={"ui": ui}, headers=headers, timeout=10).raise_for_status()
    return headers


@contextmanager
def new_chat(browser, url: str) -> Iterator[Page]:
    """A new chat in a fresh browser context."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector("#chat-input", timeout=60_000)
        yield page
    finally:
        context.close()


@pytest.fixture(scope="module")
def open_webui(
    make_service: Callable[..., Service], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ThirdPartyServer]:
    folder = tmp_path_factory.mktemp("open-webui")
    with running_open_webui(open_webui_env(make_service(), folder / "data"), folder) as running:
        sign_in(running.url, legacy_function_calling=True)
        yield running


@pytest.fixture
def chat(browser, open_webui: ThirdPartyServer) -> Iterator[Page]:
    with new_chat(browser, open_webui.url) as page:
        yield page


@pytest.fixture
def picture_file(tmp_path: Path) -> Path:
    path = tmp_path / "holiday.png"
    path.write_bytes(encoded(PICTURE))
    return path


def send(page: Page, text: str, image_button: bool = False, attach: Path | None = None) -> None:
    """Type a message and send it, with the Image button on and a picture attached if asked."""
    if attach:
        page.locator("input[type=file][multiple]").first.set_input_files(str(attach))
    if image_button:
        page.click("#integration-menu-button")
        page.locator("[role=menu] button", has_text="Image").first.click()
        page.keyboard.press("Escape")
    page.fill("#chat-input", text)
    page.keyboard.press("Enter")


def shown(page: Page, selector: str, count: int) -> list[list[int]]:
    """Wait until `count` pictures match `selector` and have loaded; their natural sizes."""
    page.wait_for_function(
        """([selector, count]) => {
            const images = [...document.querySelectorAll(selector)];
            return images.length === count && images.every(i => i.complete && i.naturalWidth);
        }""",
        arg=[selector, count],
        timeout=60_000,
    )
    return page.eval_on_selector_all(
        selector, "images => images.map(i => [i.naturalWidth, i.naturalHeight])"
    )


@dataclass
class ClientTasks:
    """The client tasks the service recognised in its log, from where a test began."""

    service: Service
    start: int

    def wait_for(self, *wanted: str) -> None:
        """Wait until the service has answered each of these tasks since the test began."""
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while not set(wanted) <= (seen := self.seen()):
            assert time.monotonic() < deadline, f"answered {seen}, not all of {wanted}"
            time.sleep(0.2)

    def seen(self) -> set[str]:
        log = self.service.log()
        lines = log[self.start : log.rfind("\n")].splitlines()  # whole lines only
        tasks = {json.loads(line).get("client_task") for line in lines if line.startswith("{")}
        return tasks - {None}


@pytest.fixture
def client_tasks(make_service: Callable[..., Service]) -> ClientTasks:
    service = make_service()
    return ClientTasks(service, len(service.log()))


def test_the_docs_show_these_settings(make_service: Callable[..., Service], tmp_path: Path) -> None:
    service = make_service()
    block = clients_page_block("### Open WebUI settings", "sh")
    shown = dict(line.split("#")[0].strip().split("=", 1) for line in block.splitlines())
    ours = {f"{service.url}/v1": "http://your-host:8000/v1", API_KEY: "your-key"}
    env = open_webui_env(service, tmp_path)
    assert shown == {name: ours.get(env.get(name, ""), env.get(name)) for name in shown}


def test_a_chat_shows_the_picture_and_its_background_tasks_draw_none(
    chat: Page, client_tasks: ClientTasks, pictures: Pictures
) -> None:
    send(chat, "a lighthouse at dusk 16:9")
    assert shown(chat, ANSWER_PICTURES, 1) == [[1024, 576]]
    client_tasks.wait_for(*BACKGROUND_TASKS)
    assert pictures.shown(CLIENT, 1) == 1


def test_the_image_button_draws_once(
    chat: Page, client_tasks: ClientTasks, pictures: Pictures, standin: Standin
) -> None:
    send(chat, "a red fox in deep snow", image_button=True)
    assert shown(chat, FILE_PICTURES, 1) == [[512, 512]]  # Open WebUI asks for IMAGE_SIZE
    # The model wrote the prompt, then was told the picture is there, and answered in words.
    client_tasks.wait_for("prompt", "image_shown", *BACKGROUND_TASKS)
    assert "red fox" in standin.received()[0]["inputs"]["prompt"]
    assert chat.locator(ANSWER_PICTURES).count() == 0
    assert chat.locator("#response-content-container").last.inner_text().strip()
    assert pictures.shown(CLIENT, 1) == 1


def test_an_attached_picture_is_edited_in_the_chat(
    chat: Page,
    client_tasks: ClientTasks,
    pictures: Pictures,
    standin: Standin,
    picture_file: Path,
) -> None:
    send(chat, "make the sky purple", attach=picture_file)
    assert shown(chat, ANSWER_PICTURES, 1) == [[1024, 683]]  # the picture's own 3:2
    client_tasks.wait_for(*BACKGROUND_TASKS)
    assert_drew_from(standin, PICTURE)
    assert pictures.shown(CLIENT, 1) == 1


def test_an_attached_picture_is_edited_by_the_image_button(
    chat: Page,
    client_tasks: ClientTasks,
    pictures: Pictures,
    standin: Standin,
    picture_file: Path,
) -> None:
    send(chat, "make the sky purple", image_button=True, attach=picture_file)
    # The attachment, then the edit Open WebUI got from /v1/images/edits.
    assert shown(chat, FILE_PICTURES, 2) == [[900, 600], [1024, 683]]
    client_tasks.wait_for("image_shown", *BACKGROUND_TASKS)
    assert_drew_from(standin, PICTURE)
    assert pictures.shown(CLIENT, 1) == 1
