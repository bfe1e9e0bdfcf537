"""A backup that would outlive its Lambda stops first: WouldExceedTimeLimit, nothing kept, no upload left open."""

from __future__ import annotations

import pytest
from smokejumper.catalog import run_dir
from smokejumper.deadline import Deadline
from smokejumper.failures import WouldExceedTimeLimit, error_type_of
from smokejumper.plan import Plan
from smokejumper.runs import backup_item, start_run
from smokejumper.secrets import FileSecrets
from smokejumper.store import open_store

from tests.support.services import PostgresDatabase

pytestmark = pytest.mark.integration

SECRET = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:pg-AbCdEf"


def test_a_backup_near_its_time_limit_stops_and_leaves_nothing(pg_database: PostgresDatabase, s3_bucket) -> None:
    connection = pg_database.connect()
    try:
        # About 13 MiB compressed: more than one 8 MiB part, so a multipart upload is open when time runs out.
        connection.run("CREATE TABLE big (id int PRIMARY KEY, a text, b text)")
        connection.run("INSERT INTO big SELECT g, md5(g::text), md5((-g)::text) FROM generate_series(1, 400000) g")
        connection.run("CREATE TABLE small (id int)")
        connection.run("INSERT INTO small SELECT generate_series(1, 10)")
    finally:
        connection.close()
    plan = Plan.model_validate(
        {
            "name": "example",
            "schedules": {"databases": {"cron": "cron(0 2 * * ? *)"}},
            "network": {"vpc_id": "vpc-0a1b2c3d", "subnet_ids": ["subnet-0a1b2c3d"]},
            "databases": [
                {
                    "name": "ccdb",
                    "engine": "postgres",
                    "host": pg_database.host,
                    "port": pg_database.port,
                    "database": pg_database.dbname,
                    "credentials_secret_arn": SECRET,
                    "tls": {"mode": "disable"},
                }
            ],
        }
    )
    store = open_store(f"s3://{s3_bucket.name}/example", s3_client=s3_bucket.client, kms_key_id=s3_bucket.kms_key_id)
    seconds_left = [600.0]
    tables_done = []

    def on_progress(what: str, _rows: int, _size: int) -> None:
        tables_done.append(what)
        seconds_left[0] = 12.0  # the clock jumps once the first table is in: below the 20 s margin

    ticket = start_run(plan)
    with pytest.raises(WouldExceedTimeLimit) as caught:
        backup_item(
            plan,
            store,
            ticket,
            ticket.items[0],
            FileSecrets({SECRET: {"username": "postgres", "password": ""}}),
            deadline=Deadline(lambda: seconds_left[0]),
            on_progress=on_progress,
        )
    assert tables_done == ["public.big"]
    message = caught.value.message
    assert error_type_of(caught.value) == "WouldExceedTimeLimit"
    assert "stopped with 12 s of the time limit left" in message
    assert "MiB written in" in message
    assert "MiB/s" in message
    assert "nothing was kept" in message
    assert "longer timeout" in (caught.value.hint or "")
    # No object, and no multipart upload left behind to be billed.
    assert list(store.list_keys(run_dir(ticket.run_id))) == []
    uploads = s3_bucket.client.list_multipart_uploads(Bucket=s3_bucket.name)
    assert uploads.get("Uploads", []) == []
