"""The prompt optimizer: an OpenAI-compatible chat model that rewrites a description, in
any language, into a good English prompt for an image model. It runs on Workers AI's own
OpenAI-compatible endpoint with the service's Cloudflare accounts, or on another provider's
(EXTERNAL_API_BASE).

`PromptOptimizer.optimize` raises `OptimizerError` for every kind of failure; the pipeline
then draws from the original prompt, so a broken optimizer never costs the user an image.
What a call cost in neurons comes back with its answer, or with its error.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import requests

from config import Settings

from ..errors import AccountLimitError, RateLimitError
from ..proxies import proxies_for
from .accounts import AccountPool
from .costs import Cost
from .error_table import upstream_error
from .http_session import CONNECT_TIMEOUT
from .text_models import estimate_tokens, text_cost
from .workers_ai import first_error

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
# The most a rewrite on Workers AI may write, in tokens: a prompt of 120 words is some 200.
MAX_ANSWER_TOKENS = 400
_VERSION_SEGMENT = re.compile(r"/v\d+\w*$")


class OptimizerError(Exception):
    """The optimizer could not be reached or answered something unusable; `cost` is what
    the call cost all the same (Workers AI bills what it read and wrote)."""

    def __init__(self, reason: str, cost: Cost | None = None) -> None:
        super().__init__(reason)
        self.cost = cost or Cost(0.0)


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


@dataclass(frozen=True)
class Endpoint:
    """Where one chat call goes, and how it is let in."""

    url: str
    headers: dict[str, str]
    proxies: dict[str, str]


class PromptOptimizer:
    """Asks a chat model to rewrite prompts: OPTIMIZER_MODEL on Workers AI's own
    OpenAI-compatible endpoint, taking the accounts of `pool` in turn, or on
    EXTERNAL_API_BASE, another provider's."""

    def __init__(
        self, settings: Settings, session: requests.Session, pool: AccountPool | None = None
    ) -> None:
        self.model = settings.optimizer_model
        self.on_workers_ai = not settings.external_api_base
        self._session = session
        self._pool = pool or AccountPool(settings.accounts)
        if self.on_workers_ai:
            self._endpoints = [
                _endpoint(workers_ai_chat_url(settings, account.id), account.token, settings)
                for account in settings.accounts
            ]
        else:
            url = chat_completions_url(settings.external_api_base)
            self._endpoints = [_endpoint(url, settings.external_api_key, settings)]
        self._system_message = settings.system_message or DEFAULT_SYSTEM_MESSAGE
        # Every estimate reads the system message, and it never changes: counted once.
        self._system_tokens = estimate_tokens(self._system_message)
        self._timeout = (CONNECT_TIMEOUT, settings.optimizer_timeout)

    def estimate(self, description: str) -> Cost:
        """The most a rewrite of `description` may cost in neurons: nothing of ours on
        another provider; on Workers AI, what it reads and the longest answer it may write."""
        if not self.on_workers_ai:
            return Cost(0.0)
        read = self._system_tokens + estimate_tokens(description) + 20
        return text_cost(self.model, read, MAX_ANSWER_TOKENS)

    def optimize(self, description: str, ratio: str, size: str) -> tuple[str, Cost]:
        """A rewritten prompt for `description`, and what writing it cost; raises
        OptimizerError on any failure."""
        return self._ask(
            self._system_message,
            f"Aspect ratio: {ratio} ({size} pixels)\nDescription: {description}",
        )

    def decide(self, previous: str, message: str) -> tuple[bool, str, Cost]:
        """Whether `message` asks to change the image drawn from `previous` (True) or for a
        new one, the prompt either way, and what deciding cost; raises OptimizerError on any
        failure."""
        answer, cost = self._ask(
            FOLLOW_UP_MESSAGE, f"Drawn from: {previous}\nNew message: {message}"
        )
        try:
            decision = json.loads(answer[answer.index("{") : answer.rindex("}") + 1])
        except ValueError:
            raise OptimizerError("no JSON decision in the answer", cost) from None
        edit, prompt = decision.get("edit"), decision.get("prompt")
        if not isinstance(edit, bool) or not isinstance(prompt, str) or not prompt.strip():
            raise OptimizerError("a decision without edit or prompt", cost)
        return edit, " ".join(prompt.split()), cost

    def _ask(self, system: str, user: str) -> tuple[str, Cost]:
        """The model's answer to `user` under `system`, cleaned, and what it cost. On
        Workers AI an account out of its allocation or at its rate limit rests, and the call
        goes to the next one."""
        body: dict[str, object] = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
            "stream": False,
        }
        if self.on_workers_ai:
            body["max_tokens"] = MAX_ANSWER_TOKENS  # what a rewrite may cost, bounded
        for _ in self._endpoints:
            index = self._next_account()
            endpoint = self._endpoints[index]
            try:
                response = self._session.post(
                    endpoint.url,
                    json=body,
                    headers=endpoint.headers,
                    timeout=self._timeout,
                    proxies=endpoint.proxies,
                )
            except requests.RequestException as error:
                raise OptimizerError(type(error).__name__) from None
            resting = self._resting(response)
            if resting is not None:
                self._pool.rest(index, resting)
                continue
            return self._answer(response, system + user)
        raise OptimizerError("every Cloudflare account rests")

    def _next_account(self) -> int:
        """The account of this call: the next that is not resting, on Workers AI."""
        if not self.on_workers_ai:
            return 0
        try:
            return self._pool.take()
        except RateLimitError:
            raise OptimizerError("every Cloudflare account rests") from None

    def _resting(self, response: requests.Response) -> AccountLimitError | None:
        """The rest a Workers AI account must take after `response`, if it must."""
        if not self.on_workers_ai or response.status_code != 429:
            return None
        error = upstream_error(429, _error_code(response), "", self.model)
        return error if isinstance(error, AccountLimitError) else None

    def _answer(self, response: requests.Response, asked: str) -> tuple[str, Cost]:
        """The prompt in a chat answer, and what the call cost (billed even when the answer
        is of no use)."""
        # The status says what went wrong (401: a revoked key, 429: a rate limit) and carries
        # no secret; the body might, so it stays out of the log.
        if not response.ok:
            raise OptimizerError(f"HTTP {response.status_code}")
        try:
            answer = response.json()
            content = answer["choices"][0]["message"]["content"]
        except (requests.RequestException, ValueError, KeyError, IndexError, TypeError) as error:
            raise OptimizerError(f"HTTP {response.status_code}, {type(error).__name__}") from None
        cost = self._cost(answer.get("usage"), asked, content)
        if not isinstance(content, str):
            raise OptimizerError("no text in the answer", cost)
        if len(content) > ANSWER_LIMIT:
            raise OptimizerError(f"an answer of {len(content)} characters", cost)
        prompt = clean_answer(content)
        if not prompt:
            raise OptimizerError("empty answer", cost)
        return prompt, cost

    def _cost(self, usage: object, asked: str, content: object) -> Cost:
        """What a call cost on Workers AI: the tokens its answer counts, or estimated from
        the text when it counts none; nothing of ours on another provider."""
        if not self.on_workers_ai:
            return Cost(0.0)
        counted = usage if isinstance(usage, dict) else {}
        tokens_in, tokens_out = counted.get("prompt_tokens"), counted.get("completion_tokens")
        if not isinstance(tokens_in, int) or not isinstance(tokens_out, int):
            tokens_in = estimate_tokens(asked)
            tokens_out = estimate_tokens(content) if isinstance(content, str) else 0
        return text_cost(self.model, tokens_in, tokens_out)


def workers_ai_chat_url(settings: Settings, account: str) -> str:
    """Where `account`'s chat models answer, as OpenAI's API does."""
    return f"{settings.cf_api_base}/accounts/{account}/ai/v1/chat/completions"


def _endpoint(url: str, key: str, settings: Settings) -> Endpoint:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return Endpoint(url, headers, proxies_for(url, settings))


def _error_code(response: requests.Response) -> int | None:
    """The Workers AI error code in a refusal's body, if it has one."""
    try:
        envelope = response.json()
    except ValueError:
        return None
    return first_error(envelope)[0] if isinstance(envelope, dict) else None
