"""The pool of Cloudflare accounts: taken in turn, resting by the rules, on a clock we set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from config import CloudflareAccount
from flux_service.clock import next_utc_midnight
from flux_service.errors import AllocationUsedUpError, MinuteLimitError, RateLimitError
from flux_service.upstream.accounts import (
    ALLOCATION,
    RATE_LIMIT,
    AccountPool,
    AccountState,
    Rest,
    all_resting,
    rest_for,
)

ACCOUNTS = [CloudflareAccount("first", "token-1"), CloudflareAccount("second", "token-2")]
NOON = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
DAILY = AllocationUsedUpError("daily allocation used up")
MINUTE = MinuteLimitError("per-minute limit")


class Clock:
    """A clock that moves only when told."""

    def __init__(self, now: datetime = NOON) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class SharedRedis:
    """The two calls the pool makes of Redis, over a dict; `down` makes both fail."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.expiries: dict[str, int] = {}
        self.down = False

    def set(self, key: str, value: str, px: int) -> None:
        self._reach()
        self.values[key], self.expiries[key] = value, px

    def mget(self, keys: list[str]) -> list[str | None]:
        self._reach()
        return [self.values.get(key) for key in keys]

    def _reach(self) -> None:
        if self.down:
            raise ConnectionError("Redis is down")


@pytest.mark.parametrize(
    ("now", "midnight"),
    [
        (NOON, datetime(2026, 12, 3, tzinfo=UTC)),
        (datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
        (datetime(2026, 12, 2, 0, 0, tzinfo=UTC), datetime(2026, 12, 3, tzinfo=UTC)),
        # Another time zone's evening is already the next day in UTC.
        (
            datetime(2026, 12, 2, 20, 0, tzinfo=timezone(-timedelta(hours=5))),
            datetime(2026, 12, 4, tzinfo=UTC),
        ),
    ],
)
def test_the_daily_allocation_starts_again_at_the_next_utc_midnight(
    now: datetime, midnight: datetime
) -> None:
    assert next_utc_midnight(now) == midnight


def test_a_used_up_allocation_rests_until_midnight_and_a_minute_limit_a_minute() -> None:
    assert rest_for(DAILY, NOON) == Rest(ALLOCATION, datetime(2026, 12, 3, tzinfo=UTC))
    assert rest_for(MINUTE, NOON) == Rest(RATE_LIMIT, NOON + timedelta(minutes=1))


def test_when_all_rest_the_answer_is_a_429_at_the_soonest_return() -> None:
    both_daily = [rest_for(DAILY, NOON), rest_for(DAILY, NOON)]
    error = all_resting(both_daily, NOON)
    assert (error.status, error.retry_after, error.code) == (429, 12 * 3600, "insufficient_quota")
    assert "daily free Workers AI allocation of all 2 of this server's" in error.message

    mixed = all_resting([rest_for(DAILY, NOON), rest_for(MINUTE, NOON)], NOON)
    assert (mixed.retry_after, mixed.code) == (60, "rate_limit_exceeded")
    assert "daily free Workers AI allocation or per-minute rate limit" in mixed.message

    one = all_resting([rest_for(MINUTE, NOON)], NOON + timedelta(seconds=59.5))
    assert one.retry_after == 1
    assert "per-minute Workers AI rate limit of this server's Cloudflare account" in one.message


def test_states_show_an_index_and_a_time_never_an_account() -> None:
    assert AccountState(0, None).to_dict() == {"index": 0, "state": "ready"}
    resting = AccountState(1, rest_for(DAILY, NOON)).to_dict()
    assert resting == {
        "index": 1,
        "state": "resting",
        "why": "allocation",
        "until": "2026-12-03T00:00:00Z",
    }


def test_accounts_are_taken_in_turn() -> None:
    pool = AccountPool(ACCOUNTS, now=Clock())
    assert [pool.take() for _ in range(4)] == [0, 1, 0, 1]


def test_a_resting_account_is_passed_over_until_its_rest_ends() -> None:
    clock = Clock()
    pool = AccountPool(ACCOUNTS, now=clock)
    pool.rest(pool.take(), MINUTE)
    assert [pool.take() for _ in range(3)] == [1, 1, 1]
    assert [state.rest is None for state in pool.states()] == [False, True]
    clock.now += timedelta(minutes=1)
    assert {pool.take(), pool.take()} == {0, 1}


def test_when_every_account_rests_take_refuses_until_the_next_day() -> None:
    clock = Clock()
    pool = AccountPool(ACCOUNTS, now=clock)
    pool.rest(0, DAILY)
    pool.rest(1, DAILY)
    with pytest.raises(RateLimitError) as caught:
        pool.take()
    assert caught.value.retry_after == 12 * 3600
    clock.now = datetime(2026, 12, 3, 0, 0, 1, tzinfo=UTC)
    assert pool.take() == 0
    assert all(state.rest is None for state in pool.states())


def test_rests_are_shared_through_redis_by_a_digest_of_the_id() -> None:
    redis = SharedRedis()
    here, there = AccountPool(ACCOUNTS, redis, Clock()), AccountPool(ACCOUNTS, redis, Clock())
    here.rest(0, DAILY)
    assert [there.take() for _ in range(2)] == [1, 1]
    (key,) = redis.values
    assert key.startswith("flux:account:")
    assert "first" not in key
    assert "token" not in key
    assert redis.expiries[key] == 12 * 3600 * 1000  # it expires when the rest ends
    assert "token" not in redis.values[key]


def test_with_redis_down_the_process_keeps_its_own_record() -> None:
    redis = SharedRedis()
    redis.down = True
    pool = AccountPool(ACCOUNTS, redis, Clock())
    pool.rest(0, MINUTE)
    assert [pool.take() for _ in range(2)] == [1, 1]
