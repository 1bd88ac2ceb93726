"""The official openai Python SDK against the service as the Procfile starts it: chat, streamed
chat, the Images API, models, refusals, and base URLs with and without /v1."""

from __future__ import annotations

import openai
import pytest

from tests.client_requests import CLIENT_TASKS
from tests.e2e.service import Service
from tests.helpers import API_KEY, FOX, Standin, decode, fetch_image, image_url


def test_chat_answers_with_an_image_of_the_stated_size(
    client: openai.OpenAI, standin: Standin
) -> None:
    completion = client.chat.completions.create(
        model="flux-1-schnell", messages=[{"role": "user", "content": "a lighthouse at dusk 16:9"}]
    )
    content = completion.choices[0].message.content
    assert completion.model == "@cf/black-forest-labs/flux-1-schnell"
    assert completion.choices[0].finish_reason == "stop"
    assert "Image size: 1024x576" in content
    response, image = fetch_image(image_url(content))
    assert response.headers["Content-Type"] == "image/jpeg"
    assert (image.format, image.size) == ("JPEG", (1024, 576))
    assert standin.received()[0]["inputs"] == {"prompt": "a lighthouse at dusk", "steps": 4}


def test_streamed_chat_says_the_same_as_the_plain_answer(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "a lighthouse at dusk 9:16"}]
    chunks = list(
        client.chat.completions.create(
            model="x", messages=messages, stream=True, stream_options={"include_usage": True}
        )
    )
    *content_chunks, usage = chunks
    assert content_chunks[0].choices[0].delta.role == "assistant"
    assert content_chunks[-1].choices[0].finish_reason == "stop"
    assert usage.choices == []
    assert usage.usage.total_tokens > 0
    streamed = "".join(chunk.choices[0].delta.content or "" for chunk in content_chunks)
    assert fetch_image(image_url(streamed))[1].size == (576, 1024)
    plain = client.chat.completions.create(model="x", messages=messages).choices[0].message.content
    assert streamed.replace(image_url(streamed), "URL") == plain.replace(image_url(plain), "URL")


def test_images_generate_as_urls_and_as_base64(client: openai.OpenAI) -> None:
    (item,) = client.images.generate(model="dall-e-3", prompt="a red fox", size="1792x1024").data
    assert item.b64_json is None
    assert fetch_image(item.url)[1].size == (1024, 585)  # schnell's largest side is 1024
    inline = client.images.generate(prompt="a red fox", size="512x512", response_format="b64_json")
    assert inline.data[0].url is None
    assert decode(inline.data[0].b64_json).size == (512, 512)


def test_models_are_listed_and_retrieved(client: openai.OpenAI) -> None:
    assert client.models.list().data[0].id.endswith("flux-1-schnell")
    assert client.models.retrieve("flux-2-klein-4b").id == "@cf/black-forest-labs/flux-2-klein-4b"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("dall-e-3")


def test_every_route_answers_without_v1(service: Service) -> None:
    with openai.OpenAI(base_url=service.url, api_key=API_KEY, max_retries=0) as bare:
        assert bare.models.list().data
        content = (
            bare.chat.completions.create(
                model="x", messages=[{"role": "user", "content": "a fox 9:16"}]
            )
            .choices[0]
            .message.content
        )
        assert fetch_image(image_url(content))[1].size == (576, 1024)
        assert bare.images.generate(prompt="a fox", size="256x256").data[0].url


def test_a_wrong_key_is_refused_and_draws_nothing(service: Service, standin: Standin) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        service.client(key="wrong").chat.completions.create(model="x", messages=FOX)
    assert caught.value.status_code == 401
    assert "Incorrect API key" in caught.value.message
    assert standin.received() == []


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_client_task_gets_text_and_draws_nothing(
    client: openai.OpenAI, standin: Standin, stream: bool
) -> None:
    _, body, _, fragment = next(case for case in CLIENT_TASKS if case[0] == "open-webui title")
    if stream:
        chunks = client.chat.completions.create(messages=body["messages"], model="x", stream=True)
        content = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    else:
        content = client.chat.completions.create(messages=body["messages"], model="x")
        content = content.choices[0].message.content
    assert fragment in content
    assert standin.received() == []


def test_a_failed_generation_tells_the_sdk_not_to_retry(
    client: openai.OpenAI, standin: Standin
) -> None:
    standin.fail({"kind": "success_false", "code": 3043})
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="x", messages=FOX)
    assert caught.value.status_code == 502
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert len(standin.received()) == 1  # the SDK did not try again
