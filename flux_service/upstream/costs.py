"""What an image costs on Workers AI, estimated in neurons before it is drawn.

The rates are the catalogue's (`catalog.Price`); the arithmetic is here. A tile is 512x512
pixels, counted in fractions: an image of width x height is width * height / 512² tiles.
Live measurements (schnell, phoenix, flux-2-dev, all at 1024x1024) fit a per-step charge
paid for every tile, so an image costs tiles × (tile rate + step rate × steps). The images
a model works from are billed a whole tile each at least: klein-4b was measured at one
tile's rate for each image under 512x512. A megapixel is 1024x1024: klein-9b's measured
1024x1024 image cost its first-megapixel rate alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .catalog import DOLLARS_PER_NEURON, ModelSpec

TILE_PIXELS = 512 * 512
MEGAPIXEL = 1024 * 1024


@dataclass(frozen=True)
class Cost:
    """An estimate of what Workers AI bills, in neurons."""

    neurons: float
    published: bool = True  # False: the model has no published price, and counts as free

    @property
    def dollars(self) -> float:
        return dollars(self.neurons)

    def times(self, count: int) -> Cost:
        """The cost of `count` such images."""
        return Cost(self.neurons * count, self.published)


def estimate(
    model: ModelSpec,
    width: int,
    height: int,
    steps: int | None,
    inputs: Sequence[tuple[int, int]] = (),
) -> Cost:
    """What one image costs that `model` draws at width x height in `steps` (None: a model
    that runs a fixed number), working from images of the sizes in `inputs`."""
    price = model.price
    if price is None:
        return Cost(0.0, published=False)
    runs = steps or 0
    tiles = width * height / TILE_PIXELS
    input_tiles = sum(math.ceil(w * h / TILE_PIXELS) for w, h in inputs)
    megapixels = width * height / MEGAPIXEL
    input_megapixels = sum(w * h / MEGAPIXEL for w, h in inputs)
    neurons = (
        tiles * (price.tile + price.tile_step * runs)
        + input_tiles * (price.input_tile + price.input_tile_step * runs)
        + price.first_megapixel
        + price.extra_megapixel * max(0.0, megapixels - 1)
        + price.input_megapixel * input_megapixels
    )
    return Cost(neurons)


def dollars(neurons: float) -> float:
    """What `neurons` cost, in US dollars."""
    return neurons * DOLLARS_PER_NEURON
