"""Leases on items (locks.py) against DynamoDB as moto emulates it: conditional puts, expiry, release."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws
from smokejumper.locks import KEY, DynamoDbLocks, run_time_limit
from smokejumper.plan import Plan
from smokejumper.runs import RunItem, RunTicket

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
LIMIT = timedelta(hours=2)
ETCD = RunItem("etcd", "k8s", "etcd")
CCDB = RunItem("databases", "ccdb", "postgres")


def ticket(run_id: str, *items: RunItem) -> RunTicket:
    return RunTicket("cf-prod", run_id, NOW, tuple(items))


@pytest.fixture
def locks(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(
            TableName="leases",
            KeySchema=[{"AttributeName": KEY, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": KEY, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield DynamoDbLocks("leases", client=client)


def test_a_second_execution_gets_only_the_free_items_and_learns_who_holds_the_others(locks):
    taken, busy = locks.acquire(ticket("run-a", CCDB), owner="exec-a", limit=LIMIT, now=NOW)
    assert (taken, busy) == ([CCDB], [])

    later = NOW + timedelta(minutes=5)
    taken, busy = locks.acquire(ticket("run-b", ETCD, CCDB), owner="exec-b", limit=LIMIT, now=later)
    assert taken == [ETCD]
    [held] = busy
    assert (held.item, held.run_id, held.since) == (CCDB, "run-a", "2026-12-07T02:00:00+00:00")
    assert "databases/ccdb is being backed up by run run-a" in held.reason()


def test_a_retried_start_of_the_same_execution_takes_its_own_leases_back(locks):
    locks.acquire(ticket("run-a", CCDB), owner="exec-a", limit=LIMIT, now=NOW)
    taken, busy = locks.acquire(ticket("run-a2", CCDB), owner="exec-a", limit=LIMIT, now=NOW)
    assert (taken, busy) == ([CCDB], [])


def test_the_lease_of_a_crashed_execution_ends_at_its_time_limit(locks):
    locks.acquire(ticket("run-crashed", CCDB), owner="exec-crashed", limit=LIMIT, now=NOW)
    just_before = NOW + LIMIT - timedelta(seconds=1)
    assert locks.acquire(ticket("run-b", CCDB), owner="exec-b", limit=LIMIT, now=just_before)[0] == []
    after = NOW + LIMIT + timedelta(seconds=1)
    assert locks.acquire(ticket("run-c", CCDB), owner="exec-c", limit=LIMIT, now=after)[0] == [CCDB]


def test_release_gives_back_only_the_executions_own_leases(locks):
    locks.acquire(ticket("run-a", ETCD, CCDB), owner="exec-a", limit=LIMIT, now=NOW)
    locks.release("cf-prod", [ETCD, CCDB], owner="exec-other")  # not its leases: nothing happens
    assert locks.acquire(ticket("run-b", CCDB), owner="exec-b", limit=LIMIT, now=NOW)[0] == []
    locks.release("cf-prod", [ETCD, CCDB], owner="exec-a")
    assert locks.acquire(ticket("run-b", ETCD, CCDB), owner="exec-b", limit=LIMIT, now=NOW)[0] == [ETCD, CCDB]


def test_a_missing_table_is_store_unavailable(locks):
    from smokejumper.errors import StoreError

    with pytest.raises(StoreError, match="lock table nowhere"):
        DynamoDbLocks("nowhere", client=locks.client).acquire(ticket("r", CCDB), owner="e", limit=LIMIT, now=NOW)


def test_the_time_limit_grows_with_the_longest_component_and_never_drops_below_an_hour():
    def plan(databases: int, concurrency: int) -> Plan:
        return Plan.model_validate(
            {
                "name": "p",
                "concurrency": concurrency,
                "schedules": {"databases": {"cron": "cron(0 2 * * ? *)"}},
                "network": {"vpc_id": "vpc-0a1b2c3d", "subnet_ids": ["subnet-0a1b2c3d"]},
                "databases": [
                    {"name": f"db{i}", "engine": "postgres", "host": "10.0.0.1", "database": "d",
                     "credentials_secret_arn": "arn:aws:secretsmanager:eu-west-1:111111111111:secret:db-AbCdEf"}
                    for i in range(databases)
                ],
            }
        )  # fmt: skip

    one = run_time_limit(plan(1, 2))
    assert one >= timedelta(hours=1)
    assert run_time_limit(plan(6, 2)) == run_time_limit(plan(5, 2)) > one  # three waves of two
    assert run_time_limit(plan(6, 6)) == one


def test_a_start_that_fails_part_way_gives_back_the_leases_it_took(locks):
    from smokejumper.errors import StoreError

    class FailsOnTheSecondPut:
        """DynamoDB answering the first put and failing the second (throttled past its retries)."""

        def __init__(self, client) -> None:
            self._client = client
            self.puts = 0

        def put_item(self, **kwargs):
            self.puts += 1
            if self.puts == 2:
                from botocore.exceptions import ClientError

                raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "PutItem")
            return self._client.put_item(**kwargs)

        def __getattr__(self, name):
            return getattr(self._client, name)

    flaky = DynamoDbLocks("leases", client=FailsOnTheSecondPut(locks.client))
    with pytest.raises(StoreError, match="ProvisionedThroughputExceededException"):
        flaky.acquire(ticket("run-a", ETCD, CCDB), owner="exec-a", limit=LIMIT, now=NOW)
    # The first item's lease went back with the failed start: another run takes both.
    assert locks.acquire(ticket("run-b", ETCD, CCDB), owner="exec-b", limit=LIMIT, now=NOW)[0] == [ETCD, CCDB]
