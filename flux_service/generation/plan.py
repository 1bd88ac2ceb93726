"""Planning a generation: an endpoint's `Order`, in the user's terms, becomes a `Plan` that
decides everything before any answer has started (prompt, model, size, steps, seeds, the
images worked from, what it costs), or is refused as unusable, over the day's budget, or
because the store cannot take images now. `pipeline.py` then runs the plan.

A chat follow-up to one of our images asks the optimizer what it means while planning, so
that it too is settled before the answer starts.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from config import Settings

from ..errors import InvalidRequestError
from ..stores.base import ImageStore
from ..upstream.catalog import MAX_SEED, ModelSpec, ServedModels
from ..upstream.costs import Cost, estimate
from ..upstream.optimizer import OptimizerError, PromptOptimizer
from ..upstream.workers_ai import request_size
from .codec import fit_within
from .editing import Edit, Field, MaskMarks, editor, model_fields, read_edit, shape_size
from .prompt import (
    DEFAULT_RATIO,
    RATIO_SIZES,
    RAW_PROMPT_FACTOR,
    PromptSpec,
    clean_prompt,
    parse_prompt,
    shorten,
)
from .sources import ImageSource
from .spending import Spending

log = logging.getLogger(__name__)

# The longest side of an edit's output when the request names no size: the default's.
EDIT_SIDE = max(RATIO_SIZES[DEFAULT_RATIO])
# The most of the earlier message a follow-up's decision reads.
EARLIER_PROMPT_CHARS = 10_000


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
    mask: ImageSource | None = None  # where to change the first one
    mask_marks: MaskMarks = "transparent"  # what marks the area to change in `mask`
    # A chat follow-up: the image of ours the conversation showed last, and what drew it.
    earlier: ImageSource | None = None
    earlier_prompt: str = ""
    quality: str | None = None  # "low" or "high" for fewer or more steps; None: the usual
    steps: int | None = None  # the steps asked for, over `quality`; None: the usual
    negative_prompt: str = ""  # what not to draw, for the models that take one
    guidance: float | None = None  # how closely to follow the prompt; None: the model's own
    strength: float | None = None  # how far an img2img edit moves from its image (0 to 1)


@dataclass(frozen=True, kw_only=True)
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
    # What the model is sent beside the prompt, when it takes it ("" and None: nothing).
    negative_prompt: str = ""
    guidance: float | None = None

    @property
    def strength(self) -> float | None:
        """How far an img2img edit moves from its image: the field sent, None when none is."""
        strength = self.fields.get("strength")
        return strength if isinstance(strength, float) else None

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
    cost: Cost = field(default_factory=lambda: Cost(0.0))  # of writing it, on Workers AI


class Planner:
    """Plans generations: the models offered, the store and the budgets they must fit."""

    def __init__(
        self,
        settings: Settings,
        models: ServedModels,
        store: ImageStore,
        spending: Spending,
        optimizer: PromptOptimizer | None = None,
    ) -> None:
        self._settings = settings
        self._models = models
        self._store = store
        self._spending = spending
        self._optimizer = optimizer

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
            side = min(longest, model.max_side)
            edit = read_edit(order.images, order.mask, model, side, order.mask_marks)
            if not spec.sized:
                # An edit keeps the proportions of the image it works from.
                spec = PromptSpec(spec.text, *shape_size(edit, EDIT_SIDE))
        width, height = fit_within(spec.width, spec.height, model.max_side)
        steps, quality = _steps(model, self._usual_steps(model), order.quality, order.steps)
        cost = self._afford(order, model, width, height, steps, edit, writing=written is None)
        fields: Mapping[str, Field] = {}
        if edit is not None:
            drawn = _drawn_size(model, width, height)
            fields = model_fields(model, edit, *drawn, strength=order.strength)
        negative = _negative_prompt(model, order.negative_prompt)
        guidance = order.guidance
        if guidance is not None:
            guidance = model.guidance.clamp(guidance) if model.guidance is not None else None
        seeds = _seeds(model, order)
        if written is not None and len(written.text) > model.prompt_limit:
            limit = model.prompt_limit
            written = replace(written, text=shorten(written.text, limit), shortened_to=limit)
        return Plan(
            prompt=spec,
            model=model,
            width=width,
            height=height,
            steps=steps,
            seeds=seeds,
            mime=order.mime,
            owner=order.owner,
            edit=edit,
            fields=fields,
            written=written,
            quality=quality,
            cost=cost,
            repeatable=not model.seed or order.seed is not None,
            negative_prompt=negative,
            guidance=guidance,
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
        writing: bool = True,
    ) -> Cost:
        """What each image of `order` costs, drawn by `model` at width x height in `steps`
        from `edit`; BudgetSpentError if all of them, and the most the optimizer may cost
        on Workers AI to write their prompt (unless it has written it: `writing`), would
        pass what is left today."""
        inputs: tuple[tuple[int, int], ...] = ()
        side = model.inputs.max_side if model.inputs is not None else 0
        if edit is not None and side:  # FLUX.2's references, sent within `side` a side
            inputs = tuple(fit_within(*image.image.size, side) for image in edit.images)
        drawn = _drawn_size(model, width, height)
        cost = estimate(model, *drawn, model.steps_run(steps), inputs)
        rewrite = 0.0
        if self._optimizer is not None and writing:
            rewrite = self._optimizer.estimate(order.prompt).neurons
        self._spending.check(order.owner, cost.times(order.n).neurons + rewrite)
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
            edit, prompt, cost = self._optimizer.decide(earlier.text, spec.text)
        except OptimizerError as error:
            log.warning("prompt optimizer failed (%s); drawing a new image from the message", error)
            self._spending.charge(order.owner, writer, error.cost)
            return order, PromptChoice(spec.text, optimizer=writer, cost=error.cost)
        self._spending.charge(order.owner, writer, cost)
        written = PromptChoice(prompt, optimizer=writer, optimized=True, cost=cost)
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


def _too_long(length: int, model: ModelSpec, what: str = "prompt") -> InvalidRequestError:
    limit = model.prompt_limit
    return InvalidRequestError(
        f"The {what} has {length} characters; {model.short_name} takes at most {limit}."
    )


def _steps(
    model: ModelSpec, usual: int | None, quality: str | None, asked: int | None = None
) -> tuple[int | None, str]:
    """The steps to run for `quality`, or the number `asked`, and the quality they really
    are: "low" halves the usual steps and "high" doubles them, within the model's range. A
    model that runs a fixed number of steps, or a change the range does not allow, is the
    usual: "medium"."""
    if usual is None or model.steps is None:
        return usual, "medium"
    if asked is not None:
        steps = int(model.steps.clamp(asked))
        return steps, "medium" if steps == usual else "low" if steps < usual else "high"
    if quality is None:
        return usual, "medium"
    wanted = max(1, usual // 2) if quality == "low" else usual * 2
    steps = int(model.steps.clamp(wanted))
    if steps == usual:
        return usual, "medium"
    return steps, quality


def _negative_prompt(model: ModelSpec, asked: str) -> str:
    """The negative prompt `model` is sent: `asked`, cleaned, for a model that takes one;
    "" for the others (the answer says it was dropped)."""
    if not model.negative_prompt or not asked:
        return ""
    if len(asked) > RAW_PROMPT_FACTOR * model.prompt_limit:
        raise _too_long(len(asked), model, "negative prompt")
    negative = clean_prompt(asked)
    if len(negative) > model.prompt_limit:
        raise _too_long(len(negative), model, "negative prompt")
    return negative


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
