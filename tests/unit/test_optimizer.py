"""The optimizer's URL and the cleaning of its answers."""

import pytest

from flux_service.upstream.optimizer import chat_completions_url, clean_answer


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("https://api.openai.com", "https://api.openai.com/v1/chat/completions"),
        ("https://api.openai.com/v1", "https://api.openai.com/v1/chat/completions"),
        ("https://api.openai.com/v1/", "https://api.openai.com/v1/chat/completions"),
        ("https://openrouter.ai/api/v1", "https://openrouter.ai/api/v1/chat/completions"),
        (
            "https://open.bigmodel.cn/api/paas/v4",
            "https://open.bigmodel.cn/api/paas/v4/chat/completions",
        ),
        ("http://localhost:11434", "http://localhost:11434/v1/chat/completions"),
    ],
)
def test_the_base_works_with_or_without_v1(base: str, url: str) -> None:
    assert chat_completions_url(base) == url


@pytest.mark.parametrize(
    ("answer", "prompt"),
    [
        ("  A red fox in snow.  ", "A red fox in snow."),
        ('"A red fox in snow."', "A red fox in snow."),
        ("<think>the user wants a fox</think>\nA red fox.", "A red fox."),
        ("```\nA red fox,\nin snow\n```", "A red fox, in snow"),
        ("<think>only thinking</think>", ""),
    ],
)
def test_clean_answer(answer: str, prompt: str) -> None:
    assert clean_answer(answer) == prompt
