"""The one generation path, for every endpoint: chat, streamed chat, the Images API and the
Responses API.

An endpoint describes what it wants as an `Order`; `plan.Planner` decides everything before
any answer has started. `Pipeline.run` then yields each stage as it completes, so a stream
can show it at once:

    Order ─plan─> Plan ─run─> PromptChoice ─> Stored, one per image as each is done

A repeatable image (no seed, or the client's own) may be one an identical request stored
before or is drawing now: `reuse.py` hands that on instead of drawing it again. Each image
is counted as spent once Workers AI has drawn it, and drawn within one of this worker's
slots (`slots.py`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import KW_ONLY, dataclass
from operator import attrgetter

from config import Settings

from .. import metrics
from ..errors import ClientGoneError, StoreUnavailableError, UpstreamError
from ..offload import off_the_event_loop
from ..stores.base import ImageStore
from ..upstream.optimizer import OptimizerError, PromptOptimizer
from ..upstream.workers_ai import WorkersAIClient, model_inputs
from .codec import EncodedImage, ImageError, fit_image, read_image
from .editing import apply_mask
from .plan import Plan, PromptChoice
from .prompt import ratio_label, shorten
from .reuse import Reuse, Reused, request_digest
from .slots import Slots
from .spending import Spending

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stored:
    """One finished image, kept in the store under `key`."""

    index: int  # its place among the plan's images
    _: KW_ONLY
    image: EncodedImage
    key: str
    seed: int | None  # the seed the model really got
    upstream_seconds: float  # time spent waiting on Workers AI, retries included
    kept: float | None = None  # seconds the store keeps it from now; None: for good
    reused: bool = False  # stored for an identical request, not drawn for this one
    key_spent: float | None = None  # neurons its API key has spent today; None: not known


class Pipeline:
    """Runs planned generations against Workers AI, the optimizer and the store."""

    def __init__(
        self,
        settings: Settings,
        workers_ai: WorkersAIClient,
        store: ImageStore,
        spending: Spending,
        slots: Slots,
        optimizer: PromptOptimizer | None = None,
        reuse: Reuse | None = None,
    ) -> None:
        self._settings = settings
        self._workers_ai = workers_ai
        self._store = store
        self._spending = spending
        self._slots = slots
        self._optimizer = optimizer
        self._reuse = reuse  # None: reuse is off

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
            text, cost = self._optimizer.optimize(
                original, ratio_label(plan.width, plan.height), f"{plan.width}x{plan.height}"
            )
        except OptimizerError as error:
            log.warning("prompt optimizer failed (%s); drawing from the original prompt", error)
            self._spending.charge(plan.owner, writer, error.cost)
            return PromptChoice(original, optimizer=writer, cost=error.cost)
        self._spending.charge(plan.owner, writer, cost)
        limit = plan.model.prompt_limit
        if len(text) > limit:
            return PromptChoice(
                shorten(text, limit),
                optimizer=writer,
                optimized=True,
                shortened_to=limit,
                cost=cost,
            )
        return PromptChoice(text, optimizer=writer, optimized=True, cost=cost)

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
            plan.model,
            choice.text,
            plan.width,
            plan.height,
            plan.steps,
            plan.seeds[index],
            negative_prompt=plan.negative_prompt,
            guidance=plan.guidance,
        )
        inputs.update(plan.fields)
        with self._slots.hold(plan.owner):
            started = time.monotonic()
            _still(wanted)  # the last moment before anything is paid for
            with metrics.upstream_busy():
                drawing = self._workers_ai.run(plan.model, inputs)
        upstream_seconds = time.monotonic() - started
        # Drawn is paid for, whatever becomes of the image now.
        key_spent = self._spending.charge(plan.owner, plan.model.id, plan.cost, images=1)
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
        metrics.image_stored(self._store.name, len(image.data))
        kept = self._settings.image_expiration or None
        return Stored(
            index,
            image=image,
            key=key,
            seed=drawing.seed,
            upstream_seconds=upstream_seconds,
            kept=kept,
            key_spent=key_spent,
        )


def _still(wanted: Callable[[], bool]) -> None:
    if not wanted():
        raise ClientGoneError("The client left before its image was drawn; nothing was drawn.")


def draw_digest(plan: Plan, choice: PromptChoice, index: int) -> str | None:
    """What names image `index` of `plan` drawn from `choice` for reuse; None when its seed
    was drawn at random, so that no other request draws it again."""
    if not plan.repeatable:
        return None
    size = (plan.width, plan.height)
    images = plan.edit.digests if plan.edit is not None else ()
    seed = plan.seeds[index]
    tuning = (plan.negative_prompt, plan.guidance, plan.strength)
    return request_digest(
        plan.owner,
        plan.model.id,
        choice.text,
        size,
        plan.steps,
        seed,
        plan.mime,
        images,
        tuning if tuning != ("", None, None) else (),
    )


def _kind(plan: Plan) -> str:
    return "edit" if plan.edit is not None else "generation"


def _reused(plan: Plan, index: int, found: Reused) -> Stored:
    """The image an identical request stored, as this plan's image `index`: its size and
    type read from its bytes, its time left from the store."""
    image = read_image(found.image.read())
    left = found.image.seconds_left
    return Stored(
        index,
        image=image,
        key=found.key,
        seed=plan.seeds[index],
        upstream_seconds=0.0,
        kept=left,
        reused=True,
    )


def collect(stages: Iterable[PromptChoice | Stored]) -> tuple[PromptChoice, list[Stored]]:
    """The prompt choice and every stored image of a run, in the plan's order."""
    choice, *images = stages
    if not isinstance(choice, PromptChoice):
        raise TypeError("a run starts with its prompt choice")
    stored = sorted((stage for stage in images if isinstance(stage, Stored)), key=_by_index)
    return choice, stored


_by_index = attrgetter("index")
