"""A Workers AI look-alike for demo mode and the tests.

It speaks the real REST wire format: the same URL, bearer token (each account it plays has
its own, and a token works for its account only), JSON or multipart bodies
validated against each model's published schema, the JSON envelope with base64 images or
raw image bytes, and Cloudflare's error envelope and codes. It also plays an
OpenAI-compatible chat model for the prompt optimizer. Tests and `make soak` steer it over
HTTP:

    POST /_standin/faults   {"target": "workers_ai" | "optimizer", "faults": [{...}, ...]}
    GET  /_standin/faults   how many faults wait, per target
    POST /_standin/config   {"latency": seconds, "refuse": {model id: [field, ...]},
                             "fault_rate": 0..1, "optimizer_fault_rate": 0..1}
    GET  /_standin/requests what it received, oldest first (the last 1000)
    GET  /_standin/counts   calls and faults per target since the last reset
    POST /_standin/reset    forget faults, fault rates, refusals, requests and counts, and
                            go back to the latency it started with

Each queued fault is used up by the next request to its target (to one account's URL only,
when the fault names it in an `account` field); see `faults.py`. With a
fault rate set, a request that finds no fault queued fails at that rate, with a fault drawn
from `RANDOM_FAULTS`.
"""

from __future__ import annotations

import base64
import io
import json
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from flask import Flask, Response, jsonify, request
from PIL import Image

from .drawing import draw, prompt_seed
from .editing import REFERENCES, InputProblem, draw_from, read_images, record
from .faults import (
    RANDOM_FAULTS,
    Fault,
    cf_error,
    fault_label,
    optimizer_fault_response,
    workers_ai_fault_response,
)
from .schemas import SCHEMAS, Schema, coerce_form, validate

RECORD_LIMIT = 1000
TARGETS = ("workers_ai", "optimizer")
DEFAULT_TOKEN = "standin-token"
DEFAULT_ACCOUNT = "standin-account"


@dataclass
class StandinState:
    """What the stand-in was told and what it has seen."""

    accounts: dict[str, str]  # account id -> its token
    optimizer_key: str
    gateway_token: str
    latency: float
    start_latency: float = 0.0  # what `reset` goes back to
    faults: dict[str, deque[Fault]] = field(
        default_factory=lambda: {target: deque() for target in TARGETS}
    )
    fault_rates: dict[str, float] = field(default_factory=lambda: dict.fromkeys(TARGETS, 0.0))
    requests: deque[dict] = field(default_factory=lambda: deque(maxlen=RECORD_LIMIT))
    # Totals since the last reset: a soak makes far more requests than `requests` keeps.
    calls: Counter[str] = field(default_factory=Counter)
    faults_used: dict[str, Counter[str]] = field(
        default_factory=lambda: {target: Counter() for target in TARGETS}
    )
    # Fields a model refuses although its schema lists them, as after a schema change.
    refused: dict[str, set[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_fault(self, target: str, account: str | None = None) -> Fault | None:
        """The next queued fault for `account` (those naming no account are for any), else a
        random one at the target's fault rate, else None."""
        with self.lock:
            queued = self.faults[target]
            for fault in queued:
                if fault.get("account", account) == account:
                    queued.remove(fault)
                    return fault
        if random.random() < self.fault_rates[target]:
            weights, faults = zip(*RANDOM_FAULTS[target], strict=True)
            return random.choices(faults, weights)[0]
        return None

    def record(self, entry: dict, target: str, fault: Fault | None) -> None:
        with self.lock:
            self.requests.append(entry)
            self.calls[target] += 1
            if fault:
                self.faults_used[target][fault_label(fault)] += 1


def create_app(
    token: str = DEFAULT_TOKEN,
    account: str = DEFAULT_ACCOUNT,
    latency: float = 0.0,
    optimizer_key: str = "",
    gateway_token: str = "",
    accounts: Mapping[str, str] | None = None,
) -> Flask:
    """The stand-in as a WSGI app: Workers AI at /client/v4, a chat model at /openai/v1.

    It plays the Cloudflare `account` with `token`, or every account of `accounts` (id to
    token) when given.
    """
    app = Flask(__name__)
    played = dict(accounts) if accounts else {account: token}
    state = StandinState(played, optimizer_key, gateway_token, latency, latency)
    app.extensions["standin"] = state

    @app.post("/client/v4/accounts/<account_id>/ai/run/<path:model>")
    def run_model(account_id: str, model: str) -> Response:
        if account_id not in state.accounts:
            return cf_error(404, 7003, f"Could not route to /accounts/{account_id}/ai/run/{model}")
        return _run(state, account_id, model, gateway=None)

    @app.post("/v1/<account_id>/<gateway>/workers-ai/<path:model>")
    def run_through_gateway(account_id: str, gateway: str, model: str) -> Response:
        if account_id not in state.accounts:
            return cf_error(404, 7003, "Could not route to this account")
        expected = f"Bearer {state.gateway_token}"
        if state.gateway_token and request.headers.get("cf-aig-authorization") != expected:
            return cf_error(401, 2009, "Unauthorized")
        return _run(state, account_id, model, gateway=gateway)

    @app.post("/openai/v1/chat/completions")
    def chat() -> Response:
        return _chat(state)

    @app.post("/client/v4/accounts/<account_id>/ai/v1/chat/completions")
    def workers_ai_chat(account_id: str) -> Response:
        if account_id not in state.accounts:
            return cf_error(404, 7003, f"Could not route to /accounts/{account_id}/ai/v1")
        return _workers_ai_chat(state, account_id)

    @app.post("/_standin/faults")
    def add_faults() -> Response:
        body = request.get_json()
        with state.lock:
            state.faults[body.get("target", "workers_ai")].extend(body["faults"])
        return jsonify(ok=True)

    @app.get("/_standin/faults")
    def queued_faults() -> Response:
        with state.lock:
            return jsonify({target: len(state.faults[target]) for target in TARGETS})

    @app.post("/_standin/config")
    def configure() -> Response:
        body = request.get_json()
        state.latency = float(body.get("latency", state.latency))
        for model, names in body.get("refuse", {}).items():
            state.refused[model] = set(names)
        for target, name in (("workers_ai", "fault_rate"), ("optimizer", "optimizer_fault_rate")):
            state.fault_rates[target] = float(body.get(name, state.fault_rates[target]))
        return jsonify(latency=state.latency, fault_rates=state.fault_rates)

    @app.get("/_standin/requests")
    def seen() -> Response:
        with state.lock:
            return jsonify(list(state.requests))

    @app.get("/_standin/counts")
    def counts() -> Response:
        with state.lock:
            return jsonify(
                {
                    target: {"calls": state.calls[target], "faults": state.faults_used[target]}
                    for target in TARGETS
                }
            )

    @app.post("/_standin/reset")
    def reset() -> Response:
        with state.lock:
            state.latency = state.start_latency
            state.requests.clear()
            state.refused.clear()
            state.calls.clear()
            for target in TARGETS:
                state.faults[target].clear()
                state.faults_used[target].clear()
                state.fault_rates[target] = 0.0
        return jsonify(ok=True)

    @app.get("/_standin/health")
    def health() -> Response:
        return jsonify(ok=True)

    return app


def _run(state: StandinState, account: str, model: str, gateway: str | None) -> Response:
    started = time.monotonic()
    # A refused call uses up no fault: it never reached the model.
    if request.headers.get("Authorization") != f"Bearer {state.accounts[account]}":
        return cf_error(401, 10000, "Authentication error")
    fault = state.next_fault("workers_ai", account)
    schema = SCHEMAS.get(model)
    if schema is None:
        return cf_error(400, 5007, f"No such model {model} or task")
    inputs, problem = _read_inputs(schema)
    images: list[Image.Image] = []
    mask = None
    code = 5006
    if schema.inputs and not problem and _takes_images(schema, inputs):
        try:
            images, mask = read_images(schema.inputs, inputs)
        except InputProblem as error:
            problem, code = str(error), error.code
    state.record(
        {
            "account": account,
            "model": model,
            "gateway": gateway,
            "content_type": request.mimetype,
            "inputs": {name: _shown(value) for name, value in inputs.items()},
            "images": [record(image) for image in images],
            "mask": record(mask) if mask is not None else None,
            "fault": fault.get("kind") if fault else None,
        },
        "workers_ai",
        fault,
    )
    refused = state.refused.get(model, set()) & set(inputs)
    if refused and not problem:
        problem = f"Additional or unevaluated properties '/{min(refused)}' at '/' not allowed"
    problem = problem or validate(schema, inputs)
    if problem:
        return cf_error(
            400, code, problem if code != 5006 else f"AiError: Bad input: Error: {problem}"
        )
    # Draw first, then wait out the rest of the latency: the answer takes `latency`, not more.
    image = _image(schema, inputs, images, mask)
    answer = (
        Response(image, mimetype=schema.content_type)
        if schema.output == "binary"
        else Response(_envelope(image), mimetype="application/json")
    )
    time.sleep(max(0.0, state.latency - (time.monotonic() - started)))
    if fault:
        faulty = workers_ai_fault_response(fault, schema, image)
        if faulty is not None:
            return faulty
    return answer


@lru_cache(maxsize=64)
def _envelope(image: bytes) -> bytes:
    """The JSON envelope around a base64 image (the same image is often asked again)."""
    result = {"image": base64.b64encode(image).decode()}
    return json.dumps({"result": result, "success": True, "errors": [], "messages": []}).encode()


def _read_inputs(schema: Schema) -> tuple[dict[str, object], str | None]:
    if schema.body == "multipart":
        if request.mimetype != "multipart/form-data":
            return {}, "required properties at '/' are 'multipart'"
        inputs = coerce_form(schema, request.form.to_dict())
        inputs.update({name: upload.read() for name, upload in request.files.items()})
        return inputs, None
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return {}, "Type mismatch of '/', 'string' not in 'object'"
    return body, None


def _takes_images(schema: Schema, inputs: dict[str, object]) -> bool:
    """Whether this call works from images: it names some, or the model needs one."""
    named = any(name in inputs for name in (*REFERENCES, "image", "mask"))
    return named or schema.inputs in ("img2img", "inpainting")


def _shown(value: object) -> object:
    """An input as the record shows it: files and number lists by their size only."""
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, list):
        return f"<{len(value)} numbers>"
    return value


def _image(
    schema: Schema, inputs: dict[str, object], images: list[Image.Image], mask: Image.Image | None
) -> bytes:
    prompt = str(inputs["prompt"])
    if schema.takes_size:
        width = int(inputs.get("width") or schema.default_size[0])  # type: ignore[call-overload]
        height = int(inputs.get("height") or schema.default_size[1])  # type: ignore[call-overload]
        width -= width % schema.round_down
        height -= height % schema.round_down
    else:
        width, height = 1024, 1024  # FLUX.1 schnell draws this size whatever it is asked
    seed = inputs.get("seed")
    drawn = draw(
        prompt,
        seed if isinstance(seed, int) else prompt_seed(prompt),
        width,
        height,
        schema.image,
    )
    if not images:
        return drawn
    picture = draw_from(images, mask, Image.open(io.BytesIO(drawn)), prompt)
    out = io.BytesIO()
    picture.save(out, schema.image, **({"quality": 90} if schema.image == "JPEG" else {}))
    return out.getvalue()


def _chat(state: StandinState) -> Response:
    if (
        state.optimizer_key
        and request.headers.get("Authorization") != f"Bearer {state.optimizer_key}"
    ):
        return _openai_error(401, "Incorrect API key provided.")
    fault = state.next_fault("optimizer")
    body = request.get_json(silent=True)
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not messages:
        return _openai_error(400, "`model` and `messages` are required.")
    state.record(
        {"model": body["model"], "optimizer": True, "messages": messages}, "optimizer", fault
    )
    content = _written(messages)
    if fault:
        faulty = optimizer_fault_response(fault, content)
        if faulty is not None:
            return faulty
    return jsonify(_completion(body["model"], content))


# The chat models the stand-in's Workers AI serves on its OpenAI-compatible endpoint, and the
# fields that endpoint takes: anything else is refused, as a schema would.
TEXT_MODELS = (
    "@cf/google/gemma-4-26b-a4b-it",
    "@cf/meta/llama-3.1-8b-instruct-fp8-fast",
    "@cf/ibm-granite/granite-4.0-h-micro",
)
_CHAT_FIELDS = {"model", "messages", "max_tokens", "temperature", "top_p", "stream", "seed",
                "stop", "frequency_penalty", "presence_penalty"}  # fmt: skip
_ROLES = ("system", "user", "assistant")
# What the stand-in "translates": a real model writes English from any language; this one
# knows the test phrases by heart and keeps everything else as it came.
_PHRASEBOOK = {
    "一只在雪地里的红狐狸": "a red fox in the snow",
    "un zorro rojo en la nieve": "a red fox in the snow",
    "雪の中の赤いキツネ": "a red fox in the snow",
}


def _workers_ai_chat(state: StandinState, account: str) -> Response:
    """Workers AI's OpenAI-compatible chat completions: a rewrite, with the tokens counted."""
    if request.headers.get("Authorization") != f"Bearer {state.accounts[account]}":
        return cf_error(401, 10000, "Authentication error")
    fault = state.next_fault("optimizer", account)
    body = request.get_json(silent=True)
    problem = _chat_problem(body)
    if problem is not None or not isinstance(body, dict):
        return cf_error(400, 5006, f"AiError: Bad input: Error: {problem}")
    state.record(
        {"model": body["model"], "optimizer": True, "account": account,
         "messages": body["messages"], "max_tokens": body.get("max_tokens")},
        "optimizer",
        fault,
    )  # fmt: skip
    content = _written(body["messages"])
    if fault and fault.get("kind") == "error" and "code" in fault:
        message = fault.get("message", "Capacity limit")
        return cf_error(int(fault.get("status", 429)), int(fault["code"]), message)
    if fault:
        faulty = optimizer_fault_response(fault, content)
        if faulty is not None:
            return faulty
    asked: int = sum(len(str(message["content"])) for message in body["messages"])
    usage = {"prompt_tokens": asked // 4 + 1, "completion_tokens": len(content) // 4 + 1}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    return jsonify({**_completion(body["model"], content), "usage": usage})


def _completion(model: str, content: str) -> dict:
    """A chat completion that answers `content`."""
    return {
        "id": "chatcmpl-standin",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
    }


def _chat_problem(body: object) -> str | None:
    """What is wrong with a chat body, as Workers AI's schema check says it; None if fine."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    unknown = sorted(set(body) - _CHAT_FIELDS)
    if unknown:
        return f"Additional properties '/{unknown[0]}' at '/' not allowed"
    if body.get("model") not in TEXT_MODELS:
        return f"No such model {body.get('model')} or task"
    messages = body.get("messages")
    if (
        not isinstance(messages, list)
        or not messages
        or not all(
            isinstance(m, dict) and m.get("role") in _ROLES and isinstance(m.get("content"), str)
            for m in messages
        )
    ):
        return "messages must be a non-empty list of {role, content} with string content"
    tokens = body.get("max_tokens")
    if tokens is not None and (not isinstance(tokens, int) or not 1 <= tokens <= 4096):
        return "max_tokens must be a whole number from 1 to 4096"
    if body.get("stream") not in (None, False):
        return "this stand-in answers without streaming"
    return None


def _written(messages: list) -> str:
    """What the stand-in's chat model writes for the last message: a follow-up decision, or
    an English prompt."""
    asked = str(messages[-1].get("content", ""))
    if "New message: " in asked:
        return _decision(asked.rpartition("New message: ")[2])
    description = asked.rpartition("Description: ")[2]
    english = _PHRASEBOOK.get(description.strip(), description)
    return f"A richly detailed image of {english}, soft natural light, sharp focus"


# How the stand-in tells a change to the last image from a new one: by its first words.
_CHANGES = ("make ", "change ", "add ", "remove ", "turn ", "now ", "give ")


def _decision(message: str) -> str:
    """A follow-up decision as a real chat model would write it, in a code fence."""
    edit = message.strip().lower().startswith(_CHANGES)
    prompt = f"{'Edit: ' if edit else 'A richly detailed image of '}{message.strip()}"
    return f"```json\n{json.dumps({'edit': edit, 'prompt': prompt})}\n```"


def _openai_error(status: int, message: str) -> Response:
    response = jsonify(
        {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        }
    )
    response.status_code = status
    return response
