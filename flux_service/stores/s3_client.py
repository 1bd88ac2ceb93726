"""Talking to an S3-compatible store: boto3's client for it, the reads that skip that client,
and what each way of failing says.

boto3 and urllib3 fail as a `ClientError` (the store answered, with a code), a
`BotoCoreError` or an urllib3 `HTTPError` (it could not be reached, or not in time): together,
`S3_ERRORS`. `describe` says which for the log, from the type and the code alone: no message
and no credential.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any
from urllib.parse import quote

import boto3
import urllib3
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError, ClientError

from config import Settings

from ..proxies import proxies_for, proxy_for, s3_ca_bundle

# A store this slow counts as down: the generation is refused before anything is drawn.
CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 4.0
# One attempt: a retry would wait out a backoff first, and the caller hears 503 with
# Retry-After at once instead. urllib3 replaces pooled connections the store has closed.
ATTEMPTS = 1
# Connections kept open to the store: each image being read holds one; past this many,
# one is opened for the read and closed after it.
POOL_CONNECTIONS = 64
# Where boto3 reaches AWS S3 itself when no S3_ENDPOINT_URL is set: what NO_PROXY is matched
# against.
AWS_ENDPOINT = "https://s3.amazonaws.com"
S3_ERRORS = (ClientError, BotoCoreError, urllib3.exceptions.HTTPError)

# What an error code says to the operator. HEAD answers have no body: only their status.
_REFUSED = "refused the credentials"
_FAULTS = {
    "AccessDenied": _REFUSED,
    "InvalidAccessKeyId": _REFUSED,
    "SignatureDoesNotMatch": _REFUSED,
    "InvalidToken": _REFUSED,
    "ExpiredToken": _REFUSED,
    "401": _REFUSED,
    "403": _REFUSED,
    "NoSuchBucket": "has no such bucket",
    "404": "has no such bucket",
}
_MISSING_OBJECT = {"NoSuchKey", "404"}
_ERROR_CODE = re.compile(rb"<Code>([^<]{1,64})</Code>")


def new_client(settings: Settings) -> Any:
    """boto3's S3 client for the store the settings name (boto3 builds its clients at run
    time: there is no class to name), with the proxy and CA bundle the settings give: left to
    itself, boto3 would read its own from the environment, and the reads could differ."""
    endpoint = settings.s3_endpoint_url or AWS_ENDPOINT
    config = Config(
        proxies=proxies_for(endpoint, settings),
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"total_max_attempts": ATTEMPTS},
        max_pool_connections=POOL_CONNECTIONS,
        # SeaweedFS and MinIO serve buckets as paths, not as host names; R2 and S3 take both.
        s3={"addressing_style": "path"} if settings.s3_endpoint_url else {},
        # Checksums only where the API asks for one: not every S3-compatible store takes
        # boto3's newer defaults, and the body's MD5 already goes with every upload.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=settings.s3_endpoint_url or None,
        aws_access_key_id=settings.aws_access_key_id,
        aws_secret_access_key=settings.aws_secret_access_key,
        region_name=settings.aws_region,
        config=config,
        verify=s3_ca_bundle(settings),
    )


class Reader:
    """GETs of a bucket's objects, signed by botocore's own signer and sent by urllib3.

    This is the path every image is served by, and boto3's whole client (its events,
    endpoint rules, response parsing) costs 2.5 ms more CPU for one GET on a small core than
    signing and sending it does.
    """

    def __init__(self, client: Any, bucket: str, settings: Settings) -> None:
        credentials = Credentials(settings.aws_access_key_id, settings.aws_secret_access_key)
        self._signer = S3SigV4Auth(credentials, "s3", settings.aws_region)
        # Where boto3 puts the bucket's objects (a path of the endpoint, or a host of the
        # bucket's own on AWS), read once from the URL it would sign for one.
        signed = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
        self._objects = signed.split("?", 1)[0].removesuffix("k")
        proxy = proxy_for(self._objects, settings)
        manager = partial(urllib3.ProxyManager, proxy) if proxy else urllib3.PoolManager
        self._http: urllib3.PoolManager = manager(
            maxsize=POOL_CONNECTIONS,
            timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT),
            retries=False,
            ca_certs=s3_ca_bundle(settings),  # as the client's writes are checked
        )

    def url(self, name: str) -> str:
        """Where the object `name` is read."""
        return self._objects + quote(name, safe="/~")

    def get(self, name: str) -> urllib3.BaseHTTPResponse | None:
        """The object `name`, whole, or None if there is none; ClientError if the store
        refuses."""
        request = AWSRequest("GET", self.url(name))
        self._signer.add_auth(request)
        answer = self._http.request("GET", request.url, headers=dict(request.headers.items()))
        if answer.status == 200:
            return answer
        found = _ERROR_CODE.search(answer.data)
        code = found[1].decode(errors="replace") if found else str(answer.status)
        if code in _MISSING_OBJECT:
            return None
        raise ClientError({"Error": {"Code": code}}, "GetObject")


def describe(error: Exception) -> str:
    """What an error of S3_ERRORS says about the store, for the log."""
    if isinstance(error, ClientError):
        code = error_code(error)
        return f"{_FAULTS.get(code, 'answered an error')} ({code[:40] or 'no code'})"
    return f"cannot be reached ({type(error).__name__})"


def error_code(error: ClientError) -> str:
    """The code the store answered with: `NoSuchKey`, `AccessDenied`, or a bare status."""
    return str(error.response.get("Error", {}).get("Code", ""))
