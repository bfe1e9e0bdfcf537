"""zstd frames: independent per section, indexed, and readable by the standard zstd tool."""

from __future__ import annotations

import hashlib
import io
import subprocess

import pytest
import zstandard
from smokejumper.errors import IntegrityError
from smokejumper.frames import FrameWriter, decompress_frame

SECTIONS = {
    "header": b"SET client_encoding = 'UTF8';\n",
    "public.users": b"".join(b"%d\tuser-%d\t\\N\n" % (i, i) for i in range(5000)),
    "public.empty": b"",
    "public.blob": bytes(range(256)) * 100,
}


def write_sections(sections=SECTIONS):
    sink = io.BytesIO()
    frames = FrameWriter(sink)
    for name, data in sections.items():
        with frames.frame(name) as section:
            # Feed in small pieces: the frame must not depend on write boundaries.
            for start in range(0, len(data), 777):
                section.write(data[start : start + 777])
            section.rows = data.count(b"\n")
    return sink.getvalue(), frames


def test_whole_file_decompresses_with_the_zstd_tool(tmp_path):
    blob, frames = write_sections()
    path = tmp_path / "dump.sql.zst"
    path.write_bytes(blob)
    out = subprocess.run(["zstd", "-dc", str(path)], capture_output=True, check=True).stdout
    assert out == b"".join(SECTIONS.values())
    subprocess.run(["zstd", "-t", str(path)], capture_output=True, check=True)  # frame checksums hold
    assert frames.size == len(blob)
    assert frames.uncompressed_size == len(out)


def test_each_frame_decompresses_alone_from_its_range():
    blob, frames = write_sections()
    assert [frame.name for frame in frames.frames] == list(SECTIONS)
    for frame in frames.frames:
        piece = blob[frame.offset : frame.offset + frame.length]
        # The standard decompressor, not ours: a frame is a complete zstd stream on its own.
        assert zstandard.ZstdDecompressor().decompressobj().decompress(piece) == SECTIONS[frame.name]
        chunks = [piece[i : i + 100] for i in range(0, len(piece), 100)]
        assert b"".join(decompress_frame(chunks, frame)) == SECTIONS[frame.name]
        assert frame.rows == SECTIONS[frame.name].count(b"\n")
        assert frame.uncompressed_size == len(SECTIONS[frame.name])


def test_frames_tile_the_file():
    blob, frames = write_sections()
    position = 0
    for frame in frames.frames:
        assert frame.offset == position
        position += frame.length
    assert position == len(blob)


def test_failed_section_is_not_indexed():
    sink = io.BytesIO()
    frames = FrameWriter(sink)
    frames.write_frame("ok", b"fine")
    with pytest.raises(RuntimeError), frames.frame("broken") as section:
        section.write(b"some")
        raise RuntimeError("source failed")
    assert [frame.name for frame in frames.frames] == ["ok"]


def test_frames_do_not_nest():
    frames = FrameWriter(io.BytesIO())
    with frames.frame("outer"), pytest.raises(RuntimeError, match="do not nest"), frames.frame("inner"):
        pass


def corrupt(data: bytes, position: int) -> bytes:
    return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]


def test_flipped_byte_in_a_frame_is_detected():
    blob, frames = write_sections()
    frame = frames.frames[1]
    piece = corrupt(blob[frame.offset : frame.offset + frame.length], frame.length // 2)
    with pytest.raises(IntegrityError, match=r"public\.users"):
        b"".join(decompress_frame([piece], frame))


def test_truncated_frame_is_detected():
    blob, frames = write_sections()
    frame = frames.frames[1]
    piece = blob[frame.offset : frame.offset + frame.length - 10]
    with pytest.raises(IntegrityError, match=r"read \d+ bytes, index says"):
        b"".join(decompress_frame([piece], frame))


def test_two_frames_where_one_is_expected_are_detected():
    blob, frames = write_sections()
    first, second = frames.frames[0], frames.frames[1]
    doctored = type(first)(**{**vars(first), "length": first.length + second.length})
    with pytest.raises(IntegrityError, match=r"sha256 mismatch"):
        b"".join(decompress_frame([blob[: doctored.length]], doctored))


def test_decompression_is_bounded_whatever_the_ratio():
    sink = io.BytesIO()
    frames = FrameWriter(sink)
    frame = frames.write_frame("zeros", bytes(64 * 1024 * 1024))  # compresses about 10,000:1
    blob = sink.getvalue()
    assert len(blob) < 64 * 1024
    pieces = [len(piece) for piece in decompress_frame([blob], frame)]
    assert sum(pieces) == 64 * 1024 * 1024
    assert max(pieces) <= 1024 * 1024


def test_content_checked_by_zstd_when_the_stored_digest_was_forged():
    """Someone who rewrites a frame and its sha256 still meets zstd's own content checksum."""
    blob, frames = write_sections()
    frame = frames.frames[1]
    piece = bytearray(blob[frame.offset : frame.offset + frame.length])
    piece[-1] ^= 0x01  # the last byte of the frame is part of its content checksum
    forged = type(frame)(**{**vars(frame), "sha256": hashlib.sha256(piece).hexdigest()})
    with pytest.raises(IntegrityError, match="not valid zstd data"):
        b"".join(decompress_frame([bytes(piece)], forged))


def test_records_with_content_digests_are_still_checked():
    """Artifacts of schema version 1 carry a sha256 of each frame's content; it is still checked."""
    blob, frames = write_sections()
    frame = frames.frames[1]
    piece = blob[frame.offset : frame.offset + frame.length]
    content = SECTIONS["public.users"]
    good = type(frame)(**{**vars(frame), "uncompressed_sha256": hashlib.sha256(content).hexdigest()})
    assert b"".join(decompress_frame([piece], good)) == content
    bad = type(frame)(**{**vars(frame), "uncompressed_sha256": hashlib.sha256(b"other").hexdigest()})
    with pytest.raises(IntegrityError, match="decompressed content does not match"):
        b"".join(decompress_frame([piece], bad))
