"""Desk actions on appointments: book a slot, reschedule, cancel (only with an agreed next
contact), and the confirmation marks "visit confirmed" / "call".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core.inputs import FieldError
from callcenter.core.models import (
    Appointment,
    AppointmentStatus,
    Call,
    CallDirection,
    CallOutcome,
    Clinic,
    DialTask,
    DoctorAbsence,
    DoctorNotice,
    DoctorSchedule,
    Patient,
    Staff,
    StaffRole,
    TaskPurpose,
    TaskState,
)
from callcenter.schedule.notices import tell_doctor
from callcenter.schedule.slots import OCCUPYING

DEFAULT_MINUTES = 30
MARKS = {"confirmed": AppointmentStatus.CONFIRMED, "call": AppointmentStatus.CALL_BACK}


class BookingError(FieldError, ValueError):
    """A desk action the rules refuse; `field` names what to fix."""

    def __init__(self, field: str, message: str, **params: object) -> None:
        super().__init__(field, message, 409, **params)

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass(frozen=True)
class NextContact:
    """What a cancellation must agree on: a new visit, or when to call back. `refused` (what the
    patient said) cancels without either, and the attending doctor is told."""

    starts_at: datetime | None = None
    doctor_id: int | None = None
    call_back_at: datetime | None = None
    refused: str = ""


def _doctor(session: Session, clinic_id: int, doctor_id: int) -> Staff:
    # Locking the doctor's row serializes bookings of one schedule, so two desks cannot take the
    # same slot at once (PostgreSQL; SQLite serializes writers anyway).
    doctor = session.scalar(select(Staff).where(Staff.id == doctor_id).with_for_update())
    if doctor is None or doctor.role != StaffRole.DOCTOR or not doctor.active or doctor.clinic_id != clinic_id:
        raise BookingError("doctor_id", "no such doctor at this clinic")
    return doctor


def _slot_minutes(session: Session, doctor_id: int, starts_at: datetime, tz: str) -> int:
    weekday = starts_at.astimezone(ZoneInfo(tz)).weekday()
    minutes = session.scalar(select(DoctorSchedule.slot_minutes).where(
        DoctorSchedule.doctor_id == doctor_id, DoctorSchedule.weekday == weekday).limit(1))
    return minutes or DEFAULT_MINUTES


def _check_free(session: Session, doctor_id: int, starts_at: datetime, ends_at: datetime,
                ignore_id: int | None = None) -> None:
    clash = session.scalar(select(Appointment.id).where(
        Appointment.doctor_id == doctor_id, Appointment.status.in_(OCCUPYING),
        Appointment.starts_at < ends_at, Appointment.ends_at > starts_at,
        Appointment.id != (ignore_id or 0)).limit(1))
    if clash is not None:
        raise BookingError("starts_at", "this time is already taken; pick another slot")


def _check_present(session: Session, doctor_id: int, starts_at: datetime, ends_at: datetime,
                   tz: str) -> None:
    """Not during the doctor's vacation or sick leave: the offer never shows those days, and a
    time typed in by hand must not slip past."""
    zone = ZoneInfo(tz)
    first = starts_at.astimezone(zone).date()
    last = (ends_at - timedelta(microseconds=1)).astimezone(zone).date()
    away = session.scalar(select(DoctorAbsence.starts_on).where(
        DoctorAbsence.doctor_id == doctor_id, DoctorAbsence.starts_on <= last,
        DoctorAbsence.ends_on >= first).limit(1))
    if away is not None:
        raise BookingError("starts_at", "the doctor is away on that day; pick another slot")


def confirmed_at_booking(starts_at: datetime, now: datetime, tz: str) -> bool:
    """A visit booked today for today or tomorrow needs no confirmation call."""
    zone = ZoneInfo(tz)
    return (starts_at.astimezone(zone).date() - now.astimezone(zone).date()).days <= 1


def book(session: Session, *, clinic: Clinic, patient: Patient, doctor_id: int, starts_at: datetime,
         now: datetime, ends_at: datetime | None = None, service: str = "", call: Call | None = None,
         rescheduled_from: Appointment | None = None) -> Appointment:
    """Book a visit (one of the two offered slots or any other free time); the caller commits."""
    if starts_at.tzinfo is None:
        raise BookingError("starts_at", "time zone offset required")
    if starts_at <= now:
        raise BookingError("starts_at", "this time has already passed")
    if patient.clinic_id != clinic.id or patient.erased_at is not None:
        raise BookingError("patient_id", "no such patient at this clinic")
    _doctor(session, clinic.id, doctor_id)
    ends_at = ends_at or starts_at + timedelta(minutes=_slot_minutes(session, doctor_id, starts_at,
                                                                     clinic.timezone))
    if ends_at <= starts_at:
        raise BookingError("ends_at", "must be after starts_at")
    _check_present(session, doctor_id, starts_at, ends_at, clinic.timezone)
    _check_free(session, doctor_id, starts_at, ends_at)
    status = (AppointmentStatus.CONFIRMED if confirmed_at_booking(starts_at, now, clinic.timezone)
              else AppointmentStatus.BOOKED)
    appointment = Appointment(
        clinic_id=clinic.id, patient_id=patient.id, doctor_id=doctor_id, starts_at=starts_at,
        ends_at=ends_at, service=service[:200], status=status,
        created_by_call_id=call.id if call else None,
        rescheduled_from_id=rescheduled_from.id if rescheduled_from else None,
    )
    session.add(appointment)
    if call is not None:
        call.patient_id = call.patient_id or patient.id
        call.outcome = CallOutcome.RESCHEDULED if rescheduled_from else CallOutcome.BOOKED
    session.flush()
    return appointment


def _active(appointment: Appointment) -> None:
    if appointment.status not in (AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED,
                                  AppointmentStatus.CALL_BACK):
        raise BookingError("appointment_id", "the appointment is {state}, not active",
                           state=appointment.status)


def reschedule(session: Session, appointment: Appointment, *, doctor_id: int | None,
               starts_at: datetime, now: datetime, call: Call | None = None) -> Appointment:
    """Move a visit: the old one is marked rescheduled, the new one points back to it."""
    _active(appointment)
    clinic = session.get(Clinic, appointment.clinic_id)
    assert clinic is not None
    appointment.status = AppointmentStatus.RESCHEDULED
    session.flush()
    return book(session, clinic=clinic, patient=appointment.patient,
                doctor_id=doctor_id or appointment.doctor_id, starts_at=starts_at, now=now,
                service=appointment.service, call=call, rescheduled_from=appointment)


def cancel(session: Session, appointment: Appointment, next_contact: NextContact, *, now: datetime,
           call: Call | None = None, staff_id: int | None = None) -> Appointment | DialTask | DoctorNotice:
    """Cancel only with an agreed next contact: a new date (a reschedule) or a call-back time
    (a call-back task on the desk's list); a patient who refuses both is cancelled and their
    doctor told. Returns the new appointment, the task or the doctor's notice."""
    _active(appointment)
    if next_contact.starts_at is not None:
        return reschedule(session, appointment, doctor_id=next_contact.doctor_id,
                          starts_at=next_contact.starts_at, now=now, call=call)
    when = next_contact.call_back_at
    if when is None and next_contact.refused.strip():
        appointment.status = AppointmentStatus.CANCELLED
        if call is not None:
            call.patient_id = call.patient_id or appointment.patient_id
            call.outcome = CallOutcome.CANCELLED
        return tell_doctor(session, appointment, note=next_contact.refused.strip(), now=now,
                           staff_id=staff_id)
    if when is None:
        raise BookingError("next_contact", "a cancellation needs a new date or a call-back time")
    if when.tzinfo is None:
        raise BookingError("call_back_at", "time zone offset required")
    if when <= now:
        raise BookingError("call_back_at", "the call-back time must be in the future")
    clinic = session.get(Clinic, appointment.clinic_id)
    assert clinic is not None
    appointment.status = AppointmentStatus.CANCELLED
    task = call_back_task(session, clinic, appointment.patient, when, appointment=appointment, call=call)
    if call is not None:
        call.patient_id = call.patient_id or appointment.patient_id
        call.outcome = CallOutcome.CANCELLED
    session.flush()
    return task


def call_back_task(session: Session, clinic: Clinic, patient: Patient, when: datetime, *,
                   appointment: Appointment | None = None, call: Call | None = None) -> DialTask:
    """The agreed call-back, on the desk's "call-backs due" list (one per patient and day)."""
    due = when.astimezone(ZoneInfo(clinic.timezone)).date()
    task = session.scalar(select(DialTask).where(
        DialTask.patient_id == patient.id, DialTask.purpose == TaskPurpose.CALL_BACK,
        DialTask.due_date == due))
    if task is None:
        task = DialTask(clinic_id=clinic.id, patient_id=patient.id, purpose=TaskPurpose.CALL_BACK,
                        due_date=due, priority=10)
        session.add(task)
    phone = call.dialed if call is not None and call.direction == CallDirection.OUTBOUND else (
        call.caller if call is not None else None)
    task.phone = phone or (patient.phones[0].e164 if patient.phones else None)
    task.next_attempt_at = when
    task.state = TaskState.PENDING
    task.appointment_id = appointment.id if appointment else task.appointment_id
    task.call_id = call.id if call else task.call_id
    return task


def mark(appointment: Appointment, result: str) -> None:
    """The confirmation-call result: "confirmed" (visit confirmed) or "call" (call again on the day)."""
    if result not in MARKS:
        raise BookingError("mark", "one of: {choices}", choices=", ".join(MARKS))
    _active(appointment)
    appointment.status = MARKS[result]


def check_outcome(session: Session, call: Call, outcome: CallOutcome) -> None:
    """A call closed as "cancelled" must have cancelled through `cancel` (with a next contact, or
    the doctor told of a refusal)."""
    if outcome is not CallOutcome.CANCELLED:
        return
    agreed = session.scalar(select(DialTask.id).where(
        DialTask.call_id == call.id, DialTask.purpose == TaskPurpose.CALL_BACK).limit(1))
    if agreed is None and call.outcome is not CallOutcome.CANCELLED:
        raise BookingError("outcome", "cancel the appointment with a new date or a call-back time first")
