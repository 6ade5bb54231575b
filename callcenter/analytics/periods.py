"""Report filters and the clinic's local calendar expressed in SQL.

Grouping by local day, week, month, hour or weekday must follow the clinic's time zone on
SQLite and PostgreSQL alike. Python finds the UTC offset segments (a DST change starts a new
one) inside the period; SQL adds the segment's offset to the epoch and does integer arithmetic.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, literal, or_
from sqlalchemy.sql.elements import ColumnElement

from callcenter.analytics.sqltime import epoch_seconds

DAY = 86400
EPOCH_DAY = date(1970, 1, 1)  # a Thursday: (day number + 3) % 7 == 0 on Mondays


class Granularity(enum.StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True)
class Filters:
    """What every report is restricted to. Dates are the clinic's local days, end included."""

    clinic_id: int
    tz: ZoneInfo
    start: date
    end: date
    granularity: Granularity = Granularity.DAY
    channel_ids: tuple[int, ...] = ()
    tracking_number_ids: tuple[int, ...] = ()
    window_days: int = 14
    invitation_target: int = 50  # the monthly KPI target shown beside each receptionist
    sms_price: float = 0.0  # a text segment's price where the provider reported none

    @property
    def start_utc(self) -> datetime:
        return local_midnight_utc(self.start, self.tz)

    @property
    def end_utc(self) -> datetime:
        return local_midnight_utc(self.end + timedelta(days=1), self.tz)

    @property
    def window_seconds(self) -> int:
        return self.window_days * DAY


def local_midnight_utc(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tz).astimezone(UTC)


def _offset(instant: datetime, tz: ZoneInfo) -> int:
    delta = instant.astimezone(tz).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


def offset_segments(start: datetime, end: datetime, tz: ZoneInfo) -> list[tuple[datetime, int]]:
    """[(segment start UTC, offset seconds)] covering [start, end); a new one at each UTC-offset change."""
    segments = [(start, _offset(start, tz))]
    probe = start
    while probe < end:
        step = min(probe + timedelta(hours=6), end)
        if _offset(step, tz) != segments[-1][1]:
            low, high = probe, step  # offset(low) is the old one, offset(high) the new one
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if _offset(middle, tz) == segments[-1][1]:
                    low = middle
                else:
                    high = middle
            segments.append((high.replace(microsecond=0), _offset(high, tz)))
        probe = step
    return segments


class LocalClock:
    """SQL expressions for a timestamp column read on the clinic's wall clock within the filters."""

    def __init__(self, column: ColumnElement[Any], flt: Filters) -> None:
        self.flt = flt
        segments = offset_segments(flt.start_utc, flt.end_utc, flt.tz)
        offset: ColumnElement[int]
        if len(segments) == 1:
            offset = literal(segments[0][1])
        else:
            whens = [(column < boundary, previous) for (boundary, _), (_, previous)
                     in zip(segments[1:], segments[:-1], strict=True)]
            offset = case(*whens, else_=segments[-1][1])
        self.seconds = epoch_seconds(column) + offset
        self.day = self.seconds // DAY
        self.hour = (self.seconds % DAY) // 3600
        self.weekday = (self.day + 3) % 7  # 0 = Monday

    def bucket(self) -> ColumnElement[int]:
        """The period bucket (day, week or month) a row falls in, as an integer key."""
        return day_bucket(self.day, self.flt)


def local_day_number(day: date) -> int:
    """A local calendar day as the roll-ups key it: days since 1970-01-01."""
    return (day - EPOCH_DAY).days


def month_spans(first: int, last: int) -> Iterator[tuple[int, int]]:
    """The calendar months (first and last day numbers) that days `first`..`last` touch."""
    month = (EPOCH_DAY + timedelta(days=first)).replace(day=1)
    while (start := local_day_number(month)) <= last:
        following = (month + timedelta(days=32)).replace(day=1)
        yield start, local_day_number(following) - 1
        month = following


def rolled_days(model: Any, start: date, end: date, months: bool = True) -> ColumnElement[bool]:
    """The roll-up rows (of a model with `day` and `month` columns) that make up days
    `start`..`end`: with `months`, a whole month's row for each month inside the period and the
    days' own rows for the rest (a year is twelve rows per report row and dimension, not 365);
    without, the days' rows alone (a report that tells days of one month apart)."""
    first, last = local_day_number(start), local_day_number(end)
    whole = [(m_first, m_last) for m_first, m_last in month_spans(first, last)
             if months and m_first >= first and m_last <= last]
    days = model.month.is_(False)
    if not whole:
        return and_(days, model.day >= first, model.day <= last)
    return or_(and_(model.month.is_(True), model.day.in_([m for m, _ in whole])),
               and_(days, model.day >= first, model.day < whole[0][0]),
               and_(days, model.day > whole[-1][1], model.day <= last))


def day_bucket(day: ColumnElement[int], flt: Filters) -> ColumnElement[int]:
    """The bucket of a local day number (days since 1970-01-01), as `buckets` keys them."""
    if flt.granularity is Granularity.DAY:
        return day
    if flt.granularity is Granularity.WEEK:
        return (day + 3) // 7
    starts = month_starts(flt.start, flt.end)
    whens = [(day < (first - EPOCH_DAY).days, index) for index, first in enumerate(starts[1:])]
    return case(*whens, else_=len(starts) - 1) if whens else literal(0)


def month_starts(start: date, end: date) -> list[date]:
    first = start.replace(day=1)
    months = []
    while first <= end:
        months.append(first)
        first = (first + timedelta(days=32)).replace(day=1)
    return months


def buckets(flt: Filters) -> list[tuple[int, date]]:
    """Every bucket of the period in order: (key as LocalClock.bucket computes it, first local day)."""
    if flt.granularity is Granularity.MONTH:
        return list(enumerate(month_starts(flt.start, flt.end)))
    days = (flt.end - flt.start).days + 1
    local_days = [flt.start + timedelta(days=n) for n in range(days)]
    if flt.granularity is Granularity.DAY:
        return [((day - EPOCH_DAY).days, day) for day in local_days]
    weeks: dict[int, date] = {}
    for day in local_days:
        monday = day - timedelta(days=day.weekday())
        weeks.setdefault(((monday - EPOCH_DAY).days + 3) // 7, monday)
    return list(weeks.items())
