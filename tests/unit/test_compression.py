"""Compressed request bodies: which Content-Encodings are taken, and decoding them in steps."""

from __future__ import annotations

import gzip
import zlib

import pytest

from flux_service.errors import InvalidRequestError, UnsupportedMediaTypeError
from flux_service.web.compression import INPUT_STEP, BodyDecoder, body_coding

BODY = b'{"prompt": "a red fox in deep snow"}' * 1000


@pytest.mark.parametrize(
    ("header", "coding"),
    [
        (None, None),
        ("", None),
        ("identity", None),
        ("gzip", "gzip"),
        ("GZip", "gzip"),
        ("x-gzip", "x-gzip"),
        ("deflate", "deflate"),
        (" gzip , identity", "gzip"),
        ("identity, deflate", "deflate"),
    ],
)
def test_gzip_and_deflate_are_taken_and_identity_is_nothing(
    header: str | None, coding: str | None
) -> None:
    assert body_coding(header) == coding


@pytest.mark.parametrize("header", ["br", "zstd", "compress", "x-unknown", "gzip, br"])
def test_other_codings_are_415_naming_them_and_what_is_taken(header: str) -> None:
    with pytest.raises(UnsupportedMediaTypeError) as refused:
        body_coding(header)
    error = refused.value
    assert error.status == 415
    assert error.to_dict()["error"]["code"] == "unsupported_content_encoding"
    assert header.split(", ")[-1] in error.message
    assert "gzip or deflate" in error.message


def test_stacked_codings_are_415() -> None:
    with pytest.raises(UnsupportedMediaTypeError, match="not several: gzip, deflate"):
        body_coding("gzip, deflate")


def decode_all(decoder: BodyDecoder, step: int) -> list[bytes]:
    chunks = []
    while not decoder.finished:
        chunks.append(decoder.read(step))
    return chunks


@pytest.mark.parametrize(
    ("coding", "data"),
    [
        ("gzip", gzip.compress(BODY)),
        ("x-gzip", gzip.compress(BODY)),
        ("deflate", zlib.compress(BODY)),  # the zlib format, as RFC 9110 names it
        ("deflate", zlib.compress(BODY, wbits=-zlib.MAX_WBITS)),  # raw, as some clients send
    ],
)
def test_bodies_decode_to_their_bytes(coding: str, data: bytes) -> None:
    assert b"".join(decode_all(BodyDecoder(coding, data), 1 << 20)) == BODY


def test_each_read_gives_exactly_the_bytes_asked_until_the_end() -> None:
    chunks = decode_all(BodyDecoder("gzip", gzip.compress(BODY)), 1000)
    assert b"".join(chunks) == BODY
    assert {len(chunk) for chunk in chunks[:-1]} == {1000}
    assert len(chunks[-1]) < 1000


def test_a_bomb_gives_no_more_than_was_asked() -> None:
    bomb = gzip.compress(b"\0" * (64 << 20), compresslevel=9)  # 64 MiB in about 64 KB
    decoder = BodyDecoder("gzip", bomb)
    assert len(decoder.read(1 << 20)) == 1 << 20
    assert not decoder.finished
    assert len(decoder.read(1)) == 1


def test_a_body_larger_than_one_input_step_decodes_whole() -> None:
    noise = bytes(range(256)) * (3 * INPUT_STEP // 256) + BODY
    data = zlib.compress(noise, level=0)  # stored: longer than INPUT_STEP once compressed
    assert len(data) > 2 * INPUT_STEP
    assert b"".join(decode_all(BodyDecoder("deflate", data), 7777)) == noise


def test_a_gzip_file_of_several_members_decodes_whole() -> None:
    data = gzip.compress(b"first ") + gzip.compress(b"second")
    assert b"".join(decode_all(BodyDecoder("gzip", data), 1 << 20)) == b"first second"


@pytest.mark.parametrize(
    ("coding", "data", "why"),
    [
        ("gzip", b"not gzip at all", "does not decode"),
        ("gzip", gzip.compress(BODY)[:-20], "cut short"),
        ("gzip", b"", "cut short"),
        ("gzip", gzip.compress(BODY) + b"junk", "does not decode"),
        ("deflate", zlib.compress(BODY) + b"junk", "bytes follow its end"),
        ("deflate", b"\xff\xff\xff\xff", "does not decode"),
    ],
)
def test_corrupt_bodies_are_400_saying_so(coding: str, data: bytes, why: str) -> None:
    decoder = BodyDecoder(coding, data)
    with pytest.raises(InvalidRequestError) as refused:
        decode_all(decoder, 1 << 20)
    assert refused.value.status == 400
    assert f"not valid {coding} (Content-Encoding: {coding})" in refused.value.message
    assert why in refused.value.message
