"""Prompt parsing: clean the user's text and read the size asked for at its end.

A prompt may end in a ratio token from `RATIO_SIZES` ("a fox in the snow 16:9") or an
explicit size ("a fox in the snow 1280x720"). The token picks the size and is removed.
Anything that only looks like one ("at 10:30 in the morning", "a 2x4 brick") stays text.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..errors import InvalidRequestError
from ..upstream.catalog import PROMPT_LIMIT

RATIO_SIZES: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "1:2": (512, 1024),
    "3:2": (768, 512),
    "3:4": (768, 1024),
    "16:9": (1024, 576),
    "9:16": (576, 1024),
}
DEFAULT_RATIO = "1:1"
MIN_SIDE = 64
MAX_SIDE = 8192

# A raw prompt may be this many times a model's limit: far enough to leave room for the
# whitespace and markers cleaning drops, near enough that a pasted novel is refused before
# any work. No prompt is longer than this many times the longest any model takes.
RAW_PROMPT_FACTOR = 4
MAX_PROMPT_CHARS = RAW_PROMPT_FACTOR * PROMPT_LIMIT

# Every pattern here is linear in the text it sees: none has an unbounded repetition that
# could start over at each position of a long run (as `\s*---` did on a million spaces).
_MARKERS = re.compile(r"---n?tl\b", re.IGNORECASE)
# Open WebUI lists attachments in the text: `<attached_files><file … /></attached_files>`.
_FILE_TAG = re.compile(r"<file\b[^<>]*>")  # stops at the next < or >: linear
_ATTACHED = ("<attached_files>", "</attached_files>")
_RAG_CONTEXT_END = "</context>"
# Control characters that are not whitespace (Unicode's Cc), and lone surrogates (Cs: legal
# in JSON escapes, they cannot be encoded as UTF-8 later on). Whitespace is collapsed after.
_CONTROL = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\ud800-\udfff]")
# The token must be the last word; full-width colons and multiplication signs are common in
# Chinese and Japanese input. They run on cleaned text, whose spaces come one at a time.
_RATIO_AT_END = re.compile(r"(?:^|[\s,，])(\d{1,2})\s*[:：]\s*(\d{1,2})\s*$")
_SIZE_AT_END = re.compile(r"(?:^|[\s,，])(\d{2,5})\s*[xX×*]\s*(\d{2,5})\s*$")
_TRAILING_SEPARATORS = " \t\n,，"


@dataclass(frozen=True)
class PromptSpec:
    """A cleaned prompt and the image size it asks for."""

    text: str
    width: int
    height: int
    sized: bool = False  # the size came from a ratio or size at the end of the prompt


def clean_prompt(text: str) -> str:
    """Trim, drop the `---ntl` / `---tl` markers, client markup for attachments, control
    characters and lone surrogates."""
    text = _FILE_TAG.sub(" ", _without_attached_files(_MARKERS.sub(" ", _user_query(text))))
    return " ".join(_CONTROL.sub("", text).split())


def _user_query(text: str) -> str:
    """The request Open WebUI wraps in its RAG template when files or web search are on:
    the template (a `### Task:` and a `<context>`) comes first, the user's words after it.
    Anything else is `text` itself."""
    if not text[:20].lstrip().lower().startswith("### task:"):
        return text
    end = text.rfind(_RAG_CONTEXT_END)
    return text[end + len(_RAG_CONTEXT_END) :] if end != -1 else text


def _without_attached_files(text: str) -> str:
    """`text` without its `<attached_files>` blocks (found with `find`, so in one pass)."""
    opening, closing = _ATTACHED
    kept, position = [], 0
    while (start := text.find(opening, position)) != -1:
        end = text.find(closing, start)
        if end == -1:
            break
        kept.append(text[position:start])
        position = end + len(closing)
    kept.append(text[position:])
    return " ".join(kept)


def parse_prompt(text: str) -> PromptSpec:
    """Clean `text` and take the size token off its end, if it has one.

    A text over MAX_PROMPT_CHARS is refused before any of that work.
    """
    if len(text) > MAX_PROMPT_CHARS:
        raise InvalidRequestError(
            f"The prompt has {len(text)} characters; no model takes more than {PROMPT_LIMIT}."
        )
    text = clean_prompt(text)
    match = _RATIO_AT_END.search(text)
    if match and f"{int(match[1])}:{int(match[2])}" in RATIO_SIZES:
        width, height = RATIO_SIZES[f"{int(match[1])}:{int(match[2])}"]
        return PromptSpec(_before(text, match), width, height, sized=True)
    match = _SIZE_AT_END.search(text)
    if match and all(MIN_SIDE <= int(side) <= MAX_SIDE for side in match.groups()):
        return PromptSpec(_before(text, match), int(match[1]), int(match[2]), sized=True)
    width, height = RATIO_SIZES[DEFAULT_RATIO]
    return PromptSpec(text, width, height)


def ratio_label(width: int, height: int) -> str:
    """`width:height` reduced to lowest terms."""
    divisor = math.gcd(width, height)
    return f"{width // divisor}:{height // divisor}"


def _before(text: str, match: re.Match[str]) -> str:
    return text[: match.start()].rstrip(_TRAILING_SEPARATORS)


def shorten(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, at a word boundary where there is one."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    if not text[limit].isspace() and " " in head:
        head = head.rsplit(" ", 1)[0]  # drop the word the limit cuts through
    return head.rstrip(" ,;:")
