"""Money spent for nobody: streams whose client has gone, and RATE_LIMIT counting requests.

Before: 100 streams whose client hung up after the first bytes all ran their Workers AI call
(100 of 100 here, 92 in the issue); `n=4` counted as one request against RATE_LIMIT.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import requests

from tests.e2e.service import Service
from tests.helpers import AUTH, Standin, streams_left_after_the_first_bytes


def test_a_stream_whose_client_has_gone_draws_nothing(
    make_service: Callable[..., Service], standin: Standin
) -> None:
    service = make_service(PROMPT_OPTIMIZATION="true")
    standin.fail(*[{"kind": "delay", "seconds": 0.5}] * 100, target="optimizer")
    url = f"{service.url}/v1/chat/completions"
    streams_left_after_the_first_bytes(url, 100)
    deadline = time.monotonic() + 10
    while service.log().count('"outcome": "client went away"') < 100:
        assert time.monotonic() < deadline, "not every stream ended"
        time.sleep(0.1)
    time.sleep(1)  # any optimizer call still out has answered: a draw would have begun
    assert standin.received() == []  # no Workers AI call for anyone who had left
    assert len(standin.received(optimizer=True)) <= 100


@pytest.mark.untimed  # it counts, at any speed
def test_rate_limit_counts_images_not_requests(
    make_service: Callable[..., Service], standin: Standin
) -> None:
    service = make_service(label="images-counted", RATE_LIMIT="4/minute")
    images = service.client().images.generate(prompt="a fox", n=4, size="256x256")
    assert len(images.data) == 4
    response = requests.post(
        f"{service.url}/v1/images/generations", json={"prompt": "a fox"}, headers=AUTH, timeout=10
    )
    assert response.status_code == 429
    assert len(standin.received()) == 4
