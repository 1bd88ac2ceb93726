"""Which X-Forwarded-* headers are believed, and what a link's origin becomes."""

from __future__ import annotations

import pytest

from config import ConfigError, load_settings
from flux_service.web.forwarded import Proxies, client_address, origin

LOCAL = Proxies.parse(("127.0.0.1", "::1"))


def environ(peer: str = "127.0.0.1", host: str | None = "svc:8000", **headers: str) -> dict:
    env = {"wsgi.url_scheme": "http", "REMOTE_ADDR": peer}
    if host is not None:
        env["HTTP_HOST"] = host
    env.update({f"HTTP_X_FORWARDED_{name.upper()}": value for name, value in headers.items()})
    return env


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (environ(), "http://svc:8000"),
        (environ(proto="https", host="svc", HOST="flux.example.com"), "https://flux.example.com"),
        (environ(HOST="flux.example.com", port="443", proto="https"), "https://flux.example.com"),
        (environ(HOST="flux.example.com", port="8443", proto="https"), "https://flux.example.com:8443"),
        (environ(HOST="[2001:db8::1]:8080"), "http://[2001:db8::1]:8080"),
        (environ(prefix="/flux/v2"), "http://svc:8000/flux/v2"),
        (environ(proto="https, http", HOST="a.example, b.example"), "https://a.example"),
        # From a peer that is no trusted proxy, the headers are nobody's word.
        (environ(peer="10.1.2.3", HOST="evil.example", proto="https"), "http://svc:8000"),
        (environ(peer="", HOST="evil.example"), "http://svc:8000"),
        # Malformed values are ignored, whoever sends them.
        (environ(proto="javascript"), "http://svc:8000"),
        (environ(HOST="evil.example/x"), "http://svc:8000"),
        (environ(HOST="a.example)[c](javascript:alert(1))"), "http://svc:8000"),
        (environ(prefix="/x)[c](javascript:alert(1))"), "http://svc:8000"),
        (environ(prefix="//evil.example"), "http://svc:8000"),
        (environ(port="http"), "http://svc:8000"),
        # Ports are 1 to 65535: anything else would be a broken link.
        (environ(port="99999"), "http://svc:8000"),
        (environ(port="0"), "http://svc:8000"),
        (environ(port="08080"), "http://svc:8000"),
        (environ(port="65535"), "http://svc:65535"),
        (environ(HOST="flux.example.com:70000"), "http://svc:8000"),
        (environ(host="svc:99999"), None),
        (environ(host="[2001:db8::1]:0"), None),
        # No valid host at all: no origin, never 0.0.0.0.
        (environ(host=None), None),
        (environ(host="bad host"), None),
        (environ(host="x" * 400), None),
    ],
)  # fmt: skip
def test_origin(env: dict, expected: str | None) -> None:
    assert origin(env, LOCAL) == expected


def test_everyone_is_a_proxy_on_a_platform_router() -> None:
    anyone = Proxies.parse(("*",))
    assert origin(environ(peer="10.9.8.7", HOST="app.example", proto="https"), anyone) == (
        "https://app.example"
    )


def test_networks_are_trusted_whole() -> None:
    proxies = Proxies.parse(("10.0.0.0/8",))
    assert proxies.trust("10.200.3.4")
    assert not proxies.trust("11.0.0.1")
    assert not proxies.trust("not an address")


def test_the_client_is_the_last_hop_a_trusted_proxy_saw() -> None:
    assert client_address(environ(FOR="203.0.113.9, 198.51.100.7"), LOCAL) == "198.51.100.7"
    assert client_address(environ(peer="10.1.1.1", FOR="203.0.113.9"), LOCAL) == "10.1.1.1"
    assert client_address(environ(FOR="garbage"), LOCAL) == "127.0.0.1"


REQUIRED = {"CF_ACCOUNT_ID": "a", "CF_API_TOKEN": "t"}


@pytest.mark.parametrize(
    ("env", "allowed"),
    [
        ({}, ("127.0.0.1", "::1")),
        ({"DYNO": "web.1"}, ("*",)),
        ({"RENDER": "true"}, ("*",)),
        ({"FORWARDED_ALLOW_IPS": "10.0.0.0/8, 192.168.1.1"}, ("10.0.0.0/8", "192.168.1.1")),
        ({"DYNO": "web.1", "FORWARDED_ALLOW_IPS": "10.0.0.1"}, ("10.0.0.1",)),
    ],
)
def test_forwarded_allow_ips(env: dict, allowed: tuple[str, ...]) -> None:
    assert load_settings({**REQUIRED, **env}, env_file=None).forwarded_allow_ips == allowed


def test_a_bad_proxy_address_names_its_variable() -> None:
    with pytest.raises(ConfigError, match="FORWARDED_ALLOW_IPS"):
        load_settings({**REQUIRED, "FORWARDED_ALLOW_IPS": "nginx.local"}, env_file=None)
