"""Never two backups of one item at once: a lease per item in a DynamoDB table.

A run takes a lease on each of its items when it starts and gives them back
when it commits. A start that finds an item leased by another execution
leaves that item out, saying which run holds it and since when; the other
items (an hourly etcd run while the nightly databases run) go on.

A lease ends by itself at `expires_at`: the workflow's own time limit
(`run_time_limit`), after which Step Functions has stopped the execution that
held it, so a crashed, aborted or timed-out run blocks nothing for longer
than the longest a run may take. The table's TTL attribute is the same
field, so DynamoDB sweeps old leases too (hours late, which is harmless: a
lease past `expires_at` is free to take whether or not it was swept).

The lease's owner is the execution, not the run id: a start step retried by
Step Functions after a lost response makes a new run id but is the same
execution, and takes its own leases back instead of finding them busy.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from smokejumper.errors import StoreError
from smokejumper.plan import Plan
from smokejumper.runs import RunItem, RunTicket

LOCK_TABLE_VARIABLE = "SMOKEJUMPER_LOCK_TABLE"
KEY = "item"  # partition key: PLAN/COMPONENT/NAME
TTL_ATTRIBUTE = "expires_at"  # epoch seconds: the lease's end and DynamoDB's TTL

# What one item may take in the workflow: Lambda's 15 minutes per attempt, three attempts of a transient
# failure (infra/workflow.py's Retry) and their backoff. Components run side by side, the items of one
# component `plan.concurrency` at a time; the start and the commit take the rest of the margin.
ITEM_ATTEMPT = timedelta(minutes=15)
ITEM_ATTEMPTS = 3
RETRY_WAITS = timedelta(minutes=3)
RUN_MARGIN = timedelta(minutes=15)
MIN_RUN_TIME_LIMIT = timedelta(hours=1)


def run_time_limit(plan: Plan) -> timedelta:
    """The longest one run of `plan` may take: the state machine's timeout, and every lease's length."""
    per_item = ITEM_ATTEMPT * ITEM_ATTEMPTS + RETRY_WAITS
    longest = max(
        (math.ceil(len(items) / plan.concurrency) for items in (plan.etcd, plan.databases, plan.volumes) if items),
        default=1,
    )
    return max(MIN_RUN_TIME_LIMIT, per_item * longest + RUN_MARGIN)


@dataclass(frozen=True)
class BusyItem:
    """An item left out of a run because another run is backing it up."""

    item: RunItem
    run_id: str
    since: str
    until: str

    def reason(self) -> str:
        return f"{self.item.path} is being backed up by run {self.run_id} (since {self.since}, lease ends {self.until})"

    def to_json(self) -> dict[str, str]:
        return {
            "path": self.item.path,
            "run_id": self.run_id,
            "since": self.since,
            "until": self.until,
            "reason": self.reason(),
        }


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


class DynamoDbLocks:
    """Leases in a DynamoDB table keyed by `item` (see infra/workflow.py, which creates it)."""

    def __init__(self, table: str, *, client: Any = None) -> None:
        self.table = table
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client("dynamodb", config=Config(retries={"mode": "standard", "max_attempts": 6}))
        return self._client

    def acquire(
        self, ticket: RunTicket, *, owner: str, limit: timedelta, now: datetime | None = None
    ) -> tuple[list[RunItem], list[BusyItem]]:
        """Lease every item of `ticket` it can; the items leased, and those another execution holds."""
        current = (now or datetime.now(UTC)).timestamp()
        expires = current + limit.total_seconds()
        taken: list[RunItem] = []
        busy: list[BusyItem] = []
        for item in ticket.items:
            key = f"{ticket.plan}/{item.path}"
            try:
                self.client.put_item(
                    TableName=self.table,
                    Item={
                        KEY: {"S": key},
                        "owner": {"S": owner},
                        "run_id": {"S": ticket.run_id},
                        "since": {"N": str(int(current))},
                        TTL_ATTRIBUTE: {"N": str(int(expires))},
                    },
                    # Free, ended, or already this execution's (a retried start).
                    ConditionExpression="attribute_not_exists(#key) OR #ttl < :now OR #owner = :owner",
                    ExpressionAttributeNames={"#key": KEY, "#ttl": TTL_ATTRIBUTE, "#owner": "owner"},
                    ExpressionAttributeValues={":now": {"N": str(int(current))}, ":owner": {"S": owner}},
                )
            except Exception as exc:
                if _code(exc) != "ConditionalCheckFailedException":
                    # The start fails: the leases it took so far must not outlive it.
                    with contextlib.suppress(Exception):
                        self.release(ticket.plan, taken, owner=owner)
                    raise _unavailable(self.table, exc) from None
                holder = self._holder(key)
                busy.append(
                    BusyItem(
                        item,
                        holder.get("run_id", {}).get("S", "(unknown)"),
                        _stamp(float(holder.get("since", {}).get("N", current))),
                        _stamp(float(holder.get(TTL_ATTRIBUTE, {}).get("N", current))),
                    )
                )
            else:
                taken.append(item)
        return taken, busy

    def release(self, plan: str, items: Iterable[RunItem], *, owner: str) -> None:
        """Give back this execution's leases; one another execution took over (after expiry) stays."""
        for item in items:
            try:
                self.client.delete_item(
                    TableName=self.table,
                    Key={KEY: {"S": f"{plan}/{item.path}"}},
                    ConditionExpression="#owner = :owner",
                    ExpressionAttributeNames={"#owner": "owner"},
                    ExpressionAttributeValues={":owner": {"S": owner}},
                )
            except Exception as exc:
                if _code(exc) != "ConditionalCheckFailedException":
                    raise _unavailable(self.table, exc) from None

    def _holder(self, key: str) -> dict[str, Any]:
        try:
            response = self.client.get_item(TableName=self.table, Key={KEY: {"S": key}}, ConsistentRead=True)
        except Exception as exc:
            raise _unavailable(self.table, exc) from None
        return response.get("Item", {})


def _code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def _unavailable(table: str, exc: BaseException) -> StoreError:
    return StoreError(f"the lock table {table} could not be used: {_code(exc) or type(exc).__name__}")
