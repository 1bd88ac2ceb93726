"""A budget of bytes held at once, shared by the requests of one worker.

Large answers (base64 images) wait in memory until their client has read them; a client that
reads slowly, or not at all, holds them until CLIENT_TIMEOUT lets it go. MAX_UNSENT_BYTES
caps what all such answers hold together: a request that would pass it waits a little for
others to finish, then is refused before anything is drawn.
"""

from __future__ import annotations

import threading
import time

from flask import Response, after_this_request

from .. import metrics
from ..errors import UnavailableError


class ByteBudget:
    """At most `limit` bytes taken at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._taken = 0
        self._freed = threading.Condition()

    def take(self, size: int, wait: float) -> bool:
        """Take `size` bytes, waiting up to `wait` seconds for them; False if they never came."""
        size = min(
            size, self.limit
        )  # a single answer larger than the budget still gets through alone
        deadline = time.monotonic() + wait
        with self._freed:
            while self._taken + size > self.limit:
                left = deadline - time.monotonic()
                if left <= 0 or not self._freed.wait(left):
                    return False
            self._taken += size
        return True

    def give_back(self, size: int) -> None:
        """Return `size` bytes taken earlier."""
        with self._freed:
            self._taken -= min(size, self.limit)
            self._freed.notify_all()

    @property
    def taken(self) -> int:
        return self._taken


def hold_for_request(budget: ByteBudget, size: int, wait: float, refusal: UnavailableError) -> None:
    """Take `size` bytes of `budget` until this request's answer has been sent (or given up);
    raise `refusal` (counted) when they do not come within `wait` seconds."""
    if not budget.take(size, wait):
        metrics.refused("memory")
        raise refusal

    @after_this_request
    def give_back(response: Response) -> Response:
        response.call_on_close(lambda: budget.give_back(size))
        return response
