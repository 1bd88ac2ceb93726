"""The Workers AI client: one `requests.Session`, each model called its own way.

`model_inputs` decides which fields a model gets; `WorkersAIClient.run` sends them as JSON or
multipart, reads the JSON envelope or the raw bytes, and turns every failure into our error
family through `upstream_error`, a table with one row per documented Workers AI answer.
"""

from __future__ import annotations

import binascii
import itertools
import logging
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
import pybase64
import requests
import urllib3

from config import Settings

from .catalog import ModelSpec
from .errors import (
    FluxError,
    InvalidRequestError,
    RateLimitError,
    UpstreamBusyError,
    UpstreamError,
    UpstreamTimeoutError,
)
from .upstream import proxies_for

CONNECT_TIMEOUT = 10.0
RETRY_BASE = 0.5  # seconds; the pause before try n is up to RETRY_BASE * 2**n, at random
RETRY_CAP = 8.0
READERS = 8  # answers read into memory at once; one core decodes one at a time anyway
BUSY_RETRY_AFTER = 10
MINUTE_LIMIT_RETRY_AFTER = 60
log = logging.getLogger(__name__)
_REJECTED_FIELD = re.compile(r"properties '/(\w+)'.*not allowed")


def model_inputs(
    model: ModelSpec,
    prompt: str,
    width: int,
    height: int,
    steps: int | None = None,
    seed: int | None = None,
    guidance: float | None = None,
    negative_prompt: str | None = None,
) -> dict[str, str | int | float]:
    """Exactly the fields `model` accepts, clamped to its ranges."""
    inputs: dict[str, str | int | float] = {"prompt": prompt}
    if model.steps_field and model.steps:
        inputs[model.steps_field] = int(model.steps.clamp(steps or model.default_steps or 1))
    if model.size:
        inputs["width"], inputs["height"] = request_size(model, width, height)
    if model.seed and seed is not None:
        inputs["seed"] = seed
    if model.guidance and guidance is not None:
        inputs["guidance"] = model.guidance.clamp(guidance)
    if model.negative_prompt and negative_prompt:
        inputs["negative_prompt"] = negative_prompt
    return inputs


def request_size(model: ModelSpec, width: int, height: int) -> tuple[int, int]:
    """The size to ask `model` for: each side rounded up to its multiple, kept in range.

    Rounding up means the picture is never smaller than asked, so fitting only shrinks it.
    """
    assert model.size is not None
    rule = model.size

    def side(value: int) -> int:
        rounded = -(-value // rule.multiple) * rule.multiple
        return max(rule.low, min(rule.high, rounded))

    return side(width), side(height)


@dataclass(frozen=True)
class Drawing:
    """What Workers AI drew, and the inputs it finally accepted."""

    data: bytes
    inputs: dict[str, str | int | float]


def run_url(settings: Settings) -> str:
    """Where models run: the REST API, or the same call through AI Gateway (model id appended)."""
    account = settings.cf_account_id
    if settings.cf_ai_gateway:
        return f"{settings.cf_ai_gateway_base}/{account}/{settings.cf_ai_gateway}/workers-ai/"
    return f"{settings.cf_api_base}/accounts/{account}/ai/run/"


class WorkersAIClient:
    """Calls `POST {CF_API_BASE}/accounts/{id}/ai/run/{model}`, or AI Gateway's equivalent.

    A call that fails for a passing reason (no capacity, a 5xx, a dropped connection) is
    tried again after a jittered, growing pause, as long as UPSTREAM_TIMEOUT allows in all;
    a refused input is never tried again as it was.
    """

    def __init__(self, settings: Settings, session: requests.Session | None = None) -> None:
        self._session = session or requests.Session()
        self._run_url = run_url(settings)
        self._proxies = proxies_for(self._run_url, settings)
        self._headers = {"Authorization": f"Bearer {settings.cf_api_token}"}
        if settings.cf_ai_gateway_token:
            self._headers["cf-aig-authorization"] = f"Bearer {settings.cf_ai_gateway_token}"
        self._deadline = settings.upstream_timeout
        # Optional fields a model refused, remembered so each costs one failed call at most.
        self._refused: dict[str, set[str]] = {}
        self._lock = threading.Lock()
        self._readers = threading.BoundedSemaphore(READERS)

    def run(self, model: ModelSpec, inputs: dict[str, str | int | float]) -> Drawing:
        """Have `model` draw from `inputs`, trying again while that can help."""
        deadline = time.monotonic() + self._deadline
        with self._lock:
            refused = set(self._refused.get(model.id, ()))
        inputs = {name: value for name, value in inputs.items() if name not in refused}
        for attempt in itertools.count():
            try:
                return Drawing(self._post(model, inputs, deadline), inputs)
            except InvalidRequestError as error:
                field = _refused_field(error.message)
                if field is None or field == "prompt" or field not in inputs:
                    raise
                log.warning("%s refuses the field %r; leaving it out from now on", model.id, field)
                with self._lock:
                    self._refused.setdefault(model.id, set()).add(field)
                inputs = {name: value for name, value in inputs.items() if name != field}
            except UpstreamError as error:
                pause = random.uniform(0, min(RETRY_CAP, RETRY_BASE * 2**attempt))
                if not error.transient or time.monotonic() + pause >= deadline:
                    raise
                log.warning(
                    "upstream failure, try %d again in %.2f s: %s",
                    attempt + 2,
                    pause,
                    error.message,
                )
                time.sleep(pause)
        raise AssertionError("unreachable")

    def _post(
        self, model: ModelSpec, inputs: dict[str, str | int | float], deadline: float
    ) -> bytes:
        if model.body == "multipart":
            # requests writes the multipart boundary itself; (None, value) is a plain field.
            body = {"files": {name: (None, str(value)) for name, value in inputs.items()}}
        else:
            body = {"json": inputs}
        left = deadline - time.monotonic()
        if left <= 0:
            raise self._timed_out()
        try:
            response = self._session.post(
                self._run_url + model.id,
                headers=self._headers,
                timeout=(min(CONNECT_TIMEOUT, left), left),
                proxies=self._proxies,
                stream=True,
                **body,
            )
        except requests.Timeout:
            raise self._timed_out() from None
        except requests.RequestException:
            raise UpstreamError("Could not reach Workers AI.", transient=True) from None
        # A body read and decoded takes a few times its size in memory; when hundreds of
        # answers arrive at once, the rest wait in the kernel's socket buffers instead.
        if not self._readers.acquire(timeout=max(0.0, deadline - time.monotonic())):
            response.close()
            raise self._timed_out()
        try:
            with response:
                # One read of the whole body: cheaper than requests' 10 KB pieces.
                data = response.raw.read(decode_content=True)
            return read_answer(
                response.status_code, response.headers.get("Content-Type", ""), data, model
            )
        except urllib3.exceptions.TimeoutError:
            raise self._timed_out() from None
        except urllib3.exceptions.HTTPError:
            raise UpstreamError("Workers AI's answer was cut off.", transient=True) from None
        finally:
            self._readers.release()

    def _timed_out(self) -> UpstreamTimeoutError:
        return UpstreamTimeoutError(f"Workers AI did not answer within {self._deadline:g} s.")


def read_answer(status: int, content_type: str, body: bytes, model: ModelSpec) -> bytes:
    """The picture in a Workers AI answer: raw bytes, or base64 in the JSON envelope."""
    ok = 200 <= status < 300
    if ok and content_type.startswith("image/"):
        return body
    try:
        envelope = orjson.loads(body)  # twice as fast as json on a 270 KB envelope
    except ValueError:
        envelope = None
    if not isinstance(envelope, dict):
        if ok and model.output == "binary":
            return body  # untyped bytes: the picture check decides
        raise upstream_error(status, None, "", model.id)
    if ok and envelope.get("success") is True:
        result = envelope.get("result")
        image = result.get("image") if isinstance(result, dict) else None
        if not isinstance(image, str) or not image:
            raise UpstreamError("Workers AI answered without a picture.")
        try:
            return pybase64.b64decode(image, validate=True)
        except (binascii.Error, ValueError):
            raise UpstreamError("Workers AI sent a picture that is not valid base64.") from None
    code, reason = _first_error(envelope)
    raise upstream_error(status if not ok else 200, code, reason, model.id)


def _first_error(envelope: dict) -> tuple[int | None, str]:
    errors = envelope.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        code = errors[0].get("code")
        message = errors[0].get("message")
        return (
            code if isinstance(code, int) else None,
            _printable(message) if isinstance(message, str) else "",
        )
    return None, ""


def _printable(text: str, limit: int = 300) -> str:
    text = "".join(char for char in text if char.isprintable())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _refused_field(message: str) -> str | None:
    match = _REJECTED_FIELD.search(message)
    return match[1] if match else None


def _seconds_to_utc_midnight(now: datetime | None = None) -> int:
    now = now or datetime.now(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((midnight - now).total_seconds()))


_ErrorFactory = Callable[[int, int | None, str, str], FluxError]


def _invalid(status: int, code: int | None, reason: str, model: str) -> FluxError:
    return InvalidRequestError(
        f"Workers AI rejected the request: {reason or f'HTTP {status}'}",
        param="prompt",
        code="upstream_invalid_input",
    )


def _unknown_model(status: int, code: int | None, reason: str, model: str) -> FluxError:
    return UpstreamError(
        f"Workers AI does not serve the model {model} ({_where(status, code)}); "
        "the operator must check MODELS and FLUX_MODEL."
    )


def _credentials(status: int, code: int | None, reason: str, model: str) -> FluxError:
    return UpstreamError(
        f"Workers AI refused this server's Cloudflare credentials (HTTP {status}). The operator "
        "must check CF_ACCOUNT_ID and CF_API_TOKEN (and CF_AI_GATEWAY_TOKEN with AI Gateway)."
    )


def _account(status: int, code: int | None, reason: str, model: str) -> FluxError:
    return UpstreamError(
        f"This server's Cloudflare account may not use {model} ({_where(status, code)}): {reason}"
    )


def _timeout(status: int, code: int | None, reason: str, model: str) -> FluxError:
    return UpstreamTimeoutError(f"Workers AI timed out while drawing ({_where(status, code)}).")


def _daily_allocation(status: int, code: int | None, reason: str, model: str) -> FluxError:
    return RateLimitError(
        "This server's daily free Workers AI allocation is used up; it resets at 00:00 UTC.",
        code="insufficient_quota",
        retry_after=_seconds_to_utc_midnight(),
    )


def _busy(status: int, code: int | None, reason: str, model: str) -> FluxError:
    return UpstreamBusyError(
        "Workers AI is out of capacity right now; try again shortly.",
        retry_after=BUSY_RETRY_AFTER,
    )


def _minute_limit(status: int, code: int | None, reason: str, model: str) -> FluxError:
    return RateLimitError(
        "This server reached its per-minute Workers AI rate limit.",
        retry_after=MINUTE_LIMIT_RETRY_AFTER,
    )


def _failed(status: int, code: int | None, reason: str, model: str) -> FluxError:
    return UpstreamError(f"Workers AI failed ({_where(status, code)}).", transient=status >= 500)


def _where(status: int, code: int | None) -> str:
    where = "HTTP 200 with success: false" if status == 200 else f"HTTP {status}"
    return f"{where}, code {code}" if code is not None else where


# First match wins: (Workers AI error codes, HTTP statuses, factory). None matches anything.
ERROR_TABLE: tuple[tuple[frozenset[int] | None, frozenset[int] | None, _ErrorFactory], ...] = (
    (frozenset({5007, 3042, 7003}), None, _unknown_model),
    (frozenset({10000}), None, _credentials),
    (frozenset({5016, 5018, 3041, 3023, 5035}), None, _account),
    (frozenset({3036}), None, _daily_allocation),
    (frozenset({3040}), None, _busy),
    (frozenset({3007, 3008}), None, _timeout),
    (None, frozenset({400, 413}), _invalid),
    (None, frozenset({401, 403}), _credentials),
    (None, frozenset({404}), _unknown_model),
    (None, frozenset({408}), _timeout),
    (None, frozenset({429}), _minute_limit),
    (None, None, _failed),
)


def upstream_error(status: int, code: int | None, reason: str, model: str) -> FluxError:
    """Our error for a failed Workers AI answer, from the first matching row of ERROR_TABLE."""
    for codes, statuses, factory in ERROR_TABLE:
        if (codes is None or code in codes) and (statuses is None or status in statuses):
            return factory(status, code, reason, model)
    raise AssertionError("the last row of ERROR_TABLE matches everything")
