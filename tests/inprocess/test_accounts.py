"""A pool of two Cloudflare accounts against the stand-in playing both, on a clock we set:
an account out of its allocation or at its rate limit rests, and the same request moves on."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from flux_service.standin import DEFAULT_ACCOUNT
from flux_service.web.factory import create_app
from tests.helpers import SECOND_ACCOUNT, SECOND_TOKEN, STANDIN_TOKEN, Standin, image_url
from tests.inprocess.api import Api, settings_with

POOL = f"{DEFAULT_ACCOUNT}:{STANDIN_TOKEN},{SECOND_ACCOUNT}:{SECOND_TOKEN}"
NOON = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
SECONDS_TO_MIDNIGHT = 12 * 3600
DAILY = {
    "kind": "error",
    "status": 429,
    "code": 4006,
    "message": "4006: you have used up your daily free allocation of 10,000 neurons",
}
MINUTE = {"kind": "error", "status": 429, "code": 3021, "message": "Rate limited"}


class Clock:
    """The pool's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = NOON

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def pool(session: requests.Session, clock: Clock) -> Api:
    """The service with both accounts of the stand-in in CF_ACCOUNTS."""
    return Api(create_app(settings_with(CF_ACCOUNTS=POOL), session, now=clock).test_client())


def accounts_called(standin: Standin) -> list[str]:
    return [entry["account"] for entry in standin.received()]


def health(client: FlaskClient) -> list[dict]:
    response = client.get("/healthz")
    assert response.status_code == 200
    return response.get_json()["accounts"]


def test_an_account_out_of_its_allocation_hands_the_same_request_to_the_next(
    pool: Api, standin: Standin
) -> None:
    standin.fail({**DAILY, "account": DEFAULT_ACCOUNT})
    pool.image(image_url(pool.answer("a red fox")))
    assert accounts_called(standin) == [DEFAULT_ACCOUNT, SECOND_ACCOUNT]
    assert health(pool.client) == [
        {"index": 0, "state": "resting", "why": "allocation", "until": "2026-12-03T00:00:00Z"},
        {"index": 1, "state": "ready"},
    ]


def test_an_account_at_its_per_minute_limit_rests_a_minute(
    pool: Api, standin: Standin, clock: Clock
) -> None:
    standin.fail({**MINUTE, "account": DEFAULT_ACCOUNT})
    pool.answer("a red fox", stream=True)
    pool.answer("a red fox")
    assert accounts_called(standin) == [DEFAULT_ACCOUNT, SECOND_ACCOUNT, SECOND_ACCOUNT]
    clock.now += timedelta(seconds=61)
    pool.answer("a red fox")
    assert accounts_called(standin)[3:] == [DEFAULT_ACCOUNT]


def test_with_every_account_out_the_answer_is_a_429_until_midnight_and_the_next_day_works(
    pool: Api, standin: Standin, clock: Clock
) -> None:
    standin.fail({**DAILY, "account": DEFAULT_ACCOUNT}, {**DAILY, "account": SECOND_ACCOUNT})
    response = pool.chat("a red fox")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == str(SECONDS_TO_MIDNIGHT)
    assert response.headers["x-should-retry"] == "false"
    error = response.get_json()["error"]
    assert error["code"] == "insufficient_quota"
    assert "allocation of all 2 of this server's Cloudflare accounts is used up" in error["message"]
    assert accounts_called(standin) == [DEFAULT_ACCOUNT, SECOND_ACCOUNT]

    clock.now += timedelta(hours=6)  # still resting: refused at once, nothing sent upstream
    again = pool.chat("a red fox", stream=True)
    assert again.status_code == 200  # a stream has begun; its error says the same
    assert "used up" in again.get_data(as_text=True)
    assert len(standin.received()) == 2
    assert [state["state"] for state in health(pool.client)] == ["resting", "resting"]

    clock.now = datetime(2026, 12, 3, 0, 0, 1, tzinfo=UTC)
    pool.image(image_url(pool.answer("a red fox")))
    assert accounts_called(standin)[2:] == [DEFAULT_ACCOUNT]
    assert [state["state"] for state in health(pool.client)] == ["ready", "ready"]


def test_a_token_draws_for_its_own_account_only(
    session: requests.Session, standin: Standin
) -> None:
    swapped = f"{DEFAULT_ACCOUNT}:{SECOND_TOKEN},{SECOND_ACCOUNT}:{STANDIN_TOKEN}"
    app = create_app(settings_with(CF_ACCOUNTS=swapped, CF_ACCOUNT_ID="", CF_API_TOKEN=""), session)
    response = Api(app.test_client()).chat("a red fox")
    assert response.status_code == 502
    assert "refused this server's Cloudflare credentials" in response.get_json()["error"]["message"]
    assert SECOND_TOKEN not in response.get_data(as_text=True)
    assert standin.received() == []  # refused at the door, as Cloudflare does


def test_metrics_show_which_accounts_may_draw(pool: Api, standin: Standin) -> None:
    standin.fail({**DAILY, "account": DEFAULT_ACCOUNT})
    pool.answer("a red fox")
    text = pool.client.get("/metrics").get_data(as_text=True)
    ready = {
        sample.labels["index"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "flux_account_ready"
    }
    assert ready == {"0": 0.0, "1": 1.0}
    assert DEFAULT_ACCOUNT not in text
    assert STANDIN_TOKEN not in text


def test_one_redis_client_serves_every_user_of_the_shared_redis(
    make_app: Callable[..., Flask],
) -> None:
    # Built, not connected: no Redis need answer on this address.
    app = make_app(IMAGE_STORE="redis://127.0.0.1:9/0", RATE_LIMIT="5/minute", REUSE_IMAGES="true")
    state = app.extensions["flux"]
    client = state.store._redis
    pools = {
        "store": client.connection_pool,
        "reuse index": state.pipeline._reuse._index._redis.connection_pool,
        "spending": state.spending.counts._redis.connection_pool,
        "accounts": state.accounts._shared.connection_pool,
        "rate limits": state.limits._window.storage.storage.connection_pool,
    }
    assert {name: pool is client.connection_pool for name, pool in pools.items()} == dict.fromkeys(
        pools, True
    )
    assert client.connection_pool.connection_kwargs["socket_timeout"] == 2.0
