"""The S3 store reached the way some deployments must: over TLS signed by a private CA (MinIO
or SeaweedFS on a home server), and through an egress proxy. boto3's writes and the reads that
serve `/image/<key>` take the proxy and the CA bundle from the same settings: the reads once
took neither, so every write succeeded and every link failed.

SeaweedFS stands behind Debian's nginx, which terminates TLS with a certificate from a CA made
for the test, or forwards as a plain HTTP proxy and logs every request it carries.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.e2e.service import Service
from tests.servers import SeaweedServer, free_port, start_nginx

from .test_s3_store import draw, picture, stored

# nginx passes each request through whole and as it comes: bodies of any size, and the
# Host the client signed.
PASS_THROUGH = """
    client_max_body_size 0;
    proxy_request_buffering off;
    proxy_buffering off;
    proxy_http_version 1.1;
    proxy_set_header Host $http_host;
"""


def private_ca(folder: Path) -> tuple[Path, Path, Path]:
    """A CA of the test's own, and a certificate it signed for 127.0.0.1: the CA's file, the
    certificate's and its key's."""
    ca, ca_key = folder / "ca.pem", folder / "ca.key"
    cert, key, request = folder / "server.pem", folder / "server.key", folder / "server.csr"
    extensions = folder / "server.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for command in (
        ["openssl", "req", "-x509", *new_key, "-keyout", ca_key, "-out", ca, "-days", "2",
         "-subj", "/CN=Flux API test CA"],
        ["openssl", "req", *new_key, "-keyout", key, "-out", request, "-subj", "/CN=127.0.0.1"],
        ["openssl", "x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key,
         "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", extensions],
    ):  # fmt: skip
        subprocess.run(command, check=True, capture_output=True)
    return ca, cert, key


@pytest.fixture
def tls_endpoint(seaweed: SeaweedServer, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """SeaweedFS's S3 over TLS with a private CA's certificate: its URL, and the CA's file."""
    ca, cert, key = private_ca(tmp_path)
    port = free_port()
    site = f"""server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    location / {{ proxy_pass {seaweed.endpoint_url}; {PASS_THROUGH} }}
}}
"""
    # Asked in plain HTTP, nginx's TLS port answers 400: enough to know it is up.
    with start_nginx(tmp_path, site, f"http://127.0.0.1:{port}"):
        yield f"https://127.0.0.1:{port}", ca


@pytest.fixture
def egress_proxy(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A forward HTTP proxy: its URL, and the log of every request it carried."""
    port = free_port()
    carried = tmp_path / "carried.log"
    site = f"""log_format carried '$request';
server {{
    listen 127.0.0.1:{port};
    access_log {carried} carried;
    location / {{ proxy_pass http://$http_host; {PASS_THROUGH} }}
    # Asked of the proxy itself (no host of another's), so that the check it is up does
    # not send it to itself.
    location = /up {{ return 204; }}
}}
"""
    with start_nginx(tmp_path, site, f"http://127.0.0.1:{port}", "/up"):
        yield f"http://127.0.0.1:{port}", carried


def drawn_and_served(service: Service, seaweed: SeaweedServer, prefix: str) -> str:
    """Draw through `service`, and check its link serves the bucket's bytes; the key."""
    _, key = draw(service)
    served = picture(service, key)
    assert served.status_code == 200, served.text[:300]
    kept = stored(seaweed, f"{prefix}{key}")
    assert kept is not None
    assert served.content == kept["Data"]
    return key


def test_a_store_on_a_private_ca_serves_its_pictures(
    make_service: Callable[..., Service], seaweed: SeaweedServer, tls_endpoint: tuple[str, Path]
) -> None:
    url, ca = tls_endpoint
    settings = {**seaweed.store_env("private-ca/"), "S3_ENDPOINT_URL": url}
    drawn_and_served(make_service(**settings, AWS_CA_BUNDLE=str(ca)), seaweed, "private-ca/")
    # No public CA vouches for the endpoint: AWS_CA_BUNDLE alone lets the service in.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(url, timeout=5)


def test_a_store_behind_an_egress_proxy_is_written_and_read_through_it(
    make_service: Callable[..., Service],
    seaweed: SeaweedServer,
    egress_proxy: tuple[str, Path],
) -> None:
    proxy, carried = egress_proxy
    service = make_service(**seaweed.store_env("proxied/"), HTTP_PROXY=proxy)
    key = drawn_and_served(service, seaweed, "proxied/")
    object_url = f"{seaweed.endpoint_url}/{seaweed.bucket}/proxied/{key}"
    requests_carried = carried.read_text().splitlines()
    assert f"PUT {object_url} HTTP/1.1" in requests_carried  # boto3's write
    assert f"GET {object_url} HTTP/1.1" in requests_carried  # the read behind the link
