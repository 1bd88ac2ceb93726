"""Editing through gunicorn, as real clients send it: the OpenAI SDK's images.edit, raw
multipart in the shapes chat apps use, chat attachments streamed and not, a follow-up, a
phone photo carried through a conversation, images fetched by URL, and bad images.

Each test checks what the stand-in received (the field, the size, the pixels compared with
what was sent) and that the answer says what happened.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

import openai
import pytest
import requests
from PIL import Image, ImageDraw

from tests.e2e.service import Service
from tests.helpers import AUTH, Standin, decode, fetch_image, image_url
from tests.image_host import NETWORK, ImageHost
from tests.image_host import PHOTO as HOSTED
from tests.pictures import data_uri, difference, encoded, pattern, photo, recorded, thumbnail

KLEIN = "@cf/black-forest-labs/flux-2-klein-4b"
PICTURE = pattern(900, 600)
OTHER = pattern(600, 600, seed=2)


def png_file(image: Image.Image, name: str = "picture.png") -> tuple[str, bytes, str]:
    return (name, encoded(image), "image/png")


def assert_received(entry: dict, *sent: Image.Image) -> None:
    """The stand-in got these images, each shrunk under 512 pixels, with their pixels."""
    assert len(entry["images"]) == len(sent)
    for got, image in zip(entry["images"], sent, strict=True):
        assert max(got["width"], got["height"]) == 511
        assert difference(recorded(got), thumbnail(image)) < 4


def test_sdk_edit_of_one_image(client: openai.OpenAI, standin: Standin) -> None:
    result = client.images.edit(image=png_file(PICTURE), prompt="add a red balloon")
    (sent,) = standin.received()
    assert sent["model"] == KLEIN
    assert sent["inputs"]["input_image_0"].endswith("bytes>")
    assert (sent["inputs"]["width"], sent["inputs"]["height"]) == (1024, 688)
    assert_received(sent, PICTURE)
    assert result.data is not None
    image = decode(result.data[0].b64_json)
    assert image.size == (1024, 683)  # the picture's own 3:2
    assert difference(image, PICTURE) < 30


def test_sdk_edit_of_two_images(client: openai.OpenAI, standin: Standin) -> None:
    client.images.edit(
        image=[png_file(PICTURE, "a.png"), png_file(OTHER, "b.png")],
        prompt="the two together",
        size="1024x1024",
    )
    (sent,) = standin.received()
    assert sorted(name for name in sent["inputs"] if name.startswith("input_image")) == [
        "input_image_0",
        "input_image_1",
    ]
    assert_received(sent, PICTURE, OTHER)
    assert (sent["inputs"]["width"], sent["inputs"]["height"]) == (1024, 1024)


def test_sdk_edit_with_a_mask_keeps_the_rest(client: openai.OpenAI, standin: Standin) -> None:
    picture = pattern(512, 512)
    mask = Image.new("RGBA", (512, 512), (0, 0, 0, 255))
    ImageDraw.Draw(mask).rectangle((0, 0, 255, 511), fill=(0, 0, 0, 0))  # change the left
    result = client.images.edit(
        image=png_file(picture), mask=png_file(mask, "mask.png"), prompt="a moon", size="512x512"
    )
    assert result.data is not None
    image = decode(result.data[0].b64_json)
    assert difference(image.crop((300, 0, 512, 512)), picture.crop((300, 0, 512, 512))) < 3
    assert difference(image.crop((20, 250, 150, 280)), picture.crop((20, 250, 150, 280))) > 20
    assert standin.received()[0]["images"]


@pytest.mark.parametrize(
    ("files", "model"),
    [
        ([("image[]", png_file(PICTURE))], ""),  # n8n, LiteLLM, Open WebUI
        ([("image", png_file(PICTURE, "1.png")), ("image", png_file(OTHER, "2.png"))], ""),
        ([("image", png_file(PICTURE, "blob"))], "gpt-image-1"),  # Cherry Studio's follow-up
    ],
    ids=["image[]", "image-repeated", "gpt-image-1"],
)
def test_raw_multipart_as_chat_apps_send_it(
    service: Service, standin: Standin, files: list, model: str
) -> None:
    response = requests.post(
        f"{service.url}/v1/images/edits",
        data={"prompt": "make it night", "model": model, "n": "1", "size": "1024x1024"},
        files=files,
        headers=AUTH,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    (item,) = response.json()["data"]
    image = decode(item["b64_json"])  # base64 without response_format, as clients need
    assert image.size == (1024, 1024)
    (sent,) = standin.received()
    assert sent["model"] == KLEIN
    assert_received(sent, *(PICTURE, OTHER)[: len(files)])


def attachment(text: str, uri: str) -> list[dict]:
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": text},
                {"type": "image_url", "image_url": {"url": uri}},
            ],
        }
    ]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_chat_with_an_attached_image(client: openai.OpenAI, standin: Standin, stream: bool) -> None:
    messages = attachment("make the sky purple", data_uri(encoded(PICTURE)))
    if stream:
        chunks = client.chat.completions.create(model="x", messages=messages, stream=True)
        text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    else:
        answer = client.chat.completions.create(model="x", messages=messages)
        text = answer.choices[0].message.content or ""
    (sent,) = standin.received()
    assert_received(sent, PICTURE)
    assert sent["inputs"]["prompt"] == "make the sky purple"
    assert "Images worked from: attached (900x600)" in text
    assert "Model: flux-2-klein-4b" in text
    assert "Image size: 1024x683" in text
    assert fetch_image(image_url(text))[1].size == (1024, 683)


def test_a_follow_up_edits_the_image_above(
    make_service: Callable[..., Service], standin: Standin
) -> None:
    client = make_service(PROMPT_OPTIMIZATION="true").client()
    first = [{"role": "user", "content": "a lighthouse at dusk"}]
    answer = client.chat.completions.create(model="x", messages=first).choices[0].message.content
    assert answer is not None
    _, drawn = fetch_image(image_url(answer))
    conversation = [
        *first,
        {"role": "assistant", "content": answer},
        {"role": "user", "content": "make the sky red"},
    ]
    reply = client.chat.completions.create(model="x", messages=conversation)
    text = reply.choices[0].message.content or ""
    edit = standin.received()[-1]
    assert edit["model"] == KLEIN
    assert edit["inputs"]["prompt"] == "Edit: make the sky red"
    assert difference(recorded(edit["images"][0]), thumbnail(drawn)) < 6
    assert "Images worked from: the image above (1024x1024)" in text
    assert fetch_image(image_url(text))[1].size == (1024, 1024)


def test_a_phone_photo_carried_through_a_conversation(
    client: openai.OpenAI, standin: Standin
) -> None:
    uri = data_uri(photo(), "image/jpeg")
    assert len(uri) > 7_000_000
    messages = attachment("make it look like winter", uri)
    took = []
    for turn in range(5):
        started = time.monotonic()
        answer = client.chat.completions.create(model="x", messages=messages)
        took.append(time.monotonic() - started)
        text = answer.choices[0].message.content or ""
        assert image_url(text)
        if turn == 0:
            assert "attached (4000x3000)" in text
        else:
            assert "Images worked from" not in text  # the photo above is history: not reused
        messages = [
            *messages,
            {"role": "assistant", "content": text},
            {"role": "user", "content": f"now a version {turn + 2}"},
        ]
    drawings = standin.received()
    assert_received(drawings[0], decode(photo()))
    assert [len(entry["images"]) for entry in drawings] == [1, 0, 0, 0, 0]
    assert max(took[1:]) < 2.0, took  # the history's photo is read, never decoded


def test_a_fetched_image_is_used_and_loopback_never_is(
    make_service: Callable[..., Service], standin: Standin, image_host: ImageHost
) -> None:
    client = make_service(FETCH_PRIVATE_NETWORKS=NETWORK).client()
    answer = client.chat.completions.create(
        model="x", messages=attachment("add snow", f"{image_host.url}/photo.png")
    )
    text = answer.choices[0].message.content or ""
    assert "fetched from its URL (900x600)" in text
    assert_received(standin.received()[0], HOSTED)


def refused(service: Service, url: str) -> str:
    """The 400's message for a chat that attaches `url`."""
    body = {"model": "x", "messages": attachment("add snow", url)}
    response = requests.post(
        f"{service.url}/v1/chat/completions", json=body, headers=AUTH, timeout=30
    )
    assert response.status_code == 400, response.text
    return response.json()["error"]["message"]


def test_urls_that_must_not_be_fetched_are_refused(
    make_service: Callable[..., Service], standin: Standin, image_host: ImageHost
) -> None:
    service = make_service(FETCH_PRIVATE_NETWORKS=NETWORK)
    port = service.url.rsplit(":", 1)[1]
    for url, words in [
        (f"http://127.0.0.1:{port}/healthz", "private or local address (127.0.0.1)"),
        ("http://localhost/x.png", "private or local address"),
        ("http://169.254.169.254/latest/meta-data", "private or local address (169.254.169.254)"),
        ("http://10.1.2.3/x.png", "private or local address (10.1.2.3)"),
        ("http://[::1]/x.png", "private or local address (::1)"),
        (f"{image_host.url}/to-loopback", "private or local address (127.0.0.1)"),
        (f"{image_host.url}/hop/4", "redirects more than 3 times"),
        (f"{image_host.url}/page", "text/html, not an image"),
        ("ftp://example.com/x.png", "data: URI or an http(s) URL"),
    ]:
        assert words in refused(service, url), url
    assert standin.received() == []
    # Three redirects are followed (4 to 3 to 2 to 1); the fourth is not.
    assert "/hop/1" in image_host.asked
    assert "/hop/0" not in image_host.asked


def test_a_huge_image_is_cut_off_at_the_cap(
    make_service: Callable[..., Service], standin: Standin, image_host: ImageHost
) -> None:
    service = make_service(FETCH_PRIVATE_NETWORKS=NETWORK)
    started = time.monotonic()
    message = refused(service, f"{image_host.url}/huge.png")
    assert "larger than MAX_IMAGE_BYTES (20 MiB)" in message
    assert time.monotonic() - started < 5
    assert standin.received() == []


def test_our_own_image_urls_are_read_from_the_store(
    make_service: Callable[..., Service], standin: Standin, image_host: ImageHost
) -> None:
    service = make_service(FETCH_PRIVATE_NETWORKS=NETWORK)
    client = service.client()
    first = client.chat.completions.create(
        model="x", messages=[{"role": "user", "content": "a lighthouse"}]
    )
    link = image_url(first.choices[0].message.content or "")
    _, drawn = fetch_image(link)
    asked_before = len(image_host.asked)
    answer = client.chat.completions.create(model="x", messages=attachment("make it night", link))
    # Fetched, the link would have been refused: it is on 127.0.0.1.
    assert "the image above (1024x1024)" in (answer.choices[0].message.content or "")
    assert difference(recorded(standin.received()[-1]["images"][0]), thumbnail(drawn)) < 6
    assert len(image_host.asked) == asked_before


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"GIF89a but not really", "not an image"),
        (encoded(PICTURE)[:2000], "truncated or damaged"),
        (encoded(Image.new("1", (9000, 6000))), "54 megapixels; at most 50"),
    ],
    ids=["not-an-image", "truncated", "over-50-mp"],
)
def test_bad_images_are_a_400_and_the_worker_lives_on(
    service: Service, client: openai.OpenAI, standin: Standin, data: bytes, words: str
) -> None:
    response = requests.post(
        f"{service.url}/v1/images/edits",
        data={"prompt": "x"},
        files={"image": ("bad.png", data, "image/png")},
        headers=AUTH,
        timeout=30,
    )
    assert response.status_code == 400, response.text
    assert words in response.json()["error"]["message"]
    assert standin.received() == []
    assert client.images.edit(image=png_file(PICTURE), prompt="fine").data
    assert "Traceback" not in service.log()
    assert "WORKER TIMEOUT" not in service.log()


def test_b64_of_an_edit_is_the_image(client: openai.OpenAI) -> None:
    result = client.images.edit(
        image=png_file(PICTURE), prompt="x", response_format="b64_json", size="512x512"
    )
    assert result.data is not None
    assert result.data[0].b64_json is not None
    assert decode(base64.b64decode(result.data[0].b64_json)).size == (512, 512)


def test_n_edits_are_drawn_at_once(client: openai.OpenAI, standin: Standin) -> None:
    standin.configure(latency=1.0)
    started = time.monotonic()
    result = client.images.edit(image=png_file(PICTURE), prompt="three takes", n=3)
    took = time.monotonic() - started
    assert result.data is not None
    assert len(result.data) == 3
    # One after another they would take 3 s at least; at once, 1 s and what a busy machine adds.
    assert took < 2.5, f"{took:.2f} s: the three were drawn one after another"
    drawn = standin.received()
    assert len(drawn) == 3
    for entry in drawn:
        assert_received(entry, PICTURE)
    assert len({entry["inputs"]["seed"] for entry in drawn}) == 3
