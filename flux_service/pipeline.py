"""The one generation path, for chat and the Images API.

`Pipeline.plan` decides everything that can be decided without the network (prompt, model,
size, steps, seed) and rejects bad input before any answer has started. `Pipeline.run` then
yields each stage as it completes, so a stream can show it at once:

    plan ─> PromptChoice (original or optimized) ─> Stored (drawn, fitted, stored)
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from gevent import monkey
from gevent.hub import get_hub

from config import Settings

from .catalog import MAX_SEED, ModelSpec, lookup
from .errors import CapacityError, InvalidRequestError, UpstreamError
from .images import ImageError, Picture, fit_picture, read_picture
from .optimizer import OptimizerError, PromptOptimizer
from .prompt import PromptSpec, parse_prompt, ratio_label, shorten
from .store import ImageStore
from .workers_ai import WorkersAIClient, model_inputs

log = logging.getLogger(__name__)

CAPACITY_RETRY_AFTER = 5  # seconds; about the time a picture takes
T = TypeVar("T")


@dataclass(frozen=True)
class Job:
    """A generation decided in full before any upstream call."""

    prompt: PromptSpec  # the cleaned prompt and the size it asked for
    model: ModelSpec
    width: int  # the size we will deliver: the one asked for, or scaled down to fit
    height: int
    steps: int | None
    seed: int | None
    mime: str | None = None  # a picture type asked for, else the model's own

    @property
    def scaled(self) -> bool:
        return (self.width, self.height) != (self.prompt.width, self.prompt.height)


@dataclass(frozen=True)
class PromptChoice:
    """The prompt sent to the model, and who wrote it."""

    text: str
    optimizer: str | None  # the configured optimizer model, None when optimization is off
    optimized: bool  # False: the optimizer is off or failed, and `text` is the user's own
    shortened_to: int | None = None


@dataclass(frozen=True)
class Stored:
    """The finished picture and where to fetch it."""

    picture: Picture
    url: str
    seed: int | None  # the seed the model really got
    upstream_seconds: float = 0.0  # time spent waiting on Workers AI, retries included


class Pipeline:
    """Plans and runs generations against Workers AI, the optimizer and the store."""

    def __init__(
        self,
        settings: Settings,
        models: Mapping[str, ModelSpec],
        workers_ai: WorkersAIClient,
        optimizer: PromptOptimizer | None,
        store: ImageStore,
    ) -> None:
        self.settings = settings
        self.models = models
        self.store = store
        self._workers_ai = workers_ai
        self._optimizer = optimizer
        # MAX_CONCURRENT_GENERATIONS is for the whole instance: each worker takes its share.
        share = math.ceil(settings.max_concurrent_generations / settings.web_concurrency)
        self._slots = threading.BoundedSemaphore(share)

    def model_for(self, name: str | None) -> ModelSpec:
        """The served model called `name`; unknown or missing names get FLUX_MODEL."""
        model = lookup(name) if name else None
        return model if model and model.id in self.models else self.models[self.settings.flux_model]

    def plan(
        self,
        text: str,
        model: str | None = None,
        seed: int | None = None,
        size: tuple[int, int] | None = None,
        mime: str | None = None,
        param: str = "messages",
    ) -> Job:
        """Decide the whole generation; raise InvalidRequestError for unusable input and
        StoreUnavailableError when the picture could not be stored."""
        spec = parse_prompt(text)
        if size is not None:
            spec = PromptSpec(spec.text, *size, explicit_size=True)
        if not spec.text:
            raise InvalidRequestError("The prompt is empty: describe the picture.", param=param)
        chosen = self.model_for(model)
        if len(spec.text) > chosen.prompt_limit:
            raise InvalidRequestError(
                f"The prompt has {len(spec.text)} characters; "
                f"{chosen.short_name} takes at most {chosen.prompt_limit}.",
                param=param,
            )
        width, height = fit_within(spec.width, spec.height, chosen.max_side)
        if chosen.seed and seed is None:
            seed = secrets.randbelow(MAX_SEED + 1)
        steps = (
            self.settings.flux_num_steps
            if chosen.id == self.settings.flux_model
            else chosen.default_steps
        )
        # Fail before anything is spent when the picture could not be kept.
        self.store.check()
        return Job(spec, chosen, width, height, steps, seed if chosen.seed else None, mime)

    def run(self, job: Job, image_base_url: str) -> Iterator[PromptChoice | Stored]:
        """Optimize, then draw, fit and store, yielding each stage when it is done."""
        choice = self.choose_prompt(job)
        yield choice
        yield self.draw(job, choice, image_base_url)

    def choose_prompt(self, job: Job) -> PromptChoice:
        """The prompt to draw: the optimizer's rewrite, or the user's own if it is off or fails."""
        original = job.prompt.text
        if self._optimizer is None:
            return PromptChoice(original, None, False)
        try:
            text = self._optimizer.optimize(
                original, ratio_label(job.width, job.height), f"{job.width}x{job.height}"
            )
        except OptimizerError as error:
            log.warning("prompt optimizer failed (%s); drawing from the original prompt", error)
            return PromptChoice(original, self._optimizer.model, False)
        limit = job.model.prompt_limit
        if len(text) > limit:
            return PromptChoice(shorten(text, limit), self._optimizer.model, True, limit)
        return PromptChoice(text, self._optimizer.model, True)

    def draw(self, job: Job, choice: PromptChoice, image_base_url: str) -> Stored:
        """Have the model draw `choice`, fit the picture to the job's size and store it."""
        inputs = model_inputs(
            job.model, choice.text, job.width, job.height, steps=job.steps, seed=job.seed
        )
        if not self._slots.acquire(timeout=self.settings.generation_wait):
            raise CapacityError(
                "This server is drawing as many pictures at once as it allows; "
                "try again in a few seconds.",
                retry_after=CAPACITY_RETRY_AFTER,
            )
        started = time.monotonic()
        try:
            drawing = self._workers_ai.run(job.model, inputs)
        finally:
            self._slots.release()
        upstream_seconds = time.monotonic() - started
        try:
            picture = read_picture(drawing.data)
            if (picture.width, picture.height) != (job.width, job.height) or job.mime:
                picture = off_the_event_loop(fit_picture, picture, job.width, job.height, job.mime)
        except ImageError as error:
            raise UpstreamError(f"Workers AI answered with an unusable picture: {error}.") from None
        key = self.store.put(picture.data, picture.mime)
        seed = drawing.inputs.get("seed")
        url = f"{image_base_url}/image/{key}"
        return Stored(picture, url, seed if isinstance(seed, int) else None, upstream_seconds)

    def draw_all(self, jobs: list[Job], choice: PromptChoice, image_base_url: str) -> list[Stored]:
        """`draw` for every job at once; the first failure is raised."""
        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            return list(pool.map(lambda job: self.draw(job, choice, image_base_url), jobs))


def off_the_event_loop(function: Callable[..., T], *args: object) -> T:
    """`function(*args)` on a real OS thread when gevent serves us, else right here.

    Pillow releases the GIL while it decodes, resizes and encodes, so on a real thread the
    event loop keeps serving every other client meanwhile instead of stalling for the
    milliseconds a picture takes.
    """
    if monkey.is_module_patched("threading"):
        return get_hub().threadpool.apply(function, args)
    return function(*args)


def fit_within(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(width, height) scaled down, keeping the ratio, so neither side exceeds `max_side`."""
    longest = max(width, height)
    if longest <= max_side:
        return width, height
    return max(1, round(width * max_side / longest)), max(1, round(height * max_side / longest))
