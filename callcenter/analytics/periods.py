"""Report filters and the clinic's local calendar expressed in SQL.

Grouping by local day, week, month, hour or weekday must follow the clinic's time zone on
SQLite and PostgreSQL alike. Python finds the UTC offset segments (a DST change starts a new
one) inside the period; SQL adds the segment's offset to the epoch and does integer arithmetic.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, literal, or_
from sqlalchemy.sql.elements import ColumnElement

from callcenter.analytics.sqltime import epoch_seconds
from callcenter.core.models import Span

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


def spans(span: Span, first: int, last: int) -> Iterator[tuple[int, int]]:
    """The weeks (Monday to Sunday) or calendar months that days `first`..`last` touch, as their
    first and last day numbers."""
    if span is Span.WEEK:
        monday = first - (first + 3) % 7
        for start in range(monday, last + 1, 7):
            yield start, start + 6
        return
    month = (EPOCH_DAY + timedelta(days=first)).replace(day=1)
    while (start := local_day_number(month)) <= last:
        following = (month + timedelta(days=32)).replace(day=1)
        yield start, local_day_number(following) - 1
        month = following


def rolled_days(model: Any, start: date, end: date, coarser: Sequence[Span]) -> ColumnElement[bool]:
    """The roll-up rows (of a model with `day` and `span` columns) that make up days
    `start`..`end`: for each span of `coarser` in turn (months before weeks), the rows of the
    spans that lie wholly inside what is left of the period; the days' own rows for the rest. A
    report that tells days apart asks for no coarser span; by week, for weeks alone."""
    ranges = [(local_day_number(start), local_day_number(end))]
    taken: list[ColumnElement[bool]] = []
    for span in sorted(coarser, reverse=True):
        rest = []
        for first, last in ranges:
            whole = [(s, e) for s, e in spans(span, first, last) if s >= first and e <= last]
            if not whole:
                rest.append((first, last))
                continue
            taken.append(and_(model.span == span, model.day.in_([s for s, _ in whole])))
            rest += [r for r in ((first, whole[0][0] - 1), (whole[-1][1] + 1, last)) if r[0] <= r[1]]
        ranges = rest
    taken += [and_(model.span == Span.DAY, model.day >= first, model.day <= last)
              for first, last in ranges]
    return or_(*taken) if len(taken) != 1 else taken[0]


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
