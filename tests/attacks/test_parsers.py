"""Every parser that sees user text, fed a mebibyte built to make a regular expression start
over at every position: each must answer (or refuse) in a few milliseconds.

Before: `clean_prompt`'s `\\s*---n?tl` took 181 s on a mebibyte of spaces (the worker was
killed, and a stored image lost with it), and the transcript pattern's `^\\s*` took 3.5 s on
24 KB of newlines.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import pytest

from flux_service.errors import InvalidRequestError
from flux_service.generation.prompt import clean_prompt, parse_prompt
from flux_service.upstream.catalog import MODELS, ServedModels
from flux_service.upstream.optimizer import clean_answer
from flux_service.web.auth import presented_key
from flux_service.wire.a1111 import find_checkpoint, parse_txt2img
from flux_service.wire.chat import message_text, parse_chat_request
from flux_service.wire.client_tasks import recognise
from flux_service.wire.json_body import decode_json

MIB = 1024 * 1024
SERVED = ServedModels(MODELS[0], MODELS)
LIMIT_SECONDS = 0.010
# Each shape defeats a naive pattern: runs of whitespace, of newlines, of near-markers and
# near-tokens that fail only at their end, and openings that send a parser down one branch.
HOSTILE = {
    "spaces": " " * MIB,
    "newlines": "\n" * MIB,
    "tabs and newlines": "\t\n" * (MIB // 2),
    "near markers": "---nt " * (MIB // 6),
    "near ratios": "1:1x " * (MIB // 5),
    "near sizes": "1024x1024y " * (MIB // 11),
    "transcript": "USER:" + "\n" * MIB,
    "open webui": "### Task:\n" + "\n" * MIB + "USER: a fox",
    "thinking": "<think>" * (MIB // 7),
    "fences": "```" + " " * MIB + "x",
    "letters": "a" * MIB,
    "json entries": '{"role":"user","mainText":"' * (MIB // 27),
    "user blocks": "<user>" * (MIB // 6),
}


def fastest(call: Callable[[], object]) -> float:
    """The best of three timings: the machine's own noise is not the parser's."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        with contextlib.suppress(InvalidRequestError):  # a refusal is an answer too
            call()
        best = min(best, time.perf_counter() - started)
    return best


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


PARSERS: dict[str, Callable[[str], object]] = {
    "parse_prompt": parse_prompt,
    "clean_prompt (what parse_prompt refuses to run it on)": lambda text: clean_prompt(
        text[:40_000]
    ),
    "recognise, as the last user message": lambda text: recognise(user(text), "en"),
    "recognise, as a system message": lambda text: recognise(
        [{"role": "system", "content": text}, *user("USER: " + text)], "en"
    ),
    "recognise, in the history": lambda text: recognise(
        [*user(text), *user(text), *user("Summarize the discussion briefly in 200 words")], "en"
    ),
    "recognise, as a conversation to name": lambda text: recognise(
        [{"role": "system", "content": "总结给出的会话"}, *user(text)], "en"
    ),
    "recognise, as an image prompt task": lambda text: recognise(
        user("### Task:\nGenerate a detailed prompt for am image generation task\n" + text), "en"
    ),
    "message_text, as content parts": lambda text: message_text(
        [{"type": "text", "text": text}] * 8 + [{"type": "image_url"}] * 10_000, "content"
    ),
    "parse_chat_request": lambda text: parse_chat_request({"messages": user(text)}),
    "clean_answer (the optimizer's)": lambda text: clean_answer(text[:50_000]),
    "parse_txt2img (AUTOMATIC1111's)": lambda text: parse_txt2img(
        {"prompt": text, "negative_prompt": text, "sampler_name": text}
    ),
    "find_checkpoint, a checkpoint's name": lambda text: find_checkpoint(SERVED, text),
    "presented_key, as HTTP Basic credentials": lambda text: presented_key(
        {"Authorization": "Basic " + text}
    ),
}


@pytest.mark.parametrize("shape", list(HOSTILE))
@pytest.mark.parametrize("parser", list(PARSERS))
def test_every_parser_answers_a_hostile_mebibyte_in_milliseconds(parser: str, shape: str) -> None:
    seconds = fastest(lambda: PARSERS[parser](HOSTILE[shape]))
    assert seconds < LIMIT_SECONDS, f"{parser} took {seconds * 1000:.1f} ms on {shape}"


def test_a_mebibyte_body_is_read_in_milliseconds() -> None:
    body = b'{"messages": [{"role": "user", "content": "' + b" " * MIB + b'"}]}'
    assert fastest(lambda: decode_json(body)) < 4 * LIMIT_SECONDS
