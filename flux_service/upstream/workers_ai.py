"""The Workers AI client: one `requests.Session`, each model called its own way.

`model_inputs` decides which fields a model gets; `WorkersAIClient.run` sends them as JSON or
multipart with the next account of the pool (`accounts`), reads the JSON envelope or the raw
bytes, and turns every failure into our error family through the tables in `upstream_errors`.
"""

from __future__ import annotations

import binascii
import logging
import random
import re
import threading
import time
from dataclasses import dataclass

import orjson
import pybase64
import requests
import urllib3

from config import Settings

from .. import metrics
from ..errors import AccountLimitError, InvalidRequestError, UpstreamError, UpstreamTimeoutError
from ..proxies import proxies_for
from .accounts import AccountPool
from .catalog import ModelSpec
from .error_table import timed_out, transport_error, upstream_error
from .http_session import CONNECT_TIMEOUT

RETRY_BASE = 0.5  # seconds; the pause before try n is up to RETRY_BASE * 2**n, at random
RETRY_CAP = 8.0
READERS = 8  # answers read into memory at once; one core decodes one at a time anyway
log = logging.getLogger(__name__)
_REJECTED_FIELD = re.compile(r"properties '/(\w+)'.*not allowed")
# Fields that are the request itself: refused, the call fails rather than go on without them.
_NEVER_LEFT_OUT = {"prompt", "image", "mask", *(f"input_image_{n}" for n in range(4))}

Inputs = dict[str, str | int | float | bytes | list[int]]


def model_inputs(
    model: ModelSpec,
    prompt: str,
    width: int,
    height: int,
    steps: int | None,
    seed: int | None,
    *,
    negative_prompt: str = "",
    guidance: float | None = None,
) -> Inputs:
    """Exactly the fields `model` accepts, clamped to its ranges. A `negative_prompt` or a
    `guidance` goes only to a model that takes one (and an empty negative prompt to none:
    phoenix refuses it)."""
    inputs: Inputs = {"prompt": prompt}
    runs = model.steps_run(steps)
    if model.steps_field and runs is not None:
        inputs[model.steps_field] = runs
    if model.size:
        inputs["width"], inputs["height"] = request_size(model, width, height)
    if model.seed and seed is not None:
        inputs["seed"] = seed
    if model.negative_prompt and negative_prompt:
        inputs["negative_prompt"] = negative_prompt
    if model.guidance is not None and guidance is not None:
        inputs["guidance"] = model.guidance.clamp(guidance)
    return inputs


def request_size(model: ModelSpec, width: int, height: int) -> tuple[int, int]:
    """The size to ask `model` for: each side rounded up to its multiple, kept in range.

    Rounding up means the image is never smaller than asked, so fitting only shrinks it.
    """
    if model.size is None:
        raise ValueError(f"{model.id} takes no size")
    rule = model.size

    def side(value: int) -> int:
        rounded = -(-value // rule.multiple) * rule.multiple
        return max(rule.low, min(rule.high, rounded))

    return side(width), side(height)


@dataclass(frozen=True)
class Drawing:
    """What Workers AI drew, and the seed it was really given (None: it took none)."""

    data: bytes
    seed: int | None


def run_url(settings: Settings, account: str) -> str:
    """Where `account`'s models run: the REST API, or the same call through AI Gateway
    (model id appended)."""
    if settings.cf_ai_gateway:
        return f"{settings.cf_ai_gateway_base}/{account}/{settings.cf_ai_gateway}/workers-ai/"
    return f"{settings.cf_api_base}/accounts/{account}/ai/run/"


class WorkersAIClient:
    """Calls `POST {CF_API_BASE}/accounts/{id}/ai/run/{model}`, or AI Gateway's equivalent.

    Each try goes to the next account of `pool` that is not resting. An account out of its
    daily allocation or at its per-minute limit rests, and the call moves to the next one at
    once. A call that fails for a passing reason (no capacity, a 5xx, a dropped connection) is
    tried again after a jittered, growing pause, for UPSTREAM_RETRY_BUDGET seconds at most
    and never past UPSTREAM_TIMEOUT; a refused input is never tried again as it was. A single
    call that is just slow has all of UPSTREAM_TIMEOUT.
    """

    def __init__(
        self, settings: Settings, session: requests.Session, pool: AccountPool | None = None
    ) -> None:
        self._session = session
        self._pool = pool or AccountPool(settings.accounts)
        gateway = {}
        if settings.cf_ai_gateway_token:
            gateway["cf-aig-authorization"] = f"Bearer {settings.cf_ai_gateway_token}"
        # Per account, by its place in the pool: where it runs models, and its headers.
        self._routes = [
            (run_url(settings, account.id), {"Authorization": f"Bearer {account.token}", **gateway})
            for account in settings.accounts
        ]
        self._proxies = proxies_for(self._routes[0][0], settings)
        self._timeout = settings.upstream_timeout
        self._retry_budget = settings.upstream_retry_budget
        # Optional fields a model refused, remembered so each costs one failed call at most.
        self._refused: dict[str, set[str]] = {}
        self._lock = threading.Lock()
        self._readers = threading.BoundedSemaphore(READERS)

    def run(self, model: ModelSpec, inputs: Inputs) -> Drawing:
        """Have `model` draw from `inputs`, trying again while that can help."""
        started = time.monotonic()
        deadline = started + self._timeout
        # Past this, a failure is final: trying on would only hold the request to the deadline.
        last_retry = min(deadline, started + self._retry_budget)
        with self._lock:
            refused = set(self._refused.get(model.id, ()))
        inputs = {name: value for name, value in inputs.items() if name not in refused}
        attempt = 0
        failure: UpstreamError | None = None  # the passing failure last tried again
        while True:
            account = self._pool.take()
            given = deadline - time.monotonic()
            try:
                data = self._post(account, model, inputs, deadline)
            except AccountLimitError as error:
                self._pool.rest(account, error)
                continue
            except InvalidRequestError as error:
                field = _refused_field(error.message)
                if field is None or field in _NEVER_LEFT_OUT or field not in inputs:
                    raise
                log.warning("%s refuses the field %r; leaving it out from now on", model.id, field)
                with self._lock:
                    self._refused.setdefault(model.id, set()).add(field)
                inputs = {name: value for name, value in inputs.items() if name != field}
                continue
            except UpstreamError as error:
                cut_short = isinstance(error, UpstreamTimeoutError) and given < self._timeout / 2
                if cut_short and failure is not None:
                    # A try again that the deadline cut short: the failure before it is the news.
                    raise failure from None
                pause = random.uniform(0, min(RETRY_CAP, RETRY_BASE * 2**attempt))
                if not error.transient or time.monotonic() + pause >= last_retry:
                    raise
                failure = error
                attempt += 1
                log.warning(
                    "upstream failure, try %d again in %.2f s: %s",
                    attempt + 1,
                    pause,
                    error.message,
                )
                time.sleep(pause)
                continue
            seed = inputs.get("seed")
            return Drawing(data, seed if isinstance(seed, int) else None)

    def _post(self, account: int, model: ModelSpec, inputs: Inputs, deadline: float) -> bytes:
        left = deadline - time.monotonic()
        if left <= 0:
            raise timed_out(self._timeout)
        multipart = model.body == "multipart"
        url, headers = self._routes[account]
        started = time.monotonic()
        try:
            response = self._session.post(
                url + model.id,
                json=None if multipart else inputs,
                # requests writes the multipart boundary itself; (None, value) is a plain field.
                files={name: _part(name, value) for name, value in inputs.items()}
                if multipart
                else None,
                headers=headers,
                timeout=(min(CONNECT_TIMEOUT, left), left),
                proxies=self._proxies,
                stream=True,
            )
        except requests.RequestException as error:
            raise transport_error(error, self._timeout) from None
        metrics.upstream_first_byte(model.id, time.monotonic() - started)
        # A body read and decoded takes a few times its size in memory; when hundreds of
        # answers arrive at once, the rest wait in the kernel's socket buffers instead.
        if not self._readers.acquire(timeout=max(0.0, deadline - time.monotonic())):
            response.close()
            raise timed_out(self._timeout)
        try:
            with response:
                # One read of the whole body: cheaper than requests' 10 KB pieces.
                data = response.raw.read(decode_content=True)
        except urllib3.exceptions.HTTPError as error:
            raise transport_error(error, self._timeout) from None
        finally:
            self._readers.release()
        metrics.upstream_answered(model.id, time.monotonic() - started)
        return read_answer(
            response.status_code, response.headers.get("Content-Type", ""), data, model
        )


def _part(name: str, value: object) -> tuple[str, bytes, str] | tuple[None, str]:
    """A multipart part: images (JPEG) as files under their field name, the rest plain text."""
    if isinstance(value, bytes):
        return f"{name}.jpg", value, "image/jpeg"
    return None, str(value)


def read_answer(status: int, content_type: str, body: bytes, model: ModelSpec) -> bytes:
    """The image in a Workers AI answer: raw bytes, or base64 in the JSON envelope."""
    ok = 200 <= status < 300
    if ok and content_type.startswith("image/"):
        return body
    try:
        envelope = orjson.loads(body)  # twice as fast as json on a 270 KB envelope
    except ValueError:
        envelope = None
    if not isinstance(envelope, dict):
        if ok and model.output == "binary":
            return body  # untyped bytes: the image check decides
        raise upstream_error(status, None, "", model.id)
    if ok and envelope.get("success") is True:
        result = envelope.get("result")
        image = result.get("image") if isinstance(result, dict) else None
        if not isinstance(image, str) or not image:
            raise UpstreamError("Workers AI answered without an image.")
        try:
            return pybase64.b64decode(image, validate=True)
        except (binascii.Error, ValueError):
            raise UpstreamError("Workers AI sent an image that is not valid base64.") from None
    code, reason = first_error(envelope)
    # Any 2xx whose envelope says success: false is read as "HTTP 200 with success: false".
    raise upstream_error(200 if ok else status, code, reason, model.id)


def first_error(envelope: dict) -> tuple[int | None, str]:
    """The code and message of the first error in a Workers AI envelope, if it has one."""
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
