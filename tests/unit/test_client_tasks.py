"""Recognising client tasks, and never taking a real image request for one."""

import json

import pytest

from flux_service.wire.client_tasks import DRAW, MARKERS, Marker, recognise
from tests.client_requests import CLIENT_TASKS, HISTORY, IMAGE_CHATS, IMAGE_PROMPTS

JSON_KINDS = ("tags", "follow_ups", "queries", "autocomplete", "prompt", "task")


def marker_of(body: dict) -> Marker | None:
    task = recognise(body["messages"], "en")
    return task.marker if task else None


TASKS = [marker for marker in MARKERS if marker.kind != DRAW]


@pytest.mark.parametrize(
    "marker", TASKS, ids=[f"{m.client}: {m.text[:40] or m.where.name}" for m in TASKS]
)
def test_every_marker_is_reached_by_its_clients_request(marker: Marker) -> None:
    cases = [case for case in CLIENT_TASKS if marker_of(case[1]) is marker]
    assert cases, f"no request in tests/client_requests.py reaches {marker}"
    for _, body, kind, fragment in cases:
        task = recognise(body["messages"], "en")
        assert task.kind == kind == marker.kind
        assert fragment in task.answer
        if kind in JSON_KINDS or task.answer.startswith("{"):
            json.loads(task.answer)  # what the client parses


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


def test_open_webui_tasks_get_the_json_they_parse() -> None:
    answers = [
        json.loads(recognise(body["messages"], "en").answer)
        for name, body, *_ in CLIENT_TASKS
        if name.startswith("open-webui") and body["messages"][-1]["content"].startswith("###")
    ]
    assert len(answers) == 9  # the six tasks of 0.12.4, two older wordings, one unknown task
    assert all(isinstance(answer, dict) for answer in answers)


def test_the_image_prompt_task_keeps_the_ratio_of_the_latest_request() -> None:
    _, body, _, _ = next(case for case in CLIENT_TASKS if case[0] == "open-webui image prompt")
    # The chat history holds an earlier picture; the prompt is for the one asked for now.
    assert json.loads(recognise(body["messages"], "en").answer) == {"prompt": "a fox at dawn 16:9"}


@pytest.mark.parametrize("prompt", IMAGE_PROMPTS)
def test_image_requests_are_never_taken_for_tasks(prompt: str) -> None:
    assert recognise([{"role": "user", "content": prompt}], "en") is None
    with_system = [{"role": "system", "content": "You are a helpful assistant."},
                   {"role": "user", "content": prompt}]  # fmt: skip
    assert recognise(with_system, "en") is None
    after_history = [*HISTORY, {"role": "user", "content": prompt}]
    assert recognise(after_history, "en") is None


@pytest.mark.parametrize("body", IMAGE_CHATS)
def test_image_requests_among_task_words_are_never_taken_for_tasks(body: dict) -> None:
    assert recognise(body["messages"], "en") is None


@pytest.mark.parametrize(
    ("language", "phrase"),
    [("zh-cn", "已就绪"), ("ja", "準備ができました"), ("de", "ist bereit")],
)
def test_answers_follow_the_language(language: str, phrase: str) -> None:
    check = recognise([{"role": "user", "content": "你好"}], language)
    assert check.kind == "check"
    assert phrase in check.answer


def test_json_answers_follow_the_language_too() -> None:
    _, body, _, _ = next(case for case in CLIENT_TASKS if case[0] == "dify title")
    answer = json.loads(recognise(body["messages"], "fr").answer)
    assert answer["Language Type"] == "Français"
    assert answer["Your Output"] == "🎨 a windmill at noon"
    _, body, _, _ = next(case for case in CLIENT_TASKS if case[0] == "open-webui tags")
    assert json.loads(recognise(body["messages"], "ru").answer) == {
        "tags": ["Генерация изображений"]
    }


def test_a_failed_image_without_a_reason_still_says_it_failed() -> None:
    context = "<context>Image generation was attempted but failed. Tell the user that the "
    messages = [{"role": "system", "content": context + "following error occurred: </context>"},
                {"role": "user", "content": "a fox"}]  # fmt: skip
    assert recognise(messages, "en").answer == "Image generation failed: —"
