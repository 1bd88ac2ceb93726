"""The pool of Cloudflare accounts generations are spread over, and which of them rest.

Each Workers AI call takes the next account in turn among those not resting. An account
whose daily allocation is used up rests until the next 00:00 UTC, one at its per-minute rate
limit rests a minute, and the call moves on to the next account at once. When every account
rests, the call is refused with a 429 whose Retry-After is the soonest return.

Rests are kept in this process, and in the shared Redis when the service has one: a key per
account, named by a digest of its id (never its token), expiring when the rest ends, so every
worker and instance learns from one refused call. Without Redis each process learns on its
own; with Redis down, this process's own record decides.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from config import CloudflareAccount

from ..clock import Clock, next_utc_midnight, utc_now
from ..errors import AccountLimitError, AllocationUsedUpError, RateLimitError

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

ALLOCATION = "allocation"  # why an account rests: its daily allocation is used up
RATE_LIMIT = "rate_limit"  # or it reached its per-minute rate limit
MINUTE_REST = timedelta(minutes=1)
KEY_PREFIX = "flux:account:"


@dataclass(frozen=True)
class Rest:
    """Why an account rests, and until when."""

    why: str  # ALLOCATION or RATE_LIMIT
    until: datetime


def rest_for(error: AccountLimitError, now: datetime) -> Rest:
    """The rest of an account that answered `error` at `now`."""
    if isinstance(error, AllocationUsedUpError):
        return Rest(ALLOCATION, next_utc_midnight(now))
    return Rest(RATE_LIMIT, now + MINUTE_REST)


@dataclass(frozen=True)
class AccountState:
    """An account of the pool as others may see it: by its place, never by id or token."""

    index: int
    rest: Rest | None  # None: ready to draw

    def to_dict(self) -> dict[str, object]:
        """The state as /healthz shows it."""
        if self.rest is None:
            return {"index": self.index, "state": "ready"}
        until = _utc_text(self.rest.until)
        return {"index": self.index, "state": "resting", "why": self.rest.why, "until": until}


def all_resting(rests: Sequence[Rest], now: datetime) -> RateLimitError:
    """The 429 for a call that finds every account resting, back at the soonest return."""
    retry_after = max(1, math.ceil((min(rest.until for rest in rests) - now).total_seconds()))
    accounts = (
        "this server's Cloudflare account"
        if len(rests) == 1
        else f"all {len(rests)} of this server's Cloudflare accounts"
    )
    whys = {rest.why for rest in rests}
    if whys == {ALLOCATION}:
        return RateLimitError(
            f"The daily free Workers AI allocation of {accounts} is used up; "
            "it resets at 00:00 UTC.",
            code="insufficient_quota",
            retry_after=retry_after,
        )
    reason = (
        "per-minute Workers AI rate limit"
        if whys == {RATE_LIMIT}
        else "daily free Workers AI allocation or per-minute rate limit"
    )
    return RateLimitError(
        f"The {reason} of {accounts} is reached; try again in {retry_after} s.",
        retry_after=retry_after,
    )


class AccountPool:
    """The accounts of CF_ACCOUNTS (or the one of CF_ACCOUNT_ID), taken in turn."""

    def __init__(
        self,
        accounts: Sequence[CloudflareAccount],
        shared: redis.Redis | None = None,  # where instances share their rests
        now: Clock = utc_now,
    ) -> None:
        self._size = len(accounts)
        self._keys = [
            KEY_PREFIX + hashlib.sha256(account.id.encode()).hexdigest()[:16]
            for account in accounts
        ]
        self._shared = shared
        self._now = now
        self._own: dict[int, Rest] = {}
        self._next = 0
        self._lock = threading.Lock()

    def take(self) -> int:
        """The index of the next account in turn that is not resting; RateLimitError when
        every account rests."""
        now = self._now()
        rests = self._rests(now)
        with self._lock:
            for step in range(self._size):
                index = (self._next + step) % self._size
                if index not in rests:
                    self._next = index + 1
                    return index
        raise all_resting(list(rests.values()), now)

    def rest(self, index: int, error: AccountLimitError) -> Rest:
        """Let account `index` rest, as `error` says, here and in the shared Redis."""
        now = self._now()
        rest = rest_for(error, now)
        with self._lock:
            self._own[index] = rest
        if self._shared is not None:
            milliseconds = max(1, math.ceil((rest.until - now).total_seconds() * 1000))
            value = f"{rest.why} {rest.until.timestamp()}"
            try:
                self._shared.set(self._keys[index], value, px=milliseconds)
            except Exception as failure:  # a Redis that is down must not fail the call
                log.warning("account rests cannot be shared: %s", type(failure).__name__)
        until = _utc_text(rest.until)
        log.warning("Cloudflare account %d rests until %s: %s", index, until, error.message)
        return rest

    def states(self) -> list[AccountState]:
        """Each account's state, in the pool's order: for /healthz and metrics."""
        rests = self._rests(self._now())
        return [AccountState(index, rests.get(index)) for index in range(self._size)]

    def _rests(self, now: datetime) -> dict[int, Rest]:
        """The accounts resting at `now`, as this process or any other learned it."""
        with self._lock:
            known = dict(self._own)
        for index, rest in self._shared_rests().items():
            if index not in known or rest.until > known[index].until:
                known[index] = rest
        return {index: rest for index, rest in known.items() if rest.until > now}

    def _shared_rests(self) -> dict[int, Rest]:
        if self._shared is None:
            return {}
        try:
            values = self._shared.mget(self._keys)
            return {
                index: _decoded(value) for index, value in enumerate(values) if value is not None
            }
        except Exception as failure:  # as above: this process's own record decides
            log.warning("account rests cannot be read: %s", type(failure).__name__)
            return {}


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _decoded(value: bytes | str) -> Rest:
    why, timestamp = (value.decode() if isinstance(value, bytes) else value).split()
    return Rest(why, datetime.fromtimestamp(float(timestamp), UTC))
