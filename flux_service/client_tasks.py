"""Client tasks: chat apps' titles, tags, follow-ups, summaries and connection checks.

Chat apps send these to the chat's own model, where each would draw (and cost) an image.
`recognise` knows them by each app's own wording and answers with a short text instead.
Only unmistakable wording counts, so a real image request is never taken for one.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass

from .openai_format import text_of
from .prompt import parse_prompt, shorten
from .translations import text

TITLE_CHARS = 40
# How much of a message each check reads: markers sit at the start, and a title needs few
# words. A message of a million characters costs no more than one of a thousand.
OPENING_CHARS = 200
HEADING_CHARS = 500
SYSTEM_CHARS = 2000
SUBJECT_CHARS = 1000
TRANSCRIPT_CHARS = 20_000
# How each app opens its request (see the client reference): NextChat's topic and memory
# summary, ChatBox's conversation naming.
_PLAIN_TITLE_OPENINGS = (
    "please generate a four to five word title summarizing our conversation",
    "based on the chat history, give this conversation a name",
)
_SUMMARY_OPENINGS = ("summarize the discussion briefly in 200 words",)
# Open WebUI's task prompts all open with this heading; the line after it names the task.
_OPEN_WEBUI = "### task:"
_OPEN_WEBUI_TASKS = (
    ("title", re.compile(r"\btitle\b")),
    ("tags", re.compile(r"\btags\b")),
    ("follow_ups", re.compile(r"follow-up")),
    ("queries", re.compile(r"search quer|queries")),
    ("autocomplete", re.compile(r"autocompletion")),
    ("prompt", re.compile(r"image (?:generation|prompt)")),
)
# Cherry Studio names a topic with a system prompt asking for a title and the whole
# conversation as one "User: … Assistant: …" transcript.
_TITLE_REQUEST = re.compile(r"title|标题|標題|タイトル|título|titre|заголов|titel", re.IGNORECASE)
# [ \t]*, never \s*: \s would run across newlines and start over at every one of them.
_TRANSCRIPT_USER = re.compile(
    r"^[ \t]*(?:user|human)[ \t]*:[ \t]*(.+)$", re.IGNORECASE | re.MULTILINE
)
# Connection checks ("check API" buttons) send one short greeting.
_GREETINGS = {"hi", "hello", "hey", "test", "ping", "你好", "您好", "こんにちは", "hola",
              "bonjour", "salut", "привет", "hallo"}  # fmt: skip


@dataclass(frozen=True)
class ClientTask:
    """A client task recognised, and the text that answers it."""

    kind: str
    answer: str


def recognise(messages: list[dict], language: str) -> ClientTask | None:
    """The client task `messages` (as `parse_chat_request` checked them) ask for, or None for
    a real image request."""
    users = [text_of(m.get("content")) for m in messages if m["role"] == "user"]
    if not users:
        return None
    last = users[-1].strip()
    opening = last[:OPENING_CHARS].lower()
    if opening.startswith(_OPEN_WEBUI):
        return _open_webui_task(last, users, language)
    if opening.startswith(_PLAIN_TITLE_OPENINGS):
        return ClientTask("title", _title(users[:-1], last, language))
    if opening.startswith(_SUMMARY_OPENINGS):
        return ClientTask("summary", _summary(users[:-1], language))
    systems = " ".join(
        text_of(m.get("content"))[:SYSTEM_CHARS]
        for m in messages
        if m["role"] in ("system", "developer")
    )
    if _TITLE_REQUEST.search(systems) and _TRANSCRIPT_USER.match(last[:OPENING_CHARS]):
        return ClientTask("title", _title([], last, language))
    if len(messages) == 1 and re.sub(r"[\W_]+", "", opening[:40]) in _GREETINGS:
        return ClientTask("check", text(language, "ready"))
    return None


def _open_webui_task(task: str, users: list[str], language: str) -> ClientTask:
    # The task is named before the prompt's next heading; the chat history comes later.
    heading = task[len(_OPEN_WEBUI) : HEADING_CHARS].split("###", 1)[0].lower()
    kind = next((name for name, pattern in _OPEN_WEBUI_TASKS if pattern.search(heading)), "task")
    answers: dict[str, object] = {
        "title": {"title": _title(users[:-1], task, language)},
        "tags": {"tags": [text(language, "tag")]},
        "follow_ups": {"follow_ups": []},
        "queries": {"queries": []},
        "autocomplete": {"text": ""},
        "prompt": {"prompt": _subject(users[:-1], task)},
        "task": {},
    }
    return ClientTask(kind, json.dumps(answers[kind], ensure_ascii=False))


def _title(earlier: list[str], task: str, language: str) -> str:
    subject = shorten(_subject(earlier, task), TITLE_CHARS)
    return f"🎨 {subject or text(language, 'image')}"


def _summary(earlier: list[str], language: str) -> str:
    prompts = [p for p in (parse_prompt(u[:SUBJECT_CHARS]).text for u in earlier) if p]
    return text(language, "summary", prompts="; ".join(prompts) or "—")


def _subject(earlier: list[str], task: str) -> str:
    """The first image prompt of the conversation: an earlier message, or the transcript."""
    transcript = (match[1] for match in _TRANSCRIPT_USER.finditer(task[:TRANSCRIPT_CHARS]))
    for candidate in itertools.chain(earlier, transcript):
        prompt = parse_prompt(candidate[:SUBJECT_CHARS]).text
        if prompt and not prompt.lower().startswith(_OPEN_WEBUI):
            return prompt
    return ""
