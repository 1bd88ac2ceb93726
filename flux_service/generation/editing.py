"""Working from images: which model draws the edit, at what size, and the fields each model
takes its images in.

The images are read when the plan is made, before any answer starts, so a bad one is a 400
that says which and why. A mask marks what to change the OpenAI way (transparent: change
it), or AUTOMATIC1111's (white, or black), turned into OpenAI's once decoded. Stable
Diffusion inpainting gets it as a white-on-black mask; a model that takes no
mask draws the whole image, and the mask is applied afterwards: outside it, the image is
kept as it was.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from ..errors import InvalidRequestError
from ..offload import off_the_event_loop
from ..upstream.catalog import ModelSpec, ServedModels
from .codec import EncodedImage, decode, encode
from .inputs import (
    InputImage,
    InputImageError,
    change_area,
    fitted,
    jpeg_bytes,
    keep_outside,
    mask_from_white,
    png_bytes,
    read_input_image,
    reference_jpeg,
)
from .sources import ImageSource

# Images decoded at once: a 50-megapixel PNG cannot be decoded small, and takes 200 MB.
DECODERS = 2
_decoding = threading.BoundedSemaphore(DECODERS)
# How far Stable Diffusion img2img moves from the image (0: not at all, 1: all the way).
STRENGTH = 0.75
Field = bytes | str | int | float | list[int]
# What marks the area to change in a mask: transparency (OpenAI's way), or white, or black
# (AUTOMATIC1111's, black with its `inpainting_mask_invert`).
MaskMarks = Literal["transparent", "white", "black"]


@dataclass(frozen=True)
class Edit:
    """The images a generation works from, read and checked."""

    images: tuple[InputImage, ...]
    origins: tuple[str, ...]  # for the answer: "attached", "uploaded", "earlier", "fetched"
    mask: InputImage | None = None
    # How the mask is honoured: "model" (it takes one) or "kept" (applied afterwards).
    mask_use: str | None = None

    @property
    def digests(self) -> tuple[str, ...]:
        """What decides the image: the images' bytes, then the mask's, each by digest."""
        mask = (f"mask:{self.mask.digest}",) if self.mask is not None else ()
        return (*(image.digest for image in self.images), *mask)

    @property
    def mask_resized(self) -> bool:
        """Whether the mask had another size than the image, and was stretched to fit."""
        first = self.images[0]
        return self.mask is not None and (self.mask.width, self.mask.height) != (
            first.width,
            first.height,
        )


def editor(models: ServedModels, name: str | None, edit_model: str, count: int) -> ModelSpec:
    """The served model that works from `count` images for a request naming `name`."""
    model = models.editor(name, edit_model)
    if model is None or model.inputs is None:
        raise InvalidRequestError(
            "No model this server offers works from images. The operator must serve one in "
            "MODELS (flux-2-klein-4b, flux-2-klein-9b, flux-2-dev, sd-1.5-img2img, "
            "sd-1.5-inpainting) or name it in EDIT_MODEL.",
            code="no_edit_model",
        )
    if count > model.inputs.most:
        raise InvalidRequestError(
            f"{model.short_name} works from at most {model.inputs.most} image"
            f"{'s' if model.inputs.most > 1 else ''}; this request sends {count}.",
            code="too_many_images",
        )
    return model


def read_edit(
    sources: Sequence[ImageSource],
    mask: ImageSource | None,
    model: ModelSpec,
    side: int,
    marks: MaskMarks = "transparent",
) -> Edit:
    """The images of `sources` (and `mask`, its area to change marked by `marks`) read and
    checked, on a real thread, each kept at no more pixels than needed: the model's own
    limit for references, else `side`, the longest side of the output."""
    inputs = model.inputs
    reference_side = inputs.max_side if inputs is not None and inputs.max_side else side
    # Outside a mask the first image is kept as it was: it is needed at the output's size.
    sides = [side if mask is not None else reference_side] + [reference_side] * len(sources)
    images = tuple(_read(source, f"Image {n}", sides[n - 1]) for n, source in enumerate(sources, 1))
    read_mask = _read_mask(mask, side, marks) if mask is not None else None
    use = None
    if read_mask is not None:
        use = "model" if model.inputs is not None and model.inputs.mask else "kept"
        if not read_mask.has_alpha:
            raise InvalidRequestError(
                "The mask has no transparency: make the area to change transparent "
                "(a PNG with alpha).",
                param="mask",
                code="invalid_mask",
            )
    return Edit(images, tuple(source.origin for source in sources), read_mask, use)


def _read(
    source: ImageSource,
    which: str,
    side: int,
    param: str | None = None,
    code: str = "invalid_image",
) -> InputImage:
    data = source.load()
    try:
        with _decoding:
            return off_the_event_loop(read_input_image, data, side)
    except InputImageError as error:
        raise InvalidRequestError(
            f"{which} cannot be used: {error}.", param=param, code=code
        ) from None


def _read_mask(source: ImageSource, side: int, marks: MaskMarks) -> InputImage:
    """The mask, transparent where to change however it was marked."""
    if marks == "transparent":
        return _read(source, "The mask", side)
    # AUTOMATIC1111's refusal has always named its `mask` field.
    painted = _read(source, "The mask", side, param="mask", code="invalid_mask")
    return off_the_event_loop(mask_from_white, painted, marks == "black")


def shape_size(edit: Edit, longest: int) -> tuple[int, int]:
    """A size with the first image's proportions, `longest` pixels on its longer side."""
    first = edit.images[0]
    scale = longest / max(first.width, first.height)
    return max(1, round(first.width * scale)), max(1, round(first.height * scale))


def model_fields(
    model: ModelSpec, edit: Edit, width: int, height: int, strength: float | None = None
) -> Mapping[str, Field]:
    """The fields `model` takes the images of `edit` in, for an output of width x height;
    an img2img model moves `strength` from the image (0 to 1; default STRENGTH)."""
    inputs = model.inputs
    if inputs is None:
        return {}
    if inputs.kind == "references":
        return {
            f"input_image_{index}": off_the_event_loop(reference_jpeg, image, inputs.max_side)
            for index, image in enumerate(edit.images)
        }
    image = off_the_event_loop(fitted, edit.images[0], width, height)
    fields: dict[str, Field] = {"image": list(off_the_event_loop(jpeg_bytes, image))}
    if inputs.kind == "img2img":
        fields["strength"] = STRENGTH if strength is None else min(max(float(strength), 0.0), 1.0)
    if inputs.kind == "inpainting" and edit.mask is not None:
        area = off_the_event_loop(change_area, edit.mask, width, height)
        fields["mask"] = list(off_the_event_loop(png_bytes, area))
    return fields


def apply_mask(drawn: EncodedImage, edit: Edit) -> EncodedImage:
    """`drawn` with the mask of `edit` applied afterwards: outside it, the image as it was."""
    if edit.mask is None or edit.mask_use != "kept":
        return drawn
    return off_the_event_loop(_kept_outside, drawn, edit)


def _kept_outside(drawn: EncodedImage, edit: Edit) -> EncodedImage:
    if edit.mask is None:
        return drawn
    size = (drawn.width, drawn.height)
    original = fitted(edit.images[0], *size)
    area = change_area(edit.mask, *size)
    return encode(keep_outside(decode(drawn), original, area), drawn.mime)
