"""The reuse index in files beside the disk store, shared by the workers of one machine
(see reuse.py)."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from ..offload import off_the_event_loop
from .file_layout import REUSE_FOLDER, SWEEP_SECONDS
from .reuse_index import entry_seconds

log = logging.getLogger(__name__)

CLAIM_SUFFIX = ".claim"
# The names the index writes: an entry is a request's digest (see reuse.request_digest), a
# claim that and CLAIM_SUFFIX, a temporary file a dot, the digest and a few hex digits. The
# sweep deletes nothing else.
_ENTRY = re.compile(r"[0-9a-f]{64}")
_CLAIM = re.compile(r"[0-9a-f]{64}\.claim")
_TEMPORARY = re.compile(r"\.[0-9a-f]{64}-[0-9a-f]{8}")


class FileIndex:
    """Entries as small files, `<digest>` holding "<key> <expires>", and claims as file
    locks on `<digest>.claim`, which the kernel drops when their process dies.

    A sweep now and then deletes expired entries and claims nobody holds.
    """

    name = "file"

    def __init__(self, folder: Path, ttl: int, clock: Callable[[], float] = time.time) -> None:
        self._folder = folder
        self._seconds = entry_seconds(ttl)
        self._clock = clock
        folder.mkdir(parents=True, exist_ok=True)

    @classmethod
    def beside(cls, store_root: Path, ttl: int) -> FileIndex:
        """The index in the disk store's folder, swept in the background."""
        index = cls(store_root / REUSE_FOLDER, ttl)
        threading.Thread(target=index._sweep_now_and_then, daemon=True).start()
        return index

    def find(self, digest: str) -> str | None:
        try:
            key, _, expires = (self._folder / digest).read_text().partition(" ")
        except (OSError, UnicodeDecodeError):
            return None
        return key if expires.strip().isdigit() and int(expires) > self._clock() else None

    def remember(self, digest: str, key: str) -> None:
        path = self._folder / digest
        temporary = path.with_name(f".{digest}-{secrets.token_hex(4)}")
        try:
            temporary.write_text(f"{key} {int(self._clock() + self._seconds)}")
            os.replace(temporary, path)  # readers find the whole entry or the one before
        except OSError as error:
            temporary.unlink(missing_ok=True)
            log.warning("the reuse index cannot be written: %s", error.strerror or error)

    def claim(self, digest: str) -> AbstractContextManager[object] | None:
        try:
            lock = open(self._folder / f"{digest}{CLAIM_SUFFIX}", "ab")  # noqa: SIM115
        except OSError as error:
            log.warning("the reuse index cannot be used: %s", error.strerror or error)
            return contextlib.nullcontext()
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            return None
        return lock  # closing it releases the lock

    def sweep(self) -> None:
        """Delete expired entries, and claims and temporary files a sweep old that nobody
        holds: files the index wrote, by their names, and nothing else. A claim deleted just
        as another process opens it costs one more draw."""
        old = self._clock() - SWEEP_SECONDS
        for entry in os.scandir(self._folder):
            with contextlib.suppress(OSError):
                path = Path(entry.path)
                if not entry.is_file(follow_symlinks=False):
                    continue
                if _CLAIM.fullmatch(entry.name):
                    if entry.stat().st_mtime < old:
                        self._drop_unheld(path)
                elif _TEMPORARY.fullmatch(entry.name):  # a crash left it half-written
                    if entry.stat().st_mtime < old:
                        path.unlink()
                elif _ENTRY.fullmatch(entry.name) and self.find(entry.name) is None:
                    path.unlink()

    def _drop_unheld(self, path: Path) -> None:
        with open(path, "ab") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return  # someone is drawing it
            path.unlink(missing_ok=True)

    def _sweep_now_and_then(self) -> None:
        while True:
            time.sleep(SWEEP_SECONDS)
            try:
                off_the_event_loop(self.sweep)
            except OSError as error:
                log.warning("sweeping the reuse index failed: %s", error.strerror or error)
