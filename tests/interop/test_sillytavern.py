"""SillyTavern 1.19.0, its Stable Diffusion source ("SD WebUI", AUTOMATIC1111's API) pointed
at the service, driven through SillyTavern's own server API as its page drives it: connect,
list the models and menus, choose a model, generate, and save the picture it got.

SillyTavern calls `/sdapi/v1/…` on the URL it is given with its path replaced, sends its
auth setting as HTTP Basic, and forwards the page's whole request to txt2img, that setting
included; it hands the answer to the page as it came.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator

import pytest
import requests

from flux_service.standin.drawing import draw
from tests.e2e.service import Service
from tests.helpers import API_KEY, Standin, decode
from tests.interop.clients import HERE, Pictures, ThirdPartyServer, clean_env, serve

pytestmark = pytest.mark.timeout(300)

CLIENT = "SillyTavern 1.19.0"
SERVER_JS = HERE / "sillytavern" / "node_modules" / "sillytavern" / "server.js"
KLEIN = "@cf/black-forest-labs/flux-2-klein-4b"
PROMPT = "a lighthouse at dusk"


@pytest.fixture(scope="module")
def sillytavern(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThirdPartyServer]:
    """SillyTavern on loopback, with a config and data folder of its own (made at its first
    start). The first start after an install compiles its page's libraries, about 20 s."""
    if not SERVER_JS.exists():
        pytest.fail(f"{SERVER_JS} is missing: `make interop` installs it")
    folder = tmp_path_factory.mktemp("sillytavern")
    command = [
        "node", SERVER_JS, "--configPath", folder / "config.yaml", "--dataRoot", folder / "data",
        "--port", "{port}", "--listen", "false", "--browserLaunchEnabled", "false",
    ]  # fmt: skip
    # No lookup of host.docker.internal for its whitelist: the tests reach nothing outside.
    env = clean_env(SILLYTAVERN_WHITELISTDOCKERHOSTS="false")
    with serve(command, env, "/csrf-token", folder / "log") as running:
        yield running


class Tavern:
    """SillyTavern's server API as its page calls it: a session cookie and a CSRF token."""

    def __init__(self, server: ThirdPartyServer, service: Service) -> None:
        self.url = server.url
        self.session = requests.Session()
        token = self.session.get(f"{self.url}/csrf-token", timeout=10).json()["token"]
        self.session.headers["X-CSRF-Token"] = token
        # The source's settings, as the page sends them with every call.
        self.source = {"url": service.url, "auth": f"sillytavern:{API_KEY}"}

    def post(self, route: str, **body: object) -> requests.Response:
        return self.session.post(f"{self.url}{route}", json=body, timeout=60)

    def sd(self, route: str, **body: object) -> requests.Response:
        """One of the Stable Diffusion source's routes, with the source's settings."""
        return self.post(f"/api/sd/{route}", **{**self.source, **body})


@pytest.fixture
def tavern(sillytavern: ThirdPartyServer, make_service: Callable[..., Service]) -> Iterator[Tavern]:
    """SillyTavern's API, its source pointed at a service of its own: the checkpoint a key
    chooses is kept by the service."""
    client = Tavern(sillytavern, make_service("sillytavern"))
    try:
        yield client
    finally:
        client.session.close()


def test_sillytavern_connects_lists_and_chooses_a_model(tavern: Tavern, standin: Standin) -> None:
    assert tavern.sd("ping").status_code == 200
    models = tavern.sd("models").json()
    titles = [model["value"] for model in models]
    assert [title.split(" [")[0] for title in titles] == [
        "flux-1-schnell", "flux-2-klein-4b", "flux-2-klein-9b",
    ]  # fmt: skip
    assert tavern.sd("get-model").text in titles  # FLUX_MODEL, or what another test chose
    # Choosing waits until the progress says nothing is running.
    for title in (titles[2], titles[0]):
        assert tavern.sd("set-model", model=title).status_code == 200
        assert tavern.sd("get-model").text == title
    assert tavern.sd("samplers").json() == ["Euler"]
    assert tavern.sd("schedulers").json() == ["automatic"]
    assert tavern.sd("upscalers").json() == ["None"]
    assert tavern.sd("vaes").json() == []
    assert standin.received() == []


def test_sillytavern_draws_the_size_asked_for_and_saves_it(
    tavern: Tavern, standin: Standin, pictures: Pictures
) -> None:
    klein = next(m["value"] for m in tavern.sd("models").json() if "klein-4b" in m["value"])
    assert tavern.sd("set-model", model=klein).status_code == 200
    # What the page sends to generate, with its defaults (generateAutoImage).
    page = {
        "prompt": PROMPT, "negative_prompt": "blurry, lowres", "sampler_name": "DDIM",
        "scheduler": "normal", "steps": 20, "cfg_scale": 7, "width": 768, "height": 512,
        "restore_faces": False, "enable_hr": False, "hr_upscaler": "Latent", "hr_scale": 1.0,
        "hr_additional_modules": [], "denoising_strength": 0.7, "hr_second_pass_steps": 0,
        "override_settings": {"CLIP_stop_at_last_layers": 1},
        "override_settings_restore_afterwards": True, "clip_skip": 1, "save_images": True,
        "send_images": True, "do_not_save_grid": False, "do_not_save_samples": False,
    }  # fmt: skip
    response = tavern.sd("generate", **page)
    assert response.status_code == 200, response.text
    assert API_KEY not in response.text  # its auth setting never came back
    image = response.json()["images"][0]
    picture = decode(image)
    assert picture.size == (768, 512)
    (sent,) = standin.received()
    assert sent["model"] == KLEIN
    assert base64.b64decode(image) == draw(PROMPT, sent["inputs"]["seed"], 768, 512, "JPEG")
    # The page then saves it as SillyTavern's own file, and shows it from there.
    saved = tavern.post("/api/images/upload", image=image, format="png",
                        ch_name="Flux", filename="lighthouse")  # fmt: skip
    assert saved.status_code == 200, saved.text
    path = saved.json()["path"].lstrip("/")
    assert path == "user/images/Flux/lighthouse.png"
    shown = tavern.session.get(f"{tavern.url}/{path}", timeout=10)
    assert shown.status_code == 200
    assert decode(shown.content).size == (768, 512)
    assert pictures.shown(CLIENT, 1) == 1


@pytest.mark.parametrize("auth", ["", "sillytavern:wrong-key-1234567"], ids=["none", "wrong"])
def test_without_the_key_sillytavern_cannot_connect(
    tavern: Tavern, standin: Standin, auth: str
) -> None:
    assert tavern.sd("ping", auth=auth).status_code == 500  # how it reports any failure
    assert tavern.sd("generate", auth=auth, prompt=PROMPT).status_code == 500
    assert standin.received() == []


def test_sillytavern_replaces_the_path_of_the_url_it_is_given(tavern: Tavern) -> None:
    assert tavern.sd("ping", url=f"{tavern.source['url']}/v1").status_code == 200
