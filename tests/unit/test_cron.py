"""cron.longest_gap: the longest wait between two firings of an EventBridge Scheduler cron, DST included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from smokejumper.cron import longest_gap
from smokejumper.plan import example_plan_path, load_plan


@pytest.mark.parametrize(
    ("cron", "time_zone", "expected"),
    [
        ("cron(15 * * * ? *)", "UTC", timedelta(hours=1)),
        ("cron(0 2 * * ? *)", "UTC", timedelta(hours=24)),
        ("cron(0 2 ? * MON-FRI *)", "UTC", timedelta(days=3)),  # Friday to Monday
        ("cron(0 2 ? * 2-6 *)", "UTC", timedelta(days=3)),  # the same days by number (1 = SUN)
        ("cron(0 */6 * * ? *)", "UTC", timedelta(hours=6)),
        ("cron(0 0/6 * * ? *)", "UTC", timedelta(hours=6)),
        ("cron(0/30 * * * ? *)", "UTC", timedelta(minutes=30)),
        ("cron(0,45 * * * ? *)", "UTC", timedelta(minutes=45)),
        ("cron(0 2 ? * SUN *)", "UTC", timedelta(days=7)),
        ("cron(0 2 1 * ? *)", "UTC", timedelta(days=31)),
        ("cron(0 0 1 JAN ? *)", "UTC", timedelta(days=366)),  # 2027-01-01 to 2028-01-01 spans a leap day
        ("cron(0 2 ? * MON-FRI *)", "Europe/Berlin", timedelta(days=3, hours=1)),  # a weekend with a fall-back
    ],
)
def test_longest_gap(cron, time_zone, expected):
    assert longest_gap(cron, time_zone) == expected


def test_a_daily_run_outside_the_changed_hour_is_23_to_25_hours_apart():
    # Europe/Berlin changes its clocks between 02:00 and 03:00; 03:00 exists on both nights.
    # Spring: Saturday 03:00 CET to Sunday 03:00 CEST is 23 h. Autumn: CEST to CET is 25 h.
    assert longest_gap("cron(0 3 * * ? *)", "Europe/Berlin") == timedelta(hours=25)
    assert longest_gap("cron(0 1 * * ? *)", "Europe/Berlin") == timedelta(hours=25)


def test_a_daily_run_in_the_skipped_hour_misses_one_night_a_year():
    # Scheduler skips a firing whose wall-clock time does not exist: 02:00 on the last Sunday of
    # March in Berlin. Saturday 02:00 CET (01:00 UTC) to Monday 02:00 CEST (00:00 UTC) is 47 h.
    assert longest_gap("cron(0 2 * * ? *)", "Europe/Berlin") == timedelta(hours=47)
    assert longest_gap("cron(30 2 * * ? *)", "Europe/Berlin") == timedelta(hours=47)
    # New York springs forward at 02:00 too (second Sunday of March); Sydney on the first Sunday of October.
    assert longest_gap("cron(0 2 * * ? *)", "America/New_York") == timedelta(hours=47)
    assert longest_gap("cron(0 2 * * ? *)", "Australia/Sydney") == timedelta(hours=47)


def test_the_repeated_hour_fires_once():
    # Hourly at :15 in Berlin: in autumn 02:15 comes twice and fires only the first time, so
    # 02:15 CEST to 03:15 CET is two hours. In spring 02:15 does not exist: 01:15 to 03:15 CEST is one.
    assert longest_gap("cron(15 * * * ? *)", "Europe/Berlin") == timedelta(hours=2)
    assert longest_gap("cron(* * * * ? *)", "Europe/Berlin") == timedelta(hours=1, minutes=1)


def test_names_ranges_lists_and_steps():
    assert longest_gap("cron(0 2 ? JAN-DEC MON,WED,FRI *)", "UTC") == timedelta(days=3)
    assert longest_gap("cron(0 8-18/2 ? * mon-fri *)", "UTC") == timedelta(days=2, hours=14)  # Fri 18:00 - Mon 08:00
    assert longest_gap("cron(0 12 1,15 * ? *)", "UTC") == timedelta(days=17)  # the 15th of a 31-day month to the 1st
    assert longest_gap("cron(0 0 ? * 1/3 *)", "UTC") == timedelta(days=3)  # SUN, WED, SAT: Wed -> Sat


@pytest.mark.parametrize(
    "cron",
    [
        "cron(0 2 L * ? *)",  # last day of the month
        "cron(0 2 LW * ? *)",
        "cron(0 2 15W * ? *)",  # weekday nearest the 15th
        "cron(0 2 ? * 6L *)",  # last Friday
        "cron(0 2 ? * MON#1 *)",  # first Monday
        "cron(0 2 ? * L *)",
        "cron(0 2 * * ? 2027)",  # one year only
        "cron(0 2 * * ? 2026-2030)",
    ],
)
def test_what_it_does_not_evaluate_is_none(cron):
    assert longest_gap(cron, "UTC") is None


def test_a_schedule_that_never_fires_twice_is_none():
    assert longest_gap("cron(0 0 31 FEB ? *)", "UTC") is None


@pytest.mark.parametrize(
    "cron",
    [
        "0 2 * * ? *",  # no cron(...)
        "cron(0 2 * * ?)",  # five fields
        "cron(0 2 * * * *)",  # neither day field is '?'
        "cron(0 2 ? * ? *)",  # both are
        "cron(60 2 * * ? *)",
        "cron(0 2 * FOO ? *)",
        "cron(0 5-2 * * ? *)",  # backwards
        "cron(0/0 2 * * ? *)",
        "cron(? 2 * * ? *)",
    ],
)
def test_what_is_not_eventbridge_cron_raises(cron):
    with pytest.raises(ValueError):  # noqa: PT011 - the message names the field; any complaint is right here
        longest_gap(cron, "UTC")


def test_the_example_plan_schedules():
    schedules = load_plan(example_plan_path()).schedules
    assert schedules.etcd is not None
    assert schedules.databases is not None
    assert longest_gap(schedules.etcd.cron, schedules.etcd.time_zone) == timedelta(hours=1)
    # 01:00 Berlin exists every day (the example avoids 02:00-02:59, which the spring change skips): the
    # longest gap is the autumn night with an hour more.
    assert longest_gap(schedules.databases.cron, schedules.databases.time_zone) == timedelta(hours=25)


def _walked(cron_fields: tuple[set[int], set[int]], zone: ZoneInfo, start: datetime, days: int) -> timedelta:
    """Longest gap of a minutes/hours-only cron found minute by minute in UTC: an independent oracle."""
    minutes, hours = cron_fields
    longest, previous = timedelta(0), None
    instant = start
    for _ in range(days * 24 * 60):
        local = instant.astimezone(zone)
        # A skipped wall-clock time never shows up walking UTC; fold=1 is the second of a repeated time.
        if local.minute in minutes and local.hour in hours and local.fold == 0:
            if previous is not None:
                longest = max(longest, instant - previous)
            previous = instant
        instant += timedelta(minutes=1)
    return longest


@pytest.mark.parametrize(
    ("cron", "fields", "time_zone"),
    [
        ("cron(0 2 * * ? *)", ({0}, {2}), "Europe/Berlin"),
        ("cron(0 3 * * ? *)", ({0}, {3}), "Europe/Berlin"),
        ("cron(15 * * * ? *)", ({15}, set(range(24))), "Europe/Berlin"),
        ("cron(0/20 1-3 * * ? *)", ({0, 20, 40}, {1, 2, 3}), "America/New_York"),
    ],
)
def test_agrees_with_a_minute_by_minute_walk_across_both_transitions(cron, fields, time_zone):
    zone = ZoneInfo(time_zone)
    # 2026's transitions: 8 and 29 March, 25 October and 1 November (Berlin, New York).
    spring = _walked(fields, zone, datetime(2026, 3, 1, tzinfo=UTC), 35)
    autumn = _walked(fields, zone, datetime(2026, 10, 18, tzinfo=UTC), 21)
    assert longest_gap(cron, time_zone) == max(spring, autumn)
