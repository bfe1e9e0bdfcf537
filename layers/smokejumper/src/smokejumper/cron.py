"""How long an EventBridge Scheduler cron can go without firing: what a staleness alarm must wait for.

`longest_gap` lays the expression's firings out on real (UTC) time over a fixed
span of years and returns the longest time between two consecutive ones. The
span starts on a fixed date, so the answer never depends on when it is asked,
and is long enough to hold every daylight-saving transition of the zone and
every pattern of months, weekdays and leap years a supported expression has.

Daylight saving time is applied as EventBridge Scheduler documents it
(re:Post knowledge center, "eventbridge-scheduler-adjust-dst"): when clocks
spring forward, a firing at a wall-clock time that does not exist that night
is *skipped*; when they fall back, a firing in the repeated hour runs *once*.
So a daily 02:00 in Europe/Berlin, whose clocks jump from 02:00 to 03:00 on
the last Sunday of March, does not fire that night: its longest gap is 47
hours, not 24 or 25. Which of the two repeated hours Scheduler picks is not
documented; this module takes the first, which moves a gap by an hour at most.

Not evaluated (`longest_gap` returns None): the day-of-month forms L, LW and
nW, the day-of-week forms L, nL and n#k, and a year field other than '*'.
Their firings depend on month lengths or on years in ways this walk does not
model, so a caller must choose its own conservative answer for them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

# The walk's fixed span: eight years hold two leap days (a 29 FEB schedule fires twice) and every
# DST transition of them; the start is fixed so that a synthesized template never changes by itself.
REFERENCE_DATE = date(2026, 1, 1)
SPAN_DAYS = 8 * 365 + 2

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_DAY = timedelta(days=1)


class _Unsupported(Exception):
    """A valid expression whose firings this module does not work out (L, W, #, a year)."""


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    special: bool = False  # the day fields also have L, W and # forms

    def value(self, token: str) -> int:
        if token.isdigit():
            number = int(token)
        elif token.upper() in self.names:
            number = self.names.index(token.upper()) + self.low
        else:
            raise ValueError(f"{self.name}: {token!r} is not a number")
        if not self.low <= number <= self.high:
            raise ValueError(f"{self.name}: {number} is outside {self.low}..{self.high}")
        return number

    def values(self, text: str) -> frozenset[int] | None:
        """The values the field allows; None for '?' (the other day field decides)."""
        if text == "?":
            if self.name not in ("day-of-month", "day-of-week"):
                raise ValueError(f"{self.name}: '?' is only for day-of-month or day-of-week")
            return None
        chosen: set[int] = set()
        for item in text.split(","):
            if self.special and _is_special(item, self.names):
                raise _Unsupported(f"{self.name}: {item!r}")
            base, slash, step_text = item.partition("/")
            if slash and (not step_text.isdigit() or int(step_text) < 1):
                raise ValueError(f"{self.name}: step {step_text!r} must be a whole number >= 1")
            step = int(step_text) if slash else 1
            if base == "*":
                first, last = self.low, self.high
            else:
                start, dash, end = base.partition("-")
                first = self.value(start)
                # `5/15` runs from 5 to the field's end, `5` alone is just 5.
                last = self.value(end) if dash else (self.high if slash else first)
                if last < first:
                    raise ValueError(f"{self.name}: range {base!r} runs backwards")
            chosen.update(range(first, last + 1, step))
        return frozenset(chosen)


def _is_special(item: str, names: tuple[str, ...]) -> bool:
    """L, LW, 15W (day of month); L, 6L, FRIL, MON#1 (day of week). WED and SAT are just names."""
    word = item.upper()
    return "#" in word or (word.endswith(("L", "W")) and word not in names)


_MINUTES = _Field("minutes", 0, 59)
_HOURS = _Field("hours", 0, 23)
_DAYS_OF_MONTH = _Field("day-of-month", 1, 31, special=True)
_MONTH = _Field("month", 1, 12, _MONTHS)
_DAYS_OF_WEEK = _Field("day-of-week", 1, 7, _WEEKDAYS, special=True)


@dataclass(frozen=True)
class _Cron:
    """A parsed expression: the wall-clock minutes of a firing day, and which days fire."""

    minutes_of_day: tuple[int, ...]  # sorted, minutes after local midnight
    days_of_month: frozenset[int] | None
    months: frozenset[int]
    days_of_week: frozenset[int] | None  # 1 = SUN .. 7 = SAT, as in the expression

    @classmethod
    def parse(cls, expression: str) -> _Cron:
        match = re.fullmatch(r"cron\((.*)\)", expression.strip())
        if not match:
            raise ValueError(f"not a cron(...) expression: {expression!r}")
        fields = match.group(1).split()
        if len(fields) != 6:
            raise ValueError(f"cron needs 6 fields, got {len(fields)} in {expression!r}")
        minutes, hours, days_of_month, months, days_of_week, year = fields
        if year != "*":
            raise _Unsupported(f"year {year!r}")
        day_of_month_values = _DAYS_OF_MONTH.values(days_of_month)
        day_of_week_values = _DAYS_OF_WEEK.values(days_of_week)
        if (day_of_month_values is None) == (day_of_week_values is None):
            raise ValueError(f"exactly one of day-of-month and day-of-week must be '?' in {expression!r}")
        minute_values = _MINUTES.values(minutes) or frozenset()
        hour_values = _HOURS.values(hours) or frozenset()
        return cls(
            minutes_of_day=tuple(sorted(hour * 60 + minute for hour in hour_values for minute in minute_values)),
            days_of_month=day_of_month_values,
            months=_MONTH.values(months) or frozenset(),
            days_of_week=day_of_week_values,
        )

    def fires_on(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        if self.days_of_month is not None:
            return day.day in self.days_of_month
        assert self.days_of_week is not None
        return day.isoweekday() % 7 + 1 in self.days_of_week  # isoweekday: MON = 1 .. SUN = 7

    @property
    def longest_within_a_day(self) -> timedelta:
        """The longest wall-clock gap between two firings of one day (zero for a single firing)."""
        steps = pairwise(self.minutes_of_day)
        return timedelta(minutes=max((later - earlier for earlier, later in steps), default=0))


def _instant(wall: datetime, zone: ZoneInfo) -> datetime | None:
    """The UTC instant a wall-clock time in `zone` names; None when the clocks skip it (Scheduler skips it too)."""
    # fold=0 is the first of a repeated (fall-back) time: Scheduler runs such a firing once.
    instant = wall.replace(tzinfo=zone).astimezone(UTC)
    return instant if instant.astimezone(zone).replace(tzinfo=None) == wall else None


def _day_firings(cron: _Cron, day: date, zone: ZoneInfo) -> tuple[datetime, datetime, timedelta] | None:
    """(first, last, longest gap between them) of one firing day in UTC; None if DST skips all of them."""
    midnight = datetime.combine(day, time())
    start, end = _instant(midnight, zone), _instant(midnight + _DAY, zone)
    if start is not None and end is not None and end - start == _DAY:
        # No transition that day: its firings sit at their wall-clock distances from midnight. (Two
        # transitions cancelling out within one day would hide here; no zone has ever had them.)
        first, last = cron.minutes_of_day[0], cron.minutes_of_day[-1]
        return start + timedelta(minutes=first), start + timedelta(minutes=last), cron.longest_within_a_day
    instants = [
        instant
        for minutes in cron.minutes_of_day
        if (instant := _instant(midnight + timedelta(minutes=minutes), zone)) is not None
    ]
    if not instants:
        return None
    instants.sort()
    steps = pairwise(instants)
    return instants[0], instants[-1], max((later - earlier for earlier, later in steps), default=timedelta(0))


def _days() -> Iterator[date]:
    for offset in range(SPAN_DAYS):
        yield REFERENCE_DATE + timedelta(days=offset)


def longest_gap(cron: str, time_zone: str) -> timedelta | None:
    """The longest time between two consecutive firings of an EventBridge Scheduler cron read in `time_zone`.

    `cron` is written as the plan writes it, `cron(15 * * * ? *)`; `time_zone` is an IANA name.
    Firings a DST change skips are left out and a repeated hour fires once, as Scheduler does (see
    the module's docstring), so the answer holds all year. Returns None for what this function does
    not evaluate: L, W and # (last day, weekday nearest, n-th weekday) and a year field other than
    '*'; and for an expression that fires fewer than twice in the walk's eight years. Raises
    ValueError for an expression that is not EventBridge cron at all (the plan rejects those
    first), and ZoneInfoNotFoundError for an unknown zone.
    """
    try:
        parsed = _Cron.parse(cron)
    except _Unsupported:
        return None
    zone = ZoneInfo(time_zone)
    longest = timedelta(0)
    previous: datetime | None = None
    firings_seen = 0
    for day in _days():
        if not parsed.fires_on(day):
            continue
        found = _day_firings(parsed, day, zone)
        if found is None:
            continue
        first, last, within = found
        if previous is not None:
            longest = max(longest, first - previous)
        longest = max(longest, within)
        previous = last
        firings_seen += 1 if first == last else 2
    return longest if firings_seen >= 2 else None
