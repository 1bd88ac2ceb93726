"""Every way Workers AI fails, through the real client code: the right status and message,
passing failures tried again within UPSTREAM_RETRY_BUDGET, nonsense never asked for twice, and
the next request fine (or, after an account's limit, refused without a call while it rests).
Faults that need a socket (a hang, a slow read) are in the e2e tier."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from flux_service.errors import StoreUnavailableError
from tests.helpers import Standin, image_url
from tests.inprocess.api import Api, events

# Passing failures are tried again for 0.15 s, well before the 1 s deadline, as by default
# (20 s of 120 s). With the budget past the deadline, a try can start so close to it that it
# runs out of time, and the answer names the timeout instead of the fault (seen on a busy
# machine); that regime has its own test, in test_workers_ai_client.py.
UPSTREAM_TIMEOUT = "1"
UPSTREAM_RETRY_BUDGET = "0.15"
# Each fault is queued this many times, so passing faults keep failing until the budget ends.
QUEUED = 20
# (fault, status when not streamed, words of the message, tried again)
FAULTS = [
    ({"kind": "error", "status": 500, "code": 3043, "message": "Internal"}, 502, "HTTP 500", True),
    ({"kind": "error", "status": 503, "code": 3043, "message": "Gone"}, 502, "HTTP 503", True),
    ({"kind": "error", "status": 429, "code": 3040, "message": "Busy"}, 503, "capacity", True),
    ({"kind": "error", "status": 429, "code": 3036, "message": "Daily"}, 429, "daily free", False),
    ({"kind": "error", "status": 429, "code": 3021, "message": "Minute"}, 429, "per-minute", False),
    ({"kind": "error", "status": 408, "code": 3007, "message": "Slow"}, 504, "timed out", False),
    ({"kind": "reset"}, 502, "Could not reach Workers AI", True),
    ({"kind": "cut"}, 502, "cut off", True),
    ({"kind": "garbage", "status": 502}, 502, "HTTP 502", True),
    ({"kind": "success_false", "code": 3043}, 502, "success: false", False),
    ({"kind": "garbage", "status": 200}, 502, "HTTP 200", False),
    ({"kind": "truncated"}, 502, "truncated", False),
    ({"kind": "bad_base64"}, 502, "not valid base64", False),
    ({"kind": "not_image"}, 502, "unusable image", False),
    ({"kind": "empty"}, 502, "without an image", False),
]  # fmt: skip
IDS = [f"{f['kind']}-{f.get('status', '')}-{f.get('code', '')}" for f, *_ in FAULTS]


@pytest.fixture
def flaky(make_app: Callable[..., Flask]) -> Api:
    app = make_app(UPSTREAM_TIMEOUT=UPSTREAM_TIMEOUT, UPSTREAM_RETRY_BUDGET=UPSTREAM_RETRY_BUDGET)
    return Api(app.test_client())


@pytest.mark.parametrize(("fault", "status", "words", "retried"), FAULTS, ids=IDS)
def test_a_failure_is_an_honest_error(
    flaky: Api, standin: Standin, fault: dict, status: int, words: str, retried: bool
) -> None:
    standin.fail(*[fault] * QUEUED)
    response = flaky.chat("a red fox")
    assert response.status_code == status
    error = response.get_json()["error"]
    assert words in error["message"]
    assert response.headers["x-should-retry"] == "false"
    if not retried:
        assert len(standin.received()) == 1  # nonsense is not asked for twice
    standin.reset()
    if status == 429:  # the only account rests: refused again without a call
        assert flaky.chat("a red fox").status_code == 429
        assert standin.received() == []
    else:
        flaky.image(image_url(flaky.answer("a red fox")))


@pytest.mark.parametrize(("fault", "words"), [(f, w) for f, _, w, _ in FAULTS], ids=IDS)
def test_a_failure_after_the_stream_began_is_shown_then_raised(
    flaky: Api, standin: Standin, fault: dict, words: str
) -> None:
    standin.fail(*[fault] * QUEUED)
    response = flaky.chat("a red fox", stream=True)
    assert response.status_code == 200  # the stream had begun
    *chunks, error = events(response)
    text = "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks)
    assert "Original prompt: a red fox" in text
    assert f"❌ Image generation failed: {error['error']['message']}" in text
    assert words in error["error"]["message"]
    assert response.get_data(as_text=True).endswith("data: [DONE]\n\n")


PASSING = [fault for fault, _, _, retried in FAULTS if retried]


@pytest.mark.parametrize(
    "fault", PASSING, ids=[f"{f['kind']}-{f.get('status', '')}" for f in PASSING]
)
def test_a_passing_failure_is_tried_again(api: Api, standin: Standin, fault: dict) -> None:
    standin.fail(fault)
    api.image(image_url(api.answer("a red fox")))
    assert len(standin.received()) == 2


def test_a_refused_input_is_never_tried_again(api: Api, standin: Standin) -> None:
    standin.fail({"kind": "error", "status": 400, "code": 5006, "message": "AiError: Bad input"})
    assert api.chat("a red fox").status_code == 400
    assert len(standin.received()) == 1


def test_capacity_errors_say_when_to_come_back(flaky: Api, standin: Standin) -> None:
    standin.fail(*[{"kind": "error", "status": 429, "code": 3040, "message": "Capacity"}] * QUEUED)
    response = flaky.chat("a red fox")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "10"


def test_a_store_lost_after_the_draw_says_the_image_was_drawn_and_spent(
    make_app: Callable[..., Flask], standin: Standin
) -> None:
    app = make_app()
    state = app.extensions["flux"]

    def gone(*_stored: object) -> str:
        raise StoreUnavailableError("The image store cannot be reached.", retry_after=5)

    state.store.put = gone  # it answered the check before planning, then went away
    answer = Api(app.test_client()).chat("a red fox")
    assert answer.status_code == 503
    message = answer.get_json()["error"]["message"]
    assert message == (
        "The image was drawn, and its cost counted, but it could not be kept: "
        "The image store cannot be reached."
    )
    assert len(standin.received()) == 1
    today = state.spending.today()
    assert (today.images, round(today.neurons, 1)) == (1, 172.8)
