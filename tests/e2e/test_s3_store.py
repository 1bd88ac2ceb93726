"""The S3 store against a real SeaweedFS: pictures that outlive the service, expire on time
(objects and all), or stay for good; a store that refuses or goes away is a clear 503 before
anything is drawn, and recovery is by itself; instances that share the bucket and a Redis
are one service. Every byte served is the bucket's own, and no secret is ever written.

The store is also reached the way some deployments must: over TLS signed by a private CA
(MinIO or SeaweedFS on a home server), and through an egress proxy. boto3's writes and the
reads that serve `/image/<key>` take the proxy and the CA bundle from the same settings: the
reads once took neither, so every write succeeded and every link failed. There SeaweedFS
stands behind Debian's nginx, which terminates TLS with a certificate from a CA made for the
test, or forwards as a plain HTTP proxy and logs every request it carries.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path

import openai
import pytest
import requests
from botocore.exceptions import ClientError

from flux_service.stores.s3_store import CHECK_INTERVAL
from tests.e2e.service import Service
from tests.helpers import FOX, ONE_ACCOUNT, Standin, fetch_image, image_url
from tests.servers import RedisServer, SeaweedServer, free_port, start_nginx

WRONG_SECRET = "wrong-secret-5b8e2d"


def s3_service(
    make_service: Callable[..., Service],
    seaweed: SeaweedServer,
    prefix: str,
    label: str = "",
    **settings: str,
) -> Service:
    """A service keeping its pictures in SeaweedFS under `prefix`."""
    return make_service(label, **{**seaweed.store_env(prefix), **settings})


def draw(service: Service, prompt: str = "a red fox") -> tuple[str, str]:
    """Generate through `service`; the answer's text and the picture's key."""
    messages = [{"role": "user", "content": prompt}]
    answer = service.client().chat.completions.create(model="x", messages=messages)
    content = answer.choices[0].message.content or ""
    return content, image_url(content).rsplit("/", 1)[1]


def picture(service: Service, key: str) -> requests.Response:
    return requests.get(f"{service.url}/image/{key}", timeout=10)


def stored(seaweed: SeaweedServer, name: str) -> dict | None:
    """The object `name` in the bucket (its bytes under "Data"), or None if it is gone."""
    try:
        answer = seaweed.client().get_object(Bucket=seaweed.bucket, Key=name)
    except ClientError as error:
        if error.response["Error"]["Code"] != "NoSuchKey":
            raise
        return None
    return {**answer, "Data": answer["Body"].read()}


def health(service: Service) -> tuple[int, dict]:
    response = requests.get(f"{service.url}/healthz", timeout=10)
    return response.status_code, response.json()


def wait_for(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not so within {seconds:g} s"
        time.sleep(0.1)


def assert_refused_before_drawing(service: Service, standin: Standin, drawn: int) -> None:
    """A generation is a 503 with Retry-After, and the stand-in was asked for nothing."""
    with pytest.raises(openai.InternalServerError) as caught:
        service.client().chat.completions.create(model="x", messages=FOX)
    assert caught.value.status_code == 503
    assert "image store (S3) cannot be used right now" in caught.value.message
    assert caught.value.response.headers["Retry-After"] == "5"
    assert len(standin.received()) == drawn


def test_a_picture_outlives_the_service_and_is_the_buckets_bytes(
    make_service: Callable[..., Service], seaweed: SeaweedServer
) -> None:
    # Two workers: whichever serves a picture, it comes from the bucket.
    two = {"WEB_CONCURRENCY": "2"}
    first = s3_service(make_service, seaweed, "restart/", "s3 before the restart", **two)
    _, key = draw(first)
    served = picture(first, key)
    kept = stored(seaweed, f"restart/{key}")
    assert kept is not None
    assert served.status_code == 200
    assert served.content == kept["Data"]
    assert served.headers["Content-Type"] == kept["ContentType"] == "image/jpeg"
    assert served.headers["ETag"] == kept["ETag"]
    expires = int(kept["Metadata"]["expires"])
    assert abs(expires - (time.time() + 1800)) < 30
    # The bucket's public endpoint serves the very same bytes, as IMAGE_PUBLIC_BASE_URL links,
    # for caches to keep until the picture expires.
    public = requests.get(f"{seaweed.public_url}/restart/{key}", timeout=10)
    assert public.content == kept["Data"]
    assert parsedate_to_datetime(public.headers["Expires"]).timestamp() == expires

    first.server.stop()
    second = s3_service(make_service, seaweed, "restart/", "s3 after the restart", **two)
    again = picture(second, key)
    assert again.status_code == 200
    assert again.content == kept["Data"]
    fetch_image(again.url)  # a whole picture


def test_expired_pictures_answer_404_and_their_objects_go(
    make_service: Callable[..., Service], seaweed: SeaweedServer
) -> None:
    service = s3_service(make_service, seaweed, "expiring/", IMAGE_EXPIRATION="2")
    _, read = draw(service)
    _, unread = draw(service)
    response, _ = fetch_image(f"{service.url}/image/{read}")
    assert int(response.headers["Cache-Control"].split("max-age=")[1].split(",")[0]) <= 2
    kept = stored(seaweed, f"expiring/{read}")
    assert kept is not None
    expires = int(kept["Metadata"]["expires"])
    assert time.time() < expires <= time.time() + 3

    time.sleep(max(0.0, expires - time.time()) + 0.1)
    gone = picture(service, read)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "image_not_found"
    assert stored(seaweed, f"expiring/{read}") is None  # deleted as it was read
    # The one nobody asked for again goes by the sweep.
    wait_for(lambda: stored(seaweed, f"expiring/{unread}") is None)
    assert picture(service, unread).status_code == 404


def test_pictures_kept_for_good_say_so(
    make_service: Callable[..., Service], seaweed: SeaweedServer
) -> None:
    service = s3_service(make_service, seaweed, "forever/", IMAGE_EXPIRATION="0")
    content, key = draw(service)
    assert "Kept: for good" in content
    kept = stored(seaweed, f"forever/{key}")
    assert kept is not None
    assert "expires" not in kept["Metadata"]
    response, _ = fetch_image(f"{service.url}/image/{key}")
    assert response.content == kept["Data"]
    max_age = int(response.headers["Cache-Control"].split("max-age=")[1].split(",")[0])
    assert max_age >= 365 * 86400
    public = requests.get(f"{seaweed.public_url}/forever/{key}", timeout=10)
    assert public.headers["Cache-Control"] == "public, max-age=31536000, immutable"


def test_refused_credentials_are_a_503_before_anything_is_drawn(
    make_service: Callable[..., Service], seaweed: SeaweedServer, standin: Standin
) -> None:
    service = s3_service(make_service, seaweed, "refused/", AWS_SECRET_ACCESS_KEY=WRONG_SECRET)
    assert health(service) == (
        503,
        {"status": "unavailable", "store": "s3", "accounts": ONE_ACCOUNT},
    )
    assert_refused_before_drawing(service, standin, 0)
    assert picture(service, "A" * 32).status_code == 503
    log = service.log()
    assert "image store (s3) refused the credentials (SignatureDoesNotMatch)" in log
    assert WRONG_SECRET not in log


def test_seaweedfs_going_away_is_a_503_and_everything_recovers(
    make_service: Callable[..., Service], seaweed: SeaweedServer, standin: Standin
) -> None:
    service = s3_service(make_service, seaweed, "outage/")
    _, before = draw(service)
    drawn = len(standin.received())
    assert health(service) == (200, {"status": "ok", "store": "s3", "accounts": ONE_ACCOUNT})

    seaweed.stop()
    try:
        wait_for(lambda: health(service)[0] == 503)  # within a check's interval
        assert_refused_before_drawing(service, standin, drawn)
        outage = picture(service, before)
        assert (outage.status_code, outage.headers["Retry-After"]) == (503, "5")
        assert seaweed.secret_key not in outage.text
    finally:
        seaweed.start()
    service.wait_until_healthy()
    fetch_image(f"{service.url}/image/{before}")  # stored before the outage, there after it
    time.sleep(CHECK_INTERVAL)  # the other worker's last check (a failed one) runs out
    _, after = draw(service)
    fetch_image(f"{service.url}/image/{after}")
    log = service.log()
    assert "image store (s3) cannot be reached (" in log
    assert "image store (s3) answers again" in log
    assert seaweed.secret_key not in log


def test_two_instances_share_the_bucket_and_the_rate_limits(
    make_service: Callable[..., Service], seaweed: SeaweedServer, redis_store: RedisServer
) -> None:
    settings = {"REDIS_URL": redis_store.url, "RATE_LIMIT": "3/minute"}
    one = s3_service(make_service, seaweed, "shared/", "s3 instance one", **settings)
    two = s3_service(make_service, seaweed, "shared/", "s3 instance two", **settings)
    _, from_one = draw(one)
    _, from_two = draw(two)
    for key in (from_one, from_two):
        kept = stored(seaweed, f"shared/{key}")
        assert kept is not None
        assert picture(one, key).content == picture(two, key).content == kept["Data"]
    draw(one)  # the third of the three a minute, counted by both
    with pytest.raises(openai.RateLimitError):
        draw(two)


def test_the_bucket_keeps_a_lifecycle_rule_a_day_past_the_expiry(
    make_service: Callable[..., Service], seaweed: SeaweedServer
) -> None:
    seaweed.create_bucket("lifecycle")
    client = seaweed.client()

    def rules() -> list[dict]:
        try:
            return client.get_bucket_lifecycle_configuration(Bucket="lifecycle")["Rules"]
        except ClientError as error:
            if error.response["Error"]["Code"] != "NoSuchLifecycleConfiguration":
                raise
            return []

    lifecycle = seaweed.store_env("flux/", bucket="lifecycle")
    make_service(IMAGE_EXPIRATION="86400", **lifecycle)
    wait_for(lambda: rules() != [])  # set in the background as the service starts
    assert rules() == [
        {
            "ID": "flux-api pictures under flux/",
            "Filter": {"Prefix": "flux/"},
            "Status": "Enabled",
            "Expiration": {"Days": 2},
        }
    ]
    # Kept for good from now on: the rule that would delete them goes.
    make_service(IMAGE_EXPIRATION="0", **lifecycle)
    wait_for(lambda: rules() == [])


def test_a_public_bucket_serves_the_links_and_its_pictures_count_as_ours(
    make_service: Callable[..., Service], seaweed: SeaweedServer, standin: Standin
) -> None:
    service = s3_service(
        make_service,
        seaweed,
        "public/",
        IMAGE_PUBLIC_BASE_URL=seaweed.public_url,
        FETCH_IMAGE_URLS="false",  # so a picture of ours can only be read from the store
        MODELS="@cf/black-forest-labs/flux-1-schnell,@cf/black-forest-labs/flux-2-klein-4b",
    )
    content, key = draw(service)
    link = image_url(content)
    assert link == f"{seaweed.public_url}/public/{key}"
    kept = stored(seaweed, f"public/{key}")
    assert kept is not None
    assert requests.get(link, timeout=10).content == kept["Data"]  # the bucket serves it
    follow_up = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "make it night"},
                {"type": "image_url", "image_url": {"url": link}},
            ],
        }
    ]
    service.client().chat.completions.create(model="x", messages=follow_up)
    edit = standin.received()[-1]
    assert len(edit["images"]) == 1  # read from the bucket through the store, not fetched


def test_foreign_objects_outlive_sweeps_expiry_restarts_and_new_expirations(
    make_service: Callable[..., Service], seaweed: SeaweedServer
) -> None:
    seaweed.create_bucket("mixed")
    client = seaweed.client()
    past = str(int(time.time()) - 3600)
    key_shaped = "Fo" * 16  # named as a picture, marked by nothing of ours
    foreign = {  # beside the prefix, under it, and inside it; some as old as can be
        ("thesis.pdf", ()): b"%PDF-1.7 the only copy",
        ("mineral/notes.txt", ()): b"a prefix that starts the same",
        ("mine/notes.txt", ()): b"someone else's notes in our prefix",
        (f"mine/{key_shaped}", (("expires", past),)): b"key-shaped, with an expiry long past",
        (f"mine/deeper/{key_shaped}", (("flux-api", key_shaped), ("expires", past))): b"deeper",
        ("mine/" + "Ab" * 16, (("flux-api", "Cd" * 16), ("expires", past))): b"marked for another",
    }
    for (name, metadata), data in foreign.items():
        client.put_object(Bucket="mixed", Key=name, Body=data, Metadata=dict(metadata))

    def untouched() -> None:
        for (name, _), data in foreign.items():
            assert client.get_object(Bucket="mixed", Key=name)["Body"].read() == data, name

    store = seaweed.store_env("mine/", bucket="mixed")
    expiring = make_service(IMAGE_EXPIRATION="2", **store)
    _, ours = draw(expiring)
    assert picture(expiring, key_shaped).status_code == 404  # read, found expired, kept
    untyped = "Un" * 16
    client.put_object(Bucket="mixed", Key=f"mine/{untyped}", Body=b"no type, no expiry")
    foreign[(f"mine/{untyped}", ())] = b"no type, no expiry"
    assert picture(expiring, untyped).status_code == 404  # not served as a picture, not a 500
    time.sleep(3)  # every object is past the cutoff of a sweep now; one runs each second

    def swept() -> bool:
        try:
            client.head_object(Bucket="mixed", Key=f"mine/{ours}")
        except ClientError:
            return True
        return False

    wait_for(swept)
    time.sleep(1.5)  # and another sweep
    untouched()
    expiring.server.stop()
    for expiration in ("3600", "0", "1"):
        again = make_service(IMAGE_EXPIRATION=expiration, **store)
        draw(again)
        time.sleep(1.5)  # its lifecycle rule is kept, and a sweep may run
        again.server.stop()
        untouched()


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
