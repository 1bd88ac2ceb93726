"""Daily neuron budgets: a generation that would pass one is refused before anything is drawn,
and the next UTC day draws again. FLUX.1 schnell costs 172.8 neurons an image."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from tests.helpers import API_KEY, OTHER_KEY, Standin
from tests.inprocess.api import Api

SCHNELL = 172.8
EVENING = datetime(2026, 3, 1, 22, 30, tzinfo=UTC)  # 90 minutes before 00:00 UTC


class Clock:
    """The app's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = EVENING

    def __call__(self) -> datetime:
        return self.now


def with_clock(app: Flask) -> tuple[Api, Clock]:
    clock = Clock()
    app.extensions["flux"].spending.now = clock
    return Api(app.test_client()), clock


def assert_spent(response: TestResponse, whose: str) -> None:
    assert response.status_code == 429
    assert response.headers["Retry-After"] == str(90 * 60)
    assert response.headers["x-should-retry"] == "false"
    error = response.get_json()["error"]
    assert error["code"] == "insufficient_quota"
    assert f"{whose} daily budget of Workers AI neurons" in error["message"]
    assert "is spent" in error["message"]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_generation_past_the_service_budget_is_refused_before_anything_is_drawn(
    make_app: Callable[..., Flask], standin: Standin, stream: bool
) -> None:
    app = make_app(DAILY_NEURON_BUDGET="400", PROMPT_OPTIMIZATION="true")
    api, _ = with_clock(app)
    assert api.images(prompt="a fox", n=2, size="256x256").status_code == 200  # 345.6
    drawn, asked = len(standin.received()), len(standin.received(optimizer=True))
    assert (drawn, asked) == (2, 1)
    refused = api.chat("a red fox", stream=stream)
    assert_spent(refused, "This service's")
    assert "DAILY_NEURON_BUDGET=400" in refused.get_json()["error"]["message"]
    # Neither Workers AI nor the optimizer was asked anything.
    assert len(standin.received()) == 2
    assert len(standin.received(optimizer=True)) == 1


def test_a_request_for_several_images_must_fit_whole(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    api, _ = with_clock(make_app(DAILY_NEURON_BUDGET=str(3 * SCHNELL)))
    assert_spent(api.images(prompt="a fox", n=4, size="256x256"), "This service's")
    assert standin.received() == []
    assert api.images(prompt="a fox", n=3, size="256x256").status_code == 200
    assert len(standin.received()) == 3


def test_each_key_has_its_own_budget(make_app: Callable[..., Flask], standin: Standin) -> None:
    app = make_app(DAILY_NEURON_BUDGET_PER_KEY="200", API_KEY=f"{API_KEY},{OTHER_KEY}")
    api, _ = with_clock(app)
    api.answer("a red fox")
    refused = api.chat("a red fox")
    assert_spent(refused, "This API key's")
    assert "DAILY_NEURON_BUDGET_PER_KEY=200" in refused.get_json()["error"]["message"]
    body = {"messages": [{"role": "user", "content": "a red fox"}]}
    assert api.post("/v1/chat/completions", body, key=OTHER_KEY).status_code == 200
    assert len(standin.received()) == 2


def test_the_next_utc_day_draws_again(make_app: Callable[..., Flask], standin: Standin) -> None:
    api, clock = with_clock(make_app(DAILY_NEURON_BUDGET="200", DAILY_NEURON_BUDGET_PER_KEY="200"))
    api.answer("a red fox")
    assert api.chat("a red fox").status_code == 429
    clock.now = EVENING + timedelta(minutes=89, seconds=59)
    assert api.chat("a red fox").status_code == 429  # still the same UTC day
    clock.now = EVENING + timedelta(minutes=90)  # 00:00 UTC
    api.answer("a red fox")
    assert len(standin.received()) == 2


def test_the_home_page_shows_the_days_images_and_their_cost(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(API_KEY=f"{API_KEY},{OTHER_KEY}")
    api, clock = with_clock(app)

    def today() -> list[str]:
        page = api.client.get("/").get_data(as_text=True)
        return [
            re.findall(f'id="today-{what}">([^<]*)<', page)[0]
            for what in ("images", "neurons", "dollars")
        ]

    assert today() == ["0", "0.0", "$0.0000"]
    api.answer("a red fox")
    api.images(prompt="a fox", n=2, model="flux-2-klein-4b", size="512x512")
    body = {"messages": [{"role": "user", "content": "a red fox"}]}
    api.post("/v1/chat/completions", body, key=OTHER_KEY)
    # Two schnell images (172.8 each) and two klein-4b ones at one tile (26.05 each).
    assert today() == ["4", "397.7", "$0.0044"]
    page = api.client.get("/").get_data(as_text=True)
    assert API_KEY not in page
    assert OTHER_KEY not in page
    clock.now = EVENING + timedelta(hours=2)
    assert today() == ["0", "0.0", "$0.0000"]


def test_the_log_line_has_the_cost_and_a_digest_of_the_key_never_the_key(
    make_app: Callable[..., Flask], capsys: pytest.CaptureFixture[str]
) -> None:
    api, _ = with_clock(make_app())
    capsys.readouterr()
    api.answer("a red fox")
    api.answer("a red fox")
    logged = capsys.readouterr().err
    lines = [json.loads(line) for line in logged.splitlines() if '"route": "/v1/chat' in line]
    assert [line["neurons"] for line in lines] == [SCHNELL, SCHNELL]
    assert lines[0]["dollars"] == pytest.approx(SCHNELL * 0.011 / 1000, abs=1e-6)
    assert [line["key_neurons_today"] for line in lines] == [SCHNELL, 2 * SCHNELL]
    assert re.fullmatch("[0-9a-f]{12}", lines[0]["key"])
    assert API_KEY not in logged


def test_a_follow_up_past_the_budget_asks_the_optimizer_nothing(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    api, _ = with_clock(make_app(DAILY_NEURON_BUDGET="300", PROMPT_OPTIMIZATION="true"))
    first = api.answer("a lighthouse at dusk")
    messages = [
        {"role": "user", "content": "a lighthouse at dusk"},
        {"role": "assistant", "content": first},
        {"role": "user", "content": "make the sky red"},
    ]
    assert_spent(api.chat("x", messages=messages), "This service's")
    # The optimizer rewrote the first prompt only; it was never asked what the follow-up meant.
    assert len(standin.received(optimizer=True)) == 1
    assert len(standin.received()) == 1
