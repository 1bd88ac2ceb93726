"""The markdown answer a chat client shows, built stage by stage in RESPONSE_LANGUAGE.

A streamed answer sends each part as soon as its stage is done; a plain answer joins the
same parts, so both say exactly the same thing.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from ..generation.pipeline import Stored
from ..generation.plan import Plan, PromptChoice
from ..generation.prompt import ratio_label
from .translations import duration, text, time_left

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~])")
ALT_TEXT_LIMIT = 100
# What a URL keeps as it is; brackets, parentheses, quotes, spaces, < > and \ are encoded.
URL_SAFE = "/:?#&=%@!$*+,;~"


def markdown_text(value: str) -> str:
    """`value` on one line with markdown's special characters escaped, to show as written."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(value.split()))


def intro(language: str, plan: Plan) -> str:
    """What is known before any upstream call: the prompt, the model and the size."""
    size = f"{plan.width}x{plan.height} ({ratio_label(plan.width, plan.height)})"
    if plan.scaled:
        note = text(
            language,
            "scaled",
            requested=f"{plan.prompt.width}x{plan.prompt.height}",
            model=plan.model.short_name,
            max_side=plan.model.max_side,
        )
        size = f"{size}, {note}"
    return (
        f"- 🎨 {text(language, 'original')}: {markdown_text(plan.prompt.text)}\n"
        f"{_inputs(language, plan)}"
        f"- 🤖 {text(language, 'model')}: {plan.model.short_name}\n"
        f"- 📐 {text(language, 'size')}: {size}\n"
    )


def _kept(language: str, stored: Stored) -> str:
    """How long the store keeps the image: IMAGE_EXPIRATION for a new one, what is left of
    it for one reused. In symbols every language reads ("30 min", "7 d"): unit words would
    need plurals."""
    if stored.kept is None:
        return text(language, "kept_forever")
    if stored.reused:
        return time_left(stored.kept)
    return duration(round(stored.kept), short=True)


def _inputs(language: str, plan: Plan) -> str:
    """The images an edit works from, where each came from, and how its mask was used."""
    edit = plan.edit
    if edit is None:
        return ""
    described = []
    for image, origin in zip(edit.images, edit.origins, strict=True):
        note = f"{text(language, origin)} ({image.width}x{image.height})"
        if image.first_frame:
            note = f"{note}, {text(language, 'first_frame')}"
        described.append(note)
    lines = f"- 🖼️ {text(language, 'inputs')}: {'; '.join(described)}\n"
    if edit.mask_use is not None:
        use = text(language, f"mask_{edit.mask_use}", model=plan.model.short_name)
        if edit.mask_resized:
            use = f"{use}; {text(language, 'mask_resized')}"
        lines += f"- 🎭 {text(language, 'mask')}: {use}\n"
    return lines


def prompt_part(language: str, choice: PromptChoice) -> str:
    """Who wrote the prompt, and the prompt the model got."""
    if choice.optimized:
        by = choice.optimizer or ""
    elif choice.optimizer:
        by = text(language, "optimizer_failed", model=choice.optimizer)
    else:
        by = text(language, "no_optimizer")
    sent = markdown_text(choice.text)
    if choice.shortened_to:
        sent = f"{sent} ({text(language, 'shortened', limit=choice.shortened_to)})"
    return (
        f"- 💬 {text(language, 'optimizer')}: {markdown_text(by)}\n"
        f"- 🌐 {text(language, 'sent')}: {sent}\n"
    )


def markdown_url(url: str) -> str:
    """`url` with everything that could end a markdown link or its title percent-encoded."""
    return quote(url, safe=URL_SAFE)


def result_part(language: str, plan: Plan, stored: Stored, url: str) -> str:
    """The seed, how long the image is kept, whether it was reused, the success line and
    the image itself, linked at `url`."""
    seed = f"- 🎲 {text(language, 'seed')}: {stored.seed}\n" if stored.seed is not None else ""
    kept = f"- ⏳ {text(language, 'kept')}: {_kept(language, stored)}\n"
    reused = f"- ♻️ {text(language, 'reused')}\n" if stored.reused else ""
    alt = markdown_text(plan.prompt.text[:ALT_TEXT_LIMIT])
    image = f"![{alt}]({markdown_url(url)})"
    return f"{seed}{kept}{reused}\n🌟 {text(language, 'success')}\n\n{image}"


def failure_part(language: str, message: str) -> str:
    """The line a chat client shows when generation fails mid-stream."""
    return f"\n❌ {text(language, 'failed', message=message)}"
