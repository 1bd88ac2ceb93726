"""A setting's text is read into its value, or refused with what was expected."""

import re

import pytest

from flux_service.setting_parsers import (
    addresses,
    between,
    boolean,
    language_in,
    networks,
    neurons,
    optional_redis,
    optional_url,
)


@pytest.mark.parametrize(
    ("parse", "text", "value"),
    [
        (boolean, "YES", True), (boolean, "off", False), (boolean, "0", False),
        (between(1, 100), "+7", 7), (between(0, 10), "00", 0),
        (between(0.0, 600.0), "2.5", 2.5), (between(0.1, 60.0), "5", 5.0),
        (neurons, "10000", 10000.0), (neurons, "0", 0.0),
        (optional_url, "https://img.example/", "https://img.example"), (optional_url, "", ""),
        (addresses, "*", ("*",)), (networks, " 10.0.0.0/8, ::1 ", ("10.0.0.0/8", "::1")),
        (optional_redis, "unix:///run/redis.sock", "unix:///run/redis.sock"),
        (language_in(("en", "zh-cn")), "zh_CN", "zh-cn"),
    ],
)  # fmt: skip
def test_a_good_text_gives_its_value(parse, text: str, value: object) -> None:
    assert parse(text) == value
    assert type(parse(text)) is type(value)


@pytest.mark.parametrize(
    ("parse", "text", "expected"),
    [
        (boolean, "maybe", "expected true or false"),
        (between(1, 100), "2.5", "expected a whole number"),
        (between(1, 100), "0", "expected 1 to 100"),
        (between(1, 1 << 40), "0", "expected 1 to 1099511627776"),
        (between(0.1, 3600.0), "soon", "expected a number"),
        (between(0.1, 3600.0), "nan", "expected 0.1 to 3600"),
        (between(0.0, 600.0), "inf", "expected 0 to 600"),
        (neurons, "nan", "expected 0 to 1,000,000,000,000"),
        (optional_url, "img.example", "expected an http:// or https:// URL"),
        (networks, "*", "expected IP networks; * is not taken here"),
        (addresses, "nginx.local", "'nginx.local' is not an IP address or network, or *"),
        (optional_redis, "http://r:6379", "expected a redis://"),
        (language_in(("en", "fr")), "klingon", "expected one of en, fr"),
    ],
)
def test_a_bad_text_says_what_was_expected(parse, text: str, expected: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(expected)):
        parse(text)
