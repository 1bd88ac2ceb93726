"""Client tasks: chat apps' titles, tags, follow-ups, summaries and connection checks.

Chat apps send these to the chat's own model, where each would draw (and cost) an image.
`MARKERS` holds each app's own wording as data: where it appears, what kind of task it
is and what answers it. `recognise` answers the first row that matches with a short text.
Only unmistakable wording counts, so a real image request is never taken for one.

Every check reads a bounded part of a message: markers sit at the start, and a title needs
few words. A message of a million characters costs no more than one of a thousand.

Versions of one app word a task a little differently, and copies of it type the quotes
straight or curly: openings are compared with their quotes folded to straight ones, and each
marker is the shortest start of the wording that is still unmistakable.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import Enum

from ..generation.prompt import clean_prompt, parse_prompt, shorten
from .chat import text_of
from .translations import text

TITLE_CHARS = 40
OPENING_CHARS = 200
HEADING_CHARS = 500
SYSTEM_CHARS = 2000
SUBJECT_CHARS = 1000
TRANSCRIPT_CHARS = 20_000
REASON_CHARS = 300
# Open WebUI's task prompts all open with this heading; the line after it names the task.
_OPEN_WEBUI = "### task:"
# A system message that asks for a title, in any of the answer languages.
_TITLE_REQUEST = re.compile(r"title|标题|標題|タイトル|título|titre|заголов|titel", re.IGNORECASE)
# [ \t]*, never \s*: \s would run across newlines and start over at every one of them.
_TRANSCRIPT_USER = re.compile(
    r"^[ \t]*(?:user|human)[ \t]*:[ \t]*(.+)$", re.IGNORECASE | re.MULTILINE
)
# Cherry Studio sends the conversation as JSON; LobeHub as <user>…</user> blocks.
_JSON_USER = '{"role":"user","mainText":'
_TAGGED_USER = ("<user>", "</user>")
# Dify appends the user's words to its prompt, after the last of these.
_DIFY_INPUT = "User Input:"
# Open WebUI names the error of its own failed image generation, up to the tag's end.
_ERROR_INTRO, _CONTEXT_END = "error occurred:", "</context>"
# Connection checks ("check API" buttons) send one short greeting.
_GREETINGS = {"hi", "hello", "hey", "test", "ping", "你好", "您好", "こんにちは", "hola",
              "bonjour", "salut", "привет", "hallo"}  # fmt: skip
# Typographic quotes as the straight ones a marker is written with.
_STRAIGHT_QUOTES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "„": '"'})


def _opening(text: str) -> str:
    """The start of `text` as markers are compared with it: lower case, quotes straight."""
    return text[:OPENING_CHARS].lower().translate(_STRAIGHT_QUOTES)


class Where(Enum):
    """Where a marker appears, and so how it is looked for."""

    USER = "the last user message opens with it"
    TASK = "the last user message opens with `### Task:`, and the task's heading holds it"
    SYSTEM = "a system message opens with it"
    CHECK = "the whole conversation: system messages that say just it, then a user greeting"
    TRANSCRIPT = (
        "the whole conversation: a system message asks for a title, and the last user "
        "message opens with it"
    )


@dataclass(frozen=True)
class _Chat:
    """The parts of a conversation the markers are looked for in, each bounded."""

    users: list[str]  # every user message's text
    last: str  # the start of the last user message, stripped
    opening: str  # its start, in lower case
    heading: str | None  # an Open WebUI task's heading, in lower case; None when not one
    systems: list[str]  # the start of each system message
    system_openings: list[str]  # the same, shorter and in lower case
    others: int  # messages from neither the user nor the system

    @classmethod
    def of(cls, messages: list[dict]) -> _Chat | None:
        users = [text_of(m.get("content")) for m in messages if m["role"] == "user"]
        if not users:
            return None
        last = users[-1][:TRANSCRIPT_CHARS].strip()
        opening = _opening(last)
        heading = None
        if opening.startswith(_OPEN_WEBUI):
            # The task is named before the prompt's next heading; the chat history comes later.
            heading = last[len(_OPEN_WEBUI) : HEADING_CHARS].split("###", 1)[0].lower()
        systems = [
            text_of(m.get("content"))[:SYSTEM_CHARS].strip()
            for m in messages
            if m["role"] in ("system", "developer")
        ]
        return cls(
            users,
            last,
            opening,
            heading,
            systems,
            [_opening(system) for system in systems],
            len(messages) - len(users) - len(systems),
        )


Answer = Callable[[_Chat, str], str]
DRAW = "draw"  # a marker of a real request in a client's wrapping: it draws


@dataclass(frozen=True)
class Marker:
    """One app's wording of one task: where it is, what task it is, what answers it."""

    client: str
    text: str  # in lower case
    where: Where
    kind: str
    answer: Answer

    def matches(self, chat: _Chat) -> bool:
        """Whether `chat` is this task."""
        if self.where is Where.USER:
            return chat.opening.startswith(self.text)
        if self.where is Where.TASK:
            return chat.heading is not None and self.text in chat.heading
        if self.where is Where.SYSTEM:
            return any(opening.startswith(self.text) for opening in chat.system_openings)
        if self.where is Where.CHECK:
            alone = len(chat.users) == 1 and not chat.others
            greeting = re.sub(r"[\W_]+", "", chat.opening[:40]) in _GREETINGS
            return alone and greeting and " ".join(chat.system_openings) == self.text
        asked = any(_TITLE_REQUEST.search(system) for system in chat.systems)
        return asked and chat.opening.startswith(self.text)


@dataclass(frozen=True)
class ClientTask:
    """A client task recognised, the marker it was known by, and the text that answers it."""

    kind: str
    answer: str
    marker: Marker


def recognise(messages: list[dict], language: str) -> ClientTask | None:
    """The client task `messages` (as `parse_chat_request` checked them) ask for, or None for
    a real image request."""
    chat = _Chat.of(messages)
    if chat is None:
        return None
    marker = next((marker for marker in MARKERS if marker.matches(chat)), None)
    if marker is None or marker.kind == DRAW:
        return None
    return ClientTask(marker.kind, marker.answer(chat, language), marker)


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _fixed(value: object) -> Answer:
    """An answer that is always the JSON of `value`."""
    return lambda _chat, _language: _json(value)


def _title(chat: _Chat, language: str) -> str:
    subject = shorten(_first_prompt(_subjects(chat)), TITLE_CHARS)
    return f"🎨 {subject or text(language, 'image')}"


def _tags(_chat: _Chat, language: str) -> str:
    return _json({"tags": [text(language, "tag")]})


def _json_title(chat: _Chat, language: str) -> str:
    return _json({"title": _title(chat, language)})


def _lobehub_title(chat: _Chat, language: str) -> str:
    # Its structured variant asks for a JSON object; the streamed one for the bare title.
    asks_json = any("json object" in system.lower() for system in chat.systems)
    return _json_title(chat, language) if asks_json else _title(chat, language)


def _librechat_title(chat: _Chat, language: str) -> str:
    return _json({"language": text(language, "language"), "title": _title(chat, language)})


def _dify_title(chat: _Chat, language: str) -> str:
    start = chat.last.rfind(_DIFY_INPUT)
    words = chat.last[start + len(_DIFY_INPUT) :] if start != -1 else ""
    subject = shorten(_first_prompt([words]), TITLE_CHARS)
    return _json(
        {
            "Language Type": text(language, "language"),
            "Your Reasoning": text(language, "reasoning"),
            "Your Output": f"🎨 {subject or text(language, 'image')}",
        }
    )


def _image_prompt(chat: _Chat, _language: str) -> str:
    # The image asked for last; its ratio or size stays on it, for the image call that follows.
    latest = next((c for c in reversed(list(_subjects(chat))) if _prompt_of(c)), "")
    return _json({"prompt": clean_prompt(latest[:SUBJECT_CHARS])})


def _summary(chat: _Chat, language: str) -> str:
    prompts = [p for p in map(_prompt_of, chat.users[:-1]) if p]
    return text(language, "summary", prompts="; ".join(prompts) or "—")


def _ready(_chat: _Chat, language: str) -> str:
    return text(language, "ready")


def _image_shown(_chat: _Chat, language: str) -> str:
    return text(language, "image_shown")


def _image_failed(chat: _Chat, language: str) -> str:
    context = next((s for s in chat.systems if s.startswith("<context>")), "")
    start = context.find(_ERROR_INTRO)
    reason = context[start + len(_ERROR_INTRO) :].split(_CONTEXT_END, 1)[0] if start != -1 else ""
    reason = "".join(char for char in reason if char.isprintable()).strip()[:REASON_CHARS]
    return text(language, "failed", message=reason or "—")


def _subjects(chat: _Chat) -> Iterator[str]:
    """Where a conversation's image prompts are, first to last: earlier user messages, then
    the user's entries in a transcript inside the last one (`User: …` lines, Cherry
    Studio's JSON, LobeHub's <user> blocks)."""
    return itertools.chain(
        chat.users[:-1],
        (match[1] for match in _TRANSCRIPT_USER.finditer(chat.last)),
        _json_user_texts(chat.last),
        _tagged_user_texts(chat.last),
    )


def _json_user_texts(window: str) -> Iterator[str]:
    decoder, position = json.JSONDecoder(), 0
    while (start := window.find(_JSON_USER, position)) != -1:
        try:  # one string, decoded where it starts: linear, and the rest may be cut off
            value, position = decoder.raw_decode(window, start + len(_JSON_USER))
        except ValueError:
            return
        if isinstance(value, str):
            yield value


def _tagged_user_texts(window: str) -> Iterator[str]:
    opening, closing = _TAGGED_USER
    position = 0
    while (start := window.find(opening, position)) != -1:
        end = window.find(closing, start)
        if end == -1:
            return
        yield window[start + len(opening) : end]
        position = end + len(closing)


def _prompt_of(candidate: str) -> str:
    """The image prompt in `candidate`, or "" for none (or for another task's prompt)."""
    prompt = parse_prompt(candidate[:SUBJECT_CHARS]).text
    return "" if prompt.lower().startswith(_OPEN_WEBUI) else prompt


def _first_prompt(candidates: Iterable[str]) -> str:
    return next((p for p in map(_prompt_of, candidates) if p), "")


# The first row that matches wins. Each app's wording is quoted from its source (see the
# client reference); Open WebUI's tasks are told apart by their heading, and its fallback
# row answers the tasks it may add later.
# fmt: off
MARKERS: tuple[Marker, ...] = (
    Marker("Open WebUI", "title", Where.TASK, "title", _json_title),
    Marker("Open WebUI", "tags", Where.TASK, "tags", _tags),
    Marker("Open WebUI", "follow-up", Where.TASK, "follow_ups", _fixed({"follow_ups": []})),
    Marker("Open WebUI", "useful messages", Where.TASK, "follow_ups", _fixed({"follow_ups": []})),
    Marker("Open WebUI", "search quer", Where.TASK, "queries", _fixed({"queries": []})),
    Marker("Open WebUI", "autocompletion", Where.TASK, "autocomplete", _fixed({"text": ""})),
    Marker("Open WebUI", "image generation", Where.TASK, "prompt", _image_prompt),
    # Its RAG template wraps a real request (in <user_query>) when files or search are on.
    Marker("Open WebUI", "respond to the user query", Where.TASK, DRAW, _fixed(None)),
    Marker("Open WebUI", "", Where.TASK, "task", _fixed({})),
    Marker("Open WebUI", "<context>the requested image has been",
           Where.SYSTEM, "image_shown", _image_shown),
    Marker("Open WebUI", "<context>image generation was attempted but failed",
           Where.SYSTEM, "image_failed", _image_failed),
    Marker("NextChat", "please generate a four to five word title summarizing our conversation",
           Where.USER, "title", _title),
    Marker("NextChat", "summarize the discussion briefly in 200 words",
           Where.USER, "summary", _summary),
    Marker("Chatbox", "based on the chat history, give this conversation a name",
           Where.USER, "title", _title),
    # Its agents' prompts, whichever words follow ("using title case conventions", "using
    # its same language"), and its older `titleInstruction` after "Please generate".
    Marker("LibreChat", "provide a concise, 5-word-or-less title for the conversation",
           Where.USER, "title", _title),
    Marker("LibreChat", "please generate a concise, 5-word-or-less title for the conversation",
           Where.USER, "title", _title),
    Marker("LibreChat", "analyze this conversation and provide:",
           Where.USER, "title", _librechat_title),
    Marker("Dify", "you are asked to generate a concise chat title by decomposing the user's "
           "input", Where.USER, "title", _dify_title),
    Marker("Dify", 'you need to decompose the user\'s input into "subject" and "intention"',
           Where.USER, "title", _dify_title),
    Marker("LobeHub", "you are a professional conversation summarizer.",
           Where.SYSTEM, "title", _lobehub_title),
    Marker("Cherry Studio", "总结给出的会话", Where.SYSTEM, "title", _title),
    Marker("Cherry Studio", "test", Where.CHECK, "check", _ready),
    Marker("any check button", "", Where.CHECK, "check", _ready),
    Marker("a custom title prompt", "user:", Where.TRANSCRIPT, "title", _title),
)
# fmt: on
