"""Compressed request bodies: the Content-Encodings taken, and decoding one step at a time.

A body of a few kilobytes can hold gigabytes of zeros, so a body is never decoded whole:
`BodyDecoder.read(size)` gives at most `size` bytes, and the caller counts them against its
limits before it asks for more.
"""

from __future__ import annotations

import zlib

from ..errors import InvalidRequestError, UnsupportedMediaTypeError

ACCEPTED = "gzip or deflate"
# zlib's window bits per coding; "x-gzip" is gzip by RFC 9110 §8.4.1.3. "deflate" is the
# zlib format (RFC 1950), but some clients send raw deflate: the first bytes say which.
_GZIP = 16 + zlib.MAX_WBITS
_WBITS = {"gzip": _GZIP, "x-gzip": _GZIP, "deflate": zlib.MAX_WBITS}
_RAW_DEFLATE = -zlib.MAX_WBITS
_NONE = ("", "identity")
# Input is given to zlib in pieces this large: what it leaves unread is copied each step.
INPUT_STEP = 64 * 1024


def body_coding(header: str | None) -> str | None:
    """The one coding a body was sent in, from its Content-Encoding; None for none at all.

    `identity` means no coding. Any other coding, or more than one stacked, is a 415 that
    names it and says what is taken.
    """
    if not header:
        return None
    codings = [c for part in header.split(",") if (c := part.strip().lower()) not in _NONE]
    if not codings:
        return None
    unknown = [c for c in codings if c not in _WBITS]
    if unknown:
        raise UnsupportedMediaTypeError(
            f"Request bodies are taken plain or with Content-Encoding {ACCEPTED}, "
            f"not {unknown[0][:40]}."
        )
    if len(codings) > 1:
        raise UnsupportedMediaTypeError(
            f"Request bodies are taken with one Content-Encoding ({ACCEPTED}), "
            f"not several: {', '.join(codings)[:80]}."
        )
    return codings[0]


class BodyDecoder:
    """Decodes a body sent in `coding`, at most `size` bytes per `read`."""

    def __init__(self, coding: str, data: bytes) -> None:
        self.coding = coding
        self._wbits = _WBITS[coding]
        if coding == "deflate" and not _has_zlib_header(data):
            self._wbits = _RAW_DEFLATE
        self._inflate = zlib.decompressobj(self._wbits)
        self._data = memoryview(data)
        self._at = 0  # how much of `data` zlib has been given
        self._tail = b""  # what zlib was given but left unread: the end of data[: self._at]
        self.finished = False

    def read(self, size: int) -> bytes:
        """The next `size` decoded bytes, fewer only at the end; b"" once all were read.

        A body that is cut short, has bytes behind its end, or is not in its coding at all
        is a 400 that says so.
        """
        chunks: list[bytes] = []
        left = size
        while left > 0 and not self.finished:
            if self._inflate.eof:
                self._next_member()
                continue
            piece: bytes | memoryview = self._tail
            if not piece:
                piece = self._data[self._at : self._at + INPUT_STEP]
                self._at += len(piece)
            if not piece:
                raise self._corrupt("it is cut short")
            try:
                chunk = self._inflate.decompress(piece, left)  # left > 0: 0 means no limit
            except zlib.error:
                raise self._corrupt() from None
            self._tail = self._inflate.unconsumed_tail
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _next_member(self) -> None:
        """After the end of a stream: done, or (gzip only) the next member of the file."""
        self._at -= len(self._inflate.unused_data)
        if self._at == len(self._data):
            self.finished = True
        elif self._wbits == _GZIP:
            # RFC 1952: a gzip file may be several members, one after the other.
            self._inflate = zlib.decompressobj(self._wbits)
        else:
            raise self._corrupt("bytes follow its end")

    def _corrupt(self, why: str = "it does not decode") -> InvalidRequestError:
        return InvalidRequestError(
            f"The request body is not valid {self.coding} (Content-Encoding: {self.coding}): "
            f"{why}.",
            code="invalid_content_encoding",
        )


def _has_zlib_header(data: bytes) -> bool:
    """Whether `data` starts as the zlib format does (RFC 1950 §2.2), not raw deflate."""
    return len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
