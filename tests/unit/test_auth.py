"""Reading and checking the client's key."""

import base64
import hmac

import pytest

from flux_service.errors import AuthenticationError
from flux_service.web.auth import check_api_key, presented_key


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("headers", "key"),
    [
        ({"Authorization": "Bearer sk-1"}, "sk-1"),
        ({"Authorization": "bearer   sk-1 "}, "sk-1"),
        ({"X-Api-Key": "sk-2"}, "sk-2"),
        ({"Authorization": "Basic abc"}, None),
        ({"Authorization": "Basic " + b64("any:sk-3")}, "sk-3"),
        ({"Authorization": "basic " + b64(":sk-3")}, "sk-3"),
        ({"Authorization": "Basic " + b64("sk-3")}, "sk-3"),  # a key alone, no colon
        ({"Authorization": "Basic " + b64("sk-3:")}, "sk-3"),
        ({"Authorization": "Basic " + b64("user:pass:word")}, "pass:word"),
        # What SillyTavern sends without a password: nothing, or "undefined".
        ({"Authorization": "Basic "}, None),
        ({"Authorization": "Basic " + b64("undefined")}, None),
        ({"Authorization": "Basic " + b64(":")}, None),
        ({"Authorization": "Basic " + base64.b64encode(b"u:\xff").decode()}, None),
        ({"Authorization": "Basic !!!!"}, None),
        ({"Authorization": "Bearer "}, None),
        ({}, None),
    ],
)
def test_presented_key(headers: dict[str, str], key: str | None) -> None:
    assert presented_key(headers) == key


def test_any_configured_key_is_accepted() -> None:
    check_api_key("k2", ("k1", "k2"))


@pytest.mark.parametrize(
    ("key", "allowed", "words"),
    [
        ("k1", (), "no API_KEY configured"),
        (None, ("k1",), "Missing API key"),
        ("k", ("k1",), "Incorrect API key"),
        ("k1 ", ("k1",), "Incorrect API key"),
    ],
)
def test_refusals_explain_themselves(key: str | None, allowed: tuple[str, ...], words: str) -> None:
    with pytest.raises(AuthenticationError, match=words):
        check_api_key(key, allowed)


def test_every_key_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared = []

    def compare_digest(a: bytes, b: bytes) -> bool:
        compared.append(b)
        return a == b

    monkeypatch.setattr(hmac, "compare_digest", compare_digest)
    check_api_key("k1", ("k1", "k2", "k3"))
    # No early exit on the first match: the time taken says nothing about which key matched.
    assert compared == [b"k1", b"k2", b"k3"]
