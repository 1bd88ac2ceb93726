"""Rate limits per key and the cap on generations at once, counted by each app of its own."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from flask import Flask

from tests.helpers import API_KEY, AUTH, OTHER_KEY, Standin
from tests.inprocess.api import Api
from tests.pictures import data_uri, encoded, pattern


def test_rate_limits_count_images_per_key(make_app: Callable[..., Flask], standin: Standin) -> None:
    api = Api(make_app(RATE_LIMIT="2/minute", API_KEY=f"{API_KEY},{OTHER_KEY}").test_client())
    first = time.time()
    api.answer("a red fox")
    for _ in range(3):  # connection checks draw nothing and do not count
        api.answer("hi")
    api.answer("a red fox")
    refused = api.chat("a red fox")
    assert refused.status_code == 429
    error = refused.get_json()["error"]
    assert error["type"] == "requests"
    assert "RATE_LIMIT" in error["message"]
    expected = 60 - (time.time() - first)
    assert abs(int(refused.headers["Retry-After"]) - expected) <= 1.5
    assert refused.headers["x-should-retry"] == "false"
    assert api.post("/v1/chat/completions", {"messages": [{"role": "user", "content": "a fox"}]},
                    key=OTHER_KEY).status_code == 200  # fmt: skip
    assert len(standin.received()) == 3


def test_two_apps_count_apart(make_app: Callable[..., Flask]) -> None:
    one, two = (Api(make_app(RATE_LIMIT="1/minute").test_client()) for _ in range(2))
    assert one.chat("a fox").status_code == 200
    assert one.chat("a fox").status_code == 429
    assert two.chat("a fox").status_code == 200


def test_generations_beyond_the_cap_wait_then_get_503(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    app = make_app(MAX_CONCURRENT_GENERATIONS="1", GENERATION_WAIT="0.2")
    standin.configure(latency=1.2)
    busy = threading.Thread(target=lambda: Api(app.test_client()).answer("a fox"))
    busy.start()
    deadline = time.monotonic() + 5
    while not standin.received():  # the first generation holds the only slot
        assert time.monotonic() < deadline
        time.sleep(0.01)
    started = time.monotonic()
    refused = Api(app.test_client()).chat("a fox")
    waited = time.monotonic() - started
    busy.join()
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "5"
    assert "drawing as many images at once as it allows" in refused.get_json()["error"]["message"]
    # It waited its GENERATION_WAIT (0.2 s), not the rest of the generation (over 1 s).
    assert 0.2 <= waited < 0.8
    assert len(standin.received()) == 1


def test_every_image_counts_and_a_request_that_would_pass_the_limit_draws_nothing(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    api = Api(make_app(RATE_LIMIT="5/minute").test_client())
    assert api.images(prompt="a fox", n=4, size="256x256").status_code == 200
    refused = api.images(prompt="a fox", n=2, size="256x256")
    assert refused.status_code == 429
    assert "images drawn" in refused.get_json()["error"]["message"]
    assert len(standin.received()) == 4  # the two that would not fit were never drawn
    assert api.images(prompt="a fox", n=1, size="256x256").status_code == 200


def test_refused_requests_count_against_a_looser_limit(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    api = Api(make_app(RATE_LIMIT="1/minute").test_client())
    for _ in range(10):  # ten times RATE_LIMIT
        assert api.chat("").status_code == 400
    slowed = api.chat("a fox")
    assert slowed.status_code == 429
    assert "requests refused as bad" in slowed.get_json()["error"]["message"]
    assert int(slowed.headers["Retry-After"]) > 0
    assert standin.received() == []
    # Health and the home page never wait: a load balancer may share the client's address.
    assert api.client.get("/healthz").status_code == 200
    assert api.client.get("/").status_code == 200


def test_one_key_cannot_take_every_slot(make_app: Callable[..., Flask], standin: Standin) -> None:
    # Two keys: each may have half of MAX_CONCURRENT_GENERATIONS running at once.
    app = make_app(MAX_CONCURRENT_GENERATIONS="4", API_KEY=f"{API_KEY},{OTHER_KEY}")
    standin.configure(latency=0.5)
    busy = [
        threading.Thread(target=lambda: Api(app.test_client()).answer("a fox")) for _ in range(2)
    ]
    for thread in busy:
        thread.start()
    deadline = time.monotonic() + 5
    while len(standin.received()) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    third = Api(app.test_client()).chat("a fox")
    other = Api(app.test_client()).post(
        "/v1/chat/completions",
        {"messages": [{"role": "user", "content": "a fox"}]},
        key=OTHER_KEY,
    )
    for thread in busy:
        thread.join()
    assert third.status_code == 503
    assert "MAX_GENERATIONS_PER_KEY=2" in third.get_json()["error"]["message"]
    assert other.status_code == 200  # the other key's share was there


def test_bodies_held_at_once_are_bounded_by_max_body_memory(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    app = make_app(MAX_BODY_MEMORY=str(1024 * 1024), GENERATION_WAIT="0.2")
    api = Api(app.test_client())
    photo = data_uri(encoded(pattern(400, 300), "BMP"))  # 360 KB: held while it is read
    body = {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "make it red"},
        {"type": "image_url", "image_url": {"url": photo}},
    ]}]}  # fmt: skip
    bodies = app.extensions["flux"].bodies
    assert bodies.take(900 * 1024, 0)  # others' bodies, still being read
    refused = api.post("/v1/chat/completions", body)
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "5"
    assert "request bodies" in refused.get_json()["error"]["message"]
    assert standin.received() == []
    bodies.give_back(900 * 1024)
    answered = api.post("/v1/chat/completions", body)
    assert answered.status_code == 400  # read now: a BMP is not taken, and it says so
    assert "BMP images are not taken" in answered.get_json()["error"]["message"]
    answered.close()
    assert bodies.taken == 0  # given back once the answer is sent


def test_made_up_keys_are_counted_by_address(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    api = Api(make_app(RATE_LIMIT="1/minute").test_client())
    fox = {"messages": [{"role": "user", "content": "a fox"}]}
    for number in range(10):  # ten times RATE_LIMIT, each with a key of its own
        made_up = api.post("/v1/chat/completions", fox, key=f"sk-made-up-{number}")
        assert made_up.status_code == 401
    slowed = api.post("/v1/chat/completions", fox, key="sk-made-up-once-more")
    assert slowed.status_code == 429
    assert "requests refused as bad" in slowed.get_json()["error"]["message"]
    assert standin.received() == []
    # A valid key is counted by itself: a client sharing the address is not held back.
    assert api.chat("a fox").status_code == 200


def test_every_route_that_needs_a_key_waits_after_refusals(
    make_app: Callable[..., Flask], app: Flask
) -> None:
    keyed = [
        rule
        for rule in app.url_map.iter_rules()
        if getattr(app.view_functions[rule.endpoint], "requires_key", False)
    ]
    assert "/v1/responses" in {rule.rule for rule in keyed}
    api = Api(make_app(RATE_LIMIT="1/minute").test_client())
    for _ in range(10):
        assert api.chat("").status_code == 400
    for rule in keyed:
        path = rule.rule.replace("<path:model_id>", "flux-1-schnell")
        method = "GET" if "GET" in (rule.methods or ()) else "POST"
        answer = api.client.open(path, method=method, headers=AUTH)
        assert answer.status_code == 429, (rule.rule, answer.get_data(as_text=True))
