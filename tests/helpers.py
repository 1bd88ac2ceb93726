"""What tests of every tier share: the keys they use, the stand-in's controls, and reading
the images in an answer."""

from __future__ import annotations

import base64
import contextlib
import io
import os
import re
import struct
import subprocess
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from PIL import Image

from config import Settings
from flux_service.generation.plan import Planner
from flux_service.generation.spending import MemoryCounts, Spending
from flux_service.stores.base import MemoryStore
from flux_service.upstream.catalog import ServedModels

API_KEY = "sk-test-4c1d9a7e2b6f"
# A second key, for what differs between keys.
OTHER_KEY = "sk-other-8e3f1a5c7d"
STANDIN_TOKEN = "standin-token"
# A second Cloudflare account the test stand-ins play, for pools of accounts.
SECOND_ACCOUNT = "standin-second"
SECOND_TOKEN = "standin-second-token"
OPTIMIZER_KEY = "optimizer-key"
GATEWAY_TOKEN = "gateway-token"
FOX = [{"role": "user", "content": "a red fox"}]
AUTH = {"Authorization": f"Bearer {API_KEY}"}
_MARKDOWN_IMAGE = re.compile(r"!\[[^\]]*\]\((\S+)\)")


class Standin:
    """The Workers AI stand-in's controls, over any session that reaches it."""

    def __init__(self, session: requests.Session, url: str) -> None:
        self.session = session
        self.url = url

    def reset(self) -> None:
        """No faults queued, nothing recorded, no latency."""
        self._post("reset", {})

    def configure(self, latency: float) -> None:
        self._post("config", {"latency": latency})

    def fail(self, *faults: dict, target: str = "workers_ai") -> None:
        """Queue faults: each is used up by the next request to `target` (to the account a
        fault's `account` names, if it names one)."""
        self._post("faults", {"target": target, "faults": list(faults)})

    def refuse(self, model: str, *fields: str) -> None:
        """Make `model` refuse `fields` as unknown, as after a schema change."""
        self._post("config", {"refuse": {model: list(fields)}})

    def received(self, optimizer: bool = False) -> list[dict]:
        """What the stand-in received, oldest first (Workers AI calls, or optimizer calls)."""
        seen = self.session.get(f"{self.url}/_standin/requests", timeout=5).json()
        return [entry for entry in seen if bool(entry.get("optimizer")) == optimizer]

    def queued(self) -> dict[str, int]:
        """How many faults wait, per target."""
        return self.session.get(f"{self.url}/_standin/faults", timeout=5).json()

    def _post(self, what: str, body: dict) -> None:
        self.session.post(f"{self.url}/_standin/{what}", json=body, timeout=5).raise_for_status()


def image_url(content: str) -> str:
    """The URL of the image in a markdown answer."""
    match = _MARKDOWN_IMAGE.search(content)
    assert match, f"no image in the answer: {content!r}"
    return match[1]


def decode(data: bytes | str) -> Image.Image:
    """An image from its bytes or their base64, fully loaded."""
    raw = base64.b64decode(data) if isinstance(data, str) else data
    image = Image.open(io.BytesIO(raw))
    image.load()
    return image


def fetch_image(url: str) -> tuple[requests.Response, Image.Image]:
    """GET an image URL over the network; the response and the decoded image."""
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, response.text
    return response, decode(response.content)


def streams_left_after_the_first_bytes(url: str, count: int) -> None:
    """`count` clients at once that ask `url` for a streamed chat and leave at its first bytes."""

    def leave() -> None:
        body = {"messages": FOX, "stream": True}
        with requests.post(url, json=body, headers=AUTH, stream=True, timeout=10) as response:
            assert response.status_code == 200
            next(response.iter_content(64))

    clients = [threading.Thread(target=leave) for _ in range(count)]
    for client in clients:
        client.start()
    for client in clients:
        client.join()


# The headers of a gzipped JSON body, with the test key.
GZIP_JSON = {**AUTH, "Content-Type": "application/json", "Content-Encoding": "gzip"}


def gzip_bomb(mib: int) -> bytes:
    """A valid gzip file of `mib` MiB of zeros, a thousand times smaller, built in a second.

    Compressing a gigabyte takes a minute; after a full flush every MiB of zeros compresses
    to the same bytes, so those are repeated and the trailer's checksum written by hand.
    """
    block = bytes(1 << 20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    first = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    again = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    last_block = deflate.flush(zlib.Z_FINISH)[:-8]  # without the trailer for these 2 MiB
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(block, crc)
    trailer = struct.pack("<II", crc, (mib << 20) & 0xFFFFFFFF)
    return first + again * (mib - 1) + last_block + trailer


@contextlib.contextmanager
def small_filesystem(root: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` (as mount takes it: "2m") mounted at `root`, for a disk that fills
    up; the test is skipped where mounting is not allowed (it needs root)."""
    root.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(root)], capture_output=True
    )
    if mounted.returncode:
        pytest.skip("mounting a tmpfs needs root")
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(root)], check=True)


# What /healthz lists of the one Cloudflare account every test service has.
ONE_ACCOUNT = [{"index": 0, "state": "ready"}]


def seed_foreign(root: Path) -> dict[Path, bytes]:
    """Files the store did not write, beside, among and inside its own folders, all dated
    years ago; what each holds."""
    fake_key = "ab" + "c" * 30  # named as a picture, without the store's header
    files = {
        root / "thesis.pdf": b"%PDF-1.7 " + bytes(700_000),
        root / "ab" / "cat.jpg": b"\xff\xd8\xff" + bytes(700_000),
        root / "ab" / fake_key: b"not a picture of ours",
        root / "ab" / f".tmp-{fake_key}": b"half of someone else's file",
        root / "zz" / ("ab" + "d" * 30): b"FLUX1 image/png 1\n" + b"in the wrong folder",
        root / "ab" / "deeper" / fake_key: b"FLUX1 image/png 1\n" + b"one folder too deep",
        root / ".reuse" / "notes.txt": b"my notes",
        root / ".sweep-lock": b"a lock of some other program",
        root / "photos" / "2019.png": b"\x89PNG\r\n\x1a\n" + bytes(700_000),
    }
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (1_500_000_000, 1_500_000_000))
    return files


def assert_untouched(files: dict[Path, bytes]) -> None:
    for path, data in files.items():
        assert path.read_bytes() == data, path


def planner(settings: Settings) -> Planner:
    """A planner of `settings`, with a store and budgets of its own."""
    models = ServedModels.from_ids(settings.flux_model, settings.models)
    return Planner(settings, models, MemoryStore(60, 1 << 20), Spending(MemoryCounts()))
