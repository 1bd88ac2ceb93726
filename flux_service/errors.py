"""The service's error family, and the one place where errors become HTTP answers.

    FluxError (500 server_error)
     ├── InvalidRequestError (400, param set)
     ├── AuthenticationError (401)
     ├── NotFoundError (404)
     ├── RateLimitError (429, Retry-After)
     ├── UnavailableError (503, Retry-After): this server cannot take the request now
     │    ├── CapacityError: MAX_CONCURRENT_GENERATIONS are already running
     │    └── StoreUnavailableError: the picture store cannot be reached
     └── UpstreamError (502)
          ├── UpstreamBusyError (503, Retry-After)
          └── UpstreamTimeoutError (504)

Every error answers in the OpenAI shape `{"error": {"message", "type", "param", "code"}}`.
Messages are written for the person reading them and never hold a key, a token or a
credentialed URL.
"""

from __future__ import annotations

import logging

import orjson
from flask import Flask, Response
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class FluxError(Exception):
    """Something went wrong that the client should hear about."""

    status = 500
    type = "server_error"
    code: str | None = None
    # Failed generations tell the OpenAI SDKs not to repeat the request: each retry is a
    # new picture, paid for again.
    should_retry = True

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.retry_after = retry_after
        if code is not None:
            self.code = code

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


class AuthenticationError(FluxError):
    """The API key is missing or wrong."""

    status = 401
    type = "invalid_request_error"
    code = "invalid_api_key"


class NotFoundError(FluxError):
    """The route, model or image does not exist (or no longer does)."""

    status = 404
    type = "invalid_request_error"
    code = "not_found"


class RateLimitError(FluxError):
    """Too many requests, here or upstream; Retry-After says when to come back."""

    status = 429
    type = "requests"
    code = "rate_limit_exceeded"
    should_retry = False


class UnavailableError(FluxError):
    """This server cannot take the request right now; nothing was generated or spent."""

    status = 503
    type = "server_error"
    code = "server_is_overloaded"


class CapacityError(UnavailableError):
    """As many generations as MAX_CONCURRENT_GENERATIONS allows are already running."""


class StoreUnavailableError(UnavailableError):
    """The picture store (Redis) cannot be reached."""

    code = "store_unavailable"


class UpstreamError(FluxError):
    """Workers AI failed or answered something we cannot use."""

    status = 502
    type = "upstream_error"
    code = "upstream_error"
    should_retry = False
    # True when trying again soon may well work (a 5xx, a dropped connection, no capacity).
    transient = False

    def __init__(
        self, message: str, *, transient: bool = False, retry_after: int | None = None
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        self.transient = transient


class UpstreamBusyError(UpstreamError):
    """Workers AI is over capacity for now."""

    status = 503
    type = "server_error"
    code = "server_is_overloaded"

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message, transient=True, retry_after=retry_after)


class UpstreamTimeoutError(UpstreamError):
    """Workers AI did not answer in time."""

    status = 504
    type = "server_error"
    code = "upstream_timeout"


class HTTPError(FluxError):
    """Flask's own errors (unknown route, wrong method, body too large) in our shape."""

    def __init__(self, status: int) -> None:
        super().__init__(_HTTP_MESSAGES.get(status, "The request could not be handled."))
        self.status = status
        self.type = "invalid_request_error" if status < 500 else "server_error"
        self.code = _HTTP_CODES.get(status)


def error_response(error: FluxError) -> Response:
    """The JSON answer for `error`, with its status and headers."""
    response = Response(orjson.dumps(error.to_dict()), status=error.status)
    response.mimetype = "application/json"
    response.headers.update(error.headers())
    return response


def register_error_handlers(app: Flask) -> None:
    """Answer every error, ours or Flask's, in the OpenAI shape."""

    @app.errorhandler(FluxError)
    def handle_flux_error(error: FluxError) -> Response:
        return error_response(error)

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException) -> Response:
        response = error_response(HTTPError(error.code or 500))
        if error.code == 405:
            response.headers["Allow"] = ", ".join(getattr(error, "valid_methods", None) or [])
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        log.exception("unexpected error while answering a request")
        return error_response(FluxError("The server hit an unexpected error."))


_HTTP_MESSAGES = {
    400: "The request could not be read.",
    404: "There is nothing at this URL. The API lives under /v1.",
    405: "This URL does not take that method.",
    413: "The request body is too large.",
}
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}
