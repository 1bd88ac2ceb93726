"""Server-Sent Events for streamed chat answers.

The role chunk and the first lines leave at once; the pipeline runs beside the generator
and hands each finished part over a queue, while the generator sends a keep-alive comment
whenever it has waited `keepalive` seconds. A failure after the stream has started
becomes a content line (chat apps show it), an error event (the SDKs raise it) and [DONE].
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .errors import ClientGoneError, FluxError
from .openai_format import chunk_body, sse_event, usage, usage_chunk_body

log = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 5.0  # well inside the 10 s that idle proxies and clients tolerate
KEEPALIVE = ": keep-alive\n\n"
DONE = sse_event("[DONE]")
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@dataclass
class ChatStream:
    """Everything a streamed chat answer needs besides its parts."""

    completion_id: str
    created: int
    model: str
    prompt: str  # for the usage count
    include_usage: bool = False
    keepalive: float = KEEPALIVE_SECONDS
    # How the stream went, for the request log: "completed" or "failed: …" once it ends.
    outcome: str | None = None

    def chunk(self, delta: dict[str, str], finish_reason: str | None = None) -> str:
        body = chunk_body(self.completion_id, self.created, self.model, delta, finish_reason)
        if self.include_usage:
            body["usage"] = None
        return sse_event(body)

    def events(
        self, intro: str, parts: Iterator[str], failure: Callable[[FluxError], str]
    ) -> Iterator[str]:
        """The SSE text of the whole answer: `intro` at once, then each of `parts`.

        Events that are ready together leave in one write, which saves system calls when
        a thousand streams finish at once.
        """
        yield self.chunk({"role": "assistant", "content": ""}) + self.chunk({"content": intro})
        content = [intro]
        results: queue.Queue[tuple[str, str | FluxError | None]] = queue.Queue()
        threading.Thread(target=_drain, args=(parts, results), daemon=True).start()
        while True:
            try:
                kind, value = results.get(timeout=self.keepalive)
            except queue.Empty:
                yield KEEPALIVE
                continue
            if kind == "done":
                break
            if isinstance(value, ClientGoneError):
                self.outcome = "client went away"
                return  # nobody is there to read more
            if isinstance(value, FluxError):
                self.outcome = f"failed: {value.status} {value.code}"
                yield self.chunk({"content": failure(value)}) + sse_event(value.to_dict()) + DONE
                return
            assert isinstance(value, str)
            content.append(value)
            yield self.chunk({"content": value})
        ending = self.chunk({}, finish_reason="stop")
        if self.include_usage:
            counts = usage(self.prompt, "".join(content))
            ending += sse_event(
                usage_chunk_body(self.completion_id, self.created, self.model, counts)
            )
        self.outcome = "completed"
        yield ending + DONE


def _drain(parts: Iterator[str], results: queue.Queue) -> None:
    """Run `parts` to the end, handing each part, then "done" or the error, to `results`."""
    try:
        for part in parts:
            results.put(("part", part))
    except FluxError as error:
        results.put(("error", error))
    except Exception:
        log.exception("unexpected error during a streamed generation")
        results.put(("error", FluxError("The server hit an unexpected error.")))
    else:
        results.put(("done", None))
