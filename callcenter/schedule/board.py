"""The schedule as the desk sees it: per day and doctor, the working slots (free, past) and the
visits holding them, days off and absences; and today's arrivals. Built from the same windows,
hours and visits the booking checks use, so a slot shown free books."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from callcenter.core.models import (
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
from callcenter.schedule.slots import OCCUPYING

# Today's list shows who is expected, who came and who did not.
ARRIVALS = (*OCCUPYING, AppointmentStatus.NO_SHOW)


@dataclass(frozen=True)
class Cell:
    kind: str  # "free", "past" (a slot gone by) or "visit"
    starts_at: datetime
    ends_at: datetime
    visit: Appointment | None = None


@dataclass
class Column:
    """One doctor on one day: closed (with why) or the day's slots and visits in time order."""

    doctor: Staff
    day: date
    closed: str = ""  # "day_off", "away", "not_working" or ""
    cells: list[Cell] = field(default_factory=list)


@dataclass(frozen=True)
class Board:
    days: list[date]
    doctors: list[Staff]
    columns: dict[tuple[date, int], Column]
    days_off: dict[date, str]

    def column(self, day: date, doctor: Staff) -> Column:
        return self.columns[(day, doctor.id)]


def day_cells(windows: Sequence[DoctorSchedule], visits: Sequence[Appointment], day: date,
              zone: ZoneInfo, now: datetime, hours: Hours | None) -> list[Cell]:
    """The doctor's slots of the day: each visit once (squeezed ones too), free slots where no
    visit is, slots already begun as past. Pure."""
    cells: list[Cell] = [Cell("visit", v.starts_at, v.ends_at, v) for v in visits]
    regular = [v for v in visits if not v.overbooked]
    for window in sorted(windows, key=lambda w: w.starts):
        step = timedelta(minutes=window.slot_minutes)
        start, closes = local_time(day, window.starts, zone), local_time(day, window.ends, zone)
        while start + step <= closes:
            end = start + step
            if is_open(hours, day, start, end, zone) and not any(
                    v.starts_at < end and start < v.ends_at for v in regular):
                cells.append(Cell("free" if start > now else "past", start, end))
            start = end
    return sorted(cells, key=lambda c: (c.starts_at, c.kind != "visit"))


def build(session: Session, clinic: Clinic, first: date, days: int, now: datetime) -> Board:
    """The clinic's active doctors over `days` local days from `first`."""
    zone = ZoneInfo(clinic.timezone)
    span = [first + timedelta(days=n) for n in range(days)]
    last = span[-1]
    doctors = list(session.scalars(select(Staff).where(
        Staff.clinic_id == clinic.id, Staff.role == StaffRole.DOCTOR, Staff.active.is_(True))
        .order_by(Staff.last_name, Staff.id)))
    ids = [d.id for d in doctors]
    schedules = session.scalars(select(DoctorSchedule).where(DoctorSchedule.doctor_id.in_(ids))).all()
    absences = session.scalars(select(DoctorAbsence).where(
        DoctorAbsence.doctor_id.in_(ids), DoctorAbsence.starts_on <= last,
        DoctorAbsence.ends_on >= first)).all()
    days_off = dict(session.execute(select(DayOff.day, DayOff.reason).where(
        DayOff.clinic_id == clinic.id, DayOff.day >= first, DayOff.day <= last)).all())
    visits = session.scalars(select(Appointment).options(joinedload(Appointment.patient)).where(
        Appointment.doctor_id.in_(ids), Appointment.status.in_(OCCUPYING),
        Appointment.starts_at < local_time(last + timedelta(days=1), datetime.min.time(), zone),
        Appointment.ends_at > local_time(first, datetime.min.time(), zone))
        .order_by(Appointment.starts_at)).all()
    hours = clinic_hours(clinic.opening_hours)
    columns: dict[tuple[date, int], Column] = {}
    for day in span:
        for doctor in doctors:
            column = Column(doctor, day)
            windows = [s for s in schedules if s.doctor_id == doctor.id and s.weekday == day.weekday()]
            if day in days_off:
                column.closed = "day_off"
            elif any(a.doctor_id == doctor.id and a.starts_on <= day <= a.ends_on for a in absences):
                column.closed = "away"
            elif not windows:
                column.closed = "not_working"
            own = [v for v in visits if v.doctor_id == doctor.id
                   and v.starts_at.astimezone(zone).date() == day]
            column.cells = (day_cells(windows, own, day, zone, now, hours) if not column.closed
                            else [Cell("visit", v.starts_at, v.ends_at, v) for v in own])
            columns[(day, doctor.id)] = column
    return Board(span, doctors, columns, days_off)


def arrivals(session: Session, clinic: Clinic, now: datetime) -> list[Appointment]:
    """Today's visits in time order, with their state (expected, arrived, done, no-show)."""
    zone = ZoneInfo(clinic.timezone)
    today = now.astimezone(zone).date()
    return list(session.scalars(select(Appointment).options(
        joinedload(Appointment.patient), joinedload(Appointment.doctor)).where(
        Appointment.clinic_id == clinic.id, Appointment.status.in_(ARRIVALS),
        Appointment.starts_at >= local_time(today, datetime.min.time(), zone),
        Appointment.starts_at < local_time(today + timedelta(days=1), datetime.min.time(), zone))
        .order_by(Appointment.starts_at)))
