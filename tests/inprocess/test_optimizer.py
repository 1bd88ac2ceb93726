"""Prompt optimization: used when on, skipped when off, and never costs an image."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from flask import Flask

from flux_service.standin import DEFAULT_ACCOUNT
from flux_service.upstream.optimizer import OptimizerError, PromptOptimizer
from tests.helpers import SECOND_ACCOUNT, SECOND_TOKEN, STANDIN_TOKEN, Standin, image_url
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
    # In English, whatever language the description came in.
    expected = "A richly detailed image of a red fox in the snow, soft natural light, sharp focus"
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


# Only PROMPT_OPTIMIZATION: the optimizer runs on Workers AI with the image accounts' tokens.
ON_WORKERS_AI = {
    "PROMPT_OPTIMIZATION": "true",
    "EXTERNAL_API_BASE": "",
    "EXTERNAL_MODEL": "",
    "EXTERNAL_API_KEY": "",
}
GEMMA = "@cf/google/gemma-4-26b-a4b-it"


def test_with_nothing_else_set_the_optimizer_runs_on_workers_ai(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    api = Api(make_app(**ON_WORKERS_AI).test_client())
    content = api.answer(FOX)
    (asked,) = standin.received(optimizer=True)
    assert (asked["model"], asked["account"], asked["max_tokens"]) == (GEMMA, DEFAULT_ACCOUNT, 400)
    assert asked["messages"][1]["content"].endswith("Description: 一只在雪地里的红狐狸")
    english = "A richly detailed image of a red fox in the snow, soft natural light, sharp focus"
    (drawn,) = standin.received()
    assert drawn["inputs"]["prompt"] == english  # the image model gets English
    assert "Original prompt: 一只在雪地里的红狐狸" in content  # the answer states both
    assert f"Prompt sent to the model: {english}" in content
    assert f"Prompt model: {GEMMA}" in content


def test_its_neurons_count_in_the_day_the_metrics_and_the_log(
    make_app: Callable[..., Flask], standin: Standin, capsys: pytest.CaptureFixture[str]
) -> None:
    app = make_app(**ON_WORKERS_AI)
    Api(app.test_client()).answer("a red fox")
    (asked,) = standin.received(optimizer=True)
    # What the stand-in counted: a character in four is a token, as its answer says.
    read = sum(len(m["content"]) for m in asked["messages"]) // 4 + 1
    written = len("A richly detailed image of a red fox, soft natural light, sharp focus") // 4 + 1
    rewrite = (read * 9_091 + written * 27_273) / 1_000_000
    today = app.extensions["flux"].spending.today()
    assert today.images == 1
    assert today.neurons == pytest.approx(172.8 + rewrite, abs=0.002)
    exposition = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'flux_neurons_total{key="' in exposition
    assert any(
        line.startswith("flux_neurons_total") and f'model="{GEMMA}"' in line
        for line in exposition.splitlines()
    )
    assert f'"optimizer_neurons": {round(rewrite, 2)}' in capsys.readouterr().err


def test_a_failure_on_workers_ai_draws_from_the_original_prompt(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    api = Api(make_app(**ON_WORKERS_AI).test_client())
    standin.fail({"kind": "error", "status": 500}, target="optimizer")
    content = api.answer("a red fox 16:9")
    assert standin.received()[0]["inputs"]["prompt"] == "a red fox"
    assert f"{GEMMA} did not answer, so the original prompt was used" in content


def test_an_account_out_of_its_allocation_rests_and_the_rewrite_goes_to_the_next(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    pool = f"{DEFAULT_ACCOUNT}:{STANDIN_TOKEN},{SECOND_ACCOUNT}:{SECOND_TOKEN}"
    api = Api(
        make_app(**ON_WORKERS_AI, CF_ACCOUNTS=pool, CF_ACCOUNT_ID="", CF_API_TOKEN="").test_client()
    )
    standin.fail(
        {"kind": "error", "status": 429, "code": 4006, "account": DEFAULT_ACCOUNT},
        target="optimizer",
    )
    content = api.answer("a red fox")
    asked = standin.received(optimizer=True)
    assert [call["account"] for call in asked] == [DEFAULT_ACCOUNT, SECOND_ACCOUNT]
    assert "Prompt sent to the model: A richly detailed image of a red fox" in content
    assert standin.received()[0]["account"] == SECOND_ACCOUNT  # the first rests till midnight


def test_the_budget_holds_room_for_the_rewrite(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    # One FLUX.1 schnell image is 172.8 neurons; the rewrite may cost up to some 12 more.
    assert Api(make_app(DAILY_NEURON_BUDGET="180").test_client()).chat("a fox").status_code == 200
    refused = Api(make_app(**ON_WORKERS_AI, DAILY_NEURON_BUDGET="180").test_client()).chat("a fox")
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "insufficient_quota"
    assert standin.received(optimizer=True) == []
