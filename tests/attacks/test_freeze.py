"""Text built to make regular expressions start over at every position, sent as prompts.

Before: a mebibyte of spaces froze the worker for 181 s until gunicorn killed it, losing the
image it held; 24 KB of newlines in an Open WebUI task took 3.5 s. After: refused or answered
at once, the worker alive, every stored image still there.
"""

from __future__ import annotations

import time

import requests

from tests.e2e.service import Service
from tests.helpers import AUTH, FOX, fetch_image, image_url

from .conftest import worker

MIB = 1024 * 1024


def test_a_mebibyte_of_spaces_is_refused_at_once_and_nothing_is_lost(service: Service) -> None:
    kept = image_url(
        service.client().chat.completions.create(model="x", messages=FOX).choices[0].message.content
    )
    pid = worker(service).pid
    body = {"messages": [{"role": "user", "content": " " * (MIB - 200) + "a fox"}]}
    started = time.monotonic()
    response = requests.post(
        f"{service.url}/v1/chat/completions", json=body, headers=AUTH, timeout=30
    )
    seconds = time.monotonic() - started
    assert response.status_code == 400
    assert "flux-1-schnell takes at most 2048" in response.json()["error"]["message"]
    assert seconds < 1, f"{seconds:.1f} s"
    assert worker(service).pid == pid
    fetch_image(kept)  # the image stored before is still there


def test_an_open_webui_task_of_newlines_is_answered_at_once(service: Service) -> None:
    task = (
        "### Task:\nGenerate a concise title.\n### Chat History:\n" + "\n" * 24_000 + "USER: a fox"
    )
    completions = service.client().chat.completions  # the SDK loaded before the clock starts
    started = time.monotonic()
    answer = completions.create(model="x", messages=[{"role": "user", "content": task}])
    assert time.monotonic() - started < 1
    assert '"title"' in answer.choices[0].message.content
