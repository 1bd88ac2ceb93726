"""The service's error family, and the one place where errors become HTTP answers.

    FluxError (500 server_error)
     ├── InvalidRequestError (400, param set)
     │    └── ProtocolError (400, 404 for an unknown method): a JSON-RPC code, on /mcp
     ├── AuthenticationError (401)
     ├── ForbiddenError (403): served to this machine alone
     ├── NotFoundError (404)
     ├── RequestTimeoutError (408): the body arrived too slowly
     ├── BodyTooLargeError (413): the body, as sent or decoded, is over MAX_BODY_BYTES
     ├── UnsupportedMediaTypeError (415): the body comes in a Content-Encoding not taken
     ├── RangeNotSatisfiableError (416, Content-Range): a Range past an image's end
     ├── ClientGoneError (499): the client left before its image was drawn
     ├── RateLimitError (429, Retry-After)
     │    ├── BudgetSpentError: a generation would pass the day's neuron budget
     │    └── AccountLimitError: one Cloudflare account rests; the call moves to the next
     │         ├── AllocationUsedUpError: its daily allocation, until 00:00 UTC
     │         └── MinuteLimitError: its per-minute rate limit, for a minute
     ├── UnavailableError (503, Retry-After): this server cannot take the request now
     │    ├── CapacityError: MAX_CONCURRENT_GENERATIONS are already running
     │    └── StoreUnavailableError: the image store cannot be reached
     ├── UpstreamError (502)
     │    ├── UpstreamBusyError (503, Retry-After)
     │    └── UpstreamTimeoutError (504)
     └── StatusError (any status): Flask's own refusals (wrong method, body too large, …)

Every error answers in the OpenAI shape `{"error": {"message", "type", "param", "code"}}`;
the handlers that turn them into HTTP answers are in `responses.py`.
Messages are written for the person reading them and never hold a key, a token or a
credentialed URL.
"""

from __future__ import annotations

from urllib.parse import quote

# How much of an unknown route a 404 repeats: enough to recognise it, not a page of it.
ROUTE_CHARS = 200
METHOD_CHARS = 20


class FluxError(Exception):
    """Something went wrong that the client should hear about."""

    status = 500
    type = "server_error"
    code: str | None = None
    # False on failed generations: it tells the OpenAI SDKs not to repeat the request, since
    # each retry is a new image, paid for again.
    should_retry = True
    # True when trying the same call again soon may well work (a 5xx, a dropped connection).
    transient = False

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after: int | None = None,
        transient: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.retry_after = retry_after
        if code is not None:
            self.code = code
        if transient is not None:
            self.transient = transient

    def to_dict(self) -> dict:
        """The OpenAI error body."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def headers(self) -> dict[str, str]:
        """Headers that go with this error: Retry-After and the SDKs' retry switch."""
        headers = {}
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        if not self.should_retry:
            headers["x-should-retry"] = "false"
        return headers


class InvalidRequestError(FluxError):
    """The request body or its parameters are not usable."""

    status = 400
    type = "invalid_request_error"

    def about(self, param: str) -> InvalidRequestError:
        """This error, naming `param` as the field at fault unless it names one already."""
        return InvalidRequestError(self.message, param=self.param or param, code=self.code)


class ProtocolError(InvalidRequestError):
    """An MCP message that breaks JSON-RPC or the protocol; `rpc_code` is its JSON-RPC error
    code, and `data` what the error body carries beside the message (web/mcp_views.py)."""

    def __init__(
        self, message: str, rpc_code: int, *, status: int = 400, data: object = None
    ) -> None:
        super().__init__(message)
        self.rpc_code = rpc_code
        self.status = status
        self.data = data


class AuthenticationError(FluxError):
    """The API key is missing or wrong."""

    status = 401
    type = "invalid_request_error"
    code = "invalid_api_key"


class ForbiddenError(FluxError):
    """The request may not be answered from where it came (the metrics, from afar)."""

    status = 403
    type = "invalid_request_error"
    code = "forbidden"


class NotFoundError(FluxError):
    """The route, model or image does not exist (or no longer does)."""

    status = 404
    type = "invalid_request_error"
    code = "not_found"


class BodyTooLargeError(FluxError):
    """The request body is over MAX_BODY_BYTES."""

    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class UnsupportedMediaTypeError(FluxError):
    """The request body comes in a Content-Encoding this server does not decode."""

    status = 415
    type = "invalid_request_error"
    code = "unsupported_content_encoding"


class RangeNotSatisfiableError(FluxError):
    """A Range asks for bytes past the end of an image of `length` bytes."""

    status = 416
    type = "invalid_request_error"
    code = "range_not_satisfiable"

    def __init__(self, message: str, *, length: int) -> None:
        super().__init__(message)
        self.length = length

    def headers(self) -> dict[str, str]:
        """Content-Range: how long the image is, as RFC 9110 asks of a 416."""
        return {"Content-Range": f"bytes */{self.length}"}


class RequestTimeoutError(FluxError):
    """The client sent its request body too slowly."""

    status = 408
    type = "invalid_request_error"
    code = "request_timeout"


class ClientGoneError(FluxError):
    """The client closed its connection before the image was drawn: nothing is spent on it."""

    status = 499  # nginx's "client closed request"; nobody is left to read it
    type = "invalid_request_error"
    code = "client_closed_request"


class RateLimitError(FluxError):
    """Too many requests, here or upstream; Retry-After says when to come back."""

    status = 429
    type = "requests"
    code = "rate_limit_exceeded"
    should_retry = False


class BudgetSpentError(RateLimitError):
    """A generation would pass what is left of DAILY_NEURON_BUDGET or its _PER_KEY share
    today; raised by `Spending.check` alone, so refusals for budget are counted there."""

    type = "insufficient_quota"
    code = "insufficient_quota"


class AccountLimitError(RateLimitError):
    """One Cloudflare account may not draw for a while; another of the pool may."""


class AllocationUsedUpError(AccountLimitError):
    """An account's daily free Workers AI allocation is used up, until 00:00 UTC."""

    code = "insufficient_quota"


class MinuteLimitError(AccountLimitError):
    """An account reached its per-minute Workers AI rate limit."""


class UnavailableError(FluxError):
    """This server cannot take the request right now."""

    status = 503
    type = "server_error"
    code = "server_is_overloaded"


class CapacityError(UnavailableError):
    """As many generations as MAX_CONCURRENT_GENERATIONS allows are already running."""


class StoreUnavailableError(UnavailableError):
    """The image store cannot be reached: before planning, nothing is drawn; once an image
    is drawn, it is spent, and the message says so."""

    code = "store_unavailable"


class UpstreamError(FluxError):
    """Workers AI failed or answered something we cannot use."""

    status = 502
    type = "upstream_error"
    code = "upstream_error"
    should_retry = False


class UpstreamBusyError(UpstreamError):
    """Workers AI is over capacity for now."""

    status = 503
    type = "server_error"
    code = "server_is_overloaded"
    transient = True


class UpstreamTimeoutError(UpstreamError):
    """Workers AI did not answer in time."""

    status = 504
    type = "server_error"
    code = "upstream_timeout"


class StatusError(FluxError):
    """Flask's own refusals (wrong method, body too large, …) in our shape."""

    def __init__(self, status: int) -> None:
        super().__init__(_STATUS_MESSAGES.get(status, "The request could not be handled."))
        self.status = status
        self.type = "invalid_request_error" if status < 500 else "server_error"
        self.code = _STATUS_CODES.get(status)


def unknown_route(method: str, path: str) -> NotFoundError:
    """The 404 for a route this service does not offer, naming its method and path."""
    message = (
        f"This service does not offer {_shown(method, METHOD_CHARS)} {_shown(path, ROUTE_CHARS)}."
    )
    if path != "/v1" and not path.startswith("/v1/"):
        message += " The API lives under /v1."
    return NotFoundError(message, code="unknown_route")


def _shown(text: str, limit: int) -> str:
    """`text` fit to show: what cannot be printed percent-encoded, cut at `limit`."""
    shown = "".join(
        c if c.isprintable() else quote(c, safe="", errors="replace") for c in text[:limit]
    )
    return shown if len(text) <= limit else shown + "…"


_STATUS_MESSAGES = {
    400: "The request could not be read.",
    405: "This URL does not take that method.",
    413: "The request body is too large.",
}
_STATUS_CODES = {405: "method_not_allowed", 413: "request_too_large"}
