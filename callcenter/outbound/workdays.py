"""Pure calendar logic: working days, calling windows, which confirmation run happens when.

Everything takes the clinic's days, time zone and `now` as arguments; nothing reads a clock.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as number_timezones

from callcenter.core.clinic_settings import clock

WEEKDAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_SPLIT = time(14, 0)


@dataclass(frozen=True)
class ClinicCalendar:
    """Which local days the clinic works, and its opening hours per weekday."""

    tz: ZoneInfo
    hours: Mapping[int, tuple[tuple[time, time], ...]]
    days_off: frozenset[date] = frozenset()

    @classmethod
    def build(cls, timezone: str, opening_hours: Mapping[str, Any] | None,
              days_off: Iterable[date] = ()) -> ClinicCalendar:
        """From the clinic row's fields; no opening hours at all means Monday to Friday, 9 to 18."""
        hours: dict[int, tuple[tuple[time, time], ...]] = {}
        if opening_hours:
            for index, key in enumerate(WEEKDAY_KEYS):
                spans = opening_hours.get(key) or []
                hours[index] = tuple((clock(a), clock(b)) for a, b in spans)
        else:
            hours = {index: ((time(9), time(18)),) for index in range(5)}
        return cls(ZoneInfo(timezone), hours, frozenset(days_off))

    def is_working(self, day: date) -> bool:
        return day not in self.days_off and bool(self.hours.get(day.weekday()))

    def next_working(self, day: date) -> date | None:
        """The first working day strictly after `day` (None if closed for a whole year)."""
        for offset in range(1, 367):
            candidate = day + timedelta(days=offset)
            if self.is_working(candidate):
                return candidate
        return None

    def split(self, day: date) -> time:
        """Where the first half of a working day ends: the middle of its opening hours."""
        spans = self.hours.get(day.weekday()) or ()
        if not spans:
            return DEFAULT_SPLIT
        start = _minutes(spans[0][0])
        end = _minutes(spans[-1][1])
        middle = (start + end) // 2
        return time(middle // 60, middle % 60)

    def local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.tz).date()

    def at(self, day: date, clock: time) -> datetime:
        """Aware UTC of a local wall-clock time (a time skipped by DST lands just after the gap)."""
        return at_local(day, clock, self.tz)


def _minutes(clock: time) -> int:
    return 24 * 60 if clock == time.max else clock.hour * 60 + clock.minute


def at_local(day: date, clock: time, tz: ZoneInfo) -> datetime:
    if clock == time.max:
        return datetime.combine(day + timedelta(days=1), time(0), tz).astimezone(UTC)
    local = datetime.combine(day, clock, tz)
    # A wall time inside a spring-forward gap does not exist; fold=0 maps it past the gap.
    return datetime.fromtimestamp(local.timestamp(), UTC)


class Part(enum.StrEnum):
    ALL = "all"
    FIRST_HALF = "first_half"
    SECOND_HALF = "second_half"


@dataclass(frozen=True)
class ConfirmationRun:
    """Confirmation calls made on `call_day` for the visits of `visit_day` (all or one half)."""

    call_day: date
    visit_day: date
    part: Part
    window: tuple[time, time]


def confirmation_runs(today: date, calendar: ClinicCalendar, evening: tuple[time, time],
                      morning: tuple[time, time]) -> list[ConfirmationRun]:
    """The runs that fall on `today`.

    A working day followed by another calls all of it in the evening. Before days off, the last
    working day calls the first half of the next working day; that day calls its own second half
    in the morning.
    """
    if not calendar.is_working(today):
        return []
    runs = []
    previous = today - timedelta(days=1)
    if not calendar.is_working(previous):
        runs.append(ConfirmationRun(today, today, Part.SECOND_HALF, morning))
    following = calendar.next_working(today)
    if following is not None:
        part = Part.ALL if following == today + timedelta(days=1) else Part.FIRST_HALF
        runs.append(ConfirmationRun(today, following, part, evening))
    return runs


def in_part(start_local: time, part: Part, split: time) -> bool:
    if part is Part.ALL:
        return True
    return (start_local < split) == (part is Part.FIRST_HALF)


def confirmed_at_booking(created_at: datetime, starts_at: datetime, calendar: ClinicCalendar) -> bool:
    """Booked today for today or the next working day: confirmed on the spot, never called."""
    booked_on = calendar.local_day(created_at)
    visit_on = calendar.local_day(starts_at)
    return visit_on == booked_on or visit_on == calendar.next_working(booked_on)


def patient_zone(e164: str | None, fallback: ZoneInfo) -> ZoneInfo:
    """The number's time zone when the numbering plan pins one down, else the clinic's."""
    if not e164:
        return fallback
    try:
        zones = number_timezones.time_zones_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return fallback
    if len(zones) == 1 and zones[0] != "Etc/Unknown":
        return ZoneInfo(zones[0])
    return fallback


def next_call_time(now: datetime, calendar: ClinicCalendar, patient_tz: ZoneInfo,
                   hours: tuple[time, time]) -> datetime:
    """`now` if calling is allowed now, else the start of the next allowed window.

    Allowed = inside calling hours on the patient's clock, on a day the clinic works
    (its own local day), so nobody is called on a holiday or at night.
    """
    for offset in range(0, 370):
        day = now.astimezone(patient_tz).date() + timedelta(days=offset)
        start = at_local(day, hours[0], patient_tz)
        end = at_local(day, hours[1], patient_tz)
        if end <= now or not calendar.is_working(calendar.local_day(start)):
            continue
        return max(start, now)
    return now + timedelta(days=370)
