"""Which backup runs to keep and which to delete: grandfather-father-son, with a floor.

`decide` is a pure function of the runs, the policy and an explicit `now`; it never
reads the clock and never touches storage. These are users' only backups, so every
rule below errs towards keeping.

Terms
-----
* A run is *good* when its status is exactly ``"succeeded"``; any other status
  (``"failed"``, ``"running"``, anything unknown) is not good.
* A run is *in the future* when ``started_at > now`` (clock skew between the
  machine that recorded the run and the one that prunes).
* A run's *local day* is the calendar date of ``started_at`` in
  ``policy.time_zone``; its *week* is the ISO 8601 week (ISO year and week number,
  so 2027-01-01 is in 2026-W53) of that date, its *month* the year and month of
  that date. zoneinfo does the conversion, so DST transitions are handled: a
  23-hour or 25-hour day is still one day, and a run is bucketed by the date its
  local wall clock showed.
* Runs are ordered by instant (the UTC time of ``started_at``), never by wall
  clock: two datetimes sharing one ``ZoneInfo`` compare by wall clock and ignore
  ``fold``, which would misorder runs in the repeated hour of a DST fall-back.
  Equal instants are ordered by ``run_id`` so that the result never depends on the
  order of the input. This is ``catalog.newness``, the order listing and ``latest``
  use too, so the run retention calls newest is the run a restore of "latest" reads.

The policy is validated again on every call: one built with ``model_construct``
or changed with ``model_copy(update=...)`` skipped validation, and ``min_keep=0``
with all counts 0 would delete every run. A bad policy raises ValueError.

Rules
-----
1. Runs in the future are always kept, with a reason, and are otherwise ignored:
   they count toward no bucket and not toward ``min_keep``, and they are not the
   "newest good run" of rule 5. Ignoring them means a skewed clock can only make
   the policy keep more, never push a real run out.
2. ``min_keep``: the newest ``min_keep`` good runs are kept, whatever their age.
3. ``daily=N``: among the local days that have at least one good run, take the
   N latest by calendar date and keep the newest good run of each. This is the
   "last N days *that have a good run*" reading (as restic's ``--keep-daily``), not
   "the last N calendar days counted back from now": if backups stopped three
   months ago, the last N days of backups are still kept rather than nothing.
   Days are ranked by their date, not by when their newest run happened, because
   in a few zones a DST fall-back crosses midnight (America/Goose_Bay until
   2010) and a later instant can carry an earlier date.
4. ``weekly=N`` and ``monthly=N``: the same with ISO weeks and calendar months.
   The rules are independent, as in restic (not borg, where a run kept by one
   rule does not count for the next): one run can be kept for several reasons,
   and raising any count can only keep more.
5. Runs that are not good count toward nothing. Those newer than the newest good
   run are kept: they are the evidence of a current problem. When there is no
   good run up to now, every not-good run is such evidence and is kept. Not-good runs
   older than the newest good run are deleted.
6. Every other good run is deleted.

Consequences (checked by the property tests)
--------------------------------------------
* Every run is in exactly one of ``keep`` and ``delete``; both are newest first.
* Idempotence: deciding again over only the kept runs, at the same ``now``, keeps
  all of them, for the same reasons. Each rule's choice survives the removal of
  runs it did not choose: the chosen buckets are still the latest ones with a good
  run and each still holds its newest good run, the newest ``min_keep`` good runs
  are still the newest, and so the newest good run (kept, as ``min_keep >= 1``)
  still dates the not-good runs of rule 5.
* Monotonicity: raising ``daily``, ``weekly``, ``monthly`` or ``min_keep`` never
  deletes a run that was kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from smokejumper.catalog import Dated, newness
from smokejumper.plan import RetentionPolicy

GOOD_STATUS = "succeeded"

# A day, ISO week or month as integers, most significant first, so that tuples
# compare in calendar order: (2026, 11, 24), (2026, 48), (2026, 11).
_BucketKey = tuple[int, ...]


class RetentionCandidate(Dated, Protocol):
    """What retention needs to know about a run. Read-only, so frozen records qualify."""

    @property
    def status(self) -> str: ...


@dataclass(frozen=True)
class Verdict:
    """One run's fate, with the reasons a person needs to check it."""

    run_id: str
    started_at: datetime
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class RetentionDecision:
    """Every run given to `decide` appears in exactly one list; both are newest first."""

    keep: list[Verdict]
    delete: list[Verdict]


@dataclass(frozen=True)
class _Run:
    """A candidate with what the rules look at computed once."""

    run_id: str
    started_at: datetime  # as given, so verdicts echo the caller's value
    status: str
    instant: datetime  # started_at in UTC: the only safe thing to order by
    local_day: date

    @property
    def is_good(self) -> bool:
        return self.status == GOOD_STATUS

    @property
    def newness(self) -> tuple[datetime, str]:
        return newness(self)


@dataclass(frozen=True)
class _Calendar:
    """One of daily, weekly, monthly: how to bucket a local day, rank buckets and name them."""

    unit: str
    count: int
    bucket_of: Callable[[date], _BucketKey]
    label_of: Callable[[date], str]


def decide(runs: Sequence[RetentionCandidate], policy: RetentionPolicy, *, now: datetime) -> RetentionDecision:
    """Split `runs` into those to keep and those to delete under `policy`, as of `now`.

    Raises ValueError on a naive `now` or `started_at`, on a repeated run_id, and on a
    policy that does not validate.
    """
    policy = _validated(policy)
    _require_aware(now, "now")
    zone = ZoneInfo(policy.time_zone)
    candidates = _normalise(runs, zone)
    now_instant = now.astimezone(UTC)

    newest_first = sorted(candidates, key=lambda run: run.newness, reverse=True)
    future = [run for run in newest_first if run.instant > now_instant]
    present = [run for run in newest_first if run.instant <= now_instant]
    good = [run for run in present if run.is_good]

    keep_reasons: dict[str, list[str]] = {run.run_id: [] for run in newest_first}
    # Reasons to delete are only needed for runs no rule keeps; rules that did not
    # choose a run say why, so a person can see what each rule thought of it.
    delete_reasons: dict[str, list[str]] = {run.run_id: [] for run in newest_first}

    for run in future:
        keep_reasons[run.run_id].append(
            f"started in the future ({run.started_at.isoformat()} is after now {now.isoformat()}): "
            "clock skew? always kept, and counted by no rule"
        )

    for rank, run in enumerate(good[: policy.min_keep], start=1):
        keep_reasons[run.run_id].append(f"within min_keep={policy.min_keep}: {_ordinal_newest(rank)} good run")

    for calendar in _calendars(policy):
        _apply_calendar(calendar, good, policy.time_zone, keep_reasons, delete_reasons)

    newest_good = good[0] if good else None
    for run in present:
        if not run.is_good:
            _judge_not_good(run, newest_good, keep_reasons, delete_reasons)

    not_selected = (
        f"not selected by daily={policy.daily}, weekly={policy.weekly}, monthly={policy.monthly} "
        f"or min_keep={policy.min_keep}"
    )
    keep: list[Verdict] = []
    delete: list[Verdict] = []
    for run in newest_first:
        if keep_reasons[run.run_id]:
            keep.append(Verdict(run.run_id, run.started_at, tuple(keep_reasons[run.run_id])))
        elif run.is_good:
            reasons = (not_selected, *delete_reasons[run.run_id])
            delete.append(Verdict(run.run_id, run.started_at, reasons))
        else:
            delete.append(Verdict(run.run_id, run.started_at, tuple(delete_reasons[run.run_id])))
    return RetentionDecision(keep=keep, delete=delete)


def _validated(policy: RetentionPolicy) -> RetentionPolicy:
    # model_construct and model_copy(update=...) skip validation; a min_keep of 0 here
    # is the difference between pruning and deleting every backup.
    try:
        return RetentionPolicy.model_validate(policy.model_dump())
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(top)'}: {error['msg']}" for error in exc.errors()
        )
        raise ValueError(f"invalid retention policy: {problems}") from exc


def _normalise(runs: Sequence[RetentionCandidate], zone: ZoneInfo) -> list[_Run]:
    seen: set[str] = set()
    normalised: list[_Run] = []
    for candidate in runs:
        if candidate.run_id in seen:
            raise ValueError(f"run_id {candidate.run_id!r} appears more than once")
        seen.add(candidate.run_id)
        _require_aware(candidate.started_at, f"started_at of run {candidate.run_id!r}")
        normalised.append(
            _Run(
                run_id=candidate.run_id,
                started_at=candidate.started_at,
                status=candidate.status,
                instant=candidate.started_at.astimezone(UTC),
                local_day=candidate.started_at.astimezone(zone).date(),
            )
        )
    return normalised


def _require_aware(moment: datetime, what: str) -> None:
    # A naive datetime has no instant: guessing a zone for it could shift a run
    # into another day and delete the wrong backup.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {moment.isoformat()}")


def _calendars(policy: RetentionPolicy) -> list[_Calendar]:
    return [
        _Calendar("day", policy.daily, lambda day: (day.year, day.month, day.day), lambda day: day.isoformat()),
        _Calendar("week", policy.weekly, _iso_week, _iso_week_label),
        _Calendar("month", policy.monthly, lambda day: (day.year, day.month), lambda day: f"{day:%Y-%m}"),
    ]


def _iso_week(day: date) -> _BucketKey:
    iso = day.isocalendar()
    return (iso.year, iso.week)


def _iso_week_label(day: date) -> str:
    year, week = _iso_week(day)
    return f"{year}-W{week:02d}"


def _apply_calendar(
    calendar: _Calendar,
    good_newest_first: list[_Run],
    zone_name: str,
    keep_reasons: dict[str, list[str]],
    delete_reasons: dict[str, list[str]],
) -> None:
    if calendar.count == 0:
        return
    # The first run seen in a bucket, newest first, is that bucket's newest good run.
    newest_in_bucket: dict[_BucketKey, _Run] = {}
    for run in good_newest_first:
        newest_in_bucket.setdefault(calendar.bucket_of(run.local_day), run)
    # Rank buckets by calendar order, not by their newest run: see rule 3.
    chosen = set(sorted(newest_in_bucket, reverse=True)[: calendar.count])
    for run in good_newest_first:
        bucket = calendar.bucket_of(run.local_day)
        where = f"{calendar.unit} {calendar.label_of(run.local_day)} ({zone_name})"
        if bucket not in chosen:
            delete_reasons[run.run_id].append(
                f"{where} is older than the last {calendar.count} {calendar.unit}s with a good run"
            )
        elif newest_in_bucket[bucket] is run:
            keep_reasons[run.run_id].append(f"newest good run of {where}")
        else:
            newer = newest_in_bucket[bucket].run_id
            delete_reasons[run.run_id].append(f"not the newest good run of {where}; {newer} is")


def _judge_not_good(
    run: _Run,
    newest_good: _Run | None,
    keep_reasons: dict[str, list[str]],
    delete_reasons: dict[str, list[str]],
) -> None:
    what = "failed run" if run.status == "failed" else f"run with status {run.status!r} (not good)"
    if newest_good is None:
        keep_reasons[run.run_id].append(f"{what}, and no good run up to now: kept as evidence of a current problem")
    elif run.newness > newest_good.newness:
        keep_reasons[run.run_id].append(
            f"{what} newer than the newest good run {newest_good.run_id}: evidence of a current problem"
        )
    else:
        delete_reasons[run.run_id].append(f"{what} older than the newest good run {newest_good.run_id}")


def _ordinal_newest(rank: int) -> str:
    if rank == 1:
        return "newest"
    suffix = "th" if 10 <= rank % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(rank % 10, "th")
    return f"{rank}{suffix} newest"
