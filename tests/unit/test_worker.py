"""The worker's record of idle connections: which it closes, oldest first, when it is full."""

from __future__ import annotations

import pytest

from flux_service.web.worker import IdleConnections


def idle(*connections: str) -> IdleConnections[str]:
    waiting: IdleConnections[str] = IdleConnections()
    for connection in connections:
        waiting.add(connection)
    return waiting


def test_the_longest_idle_are_taken_first() -> None:
    assert idle("a", "b", "c").take_longest_idle() == ["a"]


def test_a_connection_idle_again_goes_to_the_back() -> None:
    waiting = idle("a", "b", "c")
    waiting.discard("a")  # a request came
    waiting.add("a")  # and was answered
    assert [waiting.take_longest_idle()[0] for _ in range(3)] == ["b", "c", "a"]


def test_a_connection_with_a_request_in_flight_is_never_taken() -> None:
    waiting = idle("a", "b")
    waiting.discard("a")
    assert waiting.take_longest_idle() == ["b"]
    assert waiting.take_longest_idle() == []


def test_taken_connections_are_no_longer_idle() -> None:
    waiting = idle(*"abcdefghijklmnop")
    taken = waiting.take_longest_idle()
    assert taken == ["a", "b"]
    assert "a" not in waiting
    assert "c" in waiting
    assert len(waiting) == 14


@pytest.mark.parametrize(
    ("count", "taken"),
    [(1, 1), (7, 1), (16, 2), (100, 12), (256, 32), (4000, 32)],
)
def test_an_eighth_are_taken_at_least_one_and_at_most_32(count: int, taken: int) -> None:
    waiting = idle(*(str(number) for number in range(count)))
    assert waiting.take_longest_idle() == [str(number) for number in range(taken)]
