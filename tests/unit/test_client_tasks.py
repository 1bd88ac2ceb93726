"""Recognising client tasks, and never taking a real image request for one."""

import json

import pytest

from flux_service.client_tasks import recognise
from tests.client_requests import CLIENT_TASKS, IMAGE_PROMPTS


@pytest.mark.parametrize(
    ("body", "kind", "fragment"),
    [case[1:] for case in CLIENT_TASKS],
    ids=[case[0] for case in CLIENT_TASKS],
)
def test_each_clients_background_request_is_recognised(
    body: dict, kind: str, fragment: str
) -> None:
    task = recognise(body["messages"], "en")
    assert task is not None
    assert task.kind == kind
    assert fragment in task.answer


@pytest.mark.parametrize(
    "body", [case[1] for case in CLIENT_TASKS if case[0].startswith("open-webui")]
)
def test_open_webui_tasks_get_the_json_they_parse(body: dict) -> None:
    task = recognise(body["messages"], "en")
    assert isinstance(json.loads(task.answer), dict)


@pytest.mark.parametrize("prompt", IMAGE_PROMPTS)
def test_image_requests_are_never_taken_for_tasks(prompt: str) -> None:
    assert recognise([{"role": "user", "content": prompt}], "en") is None
    with_system = [{"role": "system", "content": "You are a helpful assistant."},
                   {"role": "user", "content": prompt}]  # fmt: skip
    assert recognise(with_system, "en") is None


def test_a_greeting_in_a_conversation_is_a_image_request() -> None:
    messages = [*CLIENT_TASKS[5][1]["messages"][:2], {"role": "user", "content": "hello"}]
    assert recognise(messages, "en") is None


def test_answers_follow_the_language() -> None:
    check = recognise([{"role": "user", "content": "你好"}], "zh-cn")
    assert check.kind == "check"
    assert "已就绪" in check.answer
