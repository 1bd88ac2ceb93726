"""The in-memory store: unguessable keys, expiry, and a bound on the bytes it holds."""

import base64

import pytest

from flux_service.stores.base import MemoryStore, new_key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_keys_are_long_and_fresh() -> None:
    keys = {new_key() for _ in range(1000)}
    assert len(keys) == 1000
    for key in keys:
        # URL-safe base64 of at least 16 random bytes: 128 bits nobody can guess.
        assert len(base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))) >= 16
        assert key.replace("-", "").replace("_", "").isalnum()


def test_an_image_lives_until_its_ttl() -> None:
    clock = Clock()
    store = MemoryStore(ttl=60, max_bytes=10_000_000, clock=clock)
    key = store.put(b"jpeg bytes", "image/jpeg", "k")
    clock.now += 59
    stored = store.get(key)
    assert stored is not None
    assert (stored.data, stored.mime) == (b"jpeg bytes", "image/jpeg")
    assert stored.seconds_left == pytest.approx(1)
    clock.now += 2
    assert store.get(key) is None


def test_unknown_keys_are_missing() -> None:
    store = MemoryStore(ttl=60, max_bytes=10_000_000)
    assert store.get("nope") is None
    assert store.get("../../etc/passwd") is None


def test_the_byte_bound_drops_the_oldest_image_first(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    store = MemoryStore(ttl=600, max_bytes=3000, clock=clock)
    keys = []
    for _ in range(3):
        keys.append(store.put(bytes(1000), "image/png", "k"))
        clock.now += 1
    assert store.get(keys[0]) is not None  # reading the oldest does not make it younger
    fourth = store.put(bytes(1000), "image/png", "k")
    assert store.get(keys[0]) is None
    assert all(store.get(key) is not None for key in (*keys[1:], fourth))
    assert "image store full" in caplog.text
    assert "597 s before its expiry" in caplog.text


def test_one_key_past_its_share_drops_its_own_oldest_image(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    store = MemoryStore(ttl=600, max_bytes=4000, share=2000, clock=clock)
    others = store.put(bytes(1000), "image/png", "other")
    flood = [store.put(bytes(1000), "image/png", "flooder") for _ in range(5)]
    assert store.get(others) is not None  # the flood never reached another key's image
    assert [store.get(key) is not None for key in flood] == [False, False, False, True, True]
    assert "holds its share of the image store" in caplog.text


def test_a_share_frees_up_as_images_expire() -> None:
    clock = Clock()
    store = MemoryStore(ttl=10, max_bytes=4000, share=2000, clock=clock)
    first = [store.put(bytes(1000), "image/png", "k") for _ in range(2)]
    clock.now += 11
    later = [store.put(bytes(1000), "image/png", "k") for _ in range(2)]
    assert [store.get(key) is not None for key in first + later] == [False, False, True, True]
