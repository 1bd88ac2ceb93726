"""The official openai Python SDK against the service as the Procfile starts it: chat, streamed
chat, the Images API, models, refusals, and base URLs with and without /v1."""

from __future__ import annotations

import openai
import pytest

from tests.client_requests import CLIENT_TASKS
from tests.e2e.service import Service
from tests.helpers import API_KEY, FOX, Standin, decode, fetch_image, image_url
from tests.pictures import encoded, pattern


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


def test_gpt_image_answers_say_what_was_delivered(client: openai.OpenAI) -> None:
    answer = client.images.generate(model="gpt-image-1", prompt="a red fox", size="1536x1024")
    image = decode(answer.data[0].b64_json)
    assert (image.format, image.size) == ("PNG", (1024, 683))  # schnell draws 1024 at most
    assert (answer.size, answer.output_format, answer.background) == ("1024x683", "png", "opaque")
    assert answer.quality == "medium"
    assert answer.usage is not None
    assert answer.usage.input_tokens > 0


def test_an_image_stream_yields_the_picture(client: openai.OpenAI, standin: Standin) -> None:
    events = list(client.images.generate(prompt="a red fox 16:9", stream=True, partial_images=0))
    (event,) = events
    assert event.type == "image_generation.completed"
    assert decode(event.b64_json).size == (1024, 576)
    assert event.size == "1024x576"
    assert len(standin.received()) == 1


def test_an_edit_stream_yields_the_edit(client: openai.OpenAI, standin: Standin) -> None:
    (event,) = list(
        client.images.edit(
            image=("photo.png", encoded(pattern(640, 480)), "image/png"),
            prompt="make it night",
            stream=True,
        )
    )
    assert event.type == "image_edit.completed"
    assert decode(event.b64_json).size == (1024, 768)  # the photo's proportions
    assert len(standin.received()[0]["images"]) == 1


def test_chat_n_gives_each_choice_its_own_picture(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="x", messages=[{"role": "user", "content": "a red fox 3:2"}], n=2
    )
    links = [image_url(choice.message.content) for choice in completion.choices]
    assert [choice.index for choice in completion.choices] == [0, 1]
    assert links[0] != links[1]
    assert all(fetch_image(link)[1].size == (768, 512) for link in links)
    streamed = ["", ""]
    chunks = client.chat.completions.create(
        model="x", messages=[{"role": "user", "content": "a red fox"}], n=2, stream=True
    )
    for chunk in chunks:
        for choice in chunk.choices:
            streamed[choice.index] += choice.delta.content or ""
    assert all(fetch_image(image_url(text))[1].size == (1024, 1024) for text in streamed)


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
        picture = bare.images.generate(prompt="a fox", size="256x256").data[0].b64_json
        assert decode(picture).size == (256, 256)


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


@pytest.mark.parametrize("tools", [None, [{"type": "image_generation"}]], ids=["plain", "tool"])
def test_responses_create_holds_the_picture(
    client: openai.OpenAI, standin: Standin, tools: list | None
) -> None:
    extra = {"tools": tools} if tools else {}
    response = client.responses.create(model="gpt-4.1", input="a red fox 9:16", **extra)
    (call,) = [item for item in response.output if item.type == "image_generation_call"]
    assert decode(call.result).size == (576, 1024)
    assert (call.size, call.revised_prompt) == ("576x1024", "a red fox")
    assert fetch_image(image_url(response.output_text))[1].size == (576, 1024)
    assert len(standin.received()) == 1


def test_responses_stream_ends_with_the_whole_response(
    client: openai.OpenAI, standin: Standin
) -> None:
    with client.responses.stream(model="x", input="a red fox 3:2") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[0] == "response.created"
    assert "response.image_generation_call.completed" in kinds
    assert kinds[-1] == "response.completed"
    (call,) = [item for item in final.output if item.type == "image_generation_call"]
    assert decode(call.result).size == (768, 512)
    assert "Image size: 768x512" in final.output_text
    assert len(standin.received()) == 1
