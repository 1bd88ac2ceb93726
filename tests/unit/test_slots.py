"""A worker's slots: images drawn at once, each key's share, and the wait for a slot."""

from __future__ import annotations

import time

import pytest

from config import Settings
from flux_service.errors import CapacityError
from flux_service.generation.slots import Slots


def test_a_key_holds_its_share_and_no_more() -> None:
    slots = Slots(total=3, per_key=2, wait=0, per_key_setting=2)
    with slots.hold("a"), slots.hold("a"):
        with pytest.raises(CapacityError, match="MAX_GENERATIONS_PER_KEY=2"), slots.hold("a"):
            pass
        with slots.hold("b"):  # another key's share is there
            pass
    with slots.hold("a"):  # given back
        pass


def test_past_the_slots_a_draw_waits_then_is_refused() -> None:
    slots = Slots(total=1, per_key=None, wait=0.05, per_key_setting=1)
    with slots.hold("a"):
        started = time.monotonic()
        with (
            pytest.raises(CapacityError, match="as many images at once") as refused,
            slots.hold("b"),
        ):
            pass
        assert time.monotonic() - started >= 0.05
    assert refused.value.retry_after == 5
    with slots.hold("b"):
        pass


def test_each_worker_takes_its_share_of_the_instances_slots() -> None:
    settings = Settings(
        cf_account_id="a",
        cf_api_token="t",
        web_concurrency=4,
        max_concurrent_generations=10,
        max_generations_per_key=10,
        generation_wait=0,
    )
    slots = Slots.from_settings(settings)  # 3 a worker; a key's share is all of them
    holds = [slots.hold(str(key)) for key in range(3)]
    for hold in holds:
        hold.__enter__()
    with pytest.raises(CapacityError), slots.hold("another"):
        pass
    for hold in holds:
        hold.__exit__(None, None, None)
