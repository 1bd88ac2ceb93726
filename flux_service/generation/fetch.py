"""Fetching an image a client names by URL, safely: only from public addresses.

The host is resolved here, every address it has is checked (no loopback, private,
link-local, multicast, reserved or unspecified one), and the connection goes to the checked
address, so a second lookup cannot point it elsewhere. At most MAX_REDIRECTS redirects are
followed, each checked the same way; the answer must say `image/*`, arrive within
FETCH_SECONDS and hold at most MAX_IMAGE_BYTES. FETCH_PRIVATE_NETWORKS (for tests only)
names networks that are fetched from although they are not public.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterable
from urllib.parse import urljoin, urlsplit

import urllib3

from ..offload import DeadlineExceeded, deadline

# IPv6 addresses that carry an IPv4 one to reach (besides IPv4-mapped ones, which
# `ipaddress` reads itself): NAT64's well-known prefix (RFC 6052) and IPv4-compatible ones
# (RFC 4291, long deprecated), each with the IPv4 address in its last 32 bits. A local-use
# NAT64 prefix (RFC 8215) reaches whatever its operator chose: it is never public.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")

MAX_REDIRECTS = 3
FETCH_SECONDS = 10.0
CHUNK_BYTES = 64 * 1024


class FetchError(ValueError):
    """The URL cannot be fetched as an image; the message says why, for the client."""


class ImageFetcher:
    """Fetches images by URL within the limits above."""

    def __init__(
        self, max_bytes: int, private_networks: Iterable[str] = (), seconds: float = FETCH_SECONDS
    ) -> None:
        self._max_bytes = max_bytes
        self._allowed = tuple(ipaddress.ip_network(net, strict=False) for net in private_networks)
        self._seconds = seconds

    def fetch(self, url: str) -> bytes:
        """The bytes of the image at `url`; FetchError if it cannot or must not be had."""
        try:
            with deadline(self._seconds):
                started = time.monotonic()
                for _ in range(MAX_REDIRECTS + 1):
                    response = self._get(url, self._seconds - (time.monotonic() - started))
                    location = response.headers.get("Location")
                    if response.status in (301, 302, 303, 307, 308) and location:
                        response.release_conn()
                        url = urljoin(url, location)
                        continue
                    return self._body(response)
        except DeadlineExceeded:
            raise FetchError(f"it did not arrive within {self._seconds:g} s") from None
        raise FetchError(f"it redirects more than {MAX_REDIRECTS} times")

    def _get(self, url: str, seconds: float) -> urllib3.BaseHTTPResponse:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError("only http and https URLs are fetched")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = self._public_address(parts.hostname, port)
        timeout = urllib3.Timeout(connect=min(5.0, seconds), read=max(0.1, seconds))
        if parts.scheme == "https":
            pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
                address, port, server_hostname=parts.hostname, assert_hostname=parts.hostname,
                timeout=timeout, retries=False,
            )  # fmt: skip
        else:
            pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False)
        target = parts.path or "/"
        if parts.query:
            target = f"{target}?{parts.query}"
        host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        try:
            return pool.urlopen(
                "GET",
                target,
                headers={"Host": host, "Accept": "image/*", "User-Agent": "flux-api"},
                redirect=False,
                preload_content=False,
            )
        except urllib3.exceptions.HTTPError:
            raise FetchError(f"{parts.hostname} could not be reached") from None

    def _public_address(self, host: str, port: int) -> str:
        """An address of `host` to connect to, once every address it has is checked."""
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise FetchError(f"{host} does not resolve") from None
        addresses = [ipaddress.ip_address(entry[4][0]) for entry in found]
        for address in addresses:
            if not public(address) and not any(address in net for net in self._allowed):
                raise FetchError(f"{host} is a private or local address ({address}), never fetched")
        return str(addresses[0])

    def _body(self, response: urllib3.BaseHTTPResponse) -> bytes:
        try:
            if response.status != 200:
                raise FetchError(f"it answered HTTP {response.status}")
            kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if not kind.startswith("image/"):
                raise FetchError(f"it is {kind or 'of no type'}, not an image")
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > self._max_bytes:
                raise FetchError(_too_large(self._max_bytes))
            data = bytearray()
            for chunk in response.stream(CHUNK_BYTES):
                data += chunk
                if len(data) > self._max_bytes:
                    raise FetchError(_too_large(self._max_bytes))
            return bytes(data)
        except urllib3.exceptions.HTTPError:
            raise FetchError("its answer was cut off") from None
        finally:
            response.release_conn()


def public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether `address` is one on the public internet: a URL there may be fetched.

    `is_global` leaves out every range IANA marks as not globally reachable (private,
    shared 100.64/10, loopback, link-local, documentation, reserved, …); multicast is
    refused on top. An IPv6 address that carries an IPv4 one (mapped, compatible, NAT64,
    6to4, Teredo) is public only when every IPv4 address it leads to is too.
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return public(address.ipv4_mapped)
        if address in _LOCAL_NAT64:
            return False
        carried = embedded_ipv4(address)
        if carried and not all(public(inner) for inner in carried):
            return False
    return address.is_global and not address.is_multicast


def embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses an IPv6 `address` leads to: a NAT64 or IPv4-compatible address's
    own, a 6to4 address's, or a Teredo address's server and client; none for the others."""
    if address.sixtofour is not None:
        return (address.sixtofour,)
    if address.teredo is not None:
        return address.teredo
    if address in _NAT64 or address in _IPV4_COMPATIBLE:
        return (ipaddress.IPv4Address(int(address) & 0xFFFFFFFF),)
    return ()


def _too_large(limit: int) -> str:
    return f"it is larger than MAX_IMAGE_BYTES ({limit / 2**20:g} MiB)"
