"""The UTC day: Workers AI's daily allocations, and the service's budgets, start again at
00:00 UTC. Whatever counts by the day takes a `Clock`, so tests can set the time."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The time now, in UTC."""
    return datetime.now(UTC)


def next_utc_midnight(now: datetime) -> datetime:
    """The next 00:00 UTC after `now`, when daily allocations start again."""
    tomorrow = now.astimezone(UTC) + timedelta(days=1)
    return tomorrow.replace(hour=0, minute=0, second=0, microsecond=0)


def seconds_to_utc_midnight(now: datetime | None = None) -> int:
    """Whole seconds until the next 00:00 UTC (rounded up, so it is past by then), at least 1."""
    now = now or utc_now()
    return max(1, math.ceil((next_utc_midnight(now) - now).total_seconds()))
