"""Prompt optimization: used when on, skipped when off, and never costs a picture."""

from __future__ import annotations

from collections.abc import Callable

import openai
import pytest

from tests.conftest import OPTIMIZER_KEY, Service, Standin, fetch_picture, image_url

FOX = [{"role": "user", "content": "一只在雪地里的红狐狸 16:9"}]


@pytest.fixture
def optimized(make_service: Callable[..., Service], standin: Standin) -> openai.OpenAI:
    return make_service(PROMPT_OPTIMIZATION="true").client()


def test_the_optimized_prompt_is_drawn_and_shown(
    optimized: openai.OpenAI, standin: Standin
) -> None:
    content = optimized.chat.completions.create(model="x", messages=FOX).choices[0].message.content
    (asked,) = standin.received(optimizer=True)
    assert asked["model"] == "standin-writer"
    system, user = asked["messages"]
    assert system["role"] == "system" and "FLUX" in system["content"]
    assert (
        user["content"] == "Aspect ratio: 16:9 (1024x576 pixels)\nDescription: 一只在雪地里的红狐狸"
    )
    expected = "A richly detailed picture of 一只在雪地里的红狐狸, soft natural light, sharp focus"
    (drawn,) = standin.received()
    assert drawn["inputs"]["prompt"] == expected
    assert "Prompt model: standin-writer" in content
    assert f"Prompt sent to the model: {expected}" in content
    _, picture = fetch_picture(image_url(content))
    assert picture.size == (1024, 576)


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "error", "status": 500},
        {"kind": "garbage"},
        {"kind": "empty"},
        {"kind": "nonsense"},
        {"kind": "reset"},
    ],
)
def test_a_failing_optimizer_falls_back_to_the_original_prompt(
    optimized: openai.OpenAI, standin: Standin, fault: dict
) -> None:
    standin.fail(fault, target="optimizer")
    content = optimized.chat.completions.create(model="x", messages=FOX).choices[0].message.content
    assert standin.received()[0]["inputs"]["prompt"] == "一只在雪地里的红狐狸"
    assert "standin-writer did not answer, so the original prompt was used" in content
    fetch_picture(image_url(content))


def test_a_too_long_optimized_prompt_is_shortened(
    optimized: openai.OpenAI, standin: Standin
) -> None:
    standin.fail({"kind": "huge"}, target="optimizer")
    content = optimized.chat.completions.create(model="x", messages=FOX).choices[0].message.content
    sent = standin.received()[0]["inputs"]["prompt"]
    assert sent.startswith("A richly detailed picture of") and 2000 < len(sent) <= 2048
    assert "shortened to the model's limit of 2048 characters" in content


def test_without_optimization_the_optimizer_is_never_called(
    client: openai.OpenAI, standin: Standin
) -> None:
    content = client.chat.completions.create(model="x", messages=FOX).choices[0].message.content
    assert standin.received(optimizer=True) == []
    assert "Prompt model: none, the original prompt was used" in content


def test_the_optimizer_key_is_sent(optimized: openai.OpenAI, standin: Standin) -> None:
    # The stand-in refuses any other key with a 401, which would show as a fallback.
    content = optimized.chat.completions.create(model="x", messages=FOX).choices[0].message.content
    assert "did not answer" not in content
    assert OPTIMIZER_KEY


def test_answers_follow_response_language(
    make_service: Callable[..., Service], standin: Standin
) -> None:
    client = make_service(RESPONSE_LANGUAGE="ja").client()
    content = client.chat.completions.create(model="x", messages=FOX).choices[0].message.content
    assert "元のプロンプト: 一只在雪地里的红狐狸" in content
    assert "画像サイズ: 1024x576 (16:9)" in content
    assert "画像の生成に成功しました！" in content
