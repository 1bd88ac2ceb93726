"""The day's spending on Workers AI: estimated neurons per UTC day, for the whole service and
for each API key, held to DAILY_NEURON_BUDGET and DAILY_NEURON_BUDGET_PER_KEY.

The day is the UTC day: Workers AI's free allocation resets at 00:00 UTC. A generation is
checked against what is left when it is planned, before anything is drawn, and counted as
each of its images is drawn. Counts are kept in Redis when the service has one (see
`redis_spending.py`), so every worker and instance adds to the same; else in this process.
They are whole milli-neurons, so adding them up stays exact.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from .. import metrics
from ..clock import Clock, seconds_to_utc_midnight, utc_now
from ..errors import BudgetSpentError
from ..upstream.costs import Cost, dollars

MILLI = 1000  # counts are milli-neurons
SERVICE = "service"
IMAGES = "images"


class Counts(Protocol):
    """Whole numbers by name, one set per day."""

    def read(self, day: str, names: Sequence[str]) -> list[int] | None:
        """The counts of `names` on `day`, 0 for none yet; None when they are out of reach."""
        ...

    def add(self, day: str, amounts: Mapping[str, int]) -> list[int] | None:
        """Add `amounts` to `day`'s counts, all at once; their new values, or None when the
        counts are out of reach."""
        ...


class MemoryCounts:
    """Counts in this process, of the latest day only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._day = ""
        self._counts: Counter[str] = Counter()

    def read(self, day: str, names: Sequence[str]) -> list[int] | None:
        with self._lock:
            counts = self._counts if day == self._day else Counter()
            return [counts[name] for name in names]

    def add(self, day: str, amounts: Mapping[str, int]) -> list[int] | None:
        with self._lock:
            if day != self._day:  # a new day starts from nothing; yesterday's is forgotten
                self._day, self._counts = day, Counter()
            self._counts.update(amounts)
            return [self._counts[name] for name in amounts]


@dataclass(frozen=True)
class Day:
    """What the whole service has drawn today, and its estimated cost."""

    images: int
    neurons: float

    @property
    def dollars(self) -> float:
        return dollars(self.neurons)


class Spending:
    """Estimated neurons spent today, and the daily budgets they are held to (0: none)."""

    def __init__(
        self,
        counts: Counts,
        budget: float = 0.0,
        key_budget: float = 0.0,
        now: Clock = utc_now,
    ) -> None:
        self.counts = counts
        self.budget = budget
        self.key_budget = key_budget
        self.now = now  # the clock that says which day it is; tests bring their own

    def check(self, owner: str, neurons: float) -> None:
        """BudgetSpentError if `neurons` more today would pass what is left of the service's
        budget or of `owner`'s. The one place generations are refused for their cost."""
        if not (self.budget or self.key_budget):
            return
        now = self.now()
        counts = self.counts.read(_day(now), [SERVICE, _key(owner)])
        if counts is None:
            return  # counts out of reach must not refuse everyone; the warning says so
        needed = _milli(neurons)
        for spent, budget, whose, setting in (
            (counts[0], self.budget, "This service's", "DAILY_NEURON_BUDGET"),
            (counts[1], self.key_budget, "This API key's", "DAILY_NEURON_BUDGET_PER_KEY"),
        ):
            if budget and spent + needed > _milli(budget):
                left = max(0.0, budget - spent / MILLI)
                wait = seconds_to_utc_midnight(now)
                metrics.refused("budget")
                raise BudgetSpentError(
                    f"{whose} daily budget of Workers AI neurons ({setting}={budget:g}) is "
                    f"spent: {left:,.1f} are left today, and this request needs about "
                    f"{neurons:,.1f}. It starts again at 00:00 UTC, in {wait} s.",
                    retry_after=wait,
                )

    def count(self, owner: str, neurons: float, images: int = 1) -> float | None:
        """Count `images` drawn for `owner` at `neurons` in all; the neurons that key has spent
        today, or None when the counts are out of reach."""
        spent = _milli(neurons)
        amounts = {IMAGES: images, SERVICE: spent, _key(owner): spent}
        counts = self.counts.add(_day(self.now()), amounts)
        return None if counts is None else counts[2] / MILLI

    def charge(self, owner: str, model: str, cost: Cost, images: int = 0) -> float | None:
        """Count what a call of `model` cost `owner`, and the `images` it drew (none for the
        optimizer's chat calls), in the day's spending and the metrics; the neurons that key
        has spent today, or None when the counts are out of reach or nothing was counted."""
        if not cost.neurons and not images:
            return None
        key_spent = self.count(owner, cost.neurons, images)
        metrics.spent(model, owner, cost.neurons, cost.dollars)
        return key_spent

    def today(self) -> Day | None:
        """The whole service's images and spending today; None when out of reach."""
        counts = self.counts.read(_day(self.now()), [IMAGES, SERVICE])
        return None if counts is None else Day(counts[0], counts[1] / MILLI)


def _day(now: datetime) -> str:
    return now.astimezone(UTC).date().isoformat()


def _key(owner: str) -> str:
    return f"key:{owner}"


def _milli(neurons: float) -> int:
    return round(neurons * MILLI)
