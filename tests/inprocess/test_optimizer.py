"""Prompt optimization: used when on, skipped when off, and never costs an image."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from flask import Flask

from flux_service.upstream.optimizer import OptimizerError, PromptOptimizer
from tests.helpers import Standin, image_url
from tests.inprocess.api import Api, settings_with

FOX = "一只在雪地里的红狐狸 16:9"


@pytest.fixture
def optimized(make_app: Callable[..., Flask]) -> Api:
    return Api(make_app(PROMPT_OPTIMIZATION="true").test_client())


def test_the_optimized_prompt_is_drawn_and_shown(optimized: Api, standin: Standin) -> None:
    content = optimized.answer(FOX)
    (asked,) = standin.received(optimizer=True)
    assert asked["model"] == "standin-writer"
    system, user = asked["messages"]
    assert system["role"] == "system"
    assert "FLUX" in system["content"]
    assert (
        user["content"] == "Aspect ratio: 16:9 (1024x576 pixels)\nDescription: 一只在雪地里的红狐狸"
    )
    expected = "A richly detailed image of 一只在雪地里的红狐狸, soft natural light, sharp focus"
    (drawn,) = standin.received()
    assert drawn["inputs"]["prompt"] == expected
    assert "Prompt model: standin-writer" in content
    assert f"Prompt sent to the model: {expected}" in content
    assert optimized.image(image_url(content)).size == (1024, 576)


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "error", "status": 500},
        {"kind": "error", "status": 401},
        {"kind": "garbage"},
        {"kind": "empty"},
        {"kind": "nonsense"},
        {"kind": "reset"},
    ],
    ids=["500", "401", "garbage", "empty", "nonsense", "reset"],
)
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_failing_optimizer_falls_back_to_the_original_prompt(
    optimized: Api, standin: Standin, fault: dict, stream: bool
) -> None:
    standin.fail(fault, target="optimizer")
    content = optimized.answer(FOX, stream=stream)
    assert standin.received()[0]["inputs"]["prompt"] == "一只在雪地里的红狐狸"
    assert "standin-writer did not answer, so the original prompt was used" in content
    optimized.image(image_url(content))


def test_a_wrong_optimizer_key_falls_back_too(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    api = Api(make_app(PROMPT_OPTIMIZATION="true", EXTERNAL_API_KEY="revoked").test_client())
    content = api.answer(FOX)
    assert "did not answer" in content
    assert standin.received(optimizer=True) == []  # refused at the door, never recorded
    assert standin.received()[0]["inputs"]["prompt"] == "一只在雪地里的红狐狸"


def test_a_too_long_optimized_prompt_is_shortened(optimized: Api, standin: Standin) -> None:
    standin.fail({"kind": "huge"}, target="optimizer")
    content = optimized.answer(FOX)
    sent = standin.received()[0]["inputs"]["prompt"]
    assert sent.startswith("A richly detailed image of")
    assert 2000 < len(sent) <= 2048
    assert "shortened to the model's limit of 2048 characters" in content


def test_without_optimization_the_optimizer_is_never_called(api: Api, standin: Standin) -> None:
    content = api.answer(FOX)
    assert standin.received(optimizer=True) == []
    assert "Prompt model: none, the original prompt was used" in content


def test_answers_follow_response_language(make_app: Callable[..., Flask]) -> None:
    content = Api(make_app(RESPONSE_LANGUAGE="ja").test_client()).answer(FOX)
    assert "元のプロンプト: 一只在雪地里的红狐狸" in content
    assert "画像サイズ: 1024x576 (16:9)" in content
    assert "画像の生成に成功しました！" in content


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"kind": "error", "status": 429}, "HTTP 429"),
        ({"kind": "garbage", "status": 200}, "HTTP 200, JSONDecodeError"),
        ({"kind": "nonsense"}, "HTTP 200, IndexError"),
        ({"kind": "reset"}, "ConnectionError"),
    ],
)
def test_an_optimizer_failure_says_what_went_wrong_without_its_body(
    session: requests.Session, standin: Standin, fault: dict, reason: str
) -> None:
    # The reason goes into the log line: a status tells a revoked key from a rate limit.
    optimizer = PromptOptimizer(settings_with(PROMPT_OPTIMIZATION="true"), session)
    standin.fail(fault, target="optimizer")
    with pytest.raises(OptimizerError) as caught:
        optimizer.optimize("a fox", "1:1", "1024x1024")
    assert str(caught.value) == reason
