"""Retention of a plan's EBS snapshots over a simulated year of daily runs, against EC2 as moto emulates it.

Issue 15: "Retention over a simulated year of runs: exactly the GFS set survives,
min_keep holds when recent runs failed, foreign snapshots are never deleted,
orphaned snapshots of crashed runs are swept after the grace period, dry-run
changes nothing."

One run a day at 01:30 UTC for a year and twelve days, each backed up and
committed through the runs module and followed by a prune at the run's time,
as the workflow's commit step does. What must survive is worked out here from
the calendar, following the policy's definition (the docstring of
smokejumper/retention.py), never by asking smokejumper.retention; and it is
checked against what is really left: the snapshots EC2 describes, grouped by
their plan and run tags, and the run directories in the store.

Why "decide over every run so far" is the right oracle although each prune
sees only what earlier prunes left: with one run a day, a run the policy keeps
today it kept on every earlier day too (each rule only ever moves on to newer
runs), so no prune deleted a run that the policy, looking at every run ever
made, still keeps; and what earlier prunes removed changes no bucket's newest
run, the latest N buckets, the newest good runs or the newest good run. The
loop checks the first half every day ("a run let go never comes back").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
from moto import mock_aws
from smokejumper.plan import Plan
from smokejumper.runs import PruneReport, back_up_items, commit_run, prune, start_run
from smokejumper.secrets import FileSecrets
from smokejumper.sources.volumes.retention import plan_snapshots
from smokejumper.store import Store, open_store

REGION = "eu-west-1"
PLAN = "cf-prod"
# The snapshots' tags are a contract (IAM conditions and people's filters use them): spelled out, not imported.
PLAN_TAG = "smokejumper:plan"
RUN_TAG = "smokejumper:run-id"
CSI_TAGS = {"ebs.csi.aws.com/cluster": "true", "kubernetes.io/cluster/cf-prod": "owned"}
VOLUMES = 3

# min_keep is above daily on purpose. daily=N keeps the N latest days *that have a good run* (rule 3 of
# retention.py), so failed runs never push good ones out of the daily window; with one run a day, a min_keep
# at or below daily could never keep a run that daily does not. Above it, the floor is what holds the runs
# between daily's last day and min_keep's (see check_min_keep_after_ten_failed_runs).
DAILY, WEEKLY, MONTHLY, MIN_KEEP, GRACE_HOURS = 7, 4, 12, 10, 48
# Counted in New York: the 01:30 UTC run is 21:30 (EDT) or 20:30 (EST) there the evening before, so every
# run's local day is the day before its UTC date. That puts the run of the 1st of a month in the month before,
# which a policy counting in UTC would get wrong; and the year crosses both of New York's DST changes.
TIME_ZONE = "America/New_York"

FIRST_RUN = datetime(2026, 1, 1, 1, 30, tzinfo=UTC)
LAST_RUN = datetime(2027, 1, 12, 1, 30, tzinfo=UTC)
# Runs whose snapshot ends in `error` (by UTC date; their local days in the comments):
FAILING = {
    date(2026, 5, 1),  # local Thu 2026-04-30, the last day of April: April's newest good run is 04-29's
    date(2026, 6, 15),  # local Sun 2026-06-14, the last day of ISO week 24: the week's newest good run is Saturday's
    *(date(2026, 8, day) for day in (10, 11, 12)),  # local Sun 08-09 to Tue 08-11
    # The last ten runs before the end: local Wed 2026-12-30 to Fri 2027-01-08 (see the min_keep check).
    *(date(2026, 12, 31) + timedelta(days=n) for n in range(10)),
}
END_OF_FAILURES = datetime(2027, 1, 9, 1, 30, tzinfo=UTC)
# Besides every 30th day and each day an orphan is due, a dry run and a look at EC2 and the store on the days
# of the harder sweeps: the end of the failures, the good run after them that lets all ten go, the last run.
CHECKPOINTS = {END_OF_FAILURES, END_OF_FAILURES + timedelta(days=1), LAST_RUN}


# --- the policy, from the calendar ------------------------------------------------------


def local_day(started: datetime) -> date:
    """The run's day in New York: plain date arithmetic, as every run starts at 01:30 UTC (see TIME_ZONE)."""
    assert (started.hour, started.minute) == (1, 30)
    return started.date() - timedelta(days=1)


@dataclass(frozen=True)
class Run:
    run_id: str
    started: datetime
    good: bool

    @property
    def day(self) -> date:
        return local_day(self.started)


def gfs(runs: list[Run], *, daily: int, weekly: int, monthly: int, min_keep: int) -> set[str]:
    """The run ids the policy keeps, from its definition in retention.py's docstring (no run is in the future).

    * min_keep: the newest `min_keep` good runs;
    * daily/weekly/monthly: of the local days / ISO weeks / months that have a good run, the latest N in
      calendar order, and the newest good run of each;
    * a run that is not good is kept only when it is newer than the newest good run.
    """
    good = sorted((run for run in runs if run.good), key=lambda run: run.started, reverse=True)
    keep = {run.run_id for run in good[:min_keep]}
    buckets: list[tuple[int, Callable[[date], Any]]] = [
        (daily, lambda day: day),
        (weekly, lambda day: day.isocalendar()[:2]),  # ISO year and week: 2027-01-01 is in 2026-W53
        (monthly, lambda day: (day.year, day.month)),
    ]
    for count, bucket in buckets:
        newest: dict[Any, Run] = {}
        for run in good:  # newest first: the first run seen in a bucket is its newest good run
            newest.setdefault(bucket(run.day), run)
        keep |= {newest[key].run_id for key in sorted(newest, reverse=True)[:count]}
    newest_good = good[0].started if good else None
    keep |= {run.run_id for run in runs if not run.good and (newest_good is None or run.started > newest_good)}
    return keep


def policy_keeps(runs: list[Run]) -> set[str]:
    return gfs(runs, daily=DAILY, weekly=WEEKLY, monthly=MONTHLY, min_keep=MIN_KEEP)


def kept_days(runs: list[Run], run_ids: set[str]) -> set[date]:
    return {run.day for run in runs if run.run_id in run_ids}


def days(first: str, last: str) -> set[date]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return {start + timedelta(days=n) for n in range((end - start).days + 1)}


def on(*isodates: str) -> set[date]:
    return {date.fromisoformat(day) for day in isodates}


# --- EC2 -------------------------------------------------------------------------------


@pytest.fixture
def ec2(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # thousands of AMIs and snapshots otherwise
    with mock_aws():
        quicker_moto(monkeypatch)
        yield boto3.client("ec2", region_name=REGION)


def quicker_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto as fast as a year of runs needs, with the same answers (over a minute otherwise).

    moto finds one resource's tags by scanning every tag of the region, and keeps a deleted snapshot's
    tags for ever, so each run made describing snapshots slower. Here a resource's tags are looked up by
    its id, and a snapshot's tags go with it, as in EC2.
    """
    from moto.ec2.models.core import TaggedEC2Resource
    from moto.ec2.models.elastic_block_store import EBSBackend
    from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix

    def own_tags(resource: Any) -> list[dict[str, str]]:
        if not resource.id:
            return []
        kind = EC2_PREFIX_TO_RESOURCE.get(get_prefix(resource.id), "")
        tags = resource.ec2_backend.tags.get(resource.id, {})
        return [{"resource_id": resource.id, "key": k, "value": v, "resource_type": kind} for k, v in tags.items()]

    delete_snapshot = EBSBackend.delete_snapshot

    def delete_snapshot_and_its_tags(backend: Any, snapshot_id: str) -> Any:
        deleted = delete_snapshot(backend, snapshot_id)
        backend.tags.pop(snapshot_id, None)
        return deleted

    monkeypatch.setattr(TaggedEC2Resource, "get_tags", own_tags)
    monkeypatch.setattr(EBSBackend, "delete_snapshot", delete_snapshot_and_its_tags)

    # Each backup makes its own EC2 client, as a Lambda invocation would: under moto that is a third of a
    # run's time. One client, made the same way, serves every run here.
    import smokejumper.sources.volumes.source as volumes_source

    make_client = volumes_source.ec2_client
    clients: dict[Any, Any] = {}

    def one_client_per_region(*args: Any, **kwargs: Any) -> Any:
        key = (args, tuple(sorted(kwargs.items())))
        if key not in clients:
            clients[key] = make_client(*args, **kwargs)
        return clients[key]

    monkeypatch.setattr(volumes_source, "ec2_client", one_client_per_region)


def failing_snapshots(monkeypatch: pytest.MonkeyPatch) -> dict[str, bool]:
    """While `fail["next"]` is set, the next snapshot EC2 makes ends in `error` (and the flag is cleared).

    An honest failure: the run's volumes item fails (SnapshotFailed) and the run commits as failed,
    with all its snapshots (the one in error and the completed others) tagged with it.
    """
    from moto.ec2.models.elastic_block_store import EBSBackend

    create_snapshot = EBSBackend.create_snapshot
    fail = {"next": False}

    def create_snapshot_that_may_fail(backend: Any, *args: Any, **kwargs: Any) -> Any:
        made = create_snapshot(backend, *args, **kwargs)
        if fail["next"]:
            made.status, fail["next"] = "error", False
        return made

    monkeypatch.setattr(EBSBackend, "create_snapshot", create_snapshot_that_may_fail)
    return fail


def pv(ec2: Any, name: str) -> str:
    """A volume as the EBS CSI driver makes one for PVC cf-db/NAME: the plan's selector picks it."""
    tags = CSI_TAGS | {
        "kubernetes.io/created-for/pvc/namespace": "cf-db",
        "kubernetes.io/created-for/pvc/name": name,
        "kubernetes.io/created-for/pv/name": f"pvc-cf-db-{name}",
    }
    volume = ec2.create_volume(
        AvailabilityZone=f"{REGION}a",
        Size=10,
        VolumeType="gp3",
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
    )
    return volume["VolumeId"]


def snapshot(ec2: Any, volume: str, tags: dict[str, str]) -> str:
    specification = [{"ResourceType": "snapshot", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    return ec2.create_snapshot(VolumeId=volume, **({"TagSpecifications": specification} if tags else {}))["SnapshotId"]


def every_snapshot(ec2: Any) -> dict[str, tuple[str, dict[str, str]]]:
    """snapshot id -> (state, tags), for every snapshot of the account in the region."""
    found = {}
    for page in ec2.get_paginator("describe_snapshots").paginate(OwnerIds=["self"]):
        for described in page["Snapshots"]:
            tags = {tag["Key"]: tag["Value"] for tag in described.get("Tags", [])}
            found[described["SnapshotId"]] = (described["State"], tags)
    return found


def the_plan() -> Plan:
    return Plan.model_validate(
        {
            "name": PLAN,
            "deployment": {"region": REGION},
            "schedules": {"volumes": {"cron": "cron(30 1 * * ? *)"}},
            "volumes": [{"name": "cf-prod-pvs", "tags": [{"key": k, "values": [v]} for k, v in CSI_TAGS.items()]}],
            "retention": {
                "daily": DAILY,
                "weekly": WEEKLY,
                "monthly": MONTHLY,
                "min_keep": MIN_KEEP,
                "time_zone": TIME_ZONE,
                "uncommitted_grace_hours": GRACE_HOURS,
            },
        }
    )


def outcomes(report: PruneReport) -> dict[str, tuple[str, bool, int, tuple[str, ...]]]:
    """run id -> (outcome, committed, snapshots, reasons) of each deletion the sweep reported."""
    return {d.run_id: (d.outcome, d.committed, d.snapshots, d.reasons) for d in report.deletions}


# --- the year --------------------------------------------------------------------------


@dataclass
class Year:
    ec2: Any
    store: Store
    plan: Plan
    volumes: list[str]
    fail: dict[str, bool]
    foreign: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)
    # Snapshots of crashed runs: run id -> (started, how many snapshots, whether it left a run directory).
    orphans: dict[str, tuple[datetime, int, bool]] = field(default_factory=dict)
    swept: set[str] = field(default_factory=set)

    def run(self, day: datetime) -> Run:
        """One scheduled run, started, backed up and committed through the runs module."""
        fails = day.date() in FAILING
        self.fail["next"] = fails
        ticket = start_run(self.plan, now=day)
        manifest = commit_run(
            self.store, ticket, back_up_items(self.plan, self.store, ticket, FileSecrets({})), now=day
        )
        assert not self.fail["next"], "the run made the snapshot meant to fail"
        [artifact] = manifest.artifacts
        if fails:
            assert (manifest.status, artifact.error_type) == ("failed", "SnapshotFailed")
        else:
            assert manifest.status == "succeeded", artifact.error
        assert day.astimezone(ZoneInfo(TIME_ZONE)).date() == local_day(day)
        run = Run(ticket.run_id, day, manifest.status == "succeeded")
        self.runs.append(run)
        return run

    def crash(self, started: datetime, suffix: str, count: int, *, directory: bool = False) -> str:
        """A run that crashed after starting `count` snapshots, before writing anything (or one file: `directory`)."""
        run_id = f"{started:%Y%m%dT%H%M%SZ}-{suffix}"
        for volume in self.volumes[:count]:
            snapshot(self.ec2, volume, {PLAN_TAG: PLAN, RUN_TAG: run_id})
        if directory:  # what a start step leaves when the workflow dies before the run's first look
            self.store.put_bytes(f"runs/{run_id}/volumes/cf-prod-pvs/snapshots-started.json", b"{}")
        self.orphans[run_id] = (started, count, directory)
        return run_id

    def waiting(self) -> set[str]:
        return set(self.orphans) - self.swept

    def due(self, now: datetime) -> set[str]:
        """Orphans past the grace period at `now`, not swept yet."""
        grace = timedelta(hours=GRACE_HOURS)
        return {run_id for run_id in self.waiting() if self.orphans[run_id][0] + grace <= now}

    def check_sweep(self, report: PruneReport, let_go: set[str], expected: set[str], now: datetime) -> None:
        """The sweep kept `expected`, and deleted `let_go` and the orphans past their grace, with their snapshots."""
        assert {run_id for run_id, _ in report.kept} == expected
        due = self.due(now)
        deleted = {run_id: fate[:3] for run_id, fate in outcomes(report).items()}
        assert deleted == {run_id: ("deleted", True, VOLUMES) for run_id in let_go} | {
            run_id: ("deleted", False, self.orphans[run_id][1]) for run_id in due
        }
        self.swept |= due
        # An orphan inside its grace period waits: a run may still be writing.
        assert set(report.waiting) == self.waiting()

    def check_what_is_left(self, expected: set[str]) -> None:
        """EC2's snapshots and the store's run directories are exactly the expected runs (and waiting orphans)."""
        everything = every_snapshot(self.ec2)
        assert {snapshot_id: everything.get(snapshot_id) for snapshot_id in self.foreign} == self.foreign, (
            "another plan's snapshots, and those no run owns, are never deleted (nor changed)"
        )
        by_run: dict[str, list[str]] = {}
        for snapshot_id, (state, tags) in everything.items():
            if snapshot_id not in self.foreign:
                assert tags[PLAN_TAG] == PLAN
                by_run.setdefault(tags[RUN_TAG], []).append(state)
        assert set(by_run) == expected | self.waiting()
        failed = {run.run_id for run in self.runs if not run.good}
        for run_id in expected:
            # A good run has all its snapshots completed; a failed one has the one in error and the others.
            states = ["completed"] * VOLUMES if run_id not in failed else ["completed"] * (VOLUMES - 1) + ["error"]
            assert sorted(by_run[run_id]) == states
        for run_id in self.waiting():
            assert len(by_run[run_id]) == self.orphans[run_id][1]
        crashed_with_directory = {run_id for run_id in self.waiting() if self.orphans[run_id][2]}
        assert set(self.store.list_children("runs")) == expected | crashed_with_directory


def test_a_year_of_daily_runs_keeps_exactly_the_gfs_set_of_snapshots(
    ec2: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = the_plan()
    store = open_store(str(tmp_path))
    year = Year(ec2, store, plan, [pv(ec2, f"data-{n}") for n in range(VOLUMES)], failing_snapshots(monkeypatch))
    snapshots = plan_snapshots(plan, ec2=ec2)
    assert snapshots is not None

    # Foreign snapshots, there from the start, on a volume the selector does not pick: only retention could
    # delete them, and it must not.
    elsewhere = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1)["VolumeId"]
    for tags in (
        {},  # untagged
        {PLAN_TAG: "cf-prod-eu", RUN_TAG: "20251231T013000Z-0a0a"},  # a plan named alike, with a run id
        {PLAN_TAG: "cf-staging", RUN_TAG: "20260101T013000Z-0b0b"},  # another plan's run of the first day
        {PLAN_TAG: PLAN},  # this plan's tag and no run: no run owns it
        {PLAN_TAG: PLAN, RUN_TAG: "before-upgrade"},  # a run tag that is no run id
    ):
        snapshot(ec2, elsewhere, tags)
    year.foreign = every_snapshot(ec2)
    assert len(year.foreign) == 5

    dry_runs_that_deleted = 0
    expected: set[str] = set()
    day = FIRST_RUN
    while day <= LAST_RUN:
        previous = expected  # what the policy kept yesterday: what the last sweep left
        new = year.run(day)
        expected = policy_keeps(year.runs)
        assert expected <= previous | {new.run_id}, "a run the policy lets go never comes back"

        checkpoint = (day - FIRST_RUN).days % 30 == 0 or day in CHECKPOINTS or bool(year.due(day))
        dry: PruneReport | None = None
        if checkpoint:
            # A dry run first: it deletes nothing, and reports exactly what the real sweep then does.
            listing, described = list(store.list_keys()), every_snapshot(ec2)
            dry = prune(plan, store, now=day, dry_run=True, snapshots=snapshots)
            assert (list(store.list_keys()), every_snapshot(ec2)) == (listing, described), "a dry run changes nothing"
        report = prune(plan, store, now=day, snapshots=snapshots)
        if dry is not None:
            assert {d.outcome for d in dry.deletions} <= {"would delete"}
            assert {run_id: ("deleted", *rest) for run_id, (_, *rest) in outcomes(dry).items()} == outcomes(report)
            assert (dry.kept, dry.waiting) == (report.kept, report.waiting)
            dry_runs_that_deleted += bool(report.deletions)
        year.check_sweep(report, previous - expected, expected, day)
        if checkpoint:
            year.check_what_is_left(expected)

        if day == datetime(2026, 3, 10, 1, 30, tzinfo=UTC):
            # A manual run started at 13:00 and crashed: it waits at the next two sweeps (12.5 h and 36.5 h
            # old) and is swept at the third (60.5 h).
            year.crash(datetime(2026, 3, 10, 13, 0, tzinfo=UTC), "dead", 2)
            year.check_what_is_left(expected)
        if day == datetime(2026, 3, 11, 1, 30, tzinfo=UTC):
            # One that crashed at 18:00 after its start step had written a file: its run directory goes with
            # its snapshots, after the same grace (swept at 03-14 01:30, 55.5 h old).
            year.crash(datetime(2026, 3, 11, 18, 0, tzinfo=UTC), "d1ed", 3, directory=True)
        if day == datetime(2026, 7, 4, 1, 30, tzinfo=UTC):
            # Found late: a crash three days ago, already past the grace period, swept at the next sweep.
            year.crash(datetime(2026, 7, 1, 9, 15, tzinfo=UTC), "beef", 1)
        if day == END_OF_FAILURES:
            check_min_keep_after_ten_failed_runs(year.runs, expected)
        day += timedelta(days=1)

    assert len(year.runs) == 377
    assert year.swept == {"20260310T130000Z-dead", "20260311T180000Z-d1ed", "20260701T091500Z-beef"}
    assert dry_runs_that_deleted >= 15

    # The end, worked out by hand from the calendar. Local days with a good run: up to 2026-12-29, then
    # 2027-01-09, -10 and -11 (the runs of UTC 01-10, -11 and -12), after the ten failures.
    final = policy_keeps(year.runs)
    assert kept_days(year.runs, final) == (
        on("2027-01-11", "2027-01-10", "2027-01-09")
        | days("2026-12-26", "2026-12-29")  # daily 7: with the three above, the 7 latest days with a good run
        | days("2026-12-23", "2026-12-25")  # min_keep 10: the next three good runs
        # weekly 4: 2027-W02 (Mon 01-11), 2027-W01 (Sun 01-10), 2026-W53 (12-29), 2026-W52 (Sun 12-27): all above.
        # monthly 12: January 2027 back to February 2026, the last good run of each (April's last day failed).
        | on("2026-11-30", "2026-10-31", "2026-09-30", "2026-08-31", "2026-07-31", "2026-06-30")
        | on("2026-05-31", "2026-04-29", "2026-03-31", "2026-02-28")
    )
    # The failed runs are all gone, each older than the newest good run (rule 5), and their snapshots with them.
    assert not {run.run_id for run in year.runs if not run.good} & final
    year.check_what_is_left(final)

    # A run that crashed an hour ago waits; two days later, with no run in between, it is swept and nothing
    # else changes (the policy looks at the runs, not at the clock).
    crashed = year.crash(LAST_RUN + timedelta(hours=1), "cafe", 3)
    later = prune(plan, store, now=LAST_RUN + timedelta(hours=2), snapshots=snapshots)
    assert (later.deletions, later.waiting) == ([], [crashed])
    year.check_what_is_left(final)
    last = prune(plan, store, now=LAST_RUN + timedelta(hours=2 + GRACE_HOURS), snapshots=snapshots)
    assert [(d.run_id, d.outcome, d.committed, d.snapshots) for d in last.deletions] == [(crashed, "deleted", False, 3)]
    year.swept.add(crashed)
    year.check_what_is_left(final)


def check_min_keep_after_ten_failed_runs(runs: list[Run], expected: set[str]) -> None:
    """The state after the tenth failed run in a row (UTC 2027-01-09, local Fri 2027-01-08).

    The newest good run is local Tue 2026-12-29's (UTC 12-30), ten days old. What is kept:
    * all ten failed runs, local 12-30 to 01-08: newer than the newest good run, the evidence of a
      current problem (rule 5);
    * daily 7: local 12-23 to 12-29. These are the 7 latest days *with a good run* (rule 3), so the
      failures do not push them out although the last 7 calendar days hold no good run at all;
    * min_keep 10: the ten newest good runs, local 12-20 to 12-29. Of those, 12-21 (Mon) and 12-22 (Tue)
      are kept by min_keep alone: daily 7 stops at 12-23, 12-20 is the Sunday that closes ISO week 51,
      and neither is the last of a month. Without the floor both would be deleted;
    * weekly 4, the latest four ISO weeks with a good run: 2026-W53 (12-29; 2027-W01 has none), W52
      (Sun 12-27), W51 (Sun 12-20), W50 (Sun 12-13);
    * monthly 12, the latest twelve months with a good run: December 2026 (12-29; January 2027 has none)
      back to January 2026 (01-31). December 2025's only run, local 2025-12-31, is the 13th: gone.
    """
    assert kept_days(runs, expected) == (
        days("2026-12-30", "2027-01-08")  # the failed runs
        | days("2026-12-20", "2026-12-29")  # min_keep 10 (daily 7 is its last seven)
        | on("2026-12-13")  # weekly: W50
        | on("2026-11-30", "2026-10-31", "2026-09-30", "2026-08-31", "2026-07-31", "2026-06-30")
        | on("2026-05-31", "2026-04-29", "2026-03-31", "2026-02-28", "2026-01-31")
    )
    good = sorted((run for run in runs if run.good), key=lambda run: run.started)
    newest_ten = {run.run_id for run in good[-MIN_KEEP:]}
    assert newest_ten <= expected, f"min_keep={MIN_KEEP}: the ten newest good runs are kept, whatever their age"
    without_floor = gfs(runs, daily=DAILY, weekly=WEEKLY, monthly=MONTHLY, min_keep=0)
    assert kept_days(runs, newest_ten - without_floor) == on("2026-12-21", "2026-12-22")
