"""Open WebUI 0.12.4 with its image engine set to `automatic1111`, our URL and key: the
Image button in a chat draws through `/sdapi/v1/txt2img` and the picture shows in
Chromium; the admin's choice of model goes through `/sdapi/v1/options`.

Open WebUI asks the options for the checkpoint before every picture, sends the key as HTTP
Basic, and with no IMAGE_STEPS set asks for 50 steps: the service runs what the model takes.
Its chat model is the service's OpenAI door, as in test_open_webui.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page

from tests.e2e.service import Service
from tests.helpers import API_KEY, Standin, decode
from tests.interop.clients import Pictures, ThirdPartyServer
from tests.interop.test_open_webui import (
    BACKGROUND_TASKS,
    FILE_PICTURES,
    ClientTasks,
    new_chat,
    open_webui_env,
    running_open_webui,
    send,
    shown,
    sign_in,
)
from tests.servers import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

CLIENT = "Open WebUI 0.12.4 (automatic1111)"
KLEIN = "@cf/black-forest-labs/flux-2-klein-4b"
# Its own service: the checkpoint a key chooses is kept by the service, and this module
# chooses one.
LABEL = "open-webui-a1111"


def automatic1111_env(service: Service, env: dict[str, str]) -> dict[str, str]:
    """Open WebUI's settings with the image engine `automatic1111`, pointed at the service."""
    return {
        **env,
        "IMAGE_GENERATION_ENGINE": "automatic1111",
        "AUTOMATIC1111_BASE_URL": service.url,  # Open WebUI appends /sdapi/v1/…
        "AUTOMATIC1111_API_AUTH": f"openwebui:{API_KEY}",
        "IMAGE_GENERATION_MODEL": "",
        "ENABLE_IMAGE_EDIT": "false",
    }


@pytest.fixture(scope="module")
def a1111_service(make_service: Callable[..., Service]) -> Service:
    return make_service(LABEL)


@pytest.fixture(scope="module")
def open_webui(
    a1111_service: Service, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ThirdPartyServer]:
    folder = tmp_path_factory.mktemp("open-webui-a1111")
    env = automatic1111_env(a1111_service, open_webui_env(a1111_service, folder / "data"))
    with running_open_webui(env, folder) as running:
        sign_in(running.url, legacy_function_calling=True)
        yield running


@pytest.fixture
def admin(open_webui: ThirdPartyServer) -> dict[str, str]:
    return sign_in(open_webui.url, legacy_function_calling=True)


@pytest.fixture
def chat(browser, open_webui: ThirdPartyServer) -> Iterator[Page]:
    with new_chat(browser, open_webui.url) as page:
        yield page


@pytest.fixture
def client_tasks(a1111_service: Service) -> ClientTasks:
    return ClientTasks(a1111_service, len(a1111_service.log()))


def test_the_docs_show_these_settings(a1111_service: Service, tmp_path: Path) -> None:
    page = (ROOT / "docs" / "a1111.md").read_text().split("\n### Open WebUI\n", 1)[1]
    block = page.split("```sh\n", 1)[1].split("```", 1)[0]
    shown = dict(line.split("#")[0].strip().split("=", 1) for line in block.splitlines())
    ours = {
        a1111_service.url: "http://your-host:8000",
        f"openwebui:{API_KEY}": "openwebui:your-key",
    }
    env = automatic1111_env(a1111_service, open_webui_env(a1111_service, tmp_path))
    assert shown == {name: ours.get(env[name], env[name]) for name in shown}


def test_the_image_button_draws_through_txt2img(
    chat: Page,
    client_tasks: ClientTasks,
    pictures: Pictures,
    standin: Standin,
    a1111_service: Service,
) -> None:
    start = len(a1111_service.log())
    send(chat, "a red fox in deep snow", image_button=True)
    assert shown(chat, FILE_PICTURES, 1) == [[512, 512]]  # Open WebUI's IMAGE_SIZE
    client_tasks.wait_for("prompt", "image_shown", *BACKGROUND_TASKS)
    (sent,) = standin.received()
    assert "red fox" in sent["inputs"]["prompt"]
    log = a1111_service.log()[start:]
    assert '"route": "/sdapi/v1/txt2img", "status": 200' in log
    assert '"route": "/sdapi/v1/options", "status": 200' in log  # its checkpoint, asked first
    assert pictures.shown(CLIENT, 1) == 1


def test_the_admins_model_is_chosen_through_options(
    open_webui: ThirdPartyServer, admin: dict[str, str], standin: Standin, pictures: Pictures
) -> None:
    url = f"{open_webui.url}/api/v1/images"
    models = requests.get(f"{url}/models", headers=admin, timeout=10).json()
    klein = next(model["id"] for model in models if model["name"] == "flux-2-klein-4b")
    assert klein.startswith("flux-2-klein-4b [")
    config = requests.get(f"{url}/config", headers=admin, timeout=10).json()
    config["IMAGE_GENERATION_MODEL"] = klein  # what the admin picks in the settings
    updated = requests.post(f"{url}/config/update", json=config, headers=admin, timeout=30)
    assert updated.status_code == 200, updated.text
    made = requests.post(
        f"{url}/generations", json={"prompt": "a lighthouse at dusk"}, headers=admin, timeout=60
    )
    assert made.status_code == 200, made.text
    (file,) = made.json()
    picture = requests.get(f"{open_webui.url}{file['url']}", headers=admin, timeout=10)
    assert decode(picture.content).size == (512, 512)
    assert [entry["model"] for entry in standin.received()] == [KLEIN]
    assert pictures.shown(CLIENT, 1) == 1
