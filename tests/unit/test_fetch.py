"""Which addresses an image URL may be fetched from, decided before any connection."""

import ipaddress
import re

import pytest

from flux_service.generation.fetch import FetchError, ImageFetcher, embedded_ipv4, public


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "64:ff9b::7f00:1",  # NAT64 to 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 to 10.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 to 169.254.169.254, a cloud's metadata
        "64:ff9b:1::5db8:d822",  # a local-use NAT64 prefix: wherever its operator points it
        "64:ff9b:1:ffff::1",
        "2002:7f00:1::",  # 6to4 through 127.0.0.1
        "2002:c0a8:101::1",  # 6to4 through 192.168.1.1
        "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo to client 10.0.0.1
        "2001:0:7f00:1:8000:63bf:a2b9:d9cb",  # Teredo through server 127.0.0.1
        "::127.0.0.1",  # IPv4-compatible
        "::10.0.0.1",
        "::169.254.169.254",
    ],
)
def test_private_and_local_addresses_are_not_public(address: str) -> None:
    assert not public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    [
        "93.184.216.34",
        "1.1.1.1",
        "2606:4700:4700::1111",
        "64:ff9b::5db8:d822",  # NAT64 to 93.184.216.34
        "::ffff:93.184.216.34",
    ],
)
def test_public_addresses_are(address: str) -> None:
    assert public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    ("address", "carried"),
    [
        ("64:ff9b::7f00:1", ("127.0.0.1",)),
        ("2002:c0a8:101::1", ("192.168.1.1",)),
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", ("65.54.227.120", "10.0.0.1")),
        ("::10.0.0.1", ("10.0.0.1",)),
        ("2606:4700:4700::1111", ()),
    ],
)
def test_the_ipv4_address_an_ipv6_one_leads_to_is_read(address: str, carried: tuple) -> None:
    found = embedded_ipv4(ipaddress.IPv6Address(address))
    assert tuple(str(inner) for inner in found) == carried


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://127.0.0.1/x.png", "private or local address (127.0.0.1)"),
        ("http://[::1]:8000/x.png", "private or local address (::1)"),
        ("http://0177.0.0.1/x.png", "private or local address (127.0.0.1)"),  # octal spelling
        ("http://2130706433/x.png", "private or local address (127.0.0.1)"),  # a number
        ("file:///etc/passwd", "only http and https"),
        ("http:///x.png", "only http and https"),
    ],
)
def test_a_refusal_comes_before_any_connection(url: str, words: str) -> None:
    with pytest.raises(FetchError, match=re.escape(words)):
        ImageFetcher(1024).fetch(url)


def test_a_named_network_is_let_through_and_no_other() -> None:
    fetcher = ImageFetcher(1024, private_networks=["127.0.0.2/32"])
    with pytest.raises(FetchError, match=r"\(127.0.0.1\)"):
        fetcher.fetch("http://127.0.0.1/x.png")
