"""What each model is sent, and how Workers AI failures map to our errors."""

import base64
import json

import pytest

from flux_service.errors import (
    AllocationUsedUpError,
    FluxError,
    InvalidRequestError,
    MinuteLimitError,
    UpstreamBusyError,
    UpstreamError,
    UpstreamTimeoutError,
)
from flux_service.upstream.catalog import CATALOG, MODELS, lookup
from flux_service.upstream.error_table import ERROR_TABLE, upstream_error
from flux_service.upstream.workers_ai import model_inputs, read_answer, request_size


@pytest.mark.parametrize(
    ("model_id", "fields"),
    [
        ("@cf/black-forest-labs/flux-1-schnell", {"prompt", "steps"}),
        ("@cf/black-forest-labs/flux-2-klein-4b", {"prompt", "width", "height", "seed"}),
        ("@cf/black-forest-labs/flux-2-klein-9b", {"prompt", "width", "height", "seed"}),
        ("@cf/black-forest-labs/flux-2-dev", {"prompt", "steps", "width", "height", "seed"}),
        ("@cf/leonardo/lucid-origin", {"prompt", "num_steps", "width", "height", "seed"}),
        ("@cf/leonardo/phoenix-1.0", {"prompt", "num_steps", "width", "height", "seed"}),
        (
            "@cf/stabilityai/stable-diffusion-xl-base-1.0",
            {"prompt", "num_steps", "width", "height", "seed"},
        ),
    ],
)
def test_each_model_gets_only_its_own_fields(model_id: str, fields: set[str]) -> None:
    inputs = model_inputs(CATALOG[model_id], "a fox", 1024, 576, steps=30, seed=5)
    assert set(inputs) == fields


@pytest.mark.parametrize(
    ("model_id", "fields"),
    [
        ("@cf/black-forest-labs/flux-1-schnell", {}),
        ("@cf/black-forest-labs/flux-2-klein-4b", {"guidance": 20}),
        ("@cf/leonardo/lucid-origin", {"guidance": 10}),
        ("@cf/leonardo/phoenix-1.0", {"guidance": 10, "negative_prompt": "blurry"}),
        (
            "@cf/stabilityai/stable-diffusion-xl-base-1.0",
            {"guidance": 25, "negative_prompt": "blurry"},
        ),
    ],
)
def test_guidance_and_a_negative_prompt_go_to_the_models_that_take_them(
    model_id: str, fields: dict
) -> None:
    model = CATALOG[model_id]
    inputs = model_inputs(
        model, "a fox", 1024, 1024, None, None, negative_prompt="blurry", guidance=25
    )
    assert {name: inputs[name] for name in ("guidance", "negative_prompt") if name in inputs} == (
        fields
    )
    assert "negative_prompt" not in model_inputs(model, "a fox", 1024, 1024, None, None)


@pytest.mark.parametrize(
    ("model_id", "steps", "sent"),
    [
        ("@cf/black-forest-labs/flux-1-schnell", 4, 4),
        ("@cf/black-forest-labs/flux-1-schnell", 30, 8),
        ("@cf/black-forest-labs/flux-1-schnell", None, 4),
        ("@cf/stabilityai/stable-diffusion-xl-base-1.0", 50, 20),
        ("@cf/leonardo/phoenix-1.0", 0, 25),
    ],
)
def test_steps_are_clamped_to_the_model(model_id: str, steps: int | None, sent: int) -> None:
    model = CATALOG[model_id]
    inputs = model_inputs(model, "a fox", 1024, 1024, steps=steps, seed=None)
    assert inputs[model.steps_field] == sent


@pytest.mark.parametrize(
    ("model_id", "asked", "sent"),
    [
        ("@cf/black-forest-labs/flux-2-klein-4b", (1000, 700), (1008, 704)),
        ("@cf/black-forest-labs/flux-2-klein-4b", (64, 64), (256, 256)),
        ("@cf/stabilityai/stable-diffusion-xl-base-1.0", (1280, 720), (1280, 720)),
        ("@cf/stabilityai/stable-diffusion-xl-base-1.0", (3000, 100), (2048, 256)),
    ],
)
def test_request_size_respects_limits_and_multiples(
    model_id: str, asked: tuple[int, int], sent: tuple[int, int]
) -> None:
    assert request_size(CATALOG[model_id], *asked) == sent


def test_the_catalogue_names_every_model_once() -> None:
    assert len({m.id for m in MODELS}) == len({m.short_name for m in MODELS}) == 11
    for model in MODELS:
        assert lookup(model.id) is model
        assert lookup(model.short_name) is model
        assert lookup(model.id.removeprefix("@cf/").upper()) is model
        assert model.created > 1_600_000_000
    assert lookup("dall-e-3") is None


@pytest.mark.parametrize(
    ("status", "code", "kind", "answer"),
    [
        (400, 5006, InvalidRequestError, 400),
        (413, 3006, InvalidRequestError, 400),
        (400, 5007, UpstreamError, 502),
        (404, 3042, UpstreamError, 502),
        (404, 7003, UpstreamError, 502),
        (401, 10000, UpstreamError, 502),
        (403, 10000, UpstreamError, 502),
        (401, None, UpstreamError, 502),
        (403, 5035, UpstreamError, 502),
        (403, 5016, UpstreamError, 502),
        (429, 4006, AllocationUsedUpError, 429),
        (200, 4006, UpstreamError, 502),
        (408, 3007, UpstreamTimeoutError, 504),
        (408, None, UpstreamTimeoutError, 504),
        (429, 3036, AllocationUsedUpError, 429),
        (429, 3040, UpstreamBusyError, 503),
        (429, 3021, MinuteLimitError, 429),
        (429, None, MinuteLimitError, 429),
        (500, None, UpstreamError, 502),
        (503, 3043, UpstreamError, 502),
        (200, 3043, UpstreamError, 502),
        (200, 5006, UpstreamError, 502),
        (418, None, UpstreamError, 502),
    ],
)
def test_upstream_failures_map_to_honest_errors(
    status: int, code: int | None, kind: type[FluxError], answer: int
) -> None:
    error = upstream_error(status, code, "reason", "@cf/x/y")
    assert type(error) is kind
    assert error.status == answer


def test_every_row_of_the_error_table_is_reachable() -> None:
    codes = {None} | {code for row in ERROR_TABLE for code in row.codes or ()}
    statuses = {200, 418} | {status for row in ERROR_TABLE for status in row.statuses or ()}
    used = set()
    for status in statuses:
        for code in codes:
            error = upstream_error(status, code, "", "m")
            used.add(next(i for i, row in enumerate(ERROR_TABLE) if row.matches(status, code)))
            assert error.status in (400, 429, 502, 503, 504)
            assert "{" not in error.message  # every placeholder was filled in
    assert used == set(range(len(ERROR_TABLE)))


def test_server_errors_are_worth_trying_again_and_client_errors_are_not() -> None:
    assert upstream_error(503, 3043, "", "m").transient
    assert not upstream_error(418, None, "", "m").transient
    assert not upstream_error(400, 5006, "", "m").transient


def test_messages_never_carry_credentials() -> None:
    error = upstream_error(401, 10000, "Authentication error", "m")
    assert "CF_API_TOKEN" in error.message  # names the setting to check, not its value
    assert error.retry_after is None


def test_capacity_errors_say_when_to_retry() -> None:
    assert upstream_error(429, 3040, "", "m").retry_after == 10


def test_account_limits_never_repeat_the_upstream_body() -> None:
    # They reach the log when the account rests; Workers AI's own words stay out of it.
    assert "secret words" not in upstream_error(429, 4006, "secret words", "m").message
    assert "secret words" not in upstream_error(429, 3021, "secret words", "m").message


SCHNELL = CATALOG["@cf/black-forest-labs/flux-1-schnell"]
PHOENIX = CATALOG["@cf/leonardo/phoenix-1.0"]


def envelope(result: object, success: bool = True, errors: list | None = None) -> bytes:
    return json.dumps({"result": result, "success": success, "errors": errors or []}).encode()


def test_read_answer_takes_raw_images_and_base64_envelopes() -> None:
    assert read_answer(200, "image/jpeg", b"\xff\xd8\xff raw", PHOENIX) == b"\xff\xd8\xff raw"
    assert read_answer(200, "application/octet-stream", b"untyped", PHOENIX) == b"untyped"
    data = base64.b64encode(b"image").decode()
    assert read_answer(200, "application/json", envelope({"image": data}), SCHNELL) == b"image"


@pytest.mark.parametrize(
    ("status", "body", "kind", "words"),
    [
        (200, envelope({}), UpstreamError, "without an image"),
        (200, envelope({"image": "not base64!"}), UpstreamError, "not valid base64"),
        (200, b"<html>oops</html>", UpstreamError, "HTTP 200"),
        (
            200,
            envelope(None, success=False, errors=[{"code": 3043, "message": "x"}]),
            UpstreamError,
            "success: false",
        ),
        (
            400,
            envelope(None, success=False, errors=[{"code": 5006, "message": "bad"}]),
            InvalidRequestError,
            "bad",
        ),
        (502, b"<html>bad gateway</html>", UpstreamError, "HTTP 502"),
    ],
)
def test_read_answer_maps_what_is_wrong(
    status: int, body: bytes, kind: type[FluxError], words: str
) -> None:
    with pytest.raises(kind, match=words):
        read_answer(status, "application/json", body, SCHNELL)
