"""The one generation path, for every endpoint: chat, streamed chat and the Images API.

An endpoint describes what it wants as an `Order`. `Pipeline.plan` decides everything before
any answer has started (prompt, model, size, steps, seeds, the images worked from) and
refuses unusable input. `Pipeline.run` then yields each stage as it completes, so a stream can
show it at once:

    Order ─plan─> Plan ─run─> PromptChoice ─> Stored, one per image as each is done

A repeatable image (no seed, or the client's own) may be one an identical request stored
before or is drawing now: `reuse.py` hands that on instead of drawing it again.

Planning also estimates what the generation costs and refuses it when it would pass the
day's budget; each image is counted as spent once Workers AI has drawn it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from operator import attrgetter

from config import Settings

from .. import metrics
from ..errors import (
    CapacityError,
    ClientGoneError,
    InvalidRequestError,
    StoreUnavailableError,
    UpstreamError,
)
from ..offload import off_the_event_loop
from ..stores.base import ImageStore
from ..upstream.catalog import MAX_SEED, ModelSpec, ServedModels
from ..upstream.costs import Cost, estimate
from ..upstream.optimizer import OptimizerError, PromptOptimizer
from ..upstream.workers_ai import WorkersAIClient, model_inputs, request_size
from .codec import EncodedImage, ImageError, fit_image, fit_within, read_image
from .editing import Edit, Field, apply_mask, editor, model_fields, read_edit, shape_size
from .prompt import DEFAULT_RATIO, RATIO_SIZES, PromptSpec, parse_prompt, ratio_label, shorten
from .reuse import Reuse, Reused, request_digest
from .sources import ImageSource
from .spending import Spending

log = logging.getLogger(__name__)

CAPACITY_RETRY_AFTER = 5  # seconds; about the time an image takes
# The longest side of an edit's output when the request names no size: the default's.
EDIT_SIDE = max(RATIO_SIZES[DEFAULT_RATIO])
# The most of the earlier message a follow-up's decision reads.
EARLIER_PROMPT_CHARS = 10_000
# A raw prompt may be this many times the model's limit: cleaning drops whitespace and markers.
RAW_PROMPT_FACTOR = 4


@dataclass(frozen=True)
class Order:
    """What an endpoint asks for, in the user's terms."""

    prompt: str  # the user's words, as sent: a size or ratio token may end them
    model: str | None = None  # a name the client chose; unknown names get FLUX_MODEL
    n: int = 1
    seed: int | None = None  # the first image's; the others count up from it
    size: tuple[int, int] | None = None  # an explicit size, over the prompt's own
    mime: str | None = None  # an image type asked for, else the model's own
    owner: str = ""  # who asks: a digest of the API key, for its share of slots and store
    images: tuple[ImageSource, ...] = ()  # images to work from, the first one leading
    mask: ImageSource | None = None  # where to change the first one (transparent: change)
    # A chat follow-up: the image of ours the conversation showed last, and what drew it.
    earlier: ImageSource | None = None
    earlier_prompt: str = ""
    quality: str | None = None  # "low" or "high" for fewer or more steps; None: the usual


@dataclass(frozen=True)
class Plan:
    """A generation decided in full before any upstream call."""

    prompt: PromptSpec  # the cleaned prompt and the size it asked for
    model: ModelSpec
    width: int  # the size we will deliver: the one asked for, or scaled down to fit
    height: int
    steps: int | None
    seeds: tuple[int | None, ...]  # one per image
    mime: str | None = None
    owner: str = ""
    edit: Edit | None = None  # the images it works from, read and checked
    fields: Mapping[str, Field] = field(default_factory=dict)  # the model's image fields
    written: PromptChoice | None = None  # a follow-up's prompt, written as it was decided
    quality: str = "medium"  # the steps run: "medium" the usual, "low" fewer, "high" more
    cost: Cost = field(default_factory=lambda: Cost(0.0))  # each image's, estimated
    repeatable: bool = False  # no seed, or the client's: the same plan draws the same images

    @property
    def scaled(self) -> bool:
        return (self.width, self.height) != (self.prompt.width, self.prompt.height)


@dataclass(frozen=True)
class PromptChoice:
    """The prompt sent to the model, and who wrote it."""

    text: str
    optimizer: str | None = None  # the configured optimizer model; None when it is off
    optimized: bool = False  # False: the optimizer is off or failed; `text` is the user's own
    shortened_to: int | None = None


@dataclass(frozen=True)
class Stored:
    """One finished image, kept in the store under `key`."""

    index: int  # its place among the plan's images
    image: EncodedImage
    key: str
    seed: int | None  # the seed the model really got
    upstream_seconds: float  # time spent waiting on Workers AI, retries included
    kept: float | None = None  # seconds the store keeps it from now; None: for good
    reused: bool = False  # stored for an identical request, not drawn for this one
    key_spent: float | None = None  # neurons its API key has spent today; None: not known


class Pipeline:
    """Plans and runs generations against Workers AI, the optimizer and the store."""

    def __init__(
        self,
        settings: Settings,
        models: ServedModels,
        workers_ai: WorkersAIClient,
        optimizer: PromptOptimizer | None,
        store: ImageStore,
        spending: Spending,
        reuse: Reuse | None = None,
    ) -> None:
        self._settings = settings
        self._spending = spending
        self._models = models
        self._store = store
        self._reuse = reuse  # None: REUSE_PICTURES is off
        self._workers_ai = workers_ai
        self._optimizer = optimizer
        # MAX_CONCURRENT_GENERATIONS is for the whole instance: each worker takes its share,
        # and so does MAX_GENERATIONS_PER_KEY.
        workers = settings.web_concurrency
        slots = math.ceil(settings.max_concurrent_generations / workers)
        self._slots = threading.BoundedSemaphore(slots)
        # A key's share as large as the instance's is no share: the slots alone decide.
        per_key = math.ceil(settings.max_generations_per_key / workers)
        self._per_key = per_key if per_key < slots else None
        self._running: Counter[str] = Counter()
        self._running_lock = threading.Lock()

    def plan(self, order: Order) -> Plan:
        """Decide the whole generation; raise InvalidRequestError for unusable input,
        StoreUnavailableError when the store cannot take images right now, and
        BudgetSpentError when it would cost more than is left of the day's budget.

        The images an order works from are read and checked here, and a chat follow-up asks
        the optimizer what it means, so that all of it is settled before any answer starts.
        """
        model = self._model_for(order)
        # Far over the model's limit, the prompt is refused before any parsing: cleaning a
        # million characters would hold the event loop for everyone.
        if len(order.prompt) > RAW_PROMPT_FACTOR * model.prompt_limit:
            raise _too_long(len(order.prompt), model)
        spec = parse_prompt(order.prompt)
        if not spec.text:
            raise InvalidRequestError("The prompt is empty: describe the image.")
        # Fail before anything is spent (or read) when the images could not be kept.
        self._store.check()
        order, written = self._follow_up(order, spec, model)
        if written is not None and order.images:
            model = self._model_for(order)  # the follow-up changes the earlier image
        if len(spec.text) > model.prompt_limit:
            raise _too_long(len(spec.text), model)
        # A ratio or size the user typed wins over the request's `size`, often a client's
        # default (Open WebUI sends its 512x512 with every image).
        if order.size is not None and not spec.sized:
            spec = PromptSpec(spec.text, *order.size, sized=True)
        edit = None
        if order.images:
            longest = max(spec.width, spec.height) if spec.sized else EDIT_SIDE
            edit = read_edit(order.images, order.mask, model, min(longest, model.max_side))
            if not spec.sized:
                # An edit keeps the proportions of the image it works from.
                spec = PromptSpec(spec.text, *shape_size(edit, EDIT_SIDE))
        width, height = fit_within(spec.width, spec.height, model.max_side)
        steps, quality = _steps(model, self._usual_steps(model), order.quality)
        cost = self._afford(order, model, width, height, steps, edit)
        fields: Mapping[str, Field] = {}
        if edit is not None:
            fields = model_fields(model, edit, *_drawn_size(model, width, height))
        seeds = _seeds(model, order)
        if written is not None and len(written.text) > model.prompt_limit:
            limit = model.prompt_limit
            written = replace(written, text=shorten(written.text, limit), shortened_to=limit)
        return Plan(
            spec,
            model,
            width,
            height,
            steps,
            seeds,
            order.mime,
            order.owner,
            edit,
            fields,
            written,
            quality,
            cost,
            repeatable=not model.seed or order.seed is not None,
        )

    def _usual_steps(self, model: ModelSpec) -> int | None:
        """The steps `model` runs unless asked otherwise: FLUX_NUM_STEPS for the default."""
        if model is self._models.default:
            return self._settings.flux_num_steps
        return model.default_steps

    def _afford(
        self,
        order: Order,
        model: ModelSpec,
        width: int,
        height: int,
        steps: int | None,
        edit: Edit | None,
    ) -> Cost:
        """What each image of `order` costs, drawn by `model` at width x height in `steps`
        from `edit`; BudgetSpentError if all of them would pass what is left today."""
        inputs: tuple[tuple[int, int], ...] = ()
        side = model.inputs.max_side if model.inputs is not None else 0
        if edit is not None and side:  # FLUX.2's references, sent within `side` a side
            inputs = tuple(fit_within(*image.image.size, side) for image in edit.images)
        drawn = _drawn_size(model, width, height)
        cost = estimate(model, *drawn, model.steps_run(steps), inputs)
        self._spending.check(order.owner, cost.times(order.n).neurons)
        return cost

    def _follow_up(
        self, order: Order, spec: PromptSpec, model: ModelSpec
    ) -> tuple[Order, PromptChoice | None]:
        """For a chat follow-up to one of our images, the optimizer decides: a change to that
        image (drawn from it) or a new image. It writes the prompt either way. Without the
        optimizer, or when it fails, the message draws a new image, as any other does."""
        if order.earlier is None or order.images or self._optimizer is None:
            return order, None
        # The optimizer is asked before the plan is done: a spent budget asks it nothing.
        width, height = fit_within(spec.width, spec.height, model.max_side)
        self._afford(order, model, width, height, self._usual_steps(model), None)
        writer = self._optimizer.model
        try:
            # What drew the earlier image, cleaned as a prompt is, cut to what any model takes.
            earlier = parse_prompt(order.earlier_prompt[:EARLIER_PROMPT_CHARS])
            edit, prompt = self._optimizer.decide(earlier.text, spec.text)
        except OptimizerError as error:
            log.warning("prompt optimizer failed (%s); drawing a new image from the message", error)
            return order, PromptChoice(spec.text, optimizer=writer)
        written = PromptChoice(prompt, optimizer=writer, optimized=True)
        return (replace(order, images=(order.earlier,)) if edit else order), written

    def _model_for(self, order: Order) -> ModelSpec:
        """The model that draws `order`: its own, or the one that edits when it has images."""
        if order.images:
            return editor(self._models, order.model, self._settings.edit_model, len(order.images))
        if order.mask is not None:
            raise InvalidRequestError("A mask says where to change an image: send the image too.")
        model = self._models.pick(order.model)
        if model.inputs is not None and model.inputs.needed:
            raise InvalidRequestError(
                f"{model.short_name} draws from an image only: send one to work from.",
                code="image_needed",
            )
        return model

    def run(
        self, plan: Plan, wanted: Callable[[], bool] = lambda: True
    ) -> Iterator[PromptChoice | Stored]:
        """Optimize, then draw, fit and store each image, yielding every stage when done.

        `wanted()` says whether the client is still there: once it is not, nothing more is
        asked of the optimizer or Workers AI, and ClientGoneError ends the run.
        """
        _still(wanted)
        choice = self.choose_prompt(plan)
        yield choice
        if len(plan.seeds) == 1:
            yield self.draw(plan, choice, 0, wanted)
            return
        # Several images are drawn at once; each is handed on the moment it is stored.
        with ThreadPoolExecutor(max_workers=len(plan.seeds)) as pool:
            futures = [
                pool.submit(self.draw, plan, choice, index, wanted)
                for index in range(len(plan.seeds))
            ]
            for future in as_completed(futures):
                yield future.result()

    def choose_prompt(self, plan: Plan) -> PromptChoice:
        """The prompt to draw: the optimizer's rewrite, or the user's own if it is off or fails."""
        if plan.written is not None:
            return plan.written
        original = plan.prompt.text
        if self._optimizer is None:
            return PromptChoice(original)
        writer = self._optimizer.model
        try:
            text = self._optimizer.optimize(
                original, ratio_label(plan.width, plan.height), f"{plan.width}x{plan.height}"
            )
        except OptimizerError as error:
            log.warning("prompt optimizer failed (%s); drawing from the original prompt", error)
            return PromptChoice(original, optimizer=writer)
        limit = plan.model.prompt_limit
        if len(text) > limit:
            return PromptChoice(
                shorten(text, limit), optimizer=writer, optimized=True, shortened_to=limit
            )
        return PromptChoice(text, optimizer=writer, optimized=True)

    def draw(
        self, plan: Plan, choice: PromptChoice, index: int, wanted: Callable[[], bool]
    ) -> Stored:
        """Image `index` of `plan`: the one an identical request stored or is drawing, when
        it is repeatable, else drawn for this one."""
        reuse = self._reuse
        digest = draw_digest(plan, choice, index) if reuse is not None else None
        if reuse is None or digest is None:
            return self._draw(plan, choice, index, wanted)
        found = reuse.obtain(digest, lambda: self._draw(plan, choice, index, wanted))
        if isinstance(found, Reused):
            metrics.image_reused(_kind(plan), plan.model.id)
            return _reused(plan, index, found)
        return found

    def _draw(
        self, plan: Plan, choice: PromptChoice, index: int, wanted: Callable[[], bool]
    ) -> Stored:
        """Have the model draw image `index` of `plan`, fit it to the plan's size and store it."""
        with metrics.drawing_image(_kind(plan), plan.model.id):
            return self._draw_counted(plan, choice, index, wanted)

    def _draw_counted(
        self, plan: Plan, choice: PromptChoice, index: int, wanted: Callable[[], bool]
    ) -> Stored:
        inputs = model_inputs(
            plan.model, choice.text, plan.width, plan.height, plan.steps, plan.seeds[index]
        )
        inputs.update(plan.fields)
        with self._key_slot(plan.owner):
            if not self._slots.acquire(timeout=self._settings.generation_wait):
                raise _no_capacity(
                    "This server is drawing as many images at once as it allows; "
                    "try again in a few seconds."
                )
            started = time.monotonic()
            try:
                _still(wanted)  # the last moment before anything is paid for
                with metrics.upstream_busy():
                    drawing = self._workers_ai.run(plan.model, inputs)
            finally:
                self._slots.release()
        upstream_seconds = time.monotonic() - started
        # Drawn is paid for, whatever becomes of the image now.
        key_spent = self._spending.count(plan.owner, plan.cost.neurons)
        metrics.spent(plan.model.id, plan.owner, plan.cost.neurons, plan.cost.dollars)
        try:
            image = read_image(drawing.data)
            if (image.width, image.height) != (plan.width, plan.height) or plan.mime:
                image = off_the_event_loop(fit_image, image, plan.width, plan.height, plan.mime)
            if plan.edit is not None:
                image = apply_mask(image, plan.edit)
        except ImageError as error:
            raise UpstreamError(f"Workers AI answered with an unusable image: {error}.") from None
        try:
            key = self._store.put(image.data, image.mime, plan.owner)
        except StoreUnavailableError as error:
            # Checked before planning, the store went away since: the image cost all the same.
            raise StoreUnavailableError(
                f"The image was drawn, and its cost counted, but it could not be kept: "
                f"{error.message}",
                retry_after=error.retry_after,
            ) from None
        metrics.picture_stored(self._store.name, len(image.data))
        kept = self._settings.image_expiration or None
        return Stored(index, image, key, drawing.seed, upstream_seconds, kept, key_spent=key_spent)

    @contextlib.contextmanager
    def _key_slot(self, owner: str) -> Iterator[None]:
        """One of the generations `owner` may have running at once, or CapacityError."""
        if self._per_key is None:
            yield
            return
        with self._running_lock:
            if self._running[owner] >= self._per_key:
                raise _no_capacity(
                    "This API key has as many images being drawn at once as it may "
                    f"(MAX_GENERATIONS_PER_KEY={self._settings.max_generations_per_key}); "
                    "try again when one is done."
                )
            self._running[owner] += 1
        try:
            yield
        finally:
            with self._running_lock:
                self._running[owner] -= 1
                if not self._running[owner]:
                    del self._running[owner]


def _still(wanted: Callable[[], bool]) -> None:
    if not wanted():
        raise ClientGoneError("The client left before its image was drawn; nothing was drawn.")


def _no_capacity(message: str) -> CapacityError:
    """The refusal of an image for want of a slot, counted."""
    metrics.refused("capacity")
    return CapacityError(message, retry_after=CAPACITY_RETRY_AFTER)


def _too_long(length: int, model: ModelSpec) -> InvalidRequestError:
    limit = model.prompt_limit
    return InvalidRequestError(
        f"The prompt has {length} characters; {model.short_name} takes at most {limit}."
    )


def draw_digest(plan: Plan, choice: PromptChoice, index: int) -> str | None:
    """What names image `index` of `plan` drawn from `choice` for reuse; None when its seed
    was drawn at random, so that no other request draws it again."""
    if not plan.repeatable:
        return None
    size = (plan.width, plan.height)
    pictures = plan.edit.digests if plan.edit is not None else ()
    seed = plan.seeds[index]
    return request_digest(
        plan.owner, plan.model.id, choice.text, size, plan.steps, seed, plan.mime, pictures
    )


def _kind(plan: Plan) -> str:
    return "edit" if plan.edit is not None else "generation"


def _reused(plan: Plan, index: int, found: Reused) -> Stored:
    """The picture an identical request stored, as this plan's image `index`: its size and
    type read from its bytes, its time left from the store."""
    image = read_image(found.image.read())
    left = found.image.seconds_left
    return Stored(index, image, found.key, plan.seeds[index], 0.0, left, reused=True)


def collect(stages: Iterable[PromptChoice | Stored]) -> tuple[PromptChoice, list[Stored]]:
    """The prompt choice and every stored image of a run, in the plan's order."""
    choice, *images = stages
    if not isinstance(choice, PromptChoice):
        raise TypeError("a run starts with its prompt choice")
    stored = sorted((stage for stage in images if isinstance(stage, Stored)), key=_by_index)
    return choice, stored


_by_index = attrgetter("index")


def _steps(model: ModelSpec, usual: int | None, quality: str | None) -> tuple[int | None, str]:
    """The steps to run for `quality`, and the quality they really are: "low" halves the
    usual steps and "high" doubles them, within the model's range. A model that runs a
    fixed number of steps, or a change the range does not allow, is the usual: "medium"."""
    if usual is None or model.steps is None or quality is None:
        return usual, "medium"
    wanted = max(1, usual // 2) if quality == "low" else usual * 2
    steps = int(model.steps.clamp(wanted))
    if steps == usual:
        return usual, "medium"
    return steps, quality


def _drawn_size(model: ModelSpec, width: int, height: int) -> tuple[int, int]:
    """The size `model` draws for an image of width x height: the size it is asked for, or
    its own when it takes none."""
    if model.size is not None:
        return request_size(model, width, height)
    assert model.native_size is not None
    return model.native_size


def _seeds(model: ModelSpec, order: Order) -> tuple[int | None, ...]:
    """A seed per image for models that take one: the order's and the next ones, or random."""
    if not model.seed:
        return (None,) * order.n
    first = secrets.randbelow(MAX_SEED + 1) if order.seed is None else order.seed
    return tuple((first + index) % (MAX_SEED + 1) for index in range(order.n))
