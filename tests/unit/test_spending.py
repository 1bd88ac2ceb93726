"""The day's spending: counted per UTC day, for the service and each key, held to budgets."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from flux_service.clock import seconds_to_utc_midnight
from flux_service.errors import BudgetSpentError
from flux_service.generation.spending import Day, MemoryCounts, Spending

EVENING = datetime(2026, 3, 1, 23, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def spending(budget: float = 0, key_budget: float = 0) -> tuple[Spending, Clock]:
    clock = Clock(EVENING)
    return Spending(MemoryCounts(), budget, key_budget, now=clock), clock


def test_images_are_counted_for_the_service_and_each_key() -> None:
    spent, _ = spending()
    assert spent.count("alice", 172.8) == pytest.approx(172.8)
    assert spent.count("alice", 172.8) == pytest.approx(345.6)
    assert spent.count("bob", 3120) == pytest.approx(3120)
    today = spent.today()
    assert today is not None
    assert (today.images, today.neurons) == (3, pytest.approx(3465.6))
    assert today.dollars == pytest.approx(3465.6 * 0.011 / 1000)


def test_a_generation_that_would_pass_the_service_budget_is_refused() -> None:
    spent, _ = spending(budget=400)
    spent.check("alice", 345.6)  # two schnell images fit exactly into nothing spent
    spent.count("alice", 172.8)
    spent.count("bob", 172.8)
    spent.check("carol", 54.4)  # exactly what is left
    with pytest.raises(BudgetSpentError) as refused:
        spent.check("carol", 172.8)
    error = refused.value
    assert error.status == 429
    assert "This service's daily budget" in error.message
    assert "DAILY_NEURON_BUDGET=400" in error.message
    assert "54.4 are left today" in error.message
    assert error.retry_after == 3600  # an hour to 00:00 UTC
    assert error.to_dict()["error"]["code"] == "insufficient_quota"


def test_each_key_has_its_own_budget() -> None:
    spent, _ = spending(key_budget=200)
    spent.count("alice", 172.8)
    with pytest.raises(BudgetSpentError, match=r"This API key's daily budget .*_PER_KEY=200"):
        spent.check("alice", 172.8)
    spent.check("bob", 172.8)


def test_a_new_utc_day_starts_from_nothing() -> None:
    spent, clock = spending(budget=200, key_budget=200)
    spent.count("alice", 172.8)
    with pytest.raises(BudgetSpentError):
        spent.check("alice", 172.8)
    clock.now = EVENING + timedelta(hours=1)  # 00:00 UTC
    spent.check("alice", 172.8)
    assert spent.today() == Day(0, 0.0)


def test_the_day_is_the_utc_day_whatever_the_clocks_zone() -> None:
    spent, clock = spending(budget=200)
    # 23:30 in UTC, though it is already 01:30 the next day in UTC+2.
    clock.now = datetime(2026, 3, 2, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    spent.count("alice", 172.8)
    clock.now = datetime(2026, 3, 1, 23, 45, tzinfo=UTC)
    assert spent.today() == Day(1, 172.8)
    with pytest.raises(BudgetSpentError) as refused:
        spent.check("alice", 172.8)
    assert refused.value.retry_after == 15 * 60


def test_without_budgets_nothing_is_refused() -> None:
    spent, _ = spending()
    spent.count("alice", 1e9)
    spent.check("alice", 1e9)


def test_free_models_pass_a_spent_budget() -> None:
    spent, _ = spending(budget=100)
    spent.count("alice", 100)
    spent.check("alice", 0)  # no published price: counted as 0, never refused for it


class Unreachable(MemoryCounts):
    """Counts whose store cannot be reached."""

    def read(self, *_: object) -> None:
        return None

    def add(self, *_: object) -> None:
        return None


def test_counts_out_of_reach_refuse_nobody() -> None:
    spent = Spending(Unreachable(), budget=1, key_budget=1)
    spent.check("alice", 1000)
    assert spent.count("alice", 1000) is None
    assert spent.today() is None


@pytest.mark.parametrize(
    ("now", "seconds"),
    [
        (datetime(2026, 3, 1, 0, 0, tzinfo=UTC), 86400),
        (datetime(2026, 3, 1, 23, 59, 59, 500_000, tzinfo=UTC), 1),
        (datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC), 43200),
        (datetime(2026, 3, 1, 22, 0, tzinfo=timezone(timedelta(hours=3))), 5 * 3600),
    ],
)
def test_seconds_to_utc_midnight_round_up(now: datetime, seconds: int) -> None:
    assert seconds_to_utc_midnight(now) == seconds
