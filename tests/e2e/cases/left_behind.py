"""Two tests run in this order by `test_isolation.py`: the first leaves faults queued in the
stand-in, the second does not ask for the stand-in and must not meet them."""

from __future__ import annotations

from tests.e2e.service import Service
from tests.helpers import FOX, Standin, image_url

FAULT = {"kind": "error", "status": 500, "code": 3043, "message": "left behind"}


def test_one_leaves_faults_behind(standin: Standin) -> None:
    standin.fail(*[FAULT] * 40)
    assert standin.queued()["workers_ai"] == 40


def test_two_finds_a_clean_stand_in(service: Service) -> None:
    answer = service.client().chat.completions.create(model="x", messages=FOX)
    assert "/image/" in image_url(answer.choices[0].message.content)
