"""The header logic of serving images: If-None-Match, If-Range and Range (RFC 9110)."""

from __future__ import annotations

import pytest

from flux_service.errors import RangeNotSatisfiableError
from flux_service.web.image_server import byte_range, none_match, range_applies

ETAG = '"Jx7abcdefghijklmnopqrstuvwxyz012"'


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (ETAG, True),
        (f"W/{ETAG}", True),  # If-None-Match compares weakly
        ("*", True),
        (" * ", True),
        (f'"other", {ETAG}', True),
        (f'"other",W/{ETAG} , "more"', True),
        ('"other"', False),
        ('"other", W/"else"', False),
        (ETAG[1:-1], False),  # not quoted: not an entity-tag
        ('"Jx7abc"', False),
        ("", False),
    ],
)
def test_if_none_match_takes_lists_stars_and_weak_tags(header: str, matches: bool) -> None:
    assert none_match(header, ETAG) is matches


@pytest.mark.parametrize(
    ("if_range", "applies"),
    [
        (None, True),
        (ETAG, True),
        (f" {ETAG} ", True),
        (f"W/{ETAG}", False),  # If-Range compares strongly
        ('"other"', False),
        ("Wed, 21 Oct 2015 07:28:00 GMT", False),
    ],
)
def test_a_range_is_honoured_only_under_this_pictures_tag(
    if_range: str | None, applies: bool
) -> None:
    assert range_applies(if_range, ETAG) is applies


@pytest.mark.parametrize(
    ("header", "span"),
    [
        ("bytes=0-499", (0, 500)),
        ("bytes=500-999", (500, 1000)),
        ("bytes=500-", (500, 1000)),
        ("bytes=-200", (800, 1000)),
        ("bytes=-5000", (0, 1000)),  # a suffix longer than the picture is all of it
        ("bytes=990-5000", (990, 1000)),  # the end is clamped to the picture's
        ("bytes=999-999", (999, 1000)),
        ("BYTES=0-0", (0, 1)),
        ("bytes= 10-19 ", (10, 20)),
        ("bytes=10-19,", (10, 20)),  # empty list elements do not count
    ],
)
def test_one_byte_range_is_a_span(header: str, span: tuple[int, int]) -> None:
    assert byte_range(header, 1000) == span


@pytest.mark.parametrize(
    "header",
    [
        "bytes=0-99,200-299",  # several ranges: the whole picture
        "items=0-10",
        "bytes=20-10",
        "bytes=-",
        "bytes=abc",
        "bytes=1-2-3",
        "bytes 0-10",
        "bytes=",
        "bytes=" + "9" * 5000 + "-",  # too long a number to be a position in any picture
        "",
    ],
)
def test_other_ranges_are_ignored(header: str) -> None:
    assert byte_range(header, 1000) is None


@pytest.mark.parametrize(
    "header", ["bytes=1000-", "bytes=1000-2000", "bytes=5000-6000", "bytes=-0"]
)
def test_ranges_past_the_end_are_416_with_the_length(header: str) -> None:
    with pytest.raises(RangeNotSatisfiableError) as refused:
        byte_range(header, 1000)
    error = refused.value
    assert error.status == 416
    assert error.headers() == {"Content-Range": "bytes */1000"}
    assert error.to_dict()["error"]["code"] == "range_not_satisfiable"
    assert "1000 bytes long" in error.message
