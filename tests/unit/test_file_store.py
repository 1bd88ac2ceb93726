"""The disk store: whole images or none, their type and expiry beside them, expired files
deleted, the byte bound keeping the newest, and a full disk refused in words."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from flux_service.errors import StoreUnavailableError
from flux_service.stores.file_layout import STORE_MARKER
from flux_service.stores.file_store import FileStore, Held, header, read_header, to_drop
from tests.helpers import assert_untouched, seed_foreign, small_filesystem

MIB = 1024 * 1024


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


def store(
    root: Path, ttl: int = 60, max_bytes: int = 10 * MIB, clock: Clock | None = None
) -> FileStore:
    return FileStore(root, ttl, max_bytes, clock=clock or Clock(), sweep_every=0)


def files(root: Path) -> list[Path]:
    return sorted(path for path in root.glob("*/*"))


def test_a_header_says_the_type_and_expiry() -> None:
    assert read_header(header("image/jpeg", 1_900_000_060)) == ("image/jpeg", 1_900_000_060)
    assert read_header(header("image/png", 0)) == ("image/png", 0)
    assert read_header(b"\x89PNG\r\n") is None
    assert read_header(b"FLUX1 image/png soon\n") is None


def test_the_oldest_go_until_the_rest_fit() -> None:
    held = [Held(Path(name), 40, stored) for name, stored in (("b", 2.0), ("a", 1.0), ("c", 3.0))]
    assert [image.path.name for image in to_drop(held, 100)] == ["a"]
    assert [image.path.name for image in to_drop(held, 40)] == ["a", "b"]
    assert to_drop(held, 120) == []


def test_an_image_comes_back_as_an_open_file(tmp_path: Path) -> None:
    disk = store(tmp_path)
    key = disk.put(b"jpeg bytes", "image/jpeg", "someone")
    stored = disk.get(key)
    assert stored is not None
    assert (stored.mime, stored.length, stored.seconds_left) == ("image/jpeg", 10, 60)
    assert stored.file is not None
    assert not stored.file.closed
    assert stored.read() == b"jpeg bytes"
    assert stored.file.closed
    (path,) = files(tmp_path)
    assert (path.name, path.parent.name) == (key, key[:2])


def test_a_new_store_on_the_same_folder_finds_every_image(tmp_path: Path) -> None:
    key = store(tmp_path).put(b"png", "image/png", "")
    again = store(tmp_path).get(key)
    assert again is not None
    assert again.read() == b"png"


def test_an_expired_image_is_gone_and_so_is_its_file(tmp_path: Path) -> None:
    clock = Clock()
    disk = store(tmp_path, ttl=60, clock=clock)
    key = disk.put(b"x", "image/png", "")
    clock.now += 61
    assert disk.get(key) is None
    assert files(tmp_path) == []


def test_the_sweep_deletes_expired_files_no_one_asked_for(tmp_path: Path) -> None:
    clock = Clock()
    disk = store(tmp_path, ttl=60, clock=clock)
    old = disk.put(b"x", "image/png", "")
    os.utime(disk._path(old), (clock.now, clock.now))
    clock.now += 30
    new = disk.put(b"y", "image/png", "")
    os.utime(disk._path(new), (clock.now, clock.now))
    clock.now += 31
    disk.sweep()
    assert [path.name for path in files(tmp_path)] == [new]


def test_zero_keeps_for_good(tmp_path: Path) -> None:
    clock = Clock()
    disk = store(tmp_path, ttl=0, clock=clock)
    key = disk.put(b"x", "image/png", "")
    clock.now += 100 * 365 * 86400
    disk.sweep()
    stored = disk.get(key)
    assert stored is not None
    assert stored.seconds_left is None
    assert stored.read() == b"x"


def test_past_the_bound_the_oldest_images_go_first(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    disk = store(tmp_path, max_bytes=3 * MIB + 1000)  # three images and their headers
    keys = []
    for age in range(5):
        keys.append(disk.put(bytes(MIB), "image/png", ""))
        os.utime(disk._path(keys[-1]), (1000 + age, 1000 + age))
    disk.sweep()
    assert sorted(path.name for path in files(tmp_path)) == sorted(keys[2:])
    assert "image store full" in caplog.text


def test_a_crash_leaves_no_half_image_and_its_leftover_goes(tmp_path: Path) -> None:
    clock = Clock()
    disk = store(tmp_path, clock=clock)
    (tmp_path / "ab").mkdir()
    leftover = tmp_path / "ab" / ".tmp-abcdefghijklmnopqrstuvwx"
    leftover.write_bytes(b"FLUX1 image/png 0\nhalf")
    os.utime(leftover, (clock.now - 120, clock.now - 120))
    disk.sweep()
    assert not leftover.exists()


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB filesystem of its own (tmpfs), for a disk that fills up."""
    with small_filesystem(tmp_path / "tiny", "2m") as root:
        yield root


def test_a_full_disk_is_refused_in_words_and_leaves_nothing_behind(tiny_disk: Path) -> None:
    disk = store(tiny_disk)
    with pytest.raises(StoreUnavailableError) as caught:
        disk.put(bytes(3 * MIB), "image/png", "")
    assert "disk is full" in caught.value.message
    assert caught.value.status == 503
    assert files(tiny_disk) == []
    with pytest.raises(StoreUnavailableError):
        disk.check()  # far less room than an image may need


def present(disk: FileStore, key: str) -> bool:
    stored = disk.get(key)
    if stored is not None:
        stored.read()  # and closed
    return stored is not None


def test_foreign_files_are_neither_counted_nor_deleted(tmp_path: Path) -> None:
    clock = Clock()
    disk = store(tmp_path, ttl=60, max_bytes=3 * MIB + 1000, clock=clock)
    foreign = seed_foreign(tmp_path)
    keys = []
    for age in range(5):
        keys.append(disk.put(bytes(MIB), "image/png", ""))
        os.utime(disk._path(keys[-1]), (1000 + age, 1000 + age))  # older than all foreign
    disk.sweep()  # past the byte bound: its own oldest go, and nothing else
    assert_untouched(foreign)
    assert [present(disk, key) for key in keys] == [False, False, True, True, True]
    clock.now += 61
    disk.sweep()  # expired: its own go, and nothing else
    assert_untouched(foreign)
    assert not any(present(disk, key) for key in keys)
    assert not any(path.name in keys for path in tmp_path.rglob("*"))


def test_a_store_of_a_new_expiry_deletes_no_foreign_file(tmp_path: Path) -> None:
    clock = Clock()
    foreign = seed_foreign(tmp_path)
    kept = store(tmp_path, ttl=0, clock=clock).put(b"for good", "image/png", "")
    clock.now += 10 * 365 * 86400
    store(tmp_path, ttl=1, clock=clock).sweep()
    assert_untouched(foreign)
    stored = store(tmp_path, ttl=1, clock=clock).get(kept)
    assert stored is not None
    assert stored.read() == b"for good"  # its own header said for good


def test_the_folder_is_marked_as_the_stores(tmp_path: Path) -> None:
    store(tmp_path / "new")
    assert b"image store" in (tmp_path / "new" / STORE_MARKER).read_bytes()
    (tmp_path / "new" / STORE_MARKER).write_bytes(b"kept as it is")
    store(tmp_path / "new")
    assert (tmp_path / "new" / STORE_MARKER).read_bytes() == b"kept as it is"
