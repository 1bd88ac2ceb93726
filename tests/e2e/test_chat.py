"""Chat completions through gunicorn with the official openai SDK: pictures of the right size."""

from __future__ import annotations

import openai
import pytest
import requests

from tests.conftest import API_KEY, Service, Standin, fetch_picture, image_url

RATIOS = [
    ("a lighthouse at dusk", 1024, 1024),
    ("a lighthouse at dusk 3:2", 768, 512),
    ("a lighthouse at dusk 16:9", 1024, 576),
    ("a lighthouse at dusk 9:16", 576, 1024),
]


@pytest.mark.parametrize(("prompt", "width", "height"), RATIOS)
def test_chat_answers_with_a_picture_of_the_stated_size(
    client: openai.OpenAI, standin: Standin, prompt: str, width: int, height: int
) -> None:
    completion = client.chat.completions.create(
        model="flux-1-schnell", messages=[{"role": "user", "content": prompt}]
    )
    content = completion.choices[0].message.content
    assert completion.model == "@cf/black-forest-labs/flux-1-schnell"
    assert completion.choices[0].finish_reason == "stop"
    assert f"Image size: {width}x{height}" in content
    response, picture = fetch_picture(image_url(content))
    assert response.headers["Content-Type"] == "image/jpeg"
    assert picture.format == "JPEG"
    assert picture.size == (width, height)
    # FLUX.1 schnell is sent its prompt and step count, nothing else.
    (sent,) = standin.received()
    assert sent["content_type"] == "application/json"
    assert sent["inputs"] == {"prompt": "a lighthouse at dusk", "steps": 4}


@pytest.mark.parametrize(("prompt", "width", "height"), RATIOS)
def test_streamed_chat_says_the_same_as_the_plain_answer(
    client: openai.OpenAI, standin: Standin, prompt: str, width: int, height: int
) -> None:
    messages = [{"role": "user", "content": prompt}]
    chunks = list(client.chat.completions.create(model="x", messages=messages, stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(chunk.id == chunks[0].id for chunk in chunks)
    streamed = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    _, picture = fetch_picture(image_url(streamed))
    assert picture.size == (width, height)

    plain = client.chat.completions.create(model="x", messages=messages).choices[0].message.content
    # Only the picture's key differs between the two answers.
    assert streamed.replace(image_url(streamed), "URL") == plain.replace(image_url(plain), "URL")


def test_content_parts_and_markers(client: openai.OpenAI, standin: Standin) -> None:
    content = [
        {"type": "text", "text": "a red fox"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "text", "text": "in deep snow ---ntl 16:9"},
    ]
    answer = client.chat.completions.create(
        model="flux", messages=[{"role": "user", "content": content}]
    )
    _, picture = fetch_picture(image_url(answer.choices[0].message.content))
    assert picture.size == (1024, 576)
    assert standin.received()[0]["inputs"]["prompt"] == "a red fox in deep snow"


def test_each_turn_draws_the_newest_user_message(client: openai.OpenAI, standin: Standin) -> None:
    first = client.chat.completions.create(
        model="flux", messages=[{"role": "user", "content": "a cat"}]
    )
    client.chat.completions.create(
        model="flux",
        messages=[
            {"role": "user", "content": "a cat"},
            {"role": "assistant", "content": first.choices[0].message.content},
            {"role": "user", "content": "a dog"},
        ],
    )
    assert [entry["inputs"]["prompt"] for entry in standin.received()] == ["a cat", "a dog"]


def test_models_are_listed_with_created_and_owner(client: openai.OpenAI) -> None:
    models = client.models.list().data
    assert [model.id for model in models] == [
        "@cf/black-forest-labs/flux-1-schnell",
        "@cf/black-forest-labs/flux-2-klein-4b",
        "@cf/black-forest-labs/flux-2-klein-9b",
    ]
    for model in models:
        assert model.object == "model"
        assert model.owned_by == "black-forest-labs"
        assert isinstance(model.created, int) and model.created > 1_700_000_000
    assert client.models.retrieve("flux-2-klein-4b").id == "@cf/black-forest-labs/flux-2-klein-4b"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("dall-e-3")


def test_a_wrong_key_is_refused(service: Service, standin: Standin) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        service.client(key="wrong").chat.completions.create(
            model="x", messages=[{"role": "user", "content": "a fox"}]
        )
    assert caught.value.status_code == 401
    assert "Incorrect API key" in caught.value.message
    with pytest.raises(openai.AuthenticationError):
        service.client(key="wrong").models.list()
    assert standin.received() == []


@pytest.mark.parametrize(
    ("path", "method"),
    [("/v1/chat/completions", "post"), ("/v1/models", "get")],
)
def test_a_missing_key_is_refused(service: Service, path: str, method: str) -> None:
    response = requests.request(method, service.url + path, json={}, timeout=5)
    assert response.status_code == 401
    assert response.json()["error"]["message"].startswith("Missing API key")


AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{this is not json", "not valid JSON"),
        (b"", "empty"),
        (b'{"model": "x"}', "`messages` must be a non-empty list"),
        (b'{"messages": []}', "`messages` must be a non-empty list"),
        (b'{"messages": [{"role": "system", "content": "hi"}]}', "role `user`"),
        (b'{"messages": [{"role": "user", "content": 42}]}', "string or a list of content parts"),
        (b'{"messages": [{"role": "user", "content": "16:9"}]}', "prompt is empty"),
    ],
)
def test_bad_bodies_get_a_400_that_says_why(
    service: Service, standin: Standin, body: bytes, words: str
) -> None:
    headers = {**AUTH, "Content-Type": "application/json"}
    response = requests.post(
        f"{service.url}/v1/chat/completions", data=body, headers=headers, timeout=5
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert words in error["message"]
    assert error["type"] == "invalid_request_error"
    assert standin.received() == []


def test_unknown_routes_and_methods_answer_in_the_openai_shape(service: Service) -> None:
    missing = requests.get(f"{service.url}/v1/nothing-here", headers=AUTH, timeout=5)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    wrong = requests.get(f"{service.url}/v1/chat/completions", headers=AUTH, timeout=5)
    assert wrong.status_code == 405
    assert "POST" in wrong.headers["Allow"]
    assert wrong.json()["error"]["code"] == "method_not_allowed"


def test_the_home_page_is_up(service: Service) -> None:
    response = requests.get(service.url + "/", timeout=5)
    assert response.status_code == 200
    assert "The service is up" in response.text
    assert "flux-1-schnell" in response.text
