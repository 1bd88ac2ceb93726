"""How a setting's text is read: true or false, a number in range, a URL, networks, limits.

Each parser takes the text of a variable and returns its value, or raises ValueError saying
what was expected (config.py adds the variable's name). They are named for what the text
must be, as `int` and `str` are. Standard library only: gunicorn's master imports config.py,
and so this module, before gevent patches anything.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

REDIS_SCHEMES = ("redis", "rediss", "unix")
# A trillion neurons is $11 million a day: far past any real budget, and it keeps inf out.
MAX_NEURON_BUDGET = 10**12

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_ONE_LIMIT = re.compile(
    r"\s*[0-9]+\s*(?:/|\s*per\s*)\s*[0-9]*\s*(?:second|minute|hour|day|month|year)s?\s*",
    re.IGNORECASE,
)

N = TypeVar("N", int, float)


def boolean(raw: str) -> bool:
    """true, yes, on or 1; false, no, off or 0; in any case."""
    lowered = raw.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("expected true or false")


def between(low: N, high: N) -> Callable[[str], N]:
    """A number from `low` to `high`: a whole one when both bounds are ints."""
    kind = type(low + high)  # int when both are, else float

    def parse(raw: str) -> N:
        try:
            value = kind(raw)
        except ValueError:
            raise ValueError(f"expected a {'whole ' if kind is int else ''}number") from None
        if not low <= value <= high:  # NaN fails this too
            shown = f"{low:g} to {high:g}" if kind is float else f"{low} to {high}"
            raise ValueError(f"expected {shown}")
        return value

    return parse


def neurons(raw: str) -> float:
    """A daily budget in Workers AI neurons; 0 for none."""
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("expected a number of neurons, or 0 for no budget") from None
    if not 0 <= value <= MAX_NEURON_BUDGET:  # NaN fails this too
        raise ValueError(f"expected 0 to {MAX_NEURON_BUDGET:,}")
    return value


def url(raw: str) -> str:
    """An http:// or https:// URL, without a trailing slash."""
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("expected an http:// or https:// URL")
    return raw.rstrip("/")


def optional_url(raw: str) -> str:
    """A URL as `url` reads it, or nothing."""
    return url(raw) if raw else ""


def gateway_id(raw: str) -> str:
    """An AI Gateway's id, or nothing."""
    if raw and not re.fullmatch(r"[A-Za-z0-9_-]+", raw):
        raise ValueError("expected the gateway's id: letters, digits, - and _")
    return raw


def optional_file(raw: str) -> str:
    """The path of a file that exists, or nothing."""
    if raw and not os.path.isfile(raw):
        raise ValueError("no such file")
    return raw


def optional_directory(raw: str) -> str:
    """The path of a directory that exists, or nothing."""
    if raw and not os.path.isdir(raw):
        raise ValueError("no such directory")
    return raw


def addresses(raw: str) -> tuple[str, ...]:
    """IP addresses or networks, comma-separated; or `*`, for any."""
    entries = tuple(entry.strip() for entry in raw.split(",") if entry.strip())
    if entries == ("*",):
        return entries
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or network, or *") from None
    return entries


def networks(raw: str) -> tuple[str, ...]:
    """IP networks, comma-separated, as `addresses` reads them, but never `*`."""
    entries = addresses(raw)
    if entries == ("*",):
        raise ValueError("expected IP networks; * is not taken here")
    return entries


def optional_redis(raw: str) -> str:
    """A redis://, rediss:// or unix:// URL, or nothing."""
    if raw and urlsplit(raw).scheme not in REDIS_SCHEMES:
        raise ValueError("expected a redis://, rediss:// or unix:// URL")
    return raw


def region(raw: str) -> str:
    """A bucket's region name."""
    if not re.fullmatch(r"[a-z0-9-]{2,32}", raw):
        raise ValueError("expected a region name such as auto, us-east-1 or eu-central-1")
    return raw


def rate_limit(raw: str) -> str:
    """Flask-Limiter's grammar ("20/minute", "20 per minute;500/day"), or nothing."""
    # Checked here without importing `limits`, which would load asyncio and ssl into
    # gunicorn's master before gevent patches them. tests/unit/test_config.py holds the two
    # to the same answers.
    if raw and not all(_ONE_LIMIT.fullmatch(part) for part in re.split(r"[,;|]", raw)):
        raise ValueError('expected limits like "20/minute" or "20/minute;500/day"')
    return raw


def language_in(codes: tuple[str, ...]) -> Callable[[str], str]:
    """One of the language `codes`, in any case, with `_` or `-` (zh_CN is zh-cn)."""

    def parse(raw: str) -> str:
        code = raw.lower().replace("_", "-")
        if code not in codes:
            raise ValueError(f"expected one of {', '.join(codes)}")
        return code

    return parse
