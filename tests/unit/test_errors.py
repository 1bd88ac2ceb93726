"""The error family and its OpenAI bodies."""

import pytest

from flux_service.errors import (
    AuthenticationError,
    CapacityError,
    FluxError,
    InvalidRequestError,
    NotFoundError,
    RangeNotSatisfiableError,
    RateLimitError,
    StoreUnavailableError,
    UnsupportedMediaTypeError,
    UpstreamBusyError,
    UpstreamError,
    UpstreamTimeoutError,
    unknown_route,
)


@pytest.mark.parametrize(
    ("error", "status", "type_"),
    [
        (FluxError("x"), 500, "server_error"),
        (InvalidRequestError("x", param="messages"), 400, "invalid_request_error"),
        (AuthenticationError("x"), 401, "invalid_request_error"),
        (NotFoundError("x"), 404, "invalid_request_error"),
        (UnsupportedMediaTypeError("x"), 415, "invalid_request_error"),
        (RangeNotSatisfiableError("x", length=10), 416, "invalid_request_error"),
        (RateLimitError("x", retry_after=3), 429, "requests"),
        (CapacityError("x", retry_after=5), 503, "server_error"),
        (StoreUnavailableError("x", retry_after=5), 503, "server_error"),
        (UpstreamError("x"), 502, "upstream_error"),
        (UpstreamBusyError("x", retry_after=10), 503, "server_error"),
        (UpstreamTimeoutError("x"), 504, "server_error"),
    ],
)
def test_every_error_has_its_status_and_the_openai_shape(
    error: FluxError, status: int, type_: str
) -> None:
    assert error.status == status
    body = error.to_dict()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["message"] == "x"
    assert body["error"]["type"] == type_


def test_param_and_code_are_carried() -> None:
    body = InvalidRequestError("bad", param="seed", code="bad_seed").to_dict()["error"]
    assert (body["param"], body["code"]) == ("seed", "bad_seed")


def test_failed_generations_tell_the_sdks_not_to_retry() -> None:
    assert UpstreamError("x").headers() == {"x-should-retry": "false"}
    assert UpstreamBusyError("x", retry_after=10).headers() == {
        "Retry-After": "10",
        "x-should-retry": "false",
    }
    assert InvalidRequestError("x").headers() == {}


def test_a_refusal_of_this_server_lets_the_sdks_try_again_later() -> None:
    # Nothing was generated or paid for, so the SDKs may retry after Retry-After.
    assert CapacityError("x", retry_after=5).headers() == {"Retry-After": "5"}


def test_only_passing_failures_are_worth_trying_again() -> None:
    assert UpstreamError("x", transient=True).transient
    assert UpstreamBusyError("x").transient  # out of capacity: always passing
    assert not UpstreamError("x").transient
    assert not InvalidRequestError("x").transient


def test_an_error_can_name_the_field_it_came_in() -> None:
    error = InvalidRequestError("The prompt is empty.", code="empty")
    named = error.about("messages")
    assert (named.message, named.param, named.code) == ("The prompt is empty.", "messages", "empty")
    assert InvalidRequestError("x", param="seed").about("messages").param == "seed"


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("POST", "/v1/audio/speech", "This service does not offer POST /v1/audio/speech."),
        ("GET", "/v1", "This service does not offer GET /v1."),
        ("GET", "/api/chat", "This service does not offer GET /api/chat. The API lives under /v1."),
        (
            "DELETE",
            "/v1beta/models",
            "This service does not offer DELETE /v1beta/models. The API lives under /v1.",
        ),
        (
            "GET",
            "/v1/a\nb\x1b[31mc\u202ed",
            "This service does not offer GET /v1/a%0Ab%1B[31mc%E2%80%AEd.",
        ),
    ],
)
def test_an_unknown_route_is_named(method: str, path: str, message: str) -> None:
    error = unknown_route(method, path)
    assert (error.status, error.code, error.message) == (404, "unknown_route", message)


def test_an_unknown_route_is_shown_in_bounded_length() -> None:
    message = unknown_route("X" * 5000, "/v1/" + "a" * 100_000).message
    assert len(message) < 300
    assert message.startswith("This service does not offer " + "X" * 20 + "… /v1/aaa")
    assert message.endswith("a….")
