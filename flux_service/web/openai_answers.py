"""The OpenAI door's answers, assembled from a run of the pipeline: the chat answer (one
completion, or streamed chunks), the Responses answer and its events, the Images answer and
its events. Each notes for the request's log line what its images cost and waited.

A streamed answer runs after the request's context has gone: whatever it needs from the
request or the app is taken when it is made.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from flask import Response, g

from ..errors import FluxError
from ..generation.pipeline import Stored
from ..generation.plan import Plan, PromptChoice
from ..wire import markdown
from ..wire.chat import ChatRequest, completion_body, new_completion_id, usage
from ..wire.images import Delivered, ImagesRequest, image_event, image_item, images_body
from ..wire.responses import (
    Ids,
    Numbered,
    ResponseImage,
    error_event,
    output_items,
    response_body,
    response_events,
)
from ..wire.sse import SSE_HEADERS, ChatStream, event_stream
from .json_response import json_response
from .request_log import collect_noted, logged_stream, note_prompt, note_stored
from .state import current_state

Stages = Iterator[PromptChoice | Stored]


def chat_parts(plan: Plan, stages: Stages, link: Callable[[str], str]) -> Iterator[tuple[int, str]]:
    """The chat answer's parts, stage by stage, each with the choice it belongs to: the prompt
    goes to every choice, each image to its own."""
    language, fields = current_state().settings.response_language, g.log_fields

    def parts() -> Iterator[tuple[int, str]]:
        for stage in stages:
            if isinstance(stage, PromptChoice):
                note_prompt(fields, stage)
                part = markdown.prompt_part(language, stage)
                yield from ((index, part) for index in range(len(plan.seeds)))
                continue
            note_stored(fields, stage)
            yield stage.index, markdown.result_part(language, plan, stage, link(stage.key))

    return parts()


def chat_answer(
    chat: ChatRequest, model: str, intro: str, parts: Iterator[tuple[int, str]], choices: int = 1
) -> Response:
    """The chat answer: `intro`, then each of `parts`, streamed or as one completion, in
    `choices` choices (a client task has one)."""
    completion_id, created = new_completion_id(), int(time.time())
    settings = current_state().settings
    if chat.stream:
        language = settings.response_language
        stream = ChatStream(
            completion_id,
            created,
            model,
            chat.prompt,
            chat.include_usage,
            settings.stream_keepalive,
            choices,
        )

        def failure(error: FluxError) -> str:
            return markdown.failure_part(language, error.message)

        events = logged_stream(stream.events(intro, parts, failure), lambda: stream.outcome)
        return Response(events, mimetype="text/event-stream", headers=SSE_HEADERS)
    contents = [intro] * choices
    for index, part in parts:
        contents[index] += part
    counts = usage(chat.prompt, "".join(contents))
    return json_response(completion_body(completion_id, created, model, contents, counts))


def response_parts(
    plan: Plan, stages: Stages, link: Callable[[str], str]
) -> Callable[[], tuple[ResponseImage | None, str]]:
    """What finishes a Responses answer: the run, read to its end, as the image (the last
    one drawn) and the chat answer's markdown."""
    language, fields = current_state().settings.response_language, g.log_fields

    def finish() -> tuple[ResponseImage | None, str]:
        texts, image = [markdown.intro(language, plan)], None
        choice = PromptChoice(plan.prompt.text)
        for stage in stages:
            if isinstance(stage, PromptChoice):
                choice = stage
                note_prompt(fields, stage)
                texts.append(markdown.prompt_part(language, stage))
                continue
            note_stored(fields, stage)
            texts.append(markdown.result_part(language, plan, stage, link(stage.key)))
            delivered = delivered_of(plan, choice, stage)
            image = ResponseImage(stage.image.data, delivered, edited=plan.edit is not None)
        return image, "".join(texts)

    return finish


def response_answer(
    chat: ChatRequest,
    ids: Ids,
    created: int,
    model: str,
    finish: Callable[[], tuple[ResponseImage | None, str]],
    draws: bool = False,
) -> Response:
    """A Responses answer: `finish()` gives the image and the text, at once or streamed."""
    if chat.stream:
        numbered = Numbered()
        sent = response_events(ids, created, model, chat.prompt, draws, finish, numbered)
        return event_answer(sent, lambda error: error_event(error, numbered))
    image, text = finish()
    output = output_items(ids, image, text)
    return json_response(response_body(ids.response, created, model, output, chat.prompt, text))


def images_answer(
    images: ImagesRequest,
    kind: str,
    plan: Plan,
    stages: Stages,
    link: Callable[[str], str] | None,
) -> Response:
    """An Images answer: URLs (`link`) or base64, or an event per image as each is done
    (`stream`), whose names `kind` gives."""
    created = int(time.time())
    if images.stream:
        return event_answer(image_events(kind, created, plan, stages))
    choice, stored = collect_noted(stages)
    revised = choice.text if choice.optimized else None
    items = [
        image_item(s.image.data, link(s.key) if link else None, revised, s.reused) for s in stored
    ]
    return json_response(images_body(created, items, delivered_of(plan, choice, stored[0])))


def image_events(kind: str, created: int, plan: Plan, stages: Stages) -> Iterator[dict]:
    """An image stream's events: one `<kind>.completed` for each image as it is stored.
    No partial images: the models draw in one go, and a blurred copy would be made up."""
    fields = g.log_fields

    def events() -> Iterator[dict]:
        choice = PromptChoice(plan.prompt.text)
        for stage in stages:
            if isinstance(stage, PromptChoice):
                choice = stage
                note_prompt(fields, stage)
                continue
            note_stored(fields, stage)
            delivered = delivered_of(plan, choice, stage)
            yield image_event(kind, created, stage.image.data, delivered, stage.reused)

    return events()


def delivered_of(plan: Plan, choice: PromptChoice, stored: Stored) -> Delivered:
    """What an Images or Responses answer says was delivered: the stored image's own size
    and type, the quality the plan ran, the prompt sent."""
    return Delivered(
        stored.image.width, stored.image.height, stored.image.mime, plan.quality, choice.text
    )


def event_answer(
    events: Iterator[dict], failure: Callable[[FluxError], dict] | None = None
) -> Response:
    """A stream of named events, with keep-alives, logged when it ends; `failure` makes the
    event a failure ends it with."""
    outcome: list[str] = []
    keepalive = current_state().settings.stream_keepalive
    stream = event_stream(events, keepalive, outcome.append, failure)
    logged = logged_stream(stream, lambda: outcome[0] if outcome else None)
    return Response(logged, mimetype="text/event-stream", headers=SSE_HEADERS)
