"""The booking checks that read the database: which doctor, where the visit fits in their
schedule (rules.place on the doctor's windows, the clinic's hours, days off and absences), and
whether the doctor or the patient already has a visit then. `booking.book` runs them in order."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core.i18n import N_
from callcenter.core.models import (
    Appointment,
    Clinic,
    DayOff,
    DoctorAbsence,
    DoctorSchedule,
    Service,
    Staff,
    StaffRole,
)
from callcenter.schedule.errors import BookingError, SlotTaken
from callcenter.schedule.hours import clinic_hours
from callcenter.schedule.rules import Grid, place
from callcenter.schedule.slots import OCCUPYING, Away, WorkWindow


def doctors_for(session: Session, clinic_id: int, service: Service | None) -> list[Staff]:
    """The clinic's active doctors who perform the service (every doctor without one)."""
    doctors = session.scalars(select(Staff).where(
        Staff.clinic_id == clinic_id, Staff.role == StaffRole.DOCTOR, Staff.active.is_(True))
        .order_by(Staff.last_name, Staff.id)).all()
    if service is None or not service.specialties:
        return list(doctors)
    return [d for d in doctors if set(d.specialties or ()) & set(service.specialties)]


def choose_doctor(session: Session, clinic: Clinic, doctor_id: int | None,
                  service: Service | None) -> Staff:
    """The named doctor, or the only one who performs the service: never a silent default."""
    able = doctors_for(session, clinic.id, service)
    if doctor_id is None:
        if service is None:
            raise BookingError("doctor_id", N_("name the doctor"))
        if not able:
            raise BookingError("service_id", N_("no doctor of this clinic performs this service"))
        if len(able) > 1:
            raise BookingError("doctor_id", N_("several doctors perform this service; name the doctor"))
        return able[0]
    doctor = session.get(Staff, doctor_id)
    if doctor is None or doctor.role != StaffRole.DOCTOR or not doctor.active or doctor.clinic_id != clinic.id:
        raise BookingError("doctor_id", "no such doctor at this clinic")
    if doctor not in able:
        raise BookingError("doctor_id", N_("this doctor does not perform the chosen service"))
    return doctor


def slot_minutes(session: Session, doctor_id: int, starts_at: datetime, tz: str) -> int | None:
    weekday = starts_at.astimezone(ZoneInfo(tz)).weekday()
    return session.scalar(select(DoctorSchedule.slot_minutes).where(
        DoctorSchedule.doctor_id == doctor_id, DoctorSchedule.weekday == weekday).limit(1))


def fit(session: Session, clinic: Clinic, doctor_id: int, starts_at: datetime, ends_at: datetime,
        *, on_grid: bool = True) -> Grid:
    """Load what `rules.place` needs for the visit's day and place it (BookingError if it
    breaks a rule)."""
    zone = ZoneInfo(clinic.timezone)
    first = starts_at.astimezone(zone).date()
    last = (ends_at - timedelta(microseconds=1)).astimezone(zone).date()
    windows = [WorkWindow(s.doctor_id, s.weekday, s.starts, s.ends, s.slot_minutes)
               for s in session.scalars(select(DoctorSchedule).where(DoctorSchedule.doctor_id == doctor_id))]
    days_off = session.scalars(select(DayOff.day).where(
        DayOff.clinic_id == clinic.id, DayOff.day >= first, DayOff.day <= last)).all()
    away = [Away(doctor_id, a, b) for a, b in session.execute(select(
        DoctorAbsence.starts_on, DoctorAbsence.ends_on).where(
        DoctorAbsence.doctor_id == doctor_id, DoctorAbsence.starts_on <= last,
        DoctorAbsence.ends_on >= first))]
    return place(windows, starts_at, ends_at, clinic.timezone, days_off=days_off, away=away,
                 hours=clinic_hours(clinic.opening_hours), on_grid=on_grid)


def doctor_busy(session: Session, doctor_id: int, starts_at: datetime, ends_at: datetime, *,
                overbooked: bool = False, ignore_id: int | None = None) -> bool:
    """Whether another visit of the doctor's (regular, or squeezed in) overlaps the time."""
    return session.scalar(select(Appointment.id).where(
        Appointment.doctor_id == doctor_id, Appointment.status.in_(OCCUPYING),
        Appointment.overbooked.is_(overbooked),
        Appointment.starts_at < ends_at, Appointment.ends_at > starts_at,
        Appointment.id != (ignore_id or 0)).limit(1)) is not None


def check_patient_free(session: Session, patient_id: int, starts_at: datetime, ends_at: datetime) -> None:
    clash = session.scalar(select(Appointment.id).where(
        Appointment.patient_id == patient_id, Appointment.status.in_(OCCUPYING),
        Appointment.starts_at < ends_at, Appointment.ends_at > starts_at).limit(1))
    if clash is not None:
        raise BookingError("starts_at", N_("the patient already has a visit at this time"))


def taken() -> SlotTaken:
    return SlotTaken("starts_at", N_("this time is already taken; pick another slot"))
