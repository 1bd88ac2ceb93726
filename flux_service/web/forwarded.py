"""Where clients reach this service, for the links in answers, and who the client is.

The `X-Forwarded-*` headers a reverse proxy adds are believed only when the request comes
from a proxy FORWARDED_ALLOW_IPS names, and only when each value is well formed: `http` or
`https`, a plain `host[:port]`, a path prefix of plain segments. Anything else is ignored,
as is a `Host` header that is not a host name, so no client can make an answer link to
another host or break out of its markdown.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]{{2,45}}\])(?::[0-9]{{1,5}})?")
_PREFIX = re.compile(r"(?:/[A-Za-z0-9._~-]{1,64}){1,8}")
_PORT = re.compile(r"[0-9]{1,5}")
_DEFAULT_PORTS = {"http": "80", "https": "443"}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Proxies:
    """The proxies FORWARDED_ALLOW_IPS trusts: addresses, networks, or everyone ("*")."""

    networks: tuple[Network, ...]
    everyone: bool = False

    @classmethod
    def parse(cls, allowed: tuple[str, ...]) -> Proxies:
        """From the parsed setting: "*", or addresses and networks."""
        if "*" in allowed:
            return cls((), everyone=True)
        return cls(tuple(ipaddress.ip_network(entry, strict=False) for entry in allowed))

    def trust(self, address: str) -> bool:
        """Whether a request from `address` came through one of these proxies."""
        if self.everyone:
            return True
        try:
            peer = ipaddress.ip_address(address)
        except ValueError:
            return False  # a Unix socket, or nothing
        return any(peer in network for network in self.networks)


def origin(environ: Mapping[str, object], proxies: Proxies) -> str | None:
    """`scheme://host[:port][/prefix]` as the client reached us, or None without a valid host."""
    scheme = str(environ.get("wsgi.url_scheme", "http"))
    host = _valid_host(environ.get("HTTP_HOST"))
    prefix = ""
    if proxies.trust(str(environ.get("REMOTE_ADDR", ""))):
        proto = _first(environ.get("HTTP_X_FORWARDED_PROTO")).lower()
        scheme = proto if proto in _DEFAULT_PORTS else scheme
        host = _valid_host(_first(environ.get("HTTP_X_FORWARDED_HOST"))) or host
        port = _valid_port(_first(environ.get("HTTP_X_FORWARDED_PORT")))
        if host and port:
            host = _with_port(host, port, scheme)
        prefix = _valid(_PREFIX, _first(environ.get("HTTP_X_FORWARDED_PREFIX"))) or ""
    if not host:
        return None
    return f"{scheme}://{host}{prefix}"


def client_address(environ: Mapping[str, object], proxies: Proxies) -> str:
    """The client's address: the proxy's last `X-Forwarded-For` hop, or the peer itself."""
    peer = str(environ.get("REMOTE_ADDR", ""))
    if proxies.trust(peer):
        hops = str(environ.get("HTTP_X_FORWARDED_FOR", "")).split(",")
        last = hops[-1].strip()
        try:
            return str(ipaddress.ip_address(last))
        except ValueError:
            pass
    return peer


def _first(value: object) -> str:
    """The first of a header's comma-separated values (the proxy nearest the client)."""
    return str(value or "").split(",", 1)[0].strip()


def _valid(pattern: re.Pattern[str], value: object) -> str | None:
    text = str(value or "")
    return text if text and len(text) <= 300 and pattern.fullmatch(text) else None


def _valid_port(value: object) -> str | None:
    """A port number as a link may carry it: 1 to 65535, with no leading zero."""
    port = _valid(_PORT, value)
    return port if port and port[0] != "0" and int(port) <= 65535 else None


def _valid_host(value: object) -> str | None:
    """`host[:port]` when both are well formed, the port within 1 to 65535."""
    host = _valid(_HOST, value)
    if host is None or host.endswith("]") or ":" not in host:
        return host
    return host if _valid_port(host.rsplit(":", 1)[1]) else None


def _with_port(host: str, port: str, scheme: str) -> str:
    name = host if host.endswith("]") else host.rsplit(":", 1)[0]
    return name if port == _DEFAULT_PORTS[scheme] else f"{name}:{port}"
