"""The visit's lifecycle after booking: arrived, completed (with the treatment done), no-show,
rescheduled, and the day's end. One function per transition, whatever calls it (the desk's visits
page, a sync API): each checks the state it starts from and writes what follows from it.

Completion records the treatments, which start their follow-up schedule (the clinic's follow-up
table); the first call of it is put on the list at once. A no-show puts its call-back on the list
at once. Nothing is ever marked on a guess: a visit nobody marked stays "unresolved" for the desk.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from callcenter.core import events_out, followup_table
from callcenter.core.models import (
    ACTIVE_STATUSES,
    Appointment,
    AppointmentStatus,
    DialTask,
    Patient,
    TaskPurpose,
    TaskState,
    Treatment,
    TreatmentType,
)
from callcenter.schedule.booking import BookingError, reschedule

# Visits still waiting for the desk to say what happened (arrived is not the end either).
OPEN = (*ACTIVE_STATUSES, AppointmentStatus.ARRIVED)
# Where the follow-up and no-show calls rank among the desk's calls (outbound.lists.PRIORITY).
FOLLOW_UP_PRIORITY = 40
NO_SHOW_PRIORITY = 10


@dataclass(frozen=True)
class Completed:
    treatments: list[Treatment]
    follow_ups: dict[TreatmentType, list[date]]  # the calls each treatment starts, by due date
    first_task: DialTask | None


def _local_day(moment: datetime, tz: str) -> date:
    return moment.astimezone(ZoneInfo(tz)).date()


def _require(visit: Appointment, allowed: Iterable[AppointmentStatus]) -> None:
    if visit.status not in tuple(allowed):
        raise BookingError("appointment_id", "the appointment is {state}, not active", state=visit.status)


def _not_future_day(visit: Appointment, now: datetime, tz: str) -> None:
    if _local_day(visit.starts_at, tz) > _local_day(now, tz):
        raise BookingError("appointment_id", "the visit is on a later day; it cannot be marked yet")


def arrived(visit: Appointment, *, now: datetime, tz: str) -> None:
    """The patient is at the desk (on the visit's day, or late on an earlier one)."""
    _require(visit, ACTIVE_STATUSES)
    _not_future_day(visit, now, tz)
    visit.status = AppointmentStatus.ARRIVED
    events_out.visit_changed(visit, now)


def completed(session: Session, visit: Appointment, treatments: Sequence[TreatmentType], *,
              now: datetime, tz: str, notes: str = "",
              table: Mapping[TreatmentType, tuple[int, ...]] | None = None) -> Completed:
    """The visit happened: record what was done; each treatment starts its follow-up calls."""
    _require(visit, OPEN)
    _not_future_day(visit, now, tz)
    if not treatments:
        raise BookingError("treatments", "name at least one treatment done")
    schedule = dict(table or followup_table.DEFAULT)
    performed_on = _local_day(visit.starts_at, tz)
    visit.status = AppointmentStatus.COMPLETED
    rows = [Treatment(clinic_id=visit.clinic_id, patient_id=visit.patient_id,
                      doctor_id=visit.doctor_id, appointment_id=visit.id, type=kind,
                      performed_on=performed_on, notes=notes)
            for kind in dict.fromkeys(treatments)]
    session.add_all(rows)
    events_out.visit_changed(visit, now)
    follow_ups = {row.type: [performed_on + timedelta(days=d) for d in schedule.get(row.type, ())]
                  for row in rows}
    first = min(((due, row) for row in rows for due in follow_ups[row.type]),
                key=lambda pair: (pair[0], pair[1].id), default=None)
    task = None
    if first is not None:
        due, row = first
        task = _task(session, visit, TaskPurpose.FOLLOW_UP, due, tz, FOLLOW_UP_PRIORITY,
                     treatment_id=row.id)
    return Completed(rows, follow_ups, task)


def no_show(session: Session, visit: Appointment, *, now: datetime, tz: str) -> DialTask:
    """The patient did not come (once the visit's time has passed): call to ask why and rebook."""
    _require(visit, ACTIVE_STATUSES)
    if visit.starts_at > now:
        raise BookingError("appointment_id", "the visit has not started yet")
    visit.status = AppointmentStatus.NO_SHOW
    events_out.visit_changed(visit, now)
    return _task(session, visit, TaskPurpose.NO_SHOW, _local_day(now, tz), tz, NO_SHOW_PRIORITY,
                 not_before=now)


def rescheduled(session: Session, visit: Appointment, *, starts_at: datetime, now: datetime,
                doctor_id: int | None = None) -> Appointment:
    """Move the visit (the desk or a sync API); the booking rules check the new time."""
    return reschedule(session, visit, doctor_id=doctor_id, starts_at=starts_at, now=now)


def _task(session: Session, visit: Appointment, purpose: TaskPurpose, due: date, tz: str,
          priority: int, *, not_before: datetime | None = None,
          treatment_id: int | None = None) -> DialTask:
    """The visit's call on the list: one per patient, purpose and day (the list builders', or
    ours if they have not run yet). It joins that day's list when the planner runs."""
    task = session.scalar(select(DialTask).where(
        DialTask.patient_id == visit.patient_id, DialTask.purpose == purpose, DialTask.due_date == due))
    if task is not None:
        return task
    patient = session.get(Patient, visit.patient_id)
    phone = patient.phones[0].e164 if patient is not None and patient.phones else None
    start = not_before or datetime.combine(due, time(0), tzinfo=ZoneInfo(tz))
    task = DialTask(clinic_id=visit.clinic_id, patient_id=visit.patient_id, purpose=purpose,
                    due_date=due, phone=phone, appointment_id=visit.id, treatment_id=treatment_id,
                    priority=priority, state=TaskState.PENDING, attempts=0, next_attempt_at=start,
                    result="", notes="")
    session.add(task)
    session.flush()
    return task


def day_visits(session: Session, clinic_id: int, day: date, tz: str) -> list[Appointment]:
    """A day's visits in time order (cancelled and moved ones left out)."""
    zone = ZoneInfo(tz)
    start = datetime.combine(day, time(0), tzinfo=zone)
    shown = (*OPEN, AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW)
    return list(session.scalars(
        select(Appointment).options(joinedload(Appointment.patient), joinedload(Appointment.doctor))
        .where(Appointment.clinic_id == clinic_id, Appointment.status.in_(shown),
               Appointment.starts_at >= start, Appointment.starts_at < start + timedelta(days=1))
        .order_by(Appointment.starts_at, Appointment.id)))


def unresolved(session: Session, clinic_id: int, now: datetime, tz: str,
               days: int = 30, limit: int = 200) -> list[Appointment]:
    """Visits of earlier days nobody marked (booked, confirmed, "call" or only arrived): the
    desk says what happened; nothing is guessed for them."""
    zone = ZoneInfo(tz)
    today = datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)
    return list(session.scalars(
        select(Appointment).options(joinedload(Appointment.patient), joinedload(Appointment.doctor))
        .where(Appointment.clinic_id == clinic_id, Appointment.status.in_(OPEN),
               Appointment.starts_at < today, Appointment.starts_at >= today - timedelta(days=days))
        .order_by(Appointment.starts_at, Appointment.id).limit(limit)))
