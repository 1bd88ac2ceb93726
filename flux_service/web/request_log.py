"""One log line and one count per request: the Flask hooks that write them, streams included."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

from flask import Flask, Response, g, request

from .. import metrics
from ..generation.pipeline import Stored, collect
from ..generation.plan import PromptChoice
from ..logs import request_line


def init_request_log(app: Flask) -> None:
    """Log and count each request; streamed answers log theirs when the stream ends (and are
    counted at once: their status is sent first)."""

    @app.before_request
    def start_clock() -> None:
        g.started = time.monotonic()
        g.log_fields = {}

    @app.after_request
    def log_answer(response: Response) -> Response:
        method, route = _route()
        metrics.count_request(route, response.status_code)
        if response.mimetype != "text/event-stream":
            started = g.get("started", time.monotonic())
            request_line(method, route, response.status_code, started, **g.get("log_fields", {}))
        return response


def logged_stream(events: Iterator[str], outcome: Callable[[], str | None]) -> Iterator[str]:
    """`events`, logging the request's line once the stream has ended, however it ended.

    `outcome()` says how the stream ended, "completed" or "failed: …"; a stream that ends
    without either was left by its client. Call it within the request: the stream itself
    runs after the request context has gone.
    """
    (method, route), started, fields = _route(), g.started, g.log_fields

    def stream() -> Iterator[str]:
        try:
            yield from events
        finally:
            how = outcome() or "client went away"
            request_line(method, route, 200, started, stream=True, outcome=how, **fields)

    return stream()


def collect_noted(stages: Iterable[PromptChoice | Stored]) -> tuple[PromptChoice, list[Stored]]:
    """A whole run's prompt and stored images, each noted in this request's log line."""
    choice, stored = collect(stages)
    note_prompt(g.log_fields, choice)
    for image in stored:
        note_stored(g.log_fields, image)
    return choice, stored


def note_stored(fields: dict, stored: Stored) -> None:
    """Note in a request's log `fields` the longest wait on Workers AI, how many images were
    reused, not drawn, and what the key has spent."""
    waited = round(stored.upstream_seconds * 1000, 1)
    fields["upstream_ms"] = max(fields.get("upstream_ms", 0.0), waited)
    if stored.reused:
        fields["reused"] = fields.get("reused", 0) + 1
    if stored.key_spent is not None:
        spent = round(stored.key_spent, 2)
        fields["key_neurons_today"] = max(fields.get("key_neurons_today", 0.0), spent)


def note_prompt(fields: dict, choice: PromptChoice) -> None:
    """Note in a request's log `fields` what writing its prompt cost on Workers AI, if it
    cost anything."""
    if choice.cost.neurons:
        fields["optimizer_neurons"] = round(choice.cost.neurons, 2)


def _route() -> tuple[str, str]:
    return request.method, request.url_rule.rule if request.url_rule else "(no route)"
