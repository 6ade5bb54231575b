"""Free-slot search and the two-option offer ("14:30 or 18:00?").

The core is pure: schedules, busy intervals, days off, `now` and the clinic's time zone come in
as arguments. `offer_for_clinic` is the thin part that reads them from the database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core.models import (
    ACTIVE_STATUSES,
    Appointment,
    AppointmentStatus,
    Clinic,
    DayOff,
    DoctorAbsence,
    DoctorSchedule,
    Staff,
    StaffRole,
)
from callcenter.schedule.hours import Hours, clinic_hours, is_open, local_time

HORIZON_DAYS = 14
# Regular offers start at least this long after now: nobody can get there in five minutes.
LEAD = timedelta(minutes=30)
# "One morning, one evening": slots before this local time count as the morning option.
DAY_SPLIT = time(14, 0)
# Appointments that hold the doctor's time (cancelled and moved ones free it).
OCCUPYING = (*ACTIVE_STATUSES, AppointmentStatus.ARRIVED, AppointmentStatus.COMPLETED)


@dataclass(frozen=True)
class WorkWindow:
    """A doctor's weekly working window in local wall-clock time."""

    doctor_id: int
    weekday: int  # 0 = Monday
    starts: time
    ends: time
    slot_minutes: int = 30


@dataclass(frozen=True)
class Busy:
    doctor_id: int
    starts_at: datetime  # aware
    ends_at: datetime


@dataclass(frozen=True)
class Away:
    """Local days a doctor does not work (vacation, sick leave), both ends included."""

    doctor_id: int
    first: date
    last: date


def _absent(away: Iterable[Away]) -> Callable[[int, date], bool]:
    index: dict[int, list[Away]] = {}
    for item in away:
        index.setdefault(item.doctor_id, []).append(item)
    return lambda doctor, day: any(a.first <= day <= a.last for a in index.get(doctor, ()))


@dataclass(frozen=True)
class Slot:
    doctor_id: int
    starts_at: datetime  # aware UTC
    ends_at: datetime
    may_wait: bool = False  # squeezed between appointments: the patient may have to wait


def _by_doctor(busy: Iterable[Busy]) -> dict[int, list[Busy]]:
    index: dict[int, list[Busy]] = {}
    for item in busy:
        index.setdefault(item.doctor_id, []).append(item)
    return index


def _overlaps(start: datetime, end: datetime, busy: Sequence[Busy]) -> bool:
    return any(b.starts_at < end and start < b.ends_at for b in busy)


def _window_slots(window: WorkWindow, day: date, zone: tzinfo) -> Iterator[tuple[datetime, datetime]]:
    step = timedelta(minutes=window.slot_minutes)
    wall = datetime.combine(day, window.starts)
    last = datetime.combine(day, window.ends)
    while wall + step <= last:
        yield local_time(day, wall.time(), zone), local_time(day, (wall + step).time(), zone)
        wall += step


def _free_by_day(windows: Sequence[WorkWindow], busy: Iterable[Busy], days_off: Iterable[date],
                 now: datetime, zone: tzinfo, days: int, lead: timedelta,
                 away: Iterable[Away] = (), hours: Hours | None = None) -> Iterator[list[Slot]]:
    """Free slots one local day at a time (each day earliest first), so an offer can stop early."""
    closed = set(days_off)
    absent = _absent(away)
    taken = _by_doctor(busy)
    earliest = now + lead
    today = now.astimezone(zone).date()
    for offset in range(days):
        day = today + timedelta(days=offset)
        if day in closed:
            continue
        day_start, day_end = local_time(day, time(0), zone), local_time(day + timedelta(days=1), time(0), zone)
        # Only that day's bookings can clash with that day's slots.
        busy_today = {doctor: [b for b in items if b.starts_at < day_end and day_start < b.ends_at]
                      for doctor, items in taken.items()}
        found: list[Slot] = []
        for window in windows:
            if window.weekday != day.weekday() or absent(window.doctor_id, day):
                continue
            for start, end in _window_slots(window, day, zone):
                if (start >= earliest and is_open(hours, day, start, end, zone)
                        and not _overlaps(start, end, busy_today.get(window.doctor_id, ()))):
                    found.append(Slot(window.doctor_id, start, end))
        found.sort(key=lambda s: (s.starts_at, s.doctor_id))
        yield found


def free_slots(windows: Sequence[WorkWindow], busy: Iterable[Busy], days_off: Iterable[date],
               now: datetime, tz: tzinfo | str, *, days: int = HORIZON_DAYS,
               lead: timedelta = LEAD, away: Iterable[Away] = (),
               hours: Hours | None = None) -> list[Slot]:
    """Every free slot from now + lead over `days` local days, earliest first."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    return [slot for day in _free_by_day(windows, busy, days_off, now, zone, days, lead, away, hours)
            for slot in day]


def offer_two(windows: Sequence[WorkWindow], busy: Iterable[Busy], days_off: Iterable[date],
              now: datetime, tz: tzinfo | str, *, split: time = DAY_SPLIT,
              days: int = HORIZON_DAYS, away: Iterable[Away] = (),
              hours: Hours | None = None) -> list[Slot]:
    """The nearest morning slot and the nearest evening slot; the two nearest if a half is full."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    morning = evening = None
    seen: list[Slot] = []
    # Day by day, stopping once both halves are found: the screen-pop waits for this.
    for day in _free_by_day(windows, busy, days_off, now, zone, days, LEAD, away, hours):
        seen.extend(day)
        morning = morning or next((s for s in day if s.starts_at.astimezone(zone).time() < split), None)
        evening = evening or next((s for s in day if s.starts_at.astimezone(zone).time() >= split), None)
        if morning and evening:
            return sorted((morning, evening), key=lambda s: s.starts_at)
    return _two_distinct(seen)


def _two_distinct(free: Sequence[Slot]) -> list[Slot]:
    picked: list[Slot] = []
    for slot in free:
        if all(p.starts_at != slot.starts_at for p in picked):
            picked.append(slot)
        if len(picked) == 2:
            break
    return picked


def squeeze_today(windows: Sequence[WorkWindow], busy: Iterable[Busy], now: datetime,
                  tz: tzinfo | str, away: Iterable[Away] = (),
                  hours: Hours | None = None) -> Slot | None:
    """The earliest gap between appointments left today (a full day): the end of an appointment."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    today = now.astimezone(zone).date()
    taken = _by_doctor(busy)
    absent = _absent(away)
    best: Slot | None = None
    for window in windows:
        if window.weekday != today.weekday() or absent(window.doctor_id, today):
            continue
        opens, closes = local_time(today, window.starts, zone), local_time(today, window.ends, zone)
        for item in taken.get(window.doctor_id, ()):
            at = item.ends_at
            end = min(at + timedelta(minutes=window.slot_minutes), closes)
            if (max(opens, now) <= at < closes and (best is None or at < best.starts_at)
                    and is_open(hours, today, at, end, zone)):
                best = Slot(window.doctor_id, at, end, may_wait=True)
    return best


def offer_acute(windows: Sequence[WorkWindow], busy: Iterable[Busy], days_off: Iterable[date],
                now: datetime, tz: tzinfo | str, *, days: int = HORIZON_DAYS,
                away: Iterable[Away] = (), hours: Hours | None = None) -> list[Slot]:
    """Acute pain: the nearest slot today (squeezed in, "may wait", if the day is full),
    then the next free one as the second option."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    busy = list(busy)
    closed = set(days_off)
    today = now.astimezone(zone).date()
    away = list(away)
    free = free_slots(windows, busy, closed, now, zone, days=days, lead=timedelta(0), away=away,
                      hours=hours)
    first = next((s for s in free if s.starts_at.astimezone(zone).date() == today), None)
    if first is None and today not in closed:
        first = squeeze_today(windows, busy, now, zone, away, hours)
    if first is None:
        return _two_distinct(free)
    later = next((s for s in free if s.starts_at > first.starts_at), None)
    return [first] if later is None else [first, later]


def offer_for_clinic(session: Session, clinic: Clinic, now: datetime, *, acute: bool = False,
                     doctor_id: int | None = None, specialty: str | None = None,
                     days: int = HORIZON_DAYS) -> list[Slot]:
    """Load the clinic's doctors, schedules, absences, bookings and days off, then make the offer."""
    zone = ZoneInfo(clinic.timezone)
    query = select(Staff).where(Staff.clinic_id == clinic.id, Staff.role == StaffRole.DOCTOR,
                                Staff.active.is_(True))
    if doctor_id is not None:
        query = query.where(Staff.id == doctor_id)
    doctors = [d for d in session.scalars(query)
               if specialty is None or specialty in (d.specialties or [])]
    ids = [d.id for d in doctors]
    if not ids:
        return []
    windows = [
        WorkWindow(s.doctor_id, s.weekday, s.starts, s.ends, s.slot_minutes)
        for s in session.scalars(select(DoctorSchedule).where(DoctorSchedule.doctor_id.in_(ids)))
    ]
    horizon = now + timedelta(days=days + 1)
    busy = [  # plain columns, not entities: the screen-pop waits for this query
        Busy(doctor, starts, ends)
        for doctor, starts, ends in session.execute(select(
            Appointment.doctor_id, Appointment.starts_at, Appointment.ends_at).where(
            Appointment.doctor_id.in_(ids), Appointment.status.in_(OCCUPYING),
            # A lower bound on starts_at keeps this a range on (doctor_id, starts_at): without it
            # every past visit of the doctor is scanned (years of them in a real clinic).
            Appointment.starts_at < horizon, Appointment.starts_at > now - timedelta(days=2),
            Appointment.ends_at > now - timedelta(days=1)))
    ]
    today = now.astimezone(zone).date()
    days_off = session.scalars(select(DayOff.day).where(
        DayOff.clinic_id == clinic.id, DayOff.day >= today,
        DayOff.day <= today + timedelta(days=days))).all()
    away = [Away(doctor, first, last) for doctor, first, last in session.execute(select(
        DoctorAbsence.doctor_id, DoctorAbsence.starts_on, DoctorAbsence.ends_on).where(
        DoctorAbsence.doctor_id.in_(ids), DoctorAbsence.ends_on >= today,
        DoctorAbsence.starts_on <= today + timedelta(days=days)))]
    hours = clinic_hours(clinic.opening_hours)
    if acute:
        return offer_acute(windows, busy, days_off, now, zone, days=days, away=away, hours=hours)
    return offer_two(windows, busy, days_off, now, zone, days=days, away=away, hours=hours)
