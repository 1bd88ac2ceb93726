"""Two instances sharing one Redis share one daily neuron budget: what one spends, the other
can no longer draw. FLUX.1 schnell costs 172.8 neurons an image."""

from __future__ import annotations

import re
from collections.abc import Callable

import openai
import pytest
import requests

from flux_service.clock import seconds_to_utc_midnight
from tests.e2e.service import Service
from tests.helpers import FOX, Standin, fetch_image, image_url
from tests.servers import RedisServer


def test_instances_sharing_a_redis_agree_on_the_budget(
    make_service: Callable[..., Service], standin: Standin, redis_store: RedisServer
) -> None:
    shared = {"IMAGE_STORE": redis_store.url, "DAILY_NEURON_BUDGET": "300"}
    one, two = (make_service(label=label, **shared) for label in ("budget-one", "budget-two"))

    answer = one.client().chat.completions.create(model="x", messages=FOX)
    fetch_image(image_url(answer.choices[0].message.content))
    assert len(standin.received()) == 1

    with pytest.raises(openai.RateLimitError) as caught:
        two.client().chat.completions.create(model="x", messages=FOX)
    refused = caught.value
    assert refused.status_code == 429
    assert "This service's daily budget of Workers AI neurons" in refused.message
    assert "127.2 are left today" in refused.message  # 300 - 172.8, as counted by the other
    retry_after = int(refused.response.headers["Retry-After"])
    assert abs(retry_after - seconds_to_utc_midnight()) <= 5
    assert len(standin.received()) == 1  # the refused request drew nothing

    # Both home pages show the one image the two have drawn between them.
    for service in (one, two):
        page = requests.get(f"{service.url}/", timeout=10).text
        assert re.search(r'id="today-images">1<', page)
        assert re.search(r'id="today-neurons">172\.8<', page)
    counted = redis_store.client().keys("flux:spend:*")
    assert len(counted) == 3  # the images, the service's neurons and the one key's
