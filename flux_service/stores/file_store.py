"""The disk image store: every image one file, shared by every worker of the machine.

Each file holds a one-line header (the image's type and when it expires) and then the image,
written to a temporary name and renamed into place, so a reader finds a whole image or none,
and a full disk never leaves half of one. Files live in 256 folders named by the key's first
two characters, so no folder grows too large to list. Images outlive restarts.

A sweep, in every worker now and then, deletes expired files and, past IMAGE_STORE_MAX_BYTES,
the oldest ones. Serving hands the open file to the server, which sends it with sendfile.

The store counts, expires and deletes only files it wrote itself: a file named by a key, in
the folder of the key's first two characters, that begins with the store's header. Anything
else in its folder is left alone and not counted, wherever it lies. The folder holds a
marker (`file_layout.STORE_MARKER`), and start-up refuses a folder that holds other things.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .. import metrics
from ..errors import StoreUnavailableError
from ..offload import off_the_event_loop
from .base import IMAGE_KEY, StoredImage, new_key
from .file_layout import KEY_FOLDER, STORE_MARKER, SWEEP_LOCK, SWEEP_SECONDS

log = logging.getLogger(__name__)

MAGIC = b"FLUX1"
HEADER_LIMIT = 128  # bytes: "FLUX1 image/jpeg 1893456000\n" and room to spare
STORE_RETRY_AFTER = 30
# Room a disk must have left to take new images: more than the largest image (a 2048x2048
# PNG is about 12 MB).
MIN_FREE_BYTES = 16 * 1024 * 1024
TEMPORARY = ".tmp-"
MARKER_TEXT = (
    b"This folder is Flux API's image store (IMAGE_STORE=file://...). The service counts\n"
    b"and deletes only the images it wrote here, and leaves everything else alone.\n"
)


def header(mime: str, expires: int) -> bytes:
    """The line before the image: its type, and when it expires (0: kept for good)."""
    return b"%s %s %d\n" % (MAGIC, mime.encode("ascii"), expires)


def read_header(line: bytes) -> tuple[str, int] | None:
    """The type and expiry in a header line, or None for a file that is not one of ours."""
    parts = line.rstrip(b"\n").split(b" ")
    if len(parts) != 3 or parts[0] != MAGIC or not parts[2].isdigit():
        return None
    return parts[1].decode("ascii", "replace"), int(parts[2])


@dataclass(frozen=True)
class Held:
    """One image file found by a sweep."""

    path: Path
    size: int
    stored: float  # its modification time: when it was stored
    expires: int = 0  # from its header; 0: kept for good


def to_drop(held: list[Held], max_bytes: int) -> list[Held]:
    """The oldest images to delete so that the rest fit in `max_bytes`."""
    total = sum(image.size for image in held)
    dropped = []
    for image in sorted(held, key=lambda image: image.stored):
        if total <= max_bytes:
            break
        dropped.append(image)
        total -= image.size
    return dropped


class FileStore:
    """Images as files under `root`, kept `ttl` seconds (0: for good), `max_bytes` in all."""

    name = "file"

    def __init__(
        self,
        root: Path,
        ttl: int,
        max_bytes: int,
        clock: Callable[[], float] = time.time,
        sweep_every: float = SWEEP_SECONDS,
    ) -> None:
        self.root = root
        self._folder = str(root)
        self._ttl = ttl
        self._max_bytes = max_bytes
        self._clock = clock
        self._added = 0  # bytes this worker stored since its last sweep
        self._held = 0  # bytes on disk at the last sweep, by every worker
        self._lock = threading.Lock()
        root.mkdir(parents=True, exist_ok=True)
        _mark(root)
        if sweep_every:
            threading.Thread(
                target=self._sweep_now_and_then, args=(sweep_every,), daemon=True
            ).start()

    @classmethod
    def from_url(cls, url: str, ttl: int, max_bytes: int) -> FileStore:
        """The store IMAGE_STORE=file:///path names."""
        return cls(Path(url.removeprefix("file://").removeprefix("localhost")), ttl, max_bytes)

    # The disk is the machine's: its bound is shared by everyone, not split by key.
    def put(self, data: bytes, mime: str, owner: str) -> str:  # noqa: ARG002
        key = new_key()
        expires = math.ceil(self._clock() + self._ttl) if self._ttl else 0
        path = self._path(key)
        temporary = path.with_name(f"{TEMPORARY}{key}")
        try:
            path.parent.mkdir(exist_ok=True)
            with open(temporary, "wb") as file:
                file.write(header(mime, expires))
                file.write(data)
                file.flush()
                os.fsync(file.fileno())  # a crash leaves the whole image or none of it
            os.replace(temporary, path)
        except OSError as error:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise _unavailable(error) from None
        with self._lock:
            self._added += len(data)
            over = self._held + self._added > self._max_bytes
        if over:
            off_the_event_loop(self.sweep)
        return key

    def get(self, key: str) -> StoredImage | None:
        """The image under `key`, its file open at the image's first byte for sendfile.

        This is the busiest path of the store, so it makes its few system calls itself.
        """
        try:
            fd = os.open(f"{self._folder}/{key[:2]}/{key}", os.O_RDONLY)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise _unavailable(error) from None
        try:
            head = os.pread(fd, HEADER_LIMIT, 0)
            start = head.find(b"\n") + 1
            found = read_header(head[:start]) if start else None
            size = os.fstat(fd).st_size - start
            # The server sends from the file's own offset (sendfile): put it at the image.
            os.lseek(fd, start, os.SEEK_SET)
        except OSError as error:
            os.close(fd)
            raise _unavailable(error) from None
        if found is None:
            os.close(fd)
            return None
        mime, expires = found
        left = None if not expires else expires - self._clock()
        if left is not None and left <= 0:
            os.close(fd)
            _delete(self._path(key), "expired", size)  # gone now, not at the next sweep
            return None
        # Unbuffered, so that reading it (a range, an edit) starts where the offset is.
        return StoredImage(b"", mime, left, file=open(fd, "rb", buffering=0), size=size)

    def check(self) -> None:
        """The folder can take an image: it is writable and its disk has room."""
        try:
            stats = os.statvfs(self.root)
        except OSError as error:
            raise _unavailable(error) from None
        if not os.access(self.root, os.W_OK):
            raise _unavailable(OSError(errno.EACCES, "not writable"))
        if stats.f_bavail * stats.f_frsize < MIN_FREE_BYTES:
            raise _unavailable(OSError(errno.ENOSPC, "no space left"))

    def sweep(self) -> None:
        """Delete expired images and, past the byte bound, the oldest ones. One worker at a
        time: the others would only repeat its work."""
        # Opened to append, never truncated: a file of that name keeps what it held.
        with open(self.root / SWEEP_LOCK, "ab") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return
            held = [image for image in self._files() if not self._gone(image)]
            for image in to_drop(held, self._max_bytes):
                _delete(image.path, "full", image.size)
                log.warning(
                    "image store full (IMAGE_STORE_MAX_BYTES=%d): deleted an image stored "
                    "%.0f s ago",
                    self._max_bytes,
                    self._clock() - image.stored,
                )
                held.remove(image)
        with self._lock:
            self._held, self._added = sum(image.size for image in held), 0

    def _gone(self, image: Held) -> bool:
        """Whether `image` is no image to keep: a temporary file (deleted once a crash has
        left it behind), or one expired (deleted)."""
        now = self._clock()
        if image.path.name.startswith(TEMPORARY):
            if image.stored < now - SWEEP_SECONDS:
                image.path.unlink(missing_ok=True)
            return True
        # The file's own header decides, since IMAGE_EXPIRATION may have changed since it
        # was stored.
        if 0 < image.expires <= now:
            _delete(image.path, "expired", image.size)
            return True
        return False

    def _files(self) -> Iterator[Held]:
        """The files this store wrote, and nothing else: named as it names them, where it
        puts them, and beginning with its header."""
        for folder in os.scandir(self.root):
            if not KEY_FOLDER.fullmatch(folder.name) or not folder.is_dir(follow_symlinks=False):
                continue
            for entry in os.scandir(folder.path):
                if not _named_ours(entry.name, folder.name):
                    continue
                with contextlib.suppress(OSError):  # gone meanwhile, or not a file to read
                    if not entry.is_file(follow_symlinks=False):
                        continue
                    stat = entry.stat(follow_symlinks=False)
                    found = _header_of(entry.path)
                    if found is not None:
                        yield Held(Path(entry.path), stat.st_size, stat.st_mtime, found[1])

    def _sweep_now_and_then(self, every: float) -> None:
        while True:
            try:
                off_the_event_loop(self.sweep)
            except OSError as error:
                log.warning("image store sweep failed: %s", error.strerror or error)
            time.sleep(every)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / key


def _named_ours(name: str, folder: str) -> bool:
    """Whether `name`, in the folder called `folder`, is named as this store names an image
    (its key, in the folder of the key's first two characters) or an image's temporary file."""
    key = name.removeprefix(TEMPORARY)
    return key[:2] == folder and IMAGE_KEY.fullmatch(key) is not None


def _header_of(path: str) -> tuple[str, int] | None:
    """The header the file at `path` begins with, or None when it begins with none of ours."""
    with open(path, "rb") as file:
        return read_header(file.readline(HEADER_LIMIT))


def _mark(root: Path) -> None:
    """Write the store's marker into its folder, unless it is there already."""
    with contextlib.suppress(FileExistsError), open(root / STORE_MARKER, "xb") as marker:
        marker.write(MARKER_TEXT)


def _delete(path: Path, reason: str, size: int) -> None:
    """Delete an image's file and count it gone for `reason`, unless another worker or
    request has just deleted it."""
    try:
        path.unlink()
    except FileNotFoundError:
        return
    metrics.images_evicted(FileStore.name, reason, size)


def _unavailable(error: OSError) -> StoreUnavailableError:
    full = error.errno in (errno.ENOSPC, errno.EDQUOT)
    reason = "its disk is full" if full else f"it cannot be used ({error.strerror or error})"
    log.error("image store (IMAGE_STORE=file://…) unavailable: %s", reason)
    return StoreUnavailableError(
        f"The image store cannot take images right now: {reason}. Try again later.",
        retry_after=STORE_RETRY_AFTER,
    )
