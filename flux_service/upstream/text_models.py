"""The Workers AI chat models the prompt optimizer may run on, and what they cost.

Prices are Cloudflare's pricing page (updated 2026-08-28), in neurons per million tokens in
and out. A rewrite takes some 350 tokens in and 120 out: a few neurons, where one image of
FLUX.1 schnell at 1024x1024 is about 173. Reasoning models spend more tokens thinking than
answering, and are no good default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .costs import Cost


@dataclass(frozen=True)
class TextPrice:
    """Neurons per million tokens read and written."""

    input: float
    output: float


TEXT_PRICES: dict[str, TextPrice] = {
    "@cf/google/gemma-4-26b-a4b-it": TextPrice(9_091, 27_273),
    "@cf/meta/llama-3.1-8b-instruct-fp8-fast": TextPrice(4_119, 34_868),
    "@cf/meta/llama-3.2-3b-instruct": TextPrice(4_625, 30_475),
    "@cf/ibm-granite/granite-4.0-h-micro": TextPrice(1_542, 10_158),
    "@cf/mistralai/mistral-small-3.1-24b-instruct": TextPrice(31_876, 50_488),
    "@cf/meta/llama-3.3-70b-instruct-fp8-fast": TextPrice(26_668, 204_805),
    # Reasoning models: they think before they answer, and their output tokens run long.
    "@cf/qwen/qwen3-30b-a3b-fp8": TextPrice(4_625, 30_475),
    "@cf/zai-org/glm-4.7-flash": TextPrice(5_500, 36_400),
    "@cf/openai/gpt-oss-20b": TextPrice(18_182, 27_273),
}
MILLION = 1_000_000


def text_cost(model: str, tokens_in: int, tokens_out: int) -> Cost:
    """What a call of `model` that read `tokens_in` and wrote `tokens_out` tokens cost; free
    and unpublished for a model without a known price."""
    price = TEXT_PRICES.get(model)
    if price is None:
        return Cost(0.0, published=False)
    return Cost((tokens_in * price.input + tokens_out * price.output) / MILLION)


def estimate_tokens(text: str) -> int:
    """A rough token count (about four bytes a token), where no tokenizer says (FLUX has
    none) or an answer gives no count."""
    # surrogatepass: a lone surrogate (legal in a JSON escape) still counts, and cannot crash.
    return math.ceil(len(text.encode("utf-8", "surrogatepass")) / 4)
