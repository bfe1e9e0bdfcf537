"""How a dump is cut into parts and waves for parallel COPY streams."""

from __future__ import annotations

import io
import itertools

import pytest
from smokejumper.errors import IntegrityError
from smokejumper.frames import FrameWriter
from smokejumper.sources.postgres.schema import Table
from smokejumper.sources.postgres.streams import Part, plan_parts, waves

MIB = 1024 * 1024


def table(name: str, size: int) -> Table:
    return Table(1, f"public.{name}", "public", name, ["id"], size, size)


def plan(tables, *, streams=2, split=256 * MIB, version=150000):
    return plan_parts(tables, streams=streams, split_bytes=split, block_size=8192, server_version=version)


def test_large_tables_split_into_page_ranges_that_tile_the_table():
    parts = plan([table("small", MIB), table("big", 1000 * MIB)])
    assert [part.table.name for part in parts] == ["small"] + ["big"] * 4
    ranges = [(part.first_page, part.end_page) for part in parts[1:]]
    assert ranges[0][0] == 0
    assert ranges[-1][1] is None, "the last range runs to the end: the table may have grown"
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    assert [part.number for part in parts[1:]] == [1, 2, 3, 4]
    assert "FROM ONLY public.big WHERE ctid >= '(0,0)'" in parts[1].copy_sql()
    assert parts[0].copy_sql() == "COPY public.small (id) TO STDOUT"


@pytest.mark.parametrize(("streams", "version"), [(1, 150000), (2, 130000)])
def test_no_split_with_one_stream_or_before_postgresql_14(streams, version):
    # Before 14 a ctid range is no cheaper than reading the whole table.
    parts = plan([table("big", 1000 * MIB)], streams=streams, version=version)
    assert parts == [Part(table("big", 1000 * MIB))]


def test_waves_put_one_part_per_stream_and_never_spool_a_large_whole_table():
    parts = plan([table("a", MIB), table("b", MIB), table("c", MIB), table("big", 1000 * MIB)], streams=3)
    parts.insert(3, Part(table("unsplit", 900 * MIB)))  # as on PostgreSQL 13
    grouped = [[(part.table.name, part.number) for part in wave] for wave in waves(parts, 3, 256 * MIB)]
    assert grouped == [
        [("a", 1), ("b", 1), ("c", 1)],
        [("unsplit", 1)],  # alone: the first part of a wave is written straight into the artifact
        [("big", 1), ("big", 2), ("big", 3)],
        [("big", 4)],
    ]


def test_append_copies_a_spooled_frame_and_checks_its_bytes():
    spool = io.BytesIO()
    spooled = FrameWriter(spool).write_frame("public.t", b"1\tone\n" * 1000, rows=1000)
    out = io.BytesIO()
    frames = FrameWriter(out)
    frames.write_frame("header", b"SET x = 1;\n")
    appended = frames.append(spooled, spool)
    assert appended.offset == frames.frames[0].length
    assert out.getvalue()[appended.offset :] == spool.getvalue()
    assert frames.size == len(out.getvalue())
    damaged = io.BytesIO(spool.getvalue()[:-1] + b"\x00")
    with pytest.raises(IntegrityError, match="spool"):
        FrameWriter(io.BytesIO()).append(spooled, damaged)
