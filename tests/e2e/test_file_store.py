"""The disk store through gunicorn: pictures outlive restarts, four workers share them,
expired ones answer 404 and their files go, the byte bound keeps the newest, `0` keeps for
good, and a full disk is a clear 503 before anything is drawn."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import openai
import pytest
import requests

from flux_service.stores.file_layout import STORE_MARKER
from tests.e2e.service import Service
from tests.e2e.test_scale import draw, draw_at_once, workers
from tests.helpers import (
    FOX,
    ONE_ACCOUNT,
    Standin,
    assert_untouched,
    fetch_image,
    seed_foreign,
    small_filesystem,
)
from tests.server_fixtures import base_env
from tests.servers import Server, start_service


def stored_files(root: Path) -> set[str]:
    return {path.name for path in root.glob("*/*") if not path.name.startswith(".")}


def key_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_a_picture_outlives_a_restart(standin_server: Server, tmp_path: Path) -> None:
    env = {**base_env(standin_server.url), "IMAGE_STORE": f"file://{tmp_path / 'images'}"}
    with start_service(env, stdout=subprocess.DEVNULL) as first:
        url = draw(Service(first, tmp_path / "none").client(), "a red fox 16:9")
        before = fetch_image(url)[0].content
    with start_service(env, stdout=subprocess.DEVNULL) as second:
        again = requests.get(f"{second.url}/image/{key_of(url)}", timeout=5)
    assert again.status_code == 200
    assert again.content == before


def test_four_workers_share_the_disk(make_service: Callable[..., Service], tmp_path: Path) -> None:
    service = make_service(IMAGE_STORE=f"file://{tmp_path}", WEB_CONCURRENCY="4")
    assert len(workers(service)) == 4
    assert requests.get(f"{service.url}/healthz", timeout=5).json()["store"] == "file"
    urls = draw_at_once(service.client(), 12)
    assert len(urls) == 12
    assert stored_files(tmp_path) == {key_of(url) for url in urls}
    for url in urls:
        bodies = set()
        for _ in range(6):
            # A new connection each time, so the fetches land on whichever worker accepts.
            response = requests.get(url, timeout=5, headers={"Connection": "close"})
            assert response.status_code == 200
            assert response.headers["Content-Type"] == "image/jpeg"
            bodies.add(response.content)
        assert len(bodies) == 1
        path = tmp_path / key_of(url)[:2] / key_of(url)
        assert path.read_bytes().endswith(bodies.pop())  # after its one-line header


def test_expired_pictures_answer_404_and_their_files_go(
    make_service: Callable[..., Service], tmp_path: Path
) -> None:
    service = make_service(IMAGE_STORE=f"file://{tmp_path}", IMAGE_EXPIRATION="3")
    url = draw(service.client())
    response, _ = fetch_image(url)
    max_age = int(response.headers["Cache-Control"].rsplit("=", 1)[1])
    assert 0 < max_age <= 3
    assert stored_files(tmp_path) == {key_of(url)}
    time.sleep(max_age + 1.1)  # max-age is the whole seconds left: the rest is under one
    assert requests.get(url, timeout=5).status_code == 404
    assert stored_files(tmp_path) == set()


def test_the_byte_bound_keeps_the_newest(
    make_service: Callable[..., Service], tmp_path: Path
) -> None:
    service = make_service(
        label="disk-bound", IMAGE_STORE=f"file://{tmp_path}", IMAGE_STORE_MAX_BYTES="1048576"
    )
    client = service.client()
    urls = [draw(client, f"a lighthouse {i} 16:9") for i in range(12)]
    sizes = sum(path.stat().st_size for path in tmp_path.glob("*/*"))
    assert sizes <= 1048576
    assert requests.get(urls[-1], timeout=5).status_code == 200
    assert requests.get(urls[0], timeout=5).status_code == 404
    assert "image store full (IMAGE_STORE_MAX_BYTES=1048576)" in service.log()


def test_zero_keeps_for_good_and_says_so(
    make_service: Callable[..., Service], tmp_path: Path
) -> None:
    service = make_service(IMAGE_STORE=f"file://{tmp_path}", IMAGE_EXPIRATION="0")
    answer = service.client().chat.completions.create(model="x", messages=FOX)
    content = answer.choices[0].message.content
    assert "Kept: for good" in content
    response, _ = fetch_image(content.rsplit("(", 1)[1].rstrip(")"))
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "for good" in requests.get(f"{service.url}/", timeout=5).text


def test_foreign_files_outlive_sweeps_expiry_restarts_and_new_expirations(
    standin_server: Server, tmp_path: Path
) -> None:
    root = tmp_path / "images"
    env = {**base_env(standin_server.url), "IMAGE_STORE": f"file://{root}"}
    bound = {"IMAGE_STORE_MAX_BYTES": "1048576", "IMAGE_EXPIRATION": "2"}
    with start_service({**env, **bound}, stdout=subprocess.DEVNULL) as first:
        client = Service(first, tmp_path / "none").client()
        draw(client)  # the folder is the store's from now on
        foreign = seed_foreign(root)  # 2.1 MB, years old: past the bound by themselves
        expiring = [draw(client, f"a lighthouse {i} 16:9") for i in range(12)]
        time.sleep(3.2)  # expiries are whole seconds, rounded up
        kept = draw(client, "the last lighthouse")  # stored past the bound: a sweep runs
        assert_untouched(foreign)
        assert stored_files(root) >= {key_of(kept)}
        assert not stored_files(root) & {key_of(url) for url in expiring}
    # Restarted with pictures kept longer, then for good: each start sweeps at once.
    for expiration in ("3600", "0"):
        settings = {**env, "IMAGE_EXPIRATION": expiration}
        with start_service(settings, stdout=subprocess.DEVNULL) as again:
            draw(Service(again, tmp_path / "none").client(), f"a fox kept {expiration}")
        assert_untouched(foreign)
    assert (root / STORE_MARKER).exists()


def test_start_up_refuses_a_folder_of_other_things(standin_server: Server, tmp_path: Path) -> None:
    home = tmp_path / "home"
    foreign = seed_foreign(home)
    env = {**base_env(standin_server.url), "IMAGE_STORE": f"file://{home}"}
    log = tmp_path / "service.log"
    with log.open("wb") as output, pytest.raises(RuntimeError, match="exited with code"):
        start_service(env, stdout=output, stderr=output)
    assert f"IMAGE_STORE='file://{home}' is invalid: the folder holds what" in log.read_text()
    assert_untouched(foreign)


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A filesystem of 8 MiB, less room than an image may need."""
    with small_filesystem(tmp_path / "small", "8m") as root:
        yield root


def test_a_full_disk_is_a_clear_503_before_anything_is_drawn(
    make_service: Callable[..., Service], standin: Standin, full_disk: Path
) -> None:
    service = make_service(IMAGE_STORE=f"file://{full_disk}")
    health = requests.get(f"{service.url}/healthz", timeout=5)
    assert (health.status_code, health.json()) == (
        503,
        {"status": "unavailable", "store": "file", "accounts": ONE_ACCOUNT},
    )
    with pytest.raises(openai.InternalServerError) as caught:
        service.client().chat.completions.create(model="x", messages=FOX)
    assert caught.value.status_code == 503
    assert "its disk is full" in caught.value.message
    assert caught.value.response.headers["Retry-After"] == "30"
    assert standin.received() == []
