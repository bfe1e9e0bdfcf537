"""Tests for smokejumper.retention: worked examples first, then properties over random histories."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from smokejumper.plan import RetentionPolicy
from smokejumper.retention import RetentionDecision, Verdict, decide

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


@dataclass(frozen=True)
class Run:
    """A minimal record satisfying RetentionCandidate."""

    run_id: str
    started_at: datetime
    status: str = "succeeded"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def policy(
    *, daily: int = 0, weekly: int = 0, monthly: int = 0, min_keep: int = 1, time_zone: str = "UTC"
) -> RetentionPolicy:
    return RetentionPolicy(daily=daily, weekly=weekly, monthly=monthly, min_keep=min_keep, time_zone=time_zone)


def ids(verdicts: Sequence[Verdict]) -> list[str]:
    return [verdict.run_id for verdict in verdicts]


def reasons_of(decision: RetentionDecision, run_id: str) -> tuple[str, ...]:
    (verdict,) = [v for v in [*decision.keep, *decision.delete] if v.run_id == run_id]
    return verdict.reasons


def nightly(first: date, last: date, *, hour: int, status: str = "succeeded") -> list[Run]:
    """One run a day at `hour` UTC, named after its UTC date: run-2026-11-24."""
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return [Run(f"run-{day}", utc(day.year, day.month, day.day, hour), status) for day in days]


# --- worked examples -------------------------------------------------------------------------------


def test_a_year_of_nightly_runs_with_7_daily_4_weekly_6_monthly() -> None:
    runs = nightly(date(2025, 11, 25), date(2026, 11, 24), hour=2)
    assert len(runs) == 365

    decision = decide(runs, RetentionPolicy(), now=utc(2026, 11, 24, 12))

    # 2026-11-24 is a Tuesday in ISO week 2026-W48.
    # daily:   the last 7 days, 11-18 .. 11-24
    # weekly:  newest of W48 (11-24), W47 (Sun 11-22), W46 (Sun 11-15), W45 (Sun 11-08)
    # monthly: last day of each month back to June, and 11-24 for November
    # min_keep=3: 11-24, 11-23, 11-22, already kept as dailies
    assert ids(decision.keep) == [
        "run-2026-11-24",
        "run-2026-11-23",
        "run-2026-11-22",
        "run-2026-11-21",
        "run-2026-11-20",
        "run-2026-11-19",
        "run-2026-11-18",
        "run-2026-11-15",
        "run-2026-11-08",
        "run-2026-10-31",
        "run-2026-09-30",
        "run-2026-08-31",
        "run-2026-07-31",
        "run-2026-06-30",
    ]
    assert len(decision.delete) == 365 - 14
    assert ids(decision.delete)[0] == "run-2026-11-17"
    assert ids(decision.delete)[-1] == "run-2025-11-25"

    assert reasons_of(decision, "run-2026-11-22") == (
        "within min_keep=3: 3rd newest good run",
        "newest good run of day 2026-11-22 (UTC)",
        "newest good run of week 2026-W47 (UTC)",
    )
    assert reasons_of(decision, "run-2026-11-24") == (
        "within min_keep=3: newest good run",
        "newest good run of day 2026-11-24 (UTC)",
        "newest good run of week 2026-W48 (UTC)",
        "newest good run of month 2026-11 (UTC)",
    )
    assert reasons_of(decision, "run-2026-06-30") == ("newest good run of month 2026-06 (UTC)",)
    assert reasons_of(decision, "run-2026-11-17") == (
        "not selected by daily=7, weekly=4, monthly=6 or min_keep=3",
        "day 2026-11-17 (UTC) is older than the last 7 days with a good run",
        "not the newest good run of week 2026-W47 (UTC); run-2026-11-22 is",
        "not the newest good run of month 2026-11 (UTC); run-2026-11-24 is",
    )


def test_backups_that_stopped_three_months_ago_keep_their_last_days_weeks_and_months() -> None:
    runs = nightly(date(2026, 1, 1), date(2026, 8, 20), hour=1)

    decision = decide(runs, RetentionPolicy(), now=utc(2026, 11, 24, 12))

    # "Last N days that have a good run", not "last N days back from now": counting back
    # from now would find no daily, weekly or monthly run and keep only min_keep.
    # 2026-08-20 is a Thursday in W34; W33 ends Sun 08-16, W32 08-09, W31 08-02.
    assert ids(decision.keep) == [
        "run-2026-08-20",
        "run-2026-08-19",
        "run-2026-08-18",
        "run-2026-08-17",
        "run-2026-08-16",
        "run-2026-08-15",
        "run-2026-08-14",
        "run-2026-08-09",
        "run-2026-08-02",
        "run-2026-07-31",
        "run-2026-06-30",
        "run-2026-05-31",
        "run-2026-04-30",
        "run-2026-03-31",
    ]
    assert reasons_of(decision, "run-2026-08-18")[0] == "within min_keep=3: 3rd newest good run"


def test_failing_since_three_months_keeps_every_failure_and_the_last_good_history() -> None:
    good = nightly(date(2026, 1, 1), date(2026, 8, 20), hour=1)
    failing_since = nightly(date(2026, 8, 21), date(2026, 11, 24), hour=1, status="failed")
    old_failure = Run("old-failure", utc(2026, 5, 5, 13), "failed")

    decision = decide([*good, *failing_since, old_failure], RetentionPolicy(), now=utc(2026, 11, 24, 12))

    kept = set(ids(decision.keep))
    assert {run.run_id for run in failing_since} <= kept
    assert {"run-2026-08-20", "run-2026-08-14", "run-2026-03-31"} <= kept
    assert len(kept) == len(failing_since) + 14
    assert reasons_of(decision, "run-2026-11-24") == (
        "failed run newer than the newest good run run-2026-08-20: evidence of a current problem",
    )
    assert reasons_of(decision, "old-failure") == ("failed run older than the newest good run run-2026-08-20",)
    assert "old-failure" in ids(decision.delete)


def test_all_runs_failed_keeps_them_all_as_evidence() -> None:
    runs = nightly(date(2026, 11, 1), date(2026, 11, 10), hour=3, status="failed")

    decision = decide(runs, RetentionPolicy(), now=utc(2026, 11, 24))

    assert ids(decision.keep) == [run.run_id for run in reversed(runs)]
    assert decision.delete == []
    assert reasons_of(decision, "run-2026-11-01") == (
        "failed run, and no good run up to now: kept as evidence of a current problem",
    )


def test_not_good_runs_are_kept_only_when_newer_than_the_newest_good_run() -> None:
    runs = [
        Run("good-1", utc(2026, 11, 1, 3)),
        Run("failed-1", utc(2026, 11, 2, 3), "failed"),
        Run("good-2", utc(2026, 11, 3, 3)),
        Run("failed-2", utc(2026, 11, 4, 3), "failed"),
        Run("running", utc(2026, 11, 5, 3), "running"),
    ]

    decision = decide(runs, policy(min_keep=1), now=utc(2026, 11, 24))

    assert ids(decision.keep) == ["running", "failed-2", "good-2"]
    assert ids(decision.delete) == ["failed-1", "good-1"]
    assert reasons_of(decision, "running") == (
        "run with status 'running' (not good) newer than the newest good run good-2: evidence of a current problem",
    )
    assert reasons_of(decision, "failed-1") == ("failed run older than the newest good run good-2",)
    assert reasons_of(decision, "good-1") == ("not selected by daily=0, weekly=0, monthly=0 or min_keep=1",)


def test_a_failed_run_starting_with_the_newest_good_run_is_ordered_by_run_id() -> None:
    # Equal instants are ordered by run_id everywhere, here too: "b" counts as the newer.
    same_moment = utc(2026, 11, 24, 2)
    runs = [Run("a-good", same_moment), Run("b-failed", same_moment, "failed")]
    decision = decide(runs, policy(), now=utc(2026, 11, 25))
    assert ids(decision.keep) == ["b-failed", "a-good"]

    runs = [Run("b-good", same_moment), Run("a-failed", same_moment, "failed")]
    decision = decide(runs, policy(), now=utc(2026, 11, 25))
    assert ids(decision.keep) == ["b-good"]
    assert ids(decision.delete) == ["a-failed"]


def test_failed_runs_count_toward_no_bucket() -> None:
    # The newest run of the day failed: the day's newest *good* run is what daily keeps.
    runs = [
        Run("morning", utc(2026, 11, 24, 6)),
        Run("noon", utc(2026, 11, 24, 12)),
        Run("evening-failed", utc(2026, 11, 24, 18), "failed"),
        Run("yesterday", utc(2026, 11, 23, 6)),
    ]

    decision = decide(runs, policy(daily=1, min_keep=1), now=utc(2026, 11, 25))

    assert ids(decision.keep) == ["evening-failed", "noon"]
    assert ids(decision.delete) == ["morning", "yesterday"]


def test_runs_in_the_future_are_kept_and_do_not_use_up_min_keep() -> None:
    now = utc(2026, 11, 24, 12)
    runs = [
        Run("skewed-good", now + timedelta(minutes=5)),
        Run("skewed-failed", now + timedelta(hours=1), "failed"),
        Run("latest-real", now - timedelta(hours=1)),
        Run("earlier-real", now - timedelta(days=1)),
        Run("exactly-now", now - timedelta(days=2), "failed"),
    ]

    decision = decide(runs, policy(min_keep=1), now=now)

    assert ids(decision.keep) == ["skewed-failed", "skewed-good", "latest-real"]
    assert ids(decision.delete) == ["earlier-real", "exactly-now"]
    assert reasons_of(decision, "skewed-good") == (
        "started in the future (2026-11-24T12:05:00+00:00 is after now 2026-11-24T12:00:00+00:00): "
        "clock skew? always kept, and counted by no rule",
    )
    assert reasons_of(decision, "latest-real") == ("within min_keep=1: newest good run",)


def test_a_run_starting_exactly_at_now_is_not_in_the_future() -> None:
    now = utc(2026, 11, 24, 12)
    decision = decide([Run("at-now", now), Run("before", now - timedelta(days=1))], policy(), now=now)
    assert ids(decision.keep) == ["at-now"]
    assert reasons_of(decision, "at-now") == ("within min_keep=1: newest good run",)


@pytest.mark.parametrize(
    ("zone", "instants", "days"),
    [
        pytest.param(
            "Europe/Berlin",
            # 2026-03-29 has 23 hours in Berlin: 03-28 23:00 UTC to 03-29 22:00 UTC.
            [utc(2026, 3, 28, 22, 30), utc(2026, 3, 28, 23, 30), utc(2026, 3, 29, 21, 30), utc(2026, 3, 29, 22, 30)],
            ["2026-03-28", "2026-03-29", "2026-03-29", "2026-03-30"],
            id="Berlin spring forward",
        ),
        pytest.param(
            "Europe/Berlin",
            # 2026-10-25 has 25 hours in Berlin: 10-24 22:00 UTC to 10-25 23:00 UTC.
            [
                utc(2026, 10, 24, 21, 30),
                utc(2026, 10, 24, 22, 30),
                utc(2026, 10, 25, 22, 30),
                utc(2026, 10, 25, 23, 30),
            ],
            ["2026-10-24", "2026-10-25", "2026-10-25", "2026-10-26"],
            id="Berlin fall back",
        ),
        pytest.param(
            "America/New_York",
            # 2026-03-08 has 23 hours in New York: 03-08 05:00 UTC to 03-09 04:00 UTC.
            [utc(2026, 3, 8, 4, 30), utc(2026, 3, 8, 5, 30), utc(2026, 3, 9, 3, 30), utc(2026, 3, 9, 4, 30)],
            ["2026-03-07", "2026-03-08", "2026-03-08", "2026-03-09"],
            id="New York spring forward",
        ),
        pytest.param(
            "America/New_York",
            # 2026-11-01 has 25 hours in New York: 11-01 04:00 UTC to 11-02 05:00 UTC.
            [utc(2026, 11, 1, 3, 30), utc(2026, 11, 1, 4, 30), utc(2026, 11, 2, 4, 30), utc(2026, 11, 2, 5, 30)],
            ["2026-10-31", "2026-11-01", "2026-11-01", "2026-11-02"],
            id="New York fall back",
        ),
    ],
)
def test_dst_change_days_bucket_runs_by_their_local_date(zone: str, instants: list[datetime], days: list[str]) -> None:
    # Each case: 23:30 the day before, 00:30 and 23:30 local on the change day, 00:30 the day after.
    runs = [Run(f"run-{n}", instant) for n, instant in enumerate(instants)]

    decision = decide(runs, policy(daily=3, time_zone=zone), now=utc(2026, 12, 1))

    assert ids(decision.keep) == ["run-3", "run-2", "run-0"]
    assert ids(decision.delete) == ["run-1"]
    assert reasons_of(decision, "run-2") == (f"newest good run of day {days[2]} ({zone})",)
    assert reasons_of(decision, "run-0") == (f"newest good run of day {days[0]} ({zone})",)
    assert f"not the newest good run of day {days[1]} ({zone}); run-2 is" in reasons_of(decision, "run-1")


@pytest.mark.parametrize(
    ("zone", "earlier_wall_clock_but_later", "later_wall_clock_but_earlier"),
    [
        # Both runs are in the repeated hour; fold=1 is the second pass, an hour later in UTC.
        (BERLIN, datetime(2026, 10, 25, 2, 15, fold=1, tzinfo=BERLIN), datetime(2026, 10, 25, 2, 45, tzinfo=BERLIN)),
        (
            NEW_YORK,
            datetime(2026, 11, 1, 1, 15, fold=1, tzinfo=NEW_YORK),
            datetime(2026, 11, 1, 1, 45, tzinfo=NEW_YORK),
        ),
    ],
)
def test_runs_in_the_repeated_hour_are_ordered_by_instant_not_wall_clock(
    zone: ZoneInfo, earlier_wall_clock_but_later: datetime, later_wall_clock_but_earlier: datetime
) -> None:
    assert earlier_wall_clock_but_later.astimezone(UTC) > later_wall_clock_but_earlier.astimezone(UTC)
    # The trap: with one shared tzinfo, Python compares wall clocks and ignores fold.
    assert earlier_wall_clock_but_later < later_wall_clock_but_earlier
    runs = [
        Run("second-pass", earlier_wall_clock_but_later),
        Run("first-pass", later_wall_clock_but_earlier),
        Run("day-before", datetime(2026, 10, 24, 12, tzinfo=zone)),
    ]

    decision = decide(runs, policy(daily=1, time_zone=str(zone)), now=utc(2026, 12, 1))

    assert ids(decision.keep) == ["second-pass"]
    assert ids(decision.delete) == ["first-pass", "day-before"]


def test_a_run_at_2330_utc_is_the_next_day_in_tokyo() -> None:
    runs = [
        Run("tokyo-evening", utc(2026, 11, 23, 12)),  # 21:00 on 11-23 in Tokyo
        Run("utc-late-evening", utc(2026, 11, 23, 23, 30)),  # 08:30 on 11-24 in Tokyo
        Run("utc-small-hours", utc(2026, 11, 24, 1)),  # 10:00 on 11-24 in Tokyo
    ]
    now = utc(2026, 11, 25)

    in_tokyo = decide(runs, policy(daily=2, time_zone="Asia/Tokyo"), now=now)
    in_utc = decide(runs, policy(daily=2, time_zone="UTC"), now=now)

    assert ids(in_tokyo.keep) == ["utc-small-hours", "tokyo-evening"]
    assert ids(in_tokyo.delete) == ["utc-late-evening"]
    assert reasons_of(in_tokyo, "tokyo-evening") == ("newest good run of day 2026-11-23 (Asia/Tokyo)",)
    assert ids(in_utc.keep) == ["utc-small-hours", "utc-late-evening"]
    assert ids(in_utc.delete) == ["tokyo-evening"]


def test_days_are_ranked_by_date_when_a_fall_back_crosses_midnight() -> None:
    # Until 2010 Goose Bay fell back at 00:01 to 23:01 of the day before, so a later
    # instant can carry an earlier date. The last day with a good run is still 11-07.
    goose_bay = "America/Goose_Bay"
    runs = [
        Run("nov-6-morning", utc(2010, 11, 6, 12)),  # 09:00 on 11-06
        Run("nov-7-just-after-midnight", utc(2010, 11, 7, 3, 0, 30)),  # 00:00:30 on 11-07, -03:00
        Run("nov-6-second-2330", utc(2010, 11, 7, 3, 30)),  # 23:30 on 11-06 again, -04:00
    ]

    decision = decide(runs, policy(daily=1, time_zone=goose_bay), now=utc(2010, 12, 1))

    assert ids(decision.keep) == ["nov-6-second-2330", "nov-7-just-after-midnight"]
    assert reasons_of(decision, "nov-7-just-after-midnight") == (f"newest good run of day 2010-11-07 ({goose_bay})",)
    assert reasons_of(decision, "nov-6-second-2330") == ("within min_keep=1: newest good run",)
    assert ids(decision.delete) == ["nov-6-morning"]


def test_iso_weeks_cross_the_new_year() -> None:
    runs = [
        Run("mon-2026-12-21", utc(2026, 12, 21, 2)),  # 2026-W52
        Run("mon-2026-12-28", utc(2026, 12, 28, 2)),  # 2026-W53
        Run("fri-2027-01-01", utc(2027, 1, 1, 2)),  # still 2026-W53, not 2027-W53
    ]

    decision = decide(runs, policy(weekly=2), now=utc(2027, 1, 2))

    assert ids(decision.keep) == ["fri-2027-01-01", "mon-2026-12-21"]
    assert reasons_of(decision, "fri-2027-01-01") == (
        "within min_keep=1: newest good run",
        "newest good run of week 2026-W53 (UTC)",
    )
    assert ids(decision.delete) == ["mon-2026-12-28"]
    assert "not the newest good run of week 2026-W53 (UTC); fri-2027-01-01 is" in reasons_of(decision, "mon-2026-12-28")


def test_min_keep_keeps_old_runs_whatever_their_age() -> None:
    runs = [Run(f"run-{year}", utc(year, 6, 1)) for year in range(2015, 2020)]
    decision = decide(runs, policy(min_keep=4), now=utc(2026, 11, 24))
    assert ids(decision.keep) == ["run-2019", "run-2018", "run-2017", "run-2016"]
    assert reasons_of(decision, "run-2016") == ("within min_keep=4: 4th newest good run",)
    assert ids(decision.delete) == ["run-2015"]


def test_equal_start_times_are_broken_by_run_id() -> None:
    same_moment = utc(2026, 11, 24, 2)
    runs = [Run("b", same_moment), Run("a", same_moment)]
    decision = decide(runs, policy(daily=1), now=utc(2026, 11, 25))
    assert ids(decision.keep) == ["b"]
    assert ids(decision.delete) == ["a"]


def test_empty_input_gives_an_empty_decision() -> None:
    assert decide([], RetentionPolicy(), now=utc(2026, 11, 24)) == RetentionDecision(keep=[], delete=[])


def test_duplicate_run_ids_are_refused() -> None:
    runs = [Run("same", utc(2026, 11, 23)), Run("same", utc(2026, 11, 24))]
    with pytest.raises(ValueError, match="'same' appears more than once"):
        decide(runs, RetentionPolicy(), now=utc(2026, 11, 25))


def test_naive_start_times_are_refused() -> None:
    runs = [Run("naive", datetime(2026, 11, 24, 2))]
    with pytest.raises(ValueError, match="started_at of run 'naive' must be timezone-aware"):
        decide(runs, RetentionPolicy(), now=utc(2026, 11, 25))


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        decide([], RetentionPolicy(), now=datetime(2026, 11, 25))


@pytest.mark.parametrize(
    ("unchecked", "field"),
    [
        pytest.param(RetentionPolicy.model_construct(min_keep=0), "min_keep", id="model_construct min_keep=0"),
        pytest.param(RetentionPolicy().model_copy(update={"min_keep": 0}), "min_keep", id="model_copy min_keep=0"),
        pytest.param(
            RetentionPolicy.model_construct(daily=0, weekly=0, monthly=0, min_keep=0),
            "min_keep",
            id="every count 0",
        ),
        pytest.param(RetentionPolicy().model_copy(update={"daily": -1}), "daily", id="negative daily"),
        pytest.param(RetentionPolicy().model_copy(update={"time_zone": "Mars/Olympus"}), "time_zone", id="bad zone"),
    ],
)
def test_a_policy_that_skipped_validation_is_refused_not_obeyed(unchecked: RetentionPolicy, field: str) -> None:
    # Unchecked, min_keep=0 with every count 0 would delete every run without a word.
    runs = [Run("only-backup", utc(2026, 11, 24, 2))]
    with pytest.raises(ValueError, match=f"^invalid retention policy: {field}: "):
        decide(runs, unchecked, now=utc(2026, 11, 25))


def test_a_valid_policy_built_without_validation_is_used_as_given() -> None:
    runs = [Run("newer", utc(2026, 11, 24, 2)), Run("older", utc(2026, 11, 23, 2))]
    unchecked = RetentionPolicy.model_construct(daily=0, weekly=0, monthly=0, min_keep=1)
    decision = decide(runs, unchecked, now=utc(2026, 11, 25))
    assert ids(decision.keep) == ["newer"]
    assert ids(decision.delete) == ["older"]


def test_verdicts_echo_the_start_time_as_given() -> None:
    started_in_berlin = datetime(2026, 11, 24, 3, tzinfo=BERLIN)
    decision = decide([Run("r", started_in_berlin)], RetentionPolicy(), now=utc(2026, 11, 25))
    assert decision.keep[0].started_at is started_in_berlin


# --- properties over random histories --------------------------------------------------------------

POLICY_ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "Australia/Lord_Howe",
    "America/Goose_Bay",  # fell back across midnight until 2010
]
# Zones the caller's datetimes arrive in; the decision must not depend on them.
INPUT_ZONES = [UTC, BERLIN, NEW_YORK, ZoneInfo("Pacific/Chatham"), timezone(timedelta(hours=-3, minutes=-30))]
STATUSES = ["succeeded", "succeeded", "succeeded", "failed", "running"]
# One draw per run for both: drawing is most of the time these tests take.
ZONES_AND_STATUSES = list(itertools.product(INPUT_ZONES, STATUSES))
DAY_SECONDS = 24 * 3600
PROPERTY_SETTINGS = settings(max_examples=100, deadline=None)


@dataclass(frozen=True)
class History:
    runs: list[Run]
    now: datetime


@st.composite
def histories(draw: st.DrawFn) -> History:
    # 2009 reaches Goose Bay's midnight fall-backs; 2020-12-26 puts a new year with an
    # ISO week 53 into short histories, 2026-10-24 Berlin's repeated hour; 2025 is the present.
    start = draw(st.sampled_from([utc(2009, 6, 1), utc(2020, 12, 26), utc(2025, 1, 1), utc(2026, 10, 24, 12)]))
    # Short spans crowd several runs into one day; the long one covers ~2 years.
    span_seconds = draw(st.sampled_from([3 * DAY_SECONDS, 60 * DAY_SECONDS, 730 * DAY_SECONDS]))
    # Coarse steps make equal start times, and runs on the stroke of midnight UTC, common.
    step_seconds = draw(st.sampled_from([1, 3600, DAY_SECONDS]))
    steps = st.integers(0, span_seconds // step_seconds)
    # Draw the length first: left to itself, st.lists mostly makes a handful of runs.
    count = draw(st.integers(min_value=0, max_value=40))
    run_fields = st.tuples(steps, st.sampled_from(ZONES_AND_STATUSES))
    drawn = draw(st.lists(run_fields, min_size=count, max_size=count))
    runs = [
        Run(f"run-{n:02d}", (start + timedelta(seconds=step * step_seconds)).astimezone(zone), status)
        for n, (step, (zone, status)) in enumerate(drawn)
    ]
    # Mostly after every run; sometimes in the middle, so that some runs are in the future.
    now_offset = draw(st.one_of(st.just(span_seconds + DAY_SECONDS), st.integers(0, span_seconds)))
    now = (start + timedelta(seconds=now_offset)).astimezone(draw(st.sampled_from(INPUT_ZONES)))
    return History(runs, now)


policies = st.builds(
    RetentionPolicy,
    daily=st.integers(0, 10),
    weekly=st.integers(0, 6),
    monthly=st.integers(0, 14),
    min_keep=st.integers(1, 5),
    time_zone=st.sampled_from(POLICY_ZONES),
)


def newness(run: Run) -> tuple[datetime, str]:
    return (run.started_at.astimezone(UTC), run.run_id)


def present_good_newest_first(history: History) -> list[Run]:
    present_good = [r for r in history.runs if r.status == "succeeded" and r.started_at <= history.now]
    return sorted(present_good, key=newness, reverse=True)


def kept_ids(decision: RetentionDecision) -> set[str]:
    return set(ids(decision.keep))


def newest_of_last_buckets(
    history: History, retention: RetentionPolicy, bucket_of: Callable[[date], tuple[int, ...]], count: int
) -> set[str]:
    """For each of the last `count` buckets (by calendar) with a good run, its newest good run."""
    zone = ZoneInfo(retention.time_zone)
    good = present_good_newest_first(history)
    buckets = sorted({bucket_of(r.started_at.astimezone(zone).date()) for r in good}, reverse=True)[:count]
    return {next(r for r in good if bucket_of(r.started_at.astimezone(zone).date()) == b).run_id for b in buckets}


def by_day(day: date) -> tuple[int, ...]:
    return (day.year, day.month, day.day)


def by_iso_week(day: date) -> tuple[int, ...]:
    return tuple(day.isocalendar()[:2])


def by_month(day: date) -> tuple[int, ...]:
    return (day.year, day.month)


@PROPERTY_SETTINGS
@given(histories(), policies)
def test_every_run_is_in_exactly_one_list_newest_first_with_reasons(
    history: History, retention: RetentionPolicy
) -> None:
    decision = decide(history.runs, retention, now=history.now)

    all_ids = [*ids(decision.keep), *ids(decision.delete)]
    assert sorted(all_ids) == sorted(r.run_id for r in history.runs)
    for verdicts in (decision.keep, decision.delete):
        instants = [(v.started_at.astimezone(UTC), v.run_id) for v in verdicts]
        assert instants == sorted(instants, reverse=True)
    assert all(verdict.reasons for verdict in [*decision.keep, *decision.delete])


@PROPERTY_SETTINGS
@given(histories(), policies)
def test_the_newest_min_keep_good_runs_and_all_future_runs_are_kept(
    history: History, retention: RetentionPolicy
) -> None:
    decision = decide(history.runs, retention, now=history.now)

    floor = {r.run_id for r in present_good_newest_first(history)[: retention.min_keep]}
    future = {r.run_id for r in history.runs if r.started_at > history.now}
    assert floor | future <= kept_ids(decision)
    # So the newest min_keep good runs overall, future or not, are kept too.
    all_good = sorted((r for r in history.runs if r.status == "succeeded"), key=newness, reverse=True)
    assert {r.run_id for r in all_good[: retention.min_keep]} <= kept_ids(decision)


@PROPERTY_SETTINGS
@given(histories(), policies)
def test_the_newest_good_run_of_each_of_the_last_days_weeks_and_months_is_kept(
    history: History, retention: RetentionPolicy
) -> None:
    decision = decide(history.runs, retention, now=history.now)

    kept = kept_ids(decision)
    assert newest_of_last_buckets(history, retention, by_day, retention.daily) <= kept
    assert newest_of_last_buckets(history, retention, by_iso_week, retention.weekly) <= kept
    assert newest_of_last_buckets(history, retention, by_month, retention.monthly) <= kept


@PROPERTY_SETTINGS
@given(histories(), policies)
def test_nothing_is_kept_that_no_rule_selects(history: History, retention: RetentionPolicy) -> None:
    decision = decide(history.runs, retention, now=history.now)

    good = present_good_newest_first(history)
    newest_good = good[0] if good else None
    evidence = {
        r.run_id
        for r in history.runs
        if r.status != "succeeded"
        and r.started_at <= history.now
        and (newest_good is None or newness(r) > newness(newest_good))
    }
    selected = (
        {r.run_id for r in history.runs if r.started_at > history.now}
        | {r.run_id for r in good[: retention.min_keep]}
        | newest_of_last_buckets(history, retention, by_day, retention.daily)
        | newest_of_last_buckets(history, retention, by_iso_week, retention.weekly)
        | newest_of_last_buckets(history, retention, by_month, retention.monthly)
        | evidence
    )
    assert kept_ids(decision) == selected


@PROPERTY_SETTINGS
@given(histories(), policies, st.randoms(use_true_random=False))
def test_the_decision_does_not_depend_on_input_order(
    history: History, retention: RetentionPolicy, rng: random.Random
) -> None:
    shuffled = list(history.runs)
    rng.shuffle(shuffled)
    assert decide(shuffled, retention, now=history.now) == decide(history.runs, retention, now=history.now)


@PROPERTY_SETTINGS
@given(histories(), policies)
def test_deciding_again_over_the_kept_runs_keeps_them_all_for_the_same_reasons(
    history: History, retention: RetentionPolicy
) -> None:
    first = decide(history.runs, retention, now=history.now)
    kept = kept_ids(first)

    second = decide([r for r in history.runs if r.run_id in kept], retention, now=history.now)

    assert second.delete == []
    assert second.keep == first.keep


@PROPERTY_SETTINGS
@given(
    histories(),
    policies,
    st.sampled_from(["daily", "weekly", "monthly", "min_keep"]),
    st.integers(min_value=1, max_value=5),
)
def test_raising_a_count_never_deletes_a_run_that_was_kept(
    history: History, retention: RetentionPolicy, count_name: str, increase: int
) -> None:
    raised = retention.model_copy(update={count_name: getattr(retention, count_name) + increase})

    before = decide(history.runs, retention, now=history.now)
    after = decide(history.runs, raised, now=history.now)

    assert kept_ids(before) <= kept_ids(after)
