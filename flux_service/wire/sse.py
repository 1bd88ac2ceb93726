"""Server-Sent Events: streamed chat answers, image event streams and Responses streams.

The first events leave at once; the pipeline runs beside the generator (`paced`) and hands
each finished stage over a queue, while the generator sends a keep-alive comment whenever it
has waited `keepalive` seconds. A failure after the stream has started becomes an event the
client shows or raises; a chat answer also gets it as a content line (chat apps show it).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from config import DEFAULT_STREAM_KEEPALIVE

from ..errors import ClientGoneError, FluxError
from .chat import chunk_body, usage, usage_chunk_body

log = logging.getLogger(__name__)

KEEPALIVE = ": keep-alive\n\n"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

T = TypeVar("T")


def sse_event(payload: dict | str) -> str:
    """One Server-Sent Event: `data: <json>` and a blank line, never an `event:` line."""
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {data}\n\n"


DONE = sse_event("[DONE]")


def paced(stages: Iterator[T], keepalive: float) -> Iterator[T | None]:
    """Each of `stages` as it comes, run on a thread of its own; None whenever `keepalive`
    seconds pass without one. An error of the stages is raised here, as a FluxError."""
    results: queue.Queue[tuple[str, object]] = queue.Queue()
    threading.Thread(target=_drain, args=(stages, results), daemon=True).start()
    while True:
        try:
            kind, value = results.get(timeout=keepalive)
        except queue.Empty:
            yield None
            continue
        if kind == "done":
            return
        if isinstance(value, FluxError):
            raise value
        yield value  # type: ignore[misc]  # a stage: only `_drain` puts them


def _drain(stages: Iterator[object], results: queue.Queue) -> None:
    """Run `stages` to the end, handing each, then "done" or the error, to `results`."""
    try:
        for stage in stages:
            results.put(("stage", stage))
    except FluxError as error:
        results.put(("error", error))
    except Exception:
        log.exception("unexpected error during a streamed generation")
        results.put(("error", FluxError("The server hit an unexpected error.")))
    else:
        results.put(("done", None))


@dataclass
class ChatStream:
    """Everything a streamed chat answer needs besides its parts."""

    completion_id: str
    created: int
    model: str
    prompt: str  # for the usage count
    include_usage: bool = False
    keepalive: float = DEFAULT_STREAM_KEEPALIVE
    choices: int = 1  # `n`: each choice is its own image
    # How the stream went, for the request log: "completed" or "failed: …" once it ends.
    outcome: str | None = None

    def chunk(self, delta: dict[str, str], index: int = 0, finish_reason: str | None = None) -> str:
        body = chunk_body(self.completion_id, self.created, self.model, delta, finish_reason, index)
        if self.include_usage:
            body["usage"] = None
        return sse_event(body)

    def events(
        self,
        intro: str,
        parts: Iterator[tuple[int, str]],
        failure: Callable[[FluxError], str],
    ) -> Iterator[str]:
        """The SSE text of the whole answer: `intro` at once in every choice, then each of
        `parts` (a choice's index and its next text) as it comes.

        Events that are ready together leave in one write, which saves system calls when
        a thousand streams finish at once.
        """
        indexes = range(self.choices)
        yield "".join(
            self.chunk({"role": "assistant", "content": ""}, i) + self.chunk({"content": intro}, i)
            for i in indexes
        )
        content = [intro] * self.choices
        try:
            for part in paced(parts, self.keepalive):
                if part is None:
                    yield KEEPALIVE
                    continue
                index, value = part
                content[index] += value
                yield self.chunk({"content": value}, index)
        except ClientGoneError:
            self.outcome = "client went away"
            return  # nobody is there to read more
        except FluxError as error:
            self.outcome = f"failed: {error.status} {error.code}"
            lines = "".join(self.chunk({"content": failure(error)}, i) for i in indexes)
            yield lines + sse_event(error.to_dict()) + DONE
            return
        ending = "".join(self.chunk({}, i, finish_reason="stop") for i in indexes)
        if self.include_usage:
            counts = usage(self.prompt, "".join(content))
            ending += sse_event(
                usage_chunk_body(self.completion_id, self.created, self.model, counts)
            )
        self.outcome = "completed"
        yield ending + DONE


def event_stream(
    events: Iterator[dict],
    keepalive: float,
    on_end: Callable[[str], None],
    failure: Callable[[FluxError], dict] | None = None,
) -> Iterator[str]:
    """Named SSE events (`event: <type>`, as OpenAI's image and Responses streams send them)
    for each of `events` as it comes, keep-alives between them. A failure ends the stream
    with the `error` event `failure` makes (by default the error body, typed `error`);
    `on_end` hears how it went, for the request log."""
    try:
        for event in paced(events, keepalive):
            yield KEEPALIVE if event is None else named_event(event)
    except ClientGoneError:
        on_end("client went away")
        return
    except FluxError as error:
        on_end(f"failed: {error.status} {error.code}")
        yield named_event(failure(error) if failure else {"type": "error", **error.to_dict()})
        return
    on_end("completed")


def named_event(event: dict) -> str:
    """One SSE event named by its `type`."""
    return f"event: {event['type']}\n{sse_event(event)}"
