"""How Workers AI fails, as data: each documented failure and the error we answer it with.

`ERROR_TABLE` has a row per documented Workers AI answer; the first row whose `codes` hold
the answer's error code and whose `statuses` hold its HTTP status wins (None matches any).
`TRANSPORT_ERRORS` does the same for failures below HTTP: refused, reset or slow connections
and answers cut off halfway.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests
import urllib3

from ..errors import (
    AllocationUsedUpError,
    FluxError,
    InvalidRequestError,
    MinuteLimitError,
    UpstreamBusyError,
    UpstreamError,
    UpstreamTimeoutError,
)

BUSY_RETRY_AFTER = 10


@dataclass(frozen=True)
class Row:
    """One kind of failed answer and the error it becomes.

    `message` may name `{model}`, `{status}`, `{where}` (the status and code, as a reader
    wants them) and `{reason}` (Workers AI's own message, or the status when it gave none).
    """

    codes: frozenset[int] | None
    statuses: frozenset[int] | None
    error: type[FluxError]
    message: str
    retry_after: int | None = None
    transient: bool = False
    code: str | None = None
    param: str | None = None

    def matches(self, status: int, code: int | None) -> bool:
        """Whether an answer with this status and error code is this row's kind."""
        return (self.codes is None or code in self.codes) and (
            self.statuses is None or status in self.statuses
        )

    def build(self, status: int, code: int | None, reason: str, model: str) -> FluxError:
        """The error for one such answer."""
        where = "HTTP 200 with success: false" if status == 200 else f"HTTP {status}"
        if code is not None:
            where = f"{where}, code {code}"
        message = self.message.format(
            model=model, status=status, where=where, reason=reason or f"HTTP {status}"
        )
        return self.error(
            message,
            param=self.param,
            code=self.code,
            retry_after=self.retry_after,
            transient=self.transient or None,
        )


_UNKNOWN_MODEL = (
    "Workers AI does not serve the model {model} ({where}); "
    "the operator must check MODELS and FLUX_MODEL."
)
_CREDENTIALS = (
    "Workers AI refused this server's Cloudflare credentials (HTTP {status}). The operator "
    "must check CF_ACCOUNT_ID and CF_API_TOKEN, or CF_ACCOUNTS (and CF_AI_GATEWAY_TOKEN with "
    "AI Gateway)."
)
_ALLOCATION = "A Cloudflare account's daily free Workers AI allocation is used up ({where})."
_TIMEOUT = "Workers AI timed out while drawing ({where})."
_FAILED = "Workers AI failed ({where})."
_SERVER_ERRORS = frozenset(range(500, 600))

ERROR_TABLE: tuple[Row, ...] = (
    Row(frozenset({5007, 3042, 7003}), None, UpstreamError, _UNKNOWN_MODEL),
    Row(frozenset({10000}), None, UpstreamError, _CREDENTIALS),
    Row(
        frozenset({5016, 5018, 3041, 3023, 5035}),
        None,
        UpstreamError,
        "This server's Cloudflare account may not use {model} ({where}): {reason}",
    ),
    # 3036 is documented; 4006 with HTTP 429 is what accounts really get back. The account
    # rests (accounts.py), and these messages reach the log, not the client.
    Row(frozenset({3036}), None, AllocationUsedUpError, _ALLOCATION),
    Row(frozenset({4006}), frozenset({429}), AllocationUsedUpError, _ALLOCATION),
    Row(
        frozenset({3040}),
        None,
        UpstreamBusyError,
        "Workers AI is out of capacity right now; try again shortly.",
        retry_after=BUSY_RETRY_AFTER,
    ),
    Row(frozenset({3007, 3008}), None, UpstreamTimeoutError, _TIMEOUT),
    Row(
        None,
        frozenset({400, 413}),
        InvalidRequestError,
        "Workers AI rejected the request: {reason}",
        code="upstream_invalid_input",
        param="prompt",
    ),
    Row(None, frozenset({401, 403}), UpstreamError, _CREDENTIALS),
    Row(None, frozenset({404}), UpstreamError, _UNKNOWN_MODEL),
    Row(None, frozenset({408}), UpstreamTimeoutError, _TIMEOUT),
    # 3021 in practice; any other 429 is read the same way.
    Row(
        None,
        frozenset({429}),
        MinuteLimitError,
        "A Cloudflare account reached its per-minute Workers AI rate limit ({where}).",
    ),
    Row(None, _SERVER_ERRORS, UpstreamError, _FAILED, transient=True),
    Row(None, None, UpstreamError, _FAILED),
)


def upstream_error(status: int, code: int | None, reason: str, model: str) -> FluxError:
    """Our error for a failed Workers AI answer, from the first matching row of ERROR_TABLE."""
    row = next(row for row in ERROR_TABLE if row.matches(status, code))
    return row.build(status, code, reason, model)


# (foreign exception, message, worth trying again): the first that `isinstance` matches wins.
# Timeouts come first: they subclass the broader families below them.
TRANSPORT_ERRORS: tuple[tuple[type[Exception], str, bool], ...] = (
    (requests.Timeout, "", False),
    (urllib3.exceptions.TimeoutError, "", False),
    (requests.RequestException, "Could not reach Workers AI.", True),
    (urllib3.exceptions.HTTPError, "Workers AI's answer was cut off.", True),
)


def transport_error(error: Exception, timeout: float) -> FluxError:
    """Our error for a failure below HTTP; an empty message in the table means a timeout."""
    message, transient = next(
        (message, transient)
        for kind, message, transient in TRANSPORT_ERRORS
        if isinstance(error, kind)
    )
    if not message:
        return timed_out(timeout)
    return UpstreamError(message, transient=transient)


def timed_out(timeout: float) -> UpstreamTimeoutError:
    """The error for a call that outlasted `timeout` seconds (UPSTREAM_TIMEOUT)."""
    return UpstreamTimeoutError(f"Workers AI did not answer within {timeout:g} s.")
