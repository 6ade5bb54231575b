"""A doctor's working time as an administrator edits it: the weekly windows (several a day for
a split shift) with the slot length, and absences (vacation, sick leave) that close whole days.

Checks come first and name every field to fix (`FieldError`s in `Refused`); writes happen only
when all of them pass, so a refused form leaves the schedule as it was.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from callcenter.access.staff_admin import Refused
from callcenter.core.i18n import N_
from callcenter.core.inputs import FieldError, limit, problem
from callcenter.core.models import (
    ACTIVE_STATUSES,
    WEEKDAYS,
    AbsenceKind,
    Appointment,
    DoctorAbsence,
    DoctorSchedule,
    Staff,
)

WINDOWS_PER_DAY = 3  # a morning, an afternoon and an evening: more is a different job
SLOT_MINUTES = (5, 240)
CLOCK = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])|24:00")
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# The latest a window may end: 24:00 is written as the last minute, which Time columns hold.
MIDNIGHT = time(23, 59)


@dataclass(frozen=True)
class Window:
    weekday: int  # 0 = Monday
    starts: time
    ends: time


def field_name(weekday: int, n: int, end: str) -> str:
    """The form field of one window's start or end ("mon-2-from")."""
    return f"{WEEKDAYS[weekday]}-{n}-{end}"


def _clock(value: str) -> time | None:
    if not CLOCK.fullmatch(value):
        return None
    return MIDNIGHT if value == "24:00" else time.fromisoformat(value.zfill(5))


def parse_week(form: Mapping[str, str]) -> tuple[list[Window], int]:
    """The windows and the slot length from the form, or Refused naming every bad field:
    a time that is not HH:MM, half a window, an end before its start, a window shorter than
    one slot, windows of a day that overlap."""
    errors: list[FieldError] = []
    slot_text = form.get("slot_minutes", "").strip()
    slot = int(slot_text) if slot_text.isdigit() and len(slot_text) < 4 else 0
    if not SLOT_MINUTES[0] <= slot <= SLOT_MINUTES[1]:
        errors.append(FieldError("slot_minutes", N_("Minutes from {low} to {high}"),
                                 low=SLOT_MINUTES[0], high=SLOT_MINUTES[1]))
    windows: list[Window] = []
    for weekday in range(7):
        day: list[tuple[Window, str]] = []
        for n in range(1, WINDOWS_PER_DAY + 1):
            names = field_name(weekday, n, "from"), field_name(weekday, n, "to")
            raw = [form.get(name, "").strip() for name in names]
            if not any(raw):
                continue
            parsed = [_clock(value) for value in raw]
            for name, value, at in zip(names, raw, parsed, strict=True):
                if at is None:
                    errors.append(FieldError(name, N_("Required") if not value
                                             else N_("A time like 09:00")))
            starts, ends = parsed
            if starts is None or ends is None:
                continue
            if ends <= starts:
                errors.append(FieldError(names[1], N_("Ends before it starts")))
            elif slot and _minutes(ends) - _minutes(starts) < slot:
                errors.append(FieldError(names[1], N_("Shorter than one slot")))
            else:
                day.append((Window(weekday, starts, ends), names[0]))
        day.sort(key=lambda item: item[0].starts)
        latest = time(0)
        for window, name in day:
            if window.starts < latest:
                errors.append(FieldError(name, N_("Overlaps another window of the day")))
            latest = max(latest, window.ends)
        windows += [window for window, _ in day]
    if errors:
        raise Refused(errors)
    return windows, slot


def _minutes(at: time) -> int:
    return at.hour * 60 + at.minute


def week_of(session: Session, doctor: Staff) -> tuple[dict[str, str], int | None]:
    """The form's values for the doctor's current schedule, and its slot length."""
    rows = session.scalars(select(DoctorSchedule).where(DoctorSchedule.doctor_id == doctor.id)
                           .order_by(DoctorSchedule.weekday, DoctorSchedule.starts)).all()
    values: dict[str, str] = {}
    for weekday in range(7):
        for n, row in enumerate((r for r in rows if r.weekday == weekday), start=1):
            if n <= WINDOWS_PER_DAY:
                values[field_name(weekday, n, "from")] = row.starts.strftime("%H:%M")
                values[field_name(weekday, n, "to")] = row.ends.strftime("%H:%M")
    return values, (rows[0].slot_minutes if rows else None)


def replace_week(session: Session, doctor: Staff, windows: list[Window], slot: int) -> None:
    """The doctor's weekly schedule becomes exactly these windows (the caller commits)."""
    session.execute(delete(DoctorSchedule).where(DoctorSchedule.doctor_id == doctor.id))
    session.add_all(DoctorSchedule(doctor_id=doctor.id, weekday=w.weekday, starts=w.starts,
                                   ends=w.ends, slot_minutes=slot) for w in windows)


@dataclass(frozen=True)
class AbsenceInput:
    starts_on: str
    ends_on: str
    kind: str
    note: str = ""


def _day(value: str, name: str, errors: list[FieldError]) -> date | None:
    try:
        if DAY.fullmatch(value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    errors.append(FieldError(name, N_("A date like 2026-07-01")))
    return None


def add_absence(session: Session, doctor: Staff, form: AbsenceInput, now: datetime,
                tz: str) -> tuple[DoctorAbsence, int]:
    """Record an absence; returns it and how many booked visits of the doctor fall in it (to
    move: an absence cancels nobody's visit by itself). Raises Refused (nothing written)."""
    errors: list[FieldError] = []
    first = _day(form.starts_on.strip(), "starts_on", errors)
    last = _day(form.ends_on.strip(), "ends_on", errors)
    if first and last and last < first:
        errors.append(FieldError("ends_on", N_("Ends before it starts")))
    today = now.astimezone(ZoneInfo(tz)).date()
    if last and last < today:
        errors.append(FieldError("ends_on", N_("Already over")))
    if form.kind not in set(AbsenceKind):
        errors.append(FieldError("kind", N_("Unknown kind of absence")))
    note = form.note.strip()
    reason = problem(note)
    if reason is not None:
        errors.append(FieldError("note", reason))
    elif len(note) > limit(DoctorAbsence.note):
        errors.append(FieldError("note", N_("Longer than {most} characters"),
                                 most=limit(DoctorAbsence.note)))
    if errors or first is None or last is None:
        raise Refused(errors)
    absence = DoctorAbsence(doctor_id=doctor.id, starts_on=first, ends_on=last,
                            kind=AbsenceKind(form.kind), note=note, created_at=now)
    session.add(absence)
    session.flush()
    return absence, visits_during(session, doctor.id, first, last, tz)


def visits_during(session: Session, doctor_id: int, first: date, last: date, tz: str) -> int:
    """Active visits of the doctor on those local days."""
    zone = ZoneInfo(tz)
    starts = datetime.combine(first, time(0), tzinfo=zone)
    ends = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone)
    return int(session.scalar(select(func.count(Appointment.id)).where(
        Appointment.doctor_id == doctor_id, Appointment.status.in_(ACTIVE_STATUSES),
        Appointment.starts_at < ends, Appointment.ends_at > starts)) or 0)


def absences_of(session: Session, doctor: Staff, today: date) -> list[DoctorAbsence]:
    """The doctor's absences not yet over, earliest first."""
    return list(session.scalars(select(DoctorAbsence).where(
        DoctorAbsence.doctor_id == doctor.id, DoctorAbsence.ends_on >= today)
        .order_by(DoctorAbsence.starts_on)))
