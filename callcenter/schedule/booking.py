"""Desk actions on appointments: book a slot (checked against the doctor's schedule, the
clinic's hours, days off, absences and both sides' other visits, and guarded in the database),
move, cancel (only with an agreed next contact), undo a booking just made, and the confirmation
marks "visit confirmed" / "call". Every path that books (the desk's pop and "other time", the
schedule page, the API) comes through `book`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core import events_out
from callcenter.core.i18n import N_
from callcenter.core.models import (
    ACTIVE_STATUSES,
    Appointment,
    AppointmentStatus,
    Call,
    CallDirection,
    CallOutcome,
    Clinic,
    DialTask,
    DoctorNotice,
    Patient,
    Service,
    TaskPurpose,
    TaskState,
)
from callcenter.core.price_list import service_name
from callcenter.schedule import checks, claims
from callcenter.schedule.errors import AlreadyBooked, BookingError

__all__ = ["AlreadyBooked", "BookingError", "NextContact", "book", "cancel", "undo"]
from callcenter.schedule.notices import tell_doctor

DEFAULT_MINUTES = 30
MARKS = {"confirmed": AppointmentStatus.CONFIRMED, "call": AppointmentStatus.CALL_BACK}
# How long after booking the desk's "undo" still takes it back (the toast shows for less).
UNDO_WINDOW = timedelta(seconds=30)


@dataclass(frozen=True)
class NextContact:
    """What a cancellation must agree on: a new visit, or when to call back. `refused` (what the
    patient said) cancels without either, and the attending doctor is told."""

    starts_at: datetime | None = None
    doctor_id: int | None = None
    call_back_at: datetime | None = None
    refused: str = ""


def confirmed_at_booking(starts_at: datetime, now: datetime, tz: str) -> bool:
    """A visit booked today for today or tomorrow needs no confirmation call."""
    zone = ZoneInfo(tz)
    return (starts_at.astimezone(zone).date() - now.astimezone(zone).date()).days <= 1


def _booked_on_call(session: Session, call: Call, patient: Patient) -> None:
    """A second press of the same booking key (or a slow double click): the first visit stands."""
    earlier = session.scalar(select(Appointment.id).where(
        Appointment.created_by_call_id == call.id, Appointment.patient_id == patient.id,
        Appointment.status.in_(ACTIVE_STATUSES), Appointment.rescheduled_from_id.is_(None)).limit(1))
    if earlier is not None:
        raise AlreadyBooked("starts_at", N_("already booked on this call; move that visit if another time is wanted"),
                            appointment_id=earlier)


def book(session: Session, *, clinic: Clinic, patient: Patient, doctor_id: int | None,
         starts_at: datetime, now: datetime, ends_at: datetime | None = None, service: str = "",
         offered: Service | None = None, call: Call | None = None,
         rescheduled_from: Appointment | None = None, squeeze: bool = False,
         another: bool = False) -> Appointment:
    """Book a visit after every check; the caller commits.

    `offered`: the price-list service (its length, and the doctors who perform it when no doctor
    is named). `squeeze`: acute pain on a full day, today only: the visit may start between slots
    and sit on top of another one, flagged "overbooked, may wait". On a call, a second booking for
    the same patient raises AlreadyBooked unless `another` says it is meant.
    """
    if starts_at.tzinfo is None:
        raise BookingError("starts_at", "time zone offset required")
    if starts_at <= now:
        raise BookingError("starts_at", "this time has already passed")
    if patient.clinic_id != clinic.id or patient.erased_at is not None:
        raise BookingError("patient_id", "no such patient at this clinic")
    if call is not None and rescheduled_from is None and not another:
        _booked_on_call(session, call, patient)
    doctor = checks.choose_doctor(session, clinic, doctor_id, offered)
    if ends_at is None:
        minutes = (offered.duration_minutes if offered is not None
                   else checks.slot_minutes(session, doctor.id, starts_at, clinic.timezone))
        ends_at = starts_at + timedelta(minutes=minutes or DEFAULT_MINUTES)
    if ends_at <= starts_at:
        raise BookingError("ends_at", "must be after starts_at")
    zone = ZoneInfo(clinic.timezone)
    if squeeze and starts_at.astimezone(zone).date() != now.astimezone(zone).date():
        raise BookingError("squeeze", N_("only today's visits can be squeezed in"))
    grid = checks.fit(session, clinic, doctor.id, starts_at, ends_at, on_grid=not squeeze)
    overbooked = checks.doctor_busy(session, doctor.id, starts_at, ends_at)
    if overbooked and (not squeeze or checks.doctor_busy(session, doctor.id, starts_at, ends_at,
                                                          overbooked=True)):
        raise checks.taken()
    checks.check_patient_free(session, patient.id, starts_at, ends_at)
    status = (AppointmentStatus.CONFIRMED if confirmed_at_booking(starts_at, now, clinic.timezone)
              else AppointmentStatus.BOOKED)
    appointment = Appointment(
        clinic_id=clinic.id, patient_id=patient.id, doctor_id=doctor.id, starts_at=starts_at,
        ends_at=ends_at, service=(service or _named(offered, clinic))[:200],
        status=status, overbooked=overbooked, created_at=now, updated_at=now,
        created_by_call_id=call.id if call else None,
        rescheduled_from_id=rescheduled_from.id if rescheduled_from else None,
    )
    claims.hold(session, appointment, grid.units(starts_at, ends_at))
    if call is not None:
        call.patient_id = call.patient_id or patient.id
        call.outcome = CallOutcome.RESCHEDULED if rescheduled_from else CallOutcome.BOOKED
    events_out.visit_changed(appointment, now, "rescheduled" if rescheduled_from else "booked")
    return appointment


def _named(offered: Service | None, clinic: Clinic) -> str:
    return service_name(offered, clinic.locale, clinic.locale) if offered is not None else ""


def undo(session: Session, appointment: Appointment, *, now: datetime) -> None:
    """Take back a booking made a moment ago (a wrong key, the wrong slot): cancelled without
    the cancellation rule, since nothing was agreed with the patient yet. The caller audits."""
    _active(appointment)
    if appointment.rescheduled_from_id is not None or now - appointment.created_at > UNDO_WINDOW:
        raise BookingError("appointment_id", N_("too late to undo; cancel or move the visit instead"))
    _cancelled(session, appointment, now)
    call = session.get(Call, appointment.created_by_call_id) if appointment.created_by_call_id else None
    if call is not None and call.outcome is CallOutcome.BOOKED:
        call.outcome = None
    session.flush()


def _cancelled(session: Session, appointment: Appointment, now: datetime) -> None:
    appointment.status = AppointmentStatus.CANCELLED
    claims.release(session, appointment)
    events_out.visit_changed(appointment, now)


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
    length = appointment.ends_at - appointment.starts_at
    appointment.status = AppointmentStatus.RESCHEDULED
    claims.release(session, appointment)
    session.flush()
    return book(session, clinic=clinic, patient=appointment.patient,
                doctor_id=doctor_id or appointment.doctor_id, starts_at=starts_at, now=now,
                ends_at=starts_at + length, service=appointment.service, call=call,
                rescheduled_from=appointment)


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
        _cancelled(session, appointment, now)
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
    _cancelled(session, appointment, now)
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


def mark(appointment: Appointment, result: str, now: datetime) -> None:
    """The confirmation-call result: "confirmed" (visit confirmed) or "call" (call again on the day)."""
    if result not in MARKS:
        raise BookingError("mark", "one of: {choices}", choices=", ".join(MARKS))
    _active(appointment)
    appointment.status = MARKS[result]
    events_out.visit_changed(appointment, now)


def check_outcome(session: Session, call: Call, outcome: CallOutcome) -> None:
    """A call closed as "cancelled" must have cancelled through `cancel` (with a next contact, or
    the doctor told of a refusal)."""
    if outcome is not CallOutcome.CANCELLED:
        return
    agreed = session.scalar(select(DialTask.id).where(
        DialTask.call_id == call.id, DialTask.purpose == TaskPurpose.CALL_BACK).limit(1))
    if agreed is None and call.outcome is not CallOutcome.CANCELLED:
        raise BookingError("outcome", "cancel the appointment with a new date or a call-back time first")
