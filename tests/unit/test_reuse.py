"""Reuse: what names a repeatable draw, and how identical requests share one picture."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from config import Settings
from flux_service.generation.pipeline import draw_digest
from flux_service.generation.plan import Order, Planner, PromptChoice
from flux_service.generation.reuse import Reuse, Reused, request_digest
from flux_service.stores.base import MemoryStore
from flux_service.stores.file_index import FileIndex
from flux_service.stores.reuse_index import MemoryIndex
from tests.helpers import planner

BASE = {
    "owner": "key-1",
    "model": "@cf/black-forest-labs/flux-1-schnell",
    "prompt": "a red fox",
    "size": (1024, 576),
    "steps": 4,
    "seed": None,
    "mime": None,
    "images": (),
    "tuning": (),
}
FOX = PromptChoice("a red fox")


@pytest.mark.parametrize(
    ("field", "other"),
    [
        ("owner", "key-2"),
        ("model", "@cf/black-forest-labs/flux-2-klein-4b"),
        ("prompt", "a red fox "),
        ("size", (576, 1024)),
        ("steps", 8),
        ("seed", 0),
        ("mime", "image/png"),
        ("images", ("ab",)),
        ("images", ("mask:ab",)),
        ("tuning", ("blurry", None, None)),
        ("tuning", ("", 7.0, None)),
    ],
)
def test_every_field_of_a_draw_counts(field: str, other: object) -> None:
    assert request_digest(**BASE) != request_digest(**{**BASE, field: other})  # type: ignore[arg-type]


def test_the_same_draw_has_the_same_digest() -> None:
    assert request_digest(**BASE) == request_digest(**dict(BASE))  # type: ignore[arg-type]
    surrogate = {**BASE, "prompt": "a fox \ud800"}
    assert len(request_digest(**surrogate)) == 64  # type: ignore[arg-type]


@pytest.fixture
def pipeline() -> Planner:
    return planner(Settings(cf_account_id="a", cf_api_token="t"))


def test_a_model_without_seed_is_repeatable(pipeline: Planner) -> None:
    plan = pipeline.plan(Order("a red fox 16:9", owner="k"))
    assert plan.repeatable
    assert draw_digest(plan, FOX, 0) == request_digest(**{**BASE, "owner": "k"})  # type: ignore[arg-type]


def test_what_does_not_count(pipeline: Planner) -> None:
    """The user's own words when the prompt sent is the same, the ratio's spelling, n: each
    image is its own draw."""
    plan = pipeline.plan(Order("a red fox 16:9"))
    same = [
        pipeline.plan(Order("  a red fox ---ntl 16:9")),
        pipeline.plan(Order("a red fox", size=(1024, 576))),
        pipeline.plan(Order("a red fox 16:9", n=3)),
    ]
    assert {draw_digest(other, FOX, 0) for other in same} == {draw_digest(plan, FOX, 0)}
    assert draw_digest(plan, PromptChoice("a red fox, golden light"), 0) != draw_digest(
        plan, FOX, 0
    )


def test_a_random_seed_is_never_reused(pipeline: Planner) -> None:
    plan = pipeline.plan(Order("a red fox", model="flux-2-klein-4b", n=2))
    assert not plan.repeatable
    assert [draw_digest(plan, FOX, index) for index in range(2)] == [None, None]


def test_a_chosen_seed_names_each_image(pipeline: Planner) -> None:
    plan = pipeline.plan(Order("a red fox", model="flux-2-klein-4b", n=2, seed=7))
    first, second = (draw_digest(plan, FOX, index) for index in range(2))
    assert first is not None
    assert second is not None
    assert first != second
    again = pipeline.plan(Order("a red fox", model="flux-2-klein-4b", seed=8))
    assert draw_digest(again, FOX, 0) == second  # seed 8 is the second image of seed 7


@dataclass(frozen=True)
class Drawn:
    key: str


class Artist:
    """A draw that stores a picture and counts how often it ran, slowly if asked."""

    def __init__(self, store: MemoryStore, seconds: float = 0.0, fails: int = 0) -> None:
        self.store, self.seconds, self.fails = store, seconds, fails
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self) -> Drawn:
        with self._lock:
            self.calls += 1
            failing = self.calls <= self.fails
        time.sleep(self.seconds)
        if failing:
            raise RuntimeError("the upstream failed")
        return Drawn(self.store.put(b"picture", "image/jpeg", "k"))


def at_once(count: int, work: object) -> list[object]:
    results: list[object] = []

    def run() -> None:
        try:
            results.append(work())  # type: ignore[operator]
        except RuntimeError as error:
            results.append(error)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_identical_requests_at_once_share_one_draw_and_later_ones_none() -> None:
    store = MemoryStore(60, 1 << 20)
    reuse, artist = Reuse(MemoryIndex(60), store, 60, wait=5), Artist(store, seconds=0.2)
    results = at_once(10, lambda: reuse.obtain("d", artist))
    results += [reuse.obtain("d", artist) for _ in range(3)]
    assert artist.calls == 1
    assert sum(isinstance(result, Drawn) for result in results) == 1
    assert len({result.key for result in results}) == 1  # type: ignore[attr-defined]
    assert all(isinstance(result, Reused) for result in results[10:])


def test_when_the_draw_waited_on_fails_the_others_draw_themselves() -> None:
    store = MemoryStore(60, 1 << 20)
    reuse, artist = Reuse(MemoryIndex(60), store, 60, wait=5), Artist(store, 0.2, fails=1)
    results = at_once(3, lambda: reuse.obtain("d", artist))
    assert sum(isinstance(result, RuntimeError) for result in results) == 1
    keys = {result.key for result in results if not isinstance(result, RuntimeError)}  # type: ignore[attr-defined]
    assert len(keys) == 1
    assert artist.calls == 2


def test_a_picture_gone_from_the_store_is_drawn_anew() -> None:
    store, index = MemoryStore(60, 1 << 20), MemoryIndex(60)
    reuse, artist = Reuse(index, store, 60, wait=5), Artist(store)
    index.remember("d", "no-such-key")
    assert isinstance(reuse.obtain("d", artist), Drawn)
    assert isinstance(reuse.obtain("d", artist), Reused)
    assert artist.calls == 1


def test_a_picture_near_its_expiry_is_drawn_anew() -> None:
    now = [0.0]
    store = MemoryStore(100, 1 << 20, clock=lambda: now[0])
    reuse, artist = Reuse(MemoryIndex(100), store, 100, wait=5), Artist(store)
    first = reuse.obtain("d", artist)
    now[0] = 85.0
    found = reuse.obtain("d", artist)
    assert isinstance(found, Reused)
    assert found.key == first.key
    assert found.image.seconds_left == pytest.approx(15)
    now[0] = 91.0  # less than a tenth of its life left
    assert isinstance(reuse.obtain("d", artist), Drawn)
    assert artist.calls == 2


def test_the_file_index_lets_one_process_draw_and_forgets_with_the_picture(
    tmp_path: Path,
) -> None:
    now = [1000.0]
    digest = request_digest("owner", "model", "a fox", (1024, 1024), 4, None, None)
    index = FileIndex(tmp_path, 60, clock=lambda: now[0])
    claim = index.claim(digest)
    assert claim is not None
    other = FileIndex(tmp_path, 60)
    with claim:
        assert other.claim(digest) is None  # another open file: as another process would
        index.remember(digest, "KEY")
    assert index.find(digest) == "KEY"
    released = other.claim(digest)
    assert released is not None
    released.__exit__(None, None, None)
    now[0] += 61
    assert index.find(digest) is None
    index.sweep()
    assert not (tmp_path / digest).exists()


def test_the_file_index_sweeps_only_what_it_wrote(tmp_path: Path) -> None:
    foreign = {
        "notes.txt": b"my notes",
        "0d" * 32 + ".txt": b"named almost as an entry",
        ".hidden": b"a dotted file of someone else",
        "d.claim": b"a claim of another program",
    }
    for name, data in foreign.items():
        (tmp_path / name).write_bytes(data)
        os.utime(tmp_path / name, (1, 1))
    FileIndex(tmp_path, 60, clock=lambda: 10_000.0).sweep()
    assert {name: (tmp_path / name).read_bytes() for name in foreign} == foreign


def test_a_wait_that_runs_out_draws_itself() -> None:
    store = MemoryStore(60, 1 << 20)
    reuse, artist = Reuse(MemoryIndex(60), store, 60, wait=0.1), Artist(store, seconds=0.5)
    results = at_once(2, lambda: reuse.obtain("d", artist))
    assert artist.calls == 2
    assert all(isinstance(result, Drawn) for result in results)
