"""The clinic's opening hours and local wall-clock times, for the offer and the booking checks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from callcenter.core.clinic_settings import clock
from callcenter.core.models import WEEKDAYS

Hours = Mapping[int, Sequence[tuple[time, time]]]


def local_time(day: date, at: time, zone: tzinfo) -> datetime:
    """Aware UTC of a wall-clock time on that day (09:00 stays 09:00 across a DST change;
    24:00, stored as time.max, is the next midnight)."""
    if at == time.max:
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def clinic_hours(opening_hours: Mapping[str, Any] | None) -> Hours | None:
    """The clinic's opening hours by weekday; None while none are set (setup not done): then
    the doctors' schedules alone say when visits happen."""
    if not opening_hours or not any(opening_hours.values()):
        return None
    return {index: tuple((clock(a), clock(b)) for a, b in opening_hours.get(key) or ())
            for index, key in enumerate(WEEKDAYS)}


def is_open(hours: Hours | None, day: date, starts_at: datetime, ends_at: datetime, zone: tzinfo) -> bool:
    """Whether the clinic is open for the whole of [starts_at, ends_at) on that local day."""
    if hours is None:
        return True
    return any(local_time(day, a, zone) <= starts_at and ends_at <= local_time(day, b, zone)
               for a, b in hours.get(day.weekday()) or ())


def spans_text(spans: Iterable[tuple[time, time]]) -> str:
    """"09:00–13:00, 14:00–18:00" for a message."""
    return ", ".join(f"{a:%H:%M}–{'24:00' if b == time.max else f'{b:%H:%M}'}" for a, b in spans) or "—"
