"""The time limit a backup watches: data writes stop near it, a finished backup's record does not."""

from __future__ import annotations

import pytest
from smokejumper.deadline import Deadline, TimeLimitedStore
from smokejumper.failures import WouldExceedTimeLimit
from smokejumper.store import Store


def test_data_stops_near_the_limit_but_a_finished_backups_record_is_written(store: Store):
    left = [100.0]
    limited = TimeLimitedStore(store, Deadline(lambda: left[0]), what="the backup of ccdb")
    with limited.writer("ccdb/dump.sql.zst", expected_size=10) as out:
        out.write(b"rows")
    left[0] = 19.9  # under the 20 s margin
    with pytest.raises(WouldExceedTimeLimit, match="stopped with 20 s of the time limit left"):
        limited.writer("ccdb/second.sql.zst", expected_size=10)
    # However small its estimate, a data file is watched: estimates can be wrong by orders of magnitude.
    assert not store.exists("ccdb/second.sql.zst")
    limited.put_bytes("ccdb/artifact.json", b"{}", content_type="application/json")
    assert store.get_bytes("ccdb/artifact.json") == b"{}"
    assert store.get_bytes("ccdb/dump.sql.zst") == b"rows"


def test_no_limit_outside_lambda():
    class NoContext:
        pass

    assert Deadline.from_lambda_context(NoContext()).expired() is False
    assert Deadline.none().seconds_left() is None
