"""The home page in a real browser: what it says about the server, and its playground, which
streams a chat answer from the service and shows the image."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page

from tests.e2e.service import Service
from tests.helpers import API_KEY, OPTIMIZER_KEY, STANDIN_TOKEN, Standin
from tests.pictures import difference, encoded, pattern, recorded, thumbnail
from tests.servers import SeaweedServer

pytestmark = pytest.mark.browser


FOX = "a red fox in deep snow"
PHONE = {"width": 390, "height": 844}


@dataclass
class Home:
    """The home page open in a browser tab, and what went wrong in the page so far."""

    page: Page
    headers: dict[str, str]
    errors: list[str] = field(default_factory=list)

    def generate(
        self, key: str, prompt: str = FOX, ratio: str | None = None, model: str = ""
    ) -> None:
        """Fill in the form and generate; the ratio menu stays as it is unless `ratio` is given."""
        self.page.fill("#key", key)
        self.page.fill("#prompt", prompt)
        if ratio is not None:
            self.page.select_option("#ratio", ratio)
        if model:
            self.page.select_option("#model", label=model)
        self.page.click("#generate")

    def problem(self) -> tuple[str, str]:
        """The friendly line and the server's message, once a problem is shown."""
        page = self.page
        page.wait_for_selector("#problem", state="visible", timeout=30_000)
        return page.text_content("#problem-friendly"), page.text_content("#problem-message")

    def strip(self) -> list[str]:
        """The images in the recent strip, newest first."""
        return self.page.eval_on_selector_all("#recent img", "images => images.map(i => i.src)")


@pytest.fixture
def open_home(browser) -> Iterator[Callable[..., Home]]:
    """Open a service's home page in a fresh browser context (its own localStorage)."""
    contexts = []

    def open_(service: Service, viewport: dict[str, int] | None = None) -> Home:
        context = browser.new_context(viewport=viewport or {"width": 1100, "height": 900})
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        # A CSP violation shows up as a console error.
        page.on("console", lambda message: message.type == "error" and errors.append(message.text))
        page.on("pageerror", lambda error: errors.append(str(error)))
        response = page.goto(f"{service.url}/")
        assert response is not None
        assert response.status == 200
        return Home(page, response.headers, errors)

    try:
        yield open_
    finally:
        for context in contexts:
            context.close()


def test_the_page_says_what_the_server_offers_under_a_strict_policy(
    open_home: Callable[..., Home], service: Service
) -> None:
    home = open_home(service)
    page = home.page
    assert page.text_content("#status") == "The service is up."
    assert page.text_content("#models") == "flux-1-schnell, flux-2-klein-4b, flux-2-klein-9b"
    assert page.text_content("#optimization") == "off"
    assert page.text_content("#store") == "memory"
    assert page.text_content("#expiry") == "for 30 minutes"
    assert page.locator("#demo-notice").count() == 0
    ratios = page.eval_on_selector_all("#ratio option", "options => options.map(o => o.value)")
    assert ratios == ["", "1:1", "1:2", "3:2", "3:4", "16:9", "9:16"]
    assert page.input_value("#ratio") == ""  # from the prompt, at first
    models = page.eval_on_selector_all("#model option", "options => options.map(o => o.value)")
    assert models[0] == "@cf/black-forest-labs/flux-1-schnell"
    assert page.input_value("#model") == models[0]  # FLUX_MODEL is picked at first

    policy = home.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "default-src 'none';" in policy
    assert "img-src 'self' data: blob:;" in policy
    assert home.headers["referrer-policy"] == "no-referrer"
    # Nothing but the page's own files was loaded, and nothing was refused or failed.
    assert home.errors == []
    for asset in ("home.js", "home.css", "favicon.svg"):
        assert requests.get(f"{service.url}/static/{asset}", timeout=5).status_code == 200


def test_the_page_shows_other_settings_and_nothing_secret(
    open_home: Callable[..., Home], make_service: Callable[..., Service], standin: Standin
) -> None:
    service = make_service(
        DEMO_MODE="true",
        PROMPT_OPTIMIZATION="true",
        IMAGE_EXPIRATION="90",
        PUBLIC_BASE_URL="https://images.example.com/flux",
    )
    home = open_home(service)
    page = home.page
    assert "Demo mode: images come from the local Workers AI stand-in" in page.text_content(
        "#demo-notice"
    )
    assert page.text_content("#optimization") == "on"
    assert page.text_content("#expiry") == "for 90 seconds"
    policy = home.headers["content-security-policy"]
    assert "img-src 'self' data: blob: https://images.example.com;" in policy
    html = page.content()
    for secret in (API_KEY, STANDIN_TOKEN, OPTIMIZER_KEY, standin.url, "standin-account"):
        assert secret not in html
    assert home.errors == []


def test_a_generation_streams_its_lines_then_shows_the_image(
    open_home: Callable[..., Home], service: Service, standin: Standin
) -> None:
    standin.configure(latency=1.0)
    home = open_home(service)
    page = home.page
    home.generate(API_KEY, ratio="16:9", model="flux-2-klein-4b")

    # The first lines are on the page while the stand-in is still drawing.
    early = page.wait_for_function(
        """() => {
            const text = document.getElementById("answer").textContent;
            const result = document.getElementById("generated");
            return text.includes("1024x576") && { text, imageShown: !result.hidden };
        }"""
    ).json_value()
    assert early["imageShown"] is False
    assert "Image generated successfully" not in early["text"]

    page.wait_for_selector("#generated", state="visible", timeout=30_000)
    size = page.eval_on_selector("#image", "image => [image.naturalWidth, image.naturalHeight]")
    assert size == [1024, 576]
    answer = page.text_content("#answer")
    assert f"Original prompt: {FOX}" in answer
    assert "Model: flux-2-klein-4b" in answer
    assert "Image generated successfully" in answer
    assert "![" not in answer  # the image is shown, not its markdown
    [drawn] = standin.received()
    assert drawn["model"] == "@cf/black-forest-labs/flux-2-klein-4b"
    assert drawn["inputs"]["prompt"] == FOX  # the ratio was read, not drawn

    image = page.get_attribute("#image", "src")
    assert image.startswith(f"{service.url}/image/")
    assert page.get_attribute("#download", "href") == image
    assert re.fullmatch(r"Expires in (29:5\d|30:00)", page.text_content("#countdown"))
    assert home.strip() == [image]
    assert home.errors == []

    page.reload()
    assert page.input_value("#key") == API_KEY
    assert home.strip() == [image]
    assert home.errors == []


def test_pictures_in_a_public_bucket_show_on_the_page(
    open_home: Callable[..., Home], make_service: Callable[..., Service], seaweed: SeaweedServer
) -> None:
    service = make_service(**seaweed.store_env("home/"), IMAGE_PUBLIC_BASE_URL=seaweed.public_url)
    home = open_home(service)
    policy = home.headers["content-security-policy"]
    assert f"img-src 'self' data: blob: {seaweed.endpoint_url};" in policy
    home.generate(API_KEY, ratio="16:9")
    home.page.wait_for_selector("#generated", state="visible", timeout=30_000)
    image = home.page.get_attribute("#image", "src")
    assert image.startswith(f"{seaweed.public_url}/home/")  # the bucket serves it
    shown = home.page.eval_on_selector("#image", "i => [i.naturalWidth, i.naturalHeight]")
    assert shown == [1024, 576]
    assert home.errors == []  # no image refused by the page's own policy


def test_an_expired_image_leaves_the_strip(
    open_home: Callable[..., Home], make_service: Callable[..., Service]
) -> None:
    home = open_home(make_service(IMAGE_EXPIRATION="2"))
    home.generate(API_KEY)
    home.page.wait_for_selector("#generated", state="visible", timeout=30_000)
    assert len(home.strip()) == 1
    home.page.wait_for_function(
        "() => document.getElementById('countdown').textContent === 'Expired'", timeout=5_000
    )
    assert home.page.locator("#download").is_hidden()
    home.page.wait_for_selector("#recent-section", state="hidden", timeout=5_000)
    assert home.strip() == []


@pytest.mark.parametrize(
    ("key", "message"),
    [("wrong-key", "Incorrect API key provided."), ("", "Missing API key")],
    ids=["wrong", "missing"],
)
def test_a_wrong_or_missing_key_is_told_plainly(
    open_home: Callable[..., Home], service: Service, standin: Standin, key: str, message: str
) -> None:
    home = open_home(service)
    home.generate(key)
    friendly, said = home.problem()
    assert friendly == "The API key is missing or wrong. Check the key above."
    assert said.startswith(message)
    assert home.page.locator("#generated").is_hidden()
    assert home.strip() == []
    assert standin.received() == []


def test_an_upstream_failure_mid_stream_is_told_plainly(
    open_home: Callable[..., Home], service: Service, standin: Standin
) -> None:
    standin.fail({"kind": "success_false", "code": 3043})
    home = open_home(service)
    home.generate(API_KEY)
    friendly, said = home.problem()
    assert friendly.startswith("The image model failed, so there is no image.")
    assert said == "Workers AI failed (HTTP 200 with success: false, code 3043)."
    assert f"Original prompt: {FOX}" in home.page.text_content("#answer")
    assert home.page.locator("#generated").is_hidden()
    assert home.strip() == []
    assert home.errors == []


def test_a_rate_limit_says_when_to_come_back(
    open_home: Callable[..., Home], make_service: Callable[..., Service]
) -> None:
    home = open_home(make_service(label="home-rate-limit", RATE_LIMIT="1/minute"))
    home.generate(API_KEY)
    home.page.wait_for_selector("#generated", state="visible", timeout=30_000)
    home.generate(API_KEY)
    friendly, said = home.problem()
    assert re.fullmatch(r"Too many images for now\. Try again in \d+ s\.", friendly)
    assert "RATE_LIMIT" in said
    assert home.page.locator("#generated").is_hidden()


def test_the_page_fits_a_phone(open_home: Callable[..., Home], service: Service) -> None:
    home = open_home(service, viewport=PHONE)
    page = home.page
    assert page.locator("#generate").is_visible()
    home.generate(API_KEY, ratio="16:9")
    page.wait_for_selector("#generated", state="visible", timeout=30_000)
    # With the long answer lines and the image on it, nothing is wider than the screen.
    scroll_width, width = page.evaluate("[document.scrollingElement.scrollWidth, innerWidth]")
    assert scroll_width <= width == PHONE["width"]
    button = page.locator("#generate").bounding_box()
    assert button is not None
    assert button["x"] >= 0
    assert button["x"] + button["width"] <= width
    assert home.errors == []


@pytest.mark.parametrize(
    ("prompt", "ratio", "drawn", "size"),
    [
        ("a lighthouse 16:9", None, "a lighthouse", [1024, 576]),
        ("a lighthouse 16:9", "1:1", "a lighthouse", [1024, 576]),  # the prompt's own wins
        ("a lighthouse 1280x720", "3:4", "a lighthouse", [1280, 720]),
        ("breakfast at 10:30", "3:2", "breakfast at 10:30", [768, 512]),
        ("a lighthouse", None, "a lighthouse", [1024, 1024]),
    ],
    ids=["menu untouched", "menu set", "a size", "not a ratio", "no ratio"],
)
def test_the_prompts_own_ratio_sets_the_size_and_is_not_drawn(
    open_home: Callable[..., Home],
    service: Service,
    standin: Standin,
    prompt: str,
    ratio: str | None,
    drawn: str,
    size: list[int],
) -> None:
    home = open_home(service)
    home.generate(API_KEY, prompt=prompt, ratio=ratio, model="flux-2-klein-4b")
    page = home.page
    page.wait_for_selector("#generated", state="visible", timeout=30_000)
    shown = page.eval_on_selector("#image", "image => [image.naturalWidth, image.naturalHeight]")
    assert shown == size
    [sent] = standin.received()
    assert sent["inputs"]["prompt"] == drawn
    assert home.errors == []


PICTURE = pattern(900, 600)


def test_a_picked_picture_is_edited_and_shown_beside_the_result(
    open_home: Callable[..., Home], service: Service, standin: Standin, tmp_path: Path
) -> None:
    path = tmp_path / "holiday.png"
    path.write_bytes(encoded(PICTURE))
    home = open_home(service)
    page = home.page
    page.set_input_files("#picture", str(path))
    page.wait_for_selector("#picked", state="visible")
    home.generate(API_KEY, prompt="make the sky purple", ratio="")

    page.wait_for_selector("#generated", state="visible", timeout=30_000)
    page.wait_for_selector("#source", state="visible")
    assert page.text_content("#edited-by") == "Edited by flux-2-klein-4b"
    answer = page.text_content("#answer")
    assert "Images worked from: attached (900x600)" in answer
    assert "Image size: 1024x683" in answer
    sizes = page.evaluate(
        """["source-image", "image"].map(id => {
            const image = document.getElementById(id);
            return [image.naturalWidth, image.naturalHeight];
        })"""
    )
    assert sizes == [[900, 600], [1024, 683]]
    (drawn,) = standin.received()
    assert drawn["model"] == "@cf/black-forest-labs/flux-2-klein-4b"
    assert difference(recorded(drawn["images"][0]), thumbnail(PICTURE)) < 4
    assert home.errors == []

    # Removed, the next generation draws from the words alone.
    page.click("#picture-clear")
    assert page.locator("#picked").is_hidden()
    home.generate(API_KEY, prompt="a lighthouse", ratio="1:1")
    page.wait_for_function(
        """() => document.getElementById("answer").textContent.includes("lighthouse")
            && !document.getElementById("generated").hidden"""
    )
    assert page.locator("#source").is_hidden()
    assert standin.received()[-1]["images"] == []


def test_a_dropped_picture_is_edited(
    open_home: Callable[..., Home], service: Service, standin: Standin
) -> None:
    home = open_home(service)
    page = home.page
    # A drop as the browser makes it: a DataTransfer holding the file.
    page.evaluate(
        """async (encoded) => {
            const bytes = Uint8Array.from(atob(encoded), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], "dropped.png", { type: "image/png" }));
            const drop = document.getElementById("drop");
            drop.dispatchEvent(new DragEvent("dragover", { dataTransfer: transfer }));
            drop.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer }));
        }""",
        base64.b64encode(encoded(PICTURE)).decode(),
    )
    page.wait_for_selector("#picked", state="visible")
    home.generate(API_KEY, prompt="add a moon", ratio="")
    page.wait_for_selector("#source", state="visible", timeout=30_000)
    (drawn,) = standin.received()
    assert difference(recorded(drawn["images"][0]), thumbnail(PICTURE)) < 4
    assert home.errors == []
