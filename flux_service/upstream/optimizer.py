"""The prompt optimizer: an OpenAI-compatible chat model that rewrites a description
into a good English prompt for an image model.

`PromptOptimizer.optimize` raises `OptimizerError` for every kind of failure; the pipeline
then draws from the original prompt, so a broken optimizer never costs the user an image.
"""

from __future__ import annotations

import json
import re

import requests

from config import Settings

from .http_session import CONNECT_TIMEOUT, proxies_for

DEFAULT_SYSTEM_MESSAGE = """\
You write prompts for a text-to-image model of the FLUX family.
You receive an image description, in any language, and the aspect ratio of the image.
Answer with one prompt in English and nothing else: no title, no quotes, no explanation.

A good prompt:
- names the main subject first and describes it concretely: who or what, its look, pose, action;
- then sets the scene: place, time of day, weather, light and its direction;
- then the style: photograph (lens, depth of field), painting, illustration, 3D render, and so on;
- names the colours and the mood;
- frames the shot for the aspect ratio: wide scenes for landscape, a standing subject for portrait;
- keeps every detail of the description, and quotes any text that must appear in the image;
- stays under 120 words, in plain sentences, without lists or weights."""

FOLLOW_UP_MESSAGE = """\
You decide what a chat user means by a new message about an image that was just drawn.
You receive the description the image was drawn from, and the user's new message.
If the new message asks to change that image (make it night, add a hat, a different colour,
remove something), the answer is an edit; if it describes something else to draw, it is new.
Answer with one JSON object and nothing else: {"edit": true or false, "prompt": "..."},
where the prompt is one English prompt for a FLUX image model: for an edit, the change to
make to the image; for a new image, the new image, described as a good prompt is."""


# Reasoning models put their thinking in the answer; code fences and quotes are noise.
_THINKING = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE_OPENING = re.compile(r"```\w*")
# Far beyond any prompt a model takes; a longer answer is refused rather than cleaned.
ANSWER_LIMIT = 50_000
_VERSION_SEGMENT = re.compile(r"/v\d+\w*$")


class OptimizerError(Exception):
    """The optimizer could not be reached or answered something unusable."""


def chat_completions_url(base: str) -> str:
    """`base` + the chat completions path, whether or not `base` already ends in /v1."""
    base = base.rstrip("/")
    return (
        f"{base}/chat/completions"
        if _VERSION_SEGMENT.search(base)
        else f"{base}/v1/chat/completions"
    )


def clean_answer(text: str) -> str:
    """The prompt inside an optimizer's answer: no thinking, fences, quotes or extra space."""
    # The thinking ends at the last </think>: the pattern sees only the text up to it, so a
    # run of unclosed <think> after it cannot make each one search to the end.
    end = text.lower().rfind("</think>")
    if end != -1:
        end += len("</think>")
        text = _THINKING.sub("", text[:end]) + text[end:]
    text = text.strip()
    if text.startswith("```"):
        text = text[_FENCE_OPENING.match(text).end() :]  # type: ignore[union-attr]
    text = text.removesuffix("```").strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'“”`":
        text = text[1:-1]
    return " ".join(text.split())


class PromptOptimizer:
    """Asks `EXTERNAL_MODEL` at `EXTERNAL_API_BASE` to rewrite prompts."""

    def __init__(self, settings: Settings, session: requests.Session) -> None:
        self.model = settings.external_model
        self._session = session
        self._url = chat_completions_url(settings.external_api_base)
        self._proxies = proxies_for(self._url, settings)
        self._system_message = settings.system_message or DEFAULT_SYSTEM_MESSAGE
        self._headers = (
            {"Authorization": f"Bearer {settings.external_api_key}"}
            if settings.external_api_key
            else {}
        )
        self._timeout = (CONNECT_TIMEOUT, settings.optimizer_timeout)

    def optimize(self, description: str, ratio: str, size: str) -> str:
        """A rewritten prompt for `description`; raises OptimizerError on any failure."""
        return self._ask(
            self._system_message,
            f"Aspect ratio: {ratio} ({size} pixels)\nDescription: {description}",
        )

    def decide(self, previous: str, message: str) -> tuple[bool, str]:
        """Whether `message` asks to change the image drawn from `previous` (True) or for a
        new one, and the prompt either way; raises OptimizerError on any failure."""
        answer = self._ask(FOLLOW_UP_MESSAGE, f"Drawn from: {previous}\nNew message: {message}")
        try:
            decision = json.loads(answer[answer.index("{") : answer.rindex("}") + 1])
        except ValueError:
            raise OptimizerError("no JSON decision in the answer") from None
        edit, prompt = decision.get("edit"), decision.get("prompt")
        if not isinstance(edit, bool) or not isinstance(prompt, str) or not prompt.strip():
            raise OptimizerError("a decision without edit or prompt")
        return edit, " ".join(prompt.split())

    def _ask(self, system: str, user: str) -> str:
        body: dict[str, object] = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
            "stream": False,
        }
        try:
            response = self._session.post(
                self._url,
                json=body,
                headers=self._headers,
                timeout=self._timeout,
                proxies=self._proxies,
            )
        except requests.RequestException as error:
            raise OptimizerError(type(error).__name__) from None
        # The status says what went wrong (401: a revoked key, 429: a rate limit) and carries
        # no secret; the body might, so it stays out of the log.
        if not response.ok:
            raise OptimizerError(f"HTTP {response.status_code}")
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (requests.RequestException, ValueError, KeyError, IndexError, TypeError) as error:
            raise OptimizerError(f"HTTP {response.status_code}, {type(error).__name__}") from None
        if not isinstance(content, str):
            raise OptimizerError("no text in the answer")
        if len(content) > ANSWER_LIMIT:
            raise OptimizerError(f"an answer of {len(content)} characters")
        prompt = clean_answer(content)
        if not prompt:
            raise OptimizerError("empty answer")
        return prompt
