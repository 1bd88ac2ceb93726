"""The Workers AI text-to-image models we can call, and how each one wants to be called.

Facts per model (fields, ranges, body and answer format, prompt limits) come from
Cloudflare's published model schemas and changelogs. Sizes are data, not branches: a model
either takes width/height (`SizeRule`) or always draws `native_size`, in which case the
image is cropped and resized afterwards. Prices are Cloudflare's pricing page, in neurons
(`Price`); what a generation costs is worked out from them in `costs.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

MAX_SEED = 2**32 - 1  # Workers AI seeds are unsigned 32-bit integers
# For models that document no prompt limit: far above any useful prompt, and it keeps a
# 100,000-character paste from travelling upstream.
PROMPT_LIMIT = 10_000
# Workers AI bills $0.011 per 1,000 neurons, after 10,000 free ones a day.
DOLLARS_PER_NEURON = 0.011 / 1000


@dataclass(frozen=True)
class Range:
    """An inclusive numeric range a field must stay in."""

    low: float
    high: float

    def clamp(self, value: float) -> float:
        return min(max(value, self.low), self.high)


@dataclass(frozen=True)
class SizeRule:
    """The width and height a model accepts: a range per side, rounded to a multiple."""

    low: int
    high: int
    multiple: int


@dataclass(frozen=True)
class ImageInputs:
    """How a model takes images to work from.

    `references`: FLUX.2's multipart file parts `input_image_0` … `input_image_3`, each
    smaller than 512x512 (so scaled to fit `max_side`), the output sized on its own.
    `img2img`: Stable Diffusion's `image`, the file's bytes as a list of numbers, moved from
    by `strength`. `inpainting`: the same with a `mask` (white: paint here).
    """

    kind: str
    most: int  # how many images it takes
    max_side: int = 0  # each image scaled to fit, when the model says so
    needed: bool = False  # it draws only from an image, never from words alone
    mask: bool = False  # it takes a mask of where to paint


@dataclass(frozen=True)
class Price:
    """What Workers AI bills for an image, in neurons, from its pricing page.

    A tile is 512x512 pixels of the image drawn; a step rate is paid for each tile and step.
    Input rates are for the images a model works from. klein-9b is priced by the megapixel.
    """

    tile: float = 0.0
    tile_step: float = 0.0
    input_tile: float = 0.0
    input_tile_step: float = 0.0
    first_megapixel: float = 0.0
    extra_megapixel: float = 0.0
    input_megapixel: float = 0.0


@dataclass(frozen=True)
class ModelSpec:
    """How to call one Workers AI image model."""

    id: str
    short_name: str
    owned_by: str
    released: str  # YYYY-MM-DD the model entered the Workers AI catalogue
    body: str  # "json" or "multipart"
    output: str  # "base64": JSON envelope with result.image; "binary": raw image bytes
    steps_field: str | None  # None: the model runs a fixed number of steps
    steps: Range | None
    default_steps: int | None
    size: SizeRule | None  # None: the model takes no size and draws native_size
    native_size: tuple[int, int] | None = None
    seed: bool = False
    prompt_limit: int = PROMPT_LIMIT
    inputs: ImageInputs | None = None  # None: it draws from words alone
    price: Price | None = None  # None: Cloudflare publishes no price (the beta models)
    guidance: Range | None = None  # None: it takes no guidance
    negative_prompt: bool = False  # it takes a `negative_prompt`: what not to draw

    @property
    def created(self) -> int:
        """`released` as Unix seconds, for `/v1/models`."""
        day = datetime.strptime(self.released, "%Y-%m-%d").replace(tzinfo=UTC)
        return int(day.timestamp())

    @property
    def max_side(self) -> int:
        """The longest side an image from this model can have without upscaling."""
        if self.size is not None:
            return self.size.high
        assert self.native_size is not None
        return max(self.native_size)

    def steps_run(self, steps: int | None) -> int | None:
        """The steps sent when `steps` are asked for: clamped to the model's range, else its
        default; None for a model that runs a fixed number."""
        if self.steps_field is None or self.steps is None:
            return None
        return int(self.steps.clamp(steps or self.default_steps or 1))


_SD_SIZE = SizeRule(256, 2048, 8)
# Guidance ranges Cloudflare documents no bounds for are ours: a safety clamp.
_FLUX2_GUIDANCE = Range(0, 20)
_SD_GUIDANCE = Range(0, 30)
_FLUX2_SIZE = SizeRule(256, 1920, 16)
# "Each input image must be smaller than 512x512."
_FLUX2_REFERENCES = ImageInputs("references", 4, max_side=511)
# Priced in dollars: $0.015 for the first megapixel, $0.002 for each further one and for
# each megapixel of the images it works from.
_KLEIN_9B_PRICE = Price(
    first_megapixel=0.015 / DOLLARS_PER_NEURON,
    extra_megapixel=0.002 / DOLLARS_PER_NEURON,
    input_megapixel=0.002 / DOLLARS_PER_NEURON,
)

MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        id="@cf/black-forest-labs/flux-1-schnell",
        short_name="flux-1-schnell",
        owned_by="black-forest-labs",
        released="2024-08-29",
        body="json",
        output="base64",
        steps_field="steps",
        steps=Range(1, 8),
        default_steps=4,
        size=None,
        native_size=(1024, 1024),
        prompt_limit=2048,
        price=Price(tile=4.8, tile_step=9.6),
    ),
    ModelSpec(
        id="@cf/black-forest-labs/flux-2-klein-4b",
        short_name="flux-2-klein-4b",
        owned_by="black-forest-labs",
        released="2026-01-14",
        body="multipart",
        output="base64",
        steps_field=None,
        steps=None,
        default_steps=None,
        size=_FLUX2_SIZE,
        seed=True,
        inputs=_FLUX2_REFERENCES,
        price=Price(tile=26.05, input_tile=5.37),
        guidance=_FLUX2_GUIDANCE,
    ),
    ModelSpec(
        id="@cf/black-forest-labs/flux-2-klein-9b",
        short_name="flux-2-klein-9b",
        owned_by="black-forest-labs",
        released="2026-01-14",
        body="multipart",
        output="base64",
        steps_field=None,
        steps=None,
        default_steps=None,
        size=_FLUX2_SIZE,
        seed=True,
        inputs=_FLUX2_REFERENCES,
        price=_KLEIN_9B_PRICE,
        guidance=_FLUX2_GUIDANCE,
    ),
    ModelSpec(
        id="@cf/black-forest-labs/flux-2-dev",
        short_name="flux-2-dev",
        owned_by="black-forest-labs",
        released="2025-11-24",
        body="multipart",
        output="base64",
        steps_field="steps",
        steps=Range(1, 50),
        default_steps=25,
        size=_FLUX2_SIZE,
        seed=True,
        inputs=_FLUX2_REFERENCES,
        price=Price(tile_step=37.5, input_tile_step=18.75),
        guidance=_FLUX2_GUIDANCE,
    ),
    ModelSpec(
        id="@cf/leonardo/lucid-origin",
        short_name="lucid-origin",
        owned_by="leonardo",
        released="2025-08-25",
        body="json",
        output="base64",
        steps_field="num_steps",
        steps=Range(1, 40),
        default_steps=20,
        size=SizeRule(256, 2500, 8),
        seed=True,
        price=Price(tile=636, tile_step=12),
        guidance=Range(0, 10),
    ),
    ModelSpec(
        id="@cf/leonardo/phoenix-1.0",
        short_name="phoenix-1.0",
        owned_by="leonardo",
        released="2025-08-25",
        body="json",
        output="binary",
        steps_field="num_steps",
        steps=Range(1, 50),
        default_steps=25,
        size=SizeRule(256, 2048, 8),
        seed=True,
        price=Price(tile=530, tile_step=10),
        guidance=Range(2, 10),
        negative_prompt=True,
    ),
    ModelSpec(
        id="@cf/stabilityai/stable-diffusion-xl-base-1.0",
        short_name="sdxl-base",
        owned_by="stabilityai",
        released="2023-11-21",
        body="json",
        output="binary",
        steps_field="num_steps",
        steps=Range(1, 20),
        default_steps=20,
        size=_SD_SIZE,
        seed=True,
        guidance=_SD_GUIDANCE,
        negative_prompt=True,
    ),
    ModelSpec(
        id="@cf/bytedance/stable-diffusion-xl-lightning",
        short_name="sdxl-lightning",
        owned_by="bytedance",
        released="2024-02-27",
        body="json",
        output="binary",
        steps_field="num_steps",
        steps=Range(1, 20),
        default_steps=8,
        size=_SD_SIZE,
        seed=True,
        guidance=_SD_GUIDANCE,
        negative_prompt=True,
    ),
    ModelSpec(
        id="@cf/lykon/dreamshaper-8-lcm",
        short_name="dreamshaper-8-lcm",
        owned_by="lykon",
        released="2024-02-27",
        body="json",
        output="binary",
        steps_field="num_steps",
        steps=Range(1, 20),
        default_steps=8,
        size=_SD_SIZE,
        seed=True,
        guidance=_SD_GUIDANCE,
        negative_prompt=True,
    ),
    ModelSpec(
        id="@cf/runwayml/stable-diffusion-v1-5-img2img",
        short_name="sd-1.5-img2img",
        owned_by="runwayml",
        released="2024-02-27",
        body="json",
        output="binary",
        steps_field="num_steps",
        steps=Range(1, 20),
        default_steps=20,
        size=_SD_SIZE,
        seed=True,
        inputs=ImageInputs("img2img", 1, needed=True),
        guidance=_SD_GUIDANCE,
        negative_prompt=True,
    ),
    ModelSpec(
        id="@cf/runwayml/stable-diffusion-v1-5-inpainting",
        short_name="sd-1.5-inpainting",
        owned_by="runwayml",
        released="2024-02-27",
        body="json",
        output="binary",
        steps_field="num_steps",
        steps=Range(1, 20),
        default_steps=20,
        size=_SD_SIZE,
        seed=True,
        inputs=ImageInputs("inpainting", 1, needed=True, mask=True),
        guidance=_SD_GUIDANCE,
        negative_prompt=True,
    ),
)


CATALOG: dict[str, ModelSpec] = {model.id: model for model in MODELS}


@dataclass(frozen=True)
class ServedModels:
    """The models this server offers (MODELS), and the one it draws with by default."""

    default: ModelSpec
    offered: tuple[ModelSpec, ...]

    @classmethod
    def from_ids(cls, default: str, ids: tuple[str, ...]) -> ServedModels:
        """The catalogue entries for `ids`, with `default` among them."""
        return cls(CATALOG[default], tuple(CATALOG[model_id] for model_id in ids))

    def pick(self, name: str | None) -> ModelSpec:
        """The served model called `name`; an unknown, unserved or missing name gets the default."""
        model = lookup(name) if name else None
        return model if model in self.offered else self.default

    def editor(self, name: str | None, edit_model: str) -> ModelSpec | None:
        """The served model that edits for a request naming `name`: that one if it takes
        images, else EDIT_MODEL (`edit_model`), else the first served one that takes them."""
        asked = self.pick(name)
        if asked.inputs is not None:
            return asked
        fallback = CATALOG.get(edit_model) if edit_model else None
        if fallback is not None and fallback in self.offered:
            return fallback
        return next((model for model in self.offered if model.inputs is not None), None)

    def find(self, name: str) -> ModelSpec | None:
        """The served model called `name`, or None."""
        model = lookup(name)
        return model if model in self.offered else None


def lookup(name: str) -> ModelSpec | None:
    """The model called `name`: a full id, an id without `@cf/`, or a short name."""
    wanted = name.strip().lower()
    for model in MODELS:
        names = (model.id.lower(), model.id.lower().removeprefix("@cf/"), model.short_name)
        if wanted in names:
            return model
    return None
