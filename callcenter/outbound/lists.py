"""Pure list builders: `(session, clinic, now) -> [NewTask]`, read-only and idempotent.

A task is unique per patient × purpose × due date; builders leave out what already exists, and
`save_new` inserts with ON CONFLICT DO NOTHING, so re-running a builder adds nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Integer, exists, literal, select, union_all
from sqlalchemy.orm import Session, aliased

from callcenter.core import clinic_settings, followup_table
from callcenter.core.clinic_settings import parse_window
from callcenter.core.db import insert_new_rows, without_jit
from callcenter.core.models import (
    Appointment,
    AppointmentStatus,
    Call,
    CallDirection,
    CallStatus,
    Clinic,
    DayOff,
    DialTask,
    OptOut,
    TaskPurpose,
    TaskState,
    Treatment,
    TreatmentType,
)
from callcenter.outbound.reach import binds, callable_phones, has_future_visit, phone_to_call
from callcenter.outbound.visits import visits_to_confirm
from callcenter.outbound.workdays import ClinicCalendar, confirmed_at_booking

PRIORITY = {
    TaskPurpose.MISSED_CALL: 0,
    TaskPurpose.NO_SHOW: 10,
    TaskPurpose.GAP_FILL: 12,  # + the candidate's rank: a freed slot will not wait
    TaskPurpose.CONFIRMATION: 20,
    TaskPurpose.RESCHEDULE: 25,
    TaskPurpose.CALL_BACK: 25,
    TaskPurpose.FOLLOW_UP: 40,
    TaskPurpose.RECALL: 60,
}


@dataclass(frozen=True)
class ListSettings:
    call_hours: tuple[time, time] = (time(9), time(21))
    confirm_evening: tuple[time, time] = (time(16), time(20))
    confirm_morning: tuple[time, time] = (time(9), time(11))
    follow_ups: Mapping[TreatmentType, tuple[int, ...]] = field(
        default_factory=lambda: dict(followup_table.DEFAULT))
    recall_days: tuple[int, ...] = (180, 360)
    # A follow-up missed while the service was down is still made this many days late.
    catch_up_days: int = 3
    missed_call_days: int = 2
    text_confirmation: str = "off"  # clinic_settings.sms_confirmation
    text_reply_wait: int = 0  # minutes a confirmation call waits for the reply to the text

    @classmethod
    def from_config(cls, config: Mapping[str, Any], clinic: Clinic) -> ListSettings:
        """The installation's list settings with the clinic's own calling window."""
        return cls(
            call_hours=clinic_settings.call_window(clinic, config),
            confirm_evening=parse_window(config["CONFIRM_WINDOW"]),
            confirm_morning=parse_window(config["CONFIRM_MORNING"]),
            follow_ups=followup_table.schedule(config["FOLLOWUP_SCHEDULE"]),
            recall_days=tuple(config["RECALL_DAYS"]),
            text_confirmation=clinic_settings.sms_confirmation(clinic, config),
            text_reply_wait=config["SMS_REPLY_WAIT"],
        )


DEFAULT_SETTINGS = ListSettings()


def clinic_calendar(session: Session, clinic: Clinic) -> ClinicCalendar:
    days_off = session.scalars(select(DayOff.day).where(DayOff.clinic_id == clinic.id)).all()
    return ClinicCalendar.build(clinic.timezone, clinic.opening_hours, days_off)


def _existing(session: Session, clinic_id: int, purpose: TaskPurpose,
              due_dates: Iterable[date]) -> set[tuple[int | None, date]]:
    rows = session.execute(
        select(DialTask.patient_id, DialTask.due_date)
        .where(DialTask.clinic_id == clinic_id, DialTask.purpose == purpose,
               DialTask.due_date.in_(sorted(set(due_dates))))
    ).all()
    return {(patient_id, due) for patient_id, due in rows}


@dataclass(frozen=True, slots=True)
class NewTask:
    """A task a builder proposes, not yet stored. Plain values: a large clinic's daily list is a
    hundred thousand of them, and an ORM instance costs tens of microseconds to make."""

    clinic_id: int
    purpose: TaskPurpose
    patient_id: int | None
    phone: str
    due_date: date
    next_attempt_at: datetime
    deadline_at: datetime
    priority: int
    appointment_id: int | None = None
    treatment_id: int | None = None
    call_id: int | None = None
    notes: str = ""
    state: TaskState = TaskState.PENDING
    attempts: int = 0
    result: str = ""


def _task(clinic: Clinic, purpose: TaskPurpose, patient_id: int | None, phone: str, due: date,
          not_before: datetime, deadline: datetime, **links: int | None) -> NewTask:
    return NewTask(clinic_id=clinic.id, purpose=purpose, patient_id=patient_id, phone=phone,
                   due_date=due, next_attempt_at=not_before, deadline_at=deadline,
                   priority=PRIORITY[purpose], **links)


def build_confirmations(session: Session, clinic: Clinic, now: datetime,
                        settings: ListSettings = DEFAULT_SETTINGS) -> list[NewTask]:
    """Confirmation calls for today's runs; the due date is the visit day, so the morning and
    evening runs of one day never collide. A clinic that confirms by text alone calls nobody;
    one that texts first calls only after the reply wait."""
    if settings.text_confirmation == "alone":
        return []
    chosen = visits_to_confirm(session, clinic.id, clinic_calendar(session, clinic), now,
                               settings.confirm_evening, settings.confirm_morning)
    phones = callable_phones(session, [v.patient_id for v in chosen])
    seen = _existing(session, clinic.id, TaskPurpose.CONFIRMATION, {v.visit_day for v in chosen})
    wait = (timedelta(minutes=settings.text_reply_wait)
            if settings.text_confirmation == "before_call" else timedelta(0))
    tasks: list[NewTask] = []
    for visit in chosen:
        key = (visit.patient_id, visit.visit_day)
        if visit.patient_id not in phones or key in seen:
            continue
        seen.add(key)
        tasks.append(_task(clinic, TaskPurpose.CONFIRMATION, visit.patient_id,
                           phones[visit.patient_id], visit.visit_day,
                           min(visit.not_before + wait, visit.deadline), visit.deadline,
                           appointment_id=visit.visit_id))
    return tasks


def bookings_confirmed_at_booking(session: Session, clinic: Clinic, now: datetime) -> list[int]:
    """Ids of visits booked today for today or the next working day: confirmed without a call."""
    calendar = clinic_calendar(session, clinic)
    today = calendar.local_day(now)
    rows = session.execute(
        select(Appointment.id, Appointment.starts_at, Appointment.created_at)
        .where(Appointment.clinic_id == clinic.id, Appointment.status == AppointmentStatus.BOOKED,
               Appointment.created_at >= calendar.at(today, time(0)), Appointment.starts_at > now)
    ).all()
    return [r.id for r in rows if confirmed_at_booking(r.created_at, r.starts_at, calendar)]


def _catch_up_days(today: date, settings: ListSettings) -> list[date]:
    return [today - timedelta(days=k) for k in range(settings.catch_up_days + 1)]


def _after_care_window(calendar: ClinicCalendar, today: date, due: date, now: datetime,
                       settings: ListSettings) -> tuple[datetime, datetime]:
    not_before = max(now, calendar.at(today, settings.call_hours[0]))
    deadline = calendar.at(due + timedelta(days=settings.catch_up_days), settings.call_hours[1])
    return not_before, deadline


def follow_up_dues(kind: TreatmentType, performed_on: date, days: Collection[date],
                   settings: ListSettings = DEFAULT_SETTINGS) -> list[date]:
    """The days among `days` on which a treatment's follow-up calls fall (the follow-up table)."""
    dues = (performed_on + timedelta(days=offset) for offset in settings.follow_ups.get(kind, ()))
    return [due for due in dues if due in days]


def recall_dues(performed_on: date, days: Collection[date],
                settings: ListSettings = DEFAULT_SETTINGS) -> list[date]:
    """The days among `days` on which a check-up falls after a patient's last treatment."""
    dues = (performed_on + timedelta(days=after) for after in settings.recall_days)
    return [due for due in dues if due in days]


def _performed(days: Iterable[date], offsets: Iterable[int]) -> list[date]:
    """The treatment days whose calls (`offsets` days later) fall on one of `days`: what the
    query asks the index for; `follow_up_dues` / `recall_dues` then say which call it is."""
    return sorted({day - timedelta(days=offset) for day in days for offset in offsets})


def build_follow_ups(session: Session, clinic: Clinic, now: datetime,
                     settings: ListSettings = DEFAULT_SETTINGS) -> list[NewTask]:
    """Post-treatment calls due today (or missed in the last few days), per the follow-up table,
    for patients who may be called and have no visit booked. One statement finds the treatments,
    the number and the booking; a patient × day called for two treatments is called once, for
    the treatment whose type comes first in the table (then the earliest performed, then the
    earliest recorded)."""
    calendar = clinic_calendar(session, clinic)
    today = calendar.local_day(now)
    days = set(_catch_up_days(today, settings))
    later = aliased(Treatment)
    kinds = []
    # One arm per type: each reads its days from the index alone (an OR of them read the rows).
    for rank, (kind, offsets) in enumerate(settings.follow_ups.items()):
        arm = select(Treatment.id, Treatment.patient_id, Treatment.type, Treatment.performed_on,
                     literal(rank, Integer).label("rank")).where(
            Treatment.clinic_id == clinic.id, Treatment.type == kind,
            Treatment.performed_on.in_(_performed(days, offsets)))
        stop_kind = followup_table.UNTIL.get(kind)
        if stop_kind is not None:
            arm = arm.where(~exists().where(
                later.patient_id == Treatment.patient_id, later.type == stop_kind,
                later.performed_on > Treatment.performed_on))
        kinds.append(arm)
    treated = union_all(*kinds).subquery()
    without_jit(session)
    # Core rows, not the ORM's: a hundred thousand of them, and every arm names its clinic.
    rows = session.connection().execute(
        select(treated.c.id, treated.c.patient_id, treated.c.rank, treated.c.performed_on,
               phone_to_call(treated.c.patient_id))
        .where(~has_future_visit(treated.c.patient_id, now))
        .order_by(treated.c.rank, treated.c.performed_on, treated.c.id)
    ).all()
    table = list(settings.follow_ups)
    dues: dict[tuple[int, date], list[date]] = {}
    found: dict[tuple[int, date], tuple[int, str]] = {}
    for treatment_id, patient_id, rank, performed_on, phone in rows:
        if phone is None:
            continue
        if (rank, performed_on) not in dues:  # a few dozen distinct pairs among the rows
            dues[rank, performed_on] = follow_up_dues(table[rank], performed_on, days, settings)
        for due in dues[rank, performed_on]:
            found.setdefault((patient_id, due), (treatment_id, phone))
    return _after_care_tasks(session, clinic, calendar, now, today, TaskPurpose.FOLLOW_UP, found,
                             settings)


def due_recalls(session: Session, clinic: Clinic, now: datetime,
                settings: ListSettings = DEFAULT_SETTINGS) -> dict[tuple[int, date], int]:
    """(patient, due day) → the treatment it follows: check-ups due 6 / 12 months after a
    patient's last treatment, today on the clinic's calendar or in the catch-up days, for
    patients with no visit booked (of two treatments on the last day, the earliest recorded)."""
    days = set(_catch_up_days(clinic_calendar(session, clinic).local_day(now), settings))
    later = aliased(Treatment)
    without_jit(session)
    rows = session.execute(
        select(Treatment.id, Treatment.patient_id, Treatment.performed_on)
        .where(Treatment.clinic_id == clinic.id,
               Treatment.performed_on.in_(_performed(days, settings.recall_days)),
               ~exists().where(later.patient_id == Treatment.patient_id,
                               later.performed_on > Treatment.performed_on),
               ~has_future_visit(Treatment.patient_id, now))
        .order_by(Treatment.id)
    ).all()
    found: dict[tuple[int, date], int] = {}
    for treatment_id, patient_id, performed_on in rows:
        for due in recall_dues(performed_on, days, settings):
            found.setdefault((patient_id, due), treatment_id)
    return found


def build_recalls(session: Session, clinic: Clinic, now: datetime,
                  settings: ListSettings = DEFAULT_SETTINGS) -> list[NewTask]:
    """Preventive check-up invitations 6 / 12 months after a patient's last treatment."""
    calendar = clinic_calendar(session, clinic)
    today = calendar.local_day(now)
    due = due_recalls(session, clinic, now, settings)
    # A follow-up call the same day already invites the patient: one call, not two.
    follow_ups = _existing(session, clinic.id, TaskPurpose.FOLLOW_UP, _catch_up_days(today, settings))
    due = {key: tid for key, tid in due.items() if key not in follow_ups}
    phones = callable_phones(session, [patient_id for patient_id, _ in due])
    found = {(patient_id, day): (tid, phones[patient_id])
             for (patient_id, day), tid in due.items() if patient_id in phones}
    return _after_care_tasks(session, clinic, calendar, now, today, TaskPurpose.RECALL, found,
                             settings)


def _after_care_tasks(session: Session, clinic: Clinic, calendar: ClinicCalendar, now: datetime,
                      today: date, purpose: TaskPurpose, found: dict[tuple[int, date], tuple[int, str]],
                      settings: ListSettings) -> list[NewTask]:
    """Tasks for (patient, due day) → (treatment, number), leaving out those already listed."""
    days = {due for _, due in found}
    seen = _existing(session, clinic.id, purpose, days)
    windows = {due: _after_care_window(calendar, today, due, now, settings) for due in days}
    return [_task(clinic, purpose, patient_id, phone, due, *windows[due], treatment_id=treatment_id)
            for (patient_id, due), (treatment_id, phone) in sorted(found.items())
            if (patient_id, due) not in seen]


def build_no_shows(session: Session, clinic: Clinic, now: datetime,
                   settings: ListSettings = DEFAULT_SETTINGS) -> list[NewTask]:
    """Today's visits marked no-show whose patient has not booked again: ask why, rebook."""
    calendar = clinic_calendar(session, clinic)
    today = calendar.local_day(now)
    rows = session.execute(
        select(Appointment.id, Appointment.patient_id, phone_to_call(Appointment.patient_id))
        .where(Appointment.clinic_id == clinic.id, Appointment.status == AppointmentStatus.NO_SHOW,
               Appointment.starts_at >= calendar.at(today, time(0)), Appointment.starts_at <= now,
               ~has_future_visit(Appointment.patient_id, now))
        .order_by(Appointment.starts_at)
    ).all()
    seen = _existing(session, clinic.id, TaskPurpose.NO_SHOW, [today])
    deadline = calendar.at(today + timedelta(days=1), settings.call_hours[1])
    tasks = []
    for visit_id, patient_id, phone in rows:
        if phone is None or (patient_id, today) in seen:
            continue
        seen.add((patient_id, today))
        tasks.append(_task(clinic, TaskPurpose.NO_SHOW, patient_id, phone, today, now, deadline,
                           appointment_id=visit_id))
    return tasks


def build_missed_calls(session: Session, clinic: Clinic, now: datetime,
                       settings: ListSettings = DEFAULT_SETTINGS) -> list[NewTask]:
    """Missed inbound calls nobody has returned yet: top-priority call-backs, one per caller."""
    calendar = clinic_calendar(session, clinic)
    since = now - timedelta(days=settings.missed_call_days)
    rows = session.execute(
        select(Call.id, Call.patient_id, Call.caller, Call.started_at)
        .where(Call.clinic_id == clinic.id, Call.direction == CallDirection.INBOUND,
               Call.status == CallStatus.MISSED, Call.callback_done_at.is_(None),
               Call.caller.is_not(None), Call.started_at >= since,
               ~exists().where(DialTask.call_id == Call.id))
        .order_by(Call.started_at)
    ).all()
    if not rows:
        return []
    opted_out = set(session.scalars(
        select(OptOut.e164).where(OptOut.e164.in_({r.caller for r in rows}), OptOut.scope == "all",
                                  binds(clinic.id))))
    allowed = callable_phones(session, [r.patient_id for r in rows if r.patient_id])
    open_numbers = set(session.scalars(
        select(DialTask.phone).where(DialTask.clinic_id == clinic.id,
                                     DialTask.purpose == TaskPurpose.MISSED_CALL,
                                     DialTask.state.in_((TaskState.PENDING, TaskState.IN_PROGRESS)))))
    dues = {calendar.local_day(r.started_at) for r in rows}
    seen = _existing(session, clinic.id, TaskPurpose.MISSED_CALL, dues)
    tasks = []
    for row in rows:
        due = calendar.local_day(row.started_at)
        key = (row.patient_id, due)
        if (row.caller in opted_out or row.caller in open_numbers
                or (row.patient_id and (row.patient_id not in allowed or key in seen))):
            continue
        open_numbers.add(row.caller)
        seen.add(key)
        deadline = calendar.at(due + timedelta(days=settings.missed_call_days), settings.call_hours[1])
        tasks.append(_task(clinic, TaskPurpose.MISSED_CALL, row.patient_id, row.caller, due, now,
                           deadline, call_id=row.id))
    return tasks


Builder = Callable[[Session, Clinic, datetime, ListSettings], list[NewTask]]
BUILDERS: dict[TaskPurpose, Builder] = {
    TaskPurpose.MISSED_CALL: build_missed_calls,
    TaskPurpose.NO_SHOW: build_no_shows,
    TaskPurpose.CONFIRMATION: build_confirmations,
    TaskPurpose.FOLLOW_UP: build_follow_ups,
    TaskPurpose.RECALL: build_recalls,
}
DAILY = (TaskPurpose.CONFIRMATION, TaskPurpose.FOLLOW_UP, TaskPurpose.RECALL)
CONTINUOUS = (TaskPurpose.MISSED_CALL, TaskPurpose.NO_SHOW)


def save_new(session: Session, tasks: Sequence[NewTask], campaign_ids: Mapping[TaskPurpose, int]) -> int:
    """Insert tasks, skipping any patient × purpose × due date that exists; returns how many were new."""
    columns = ("clinic_id", "patient_id", "purpose", "due_date", "phone", "appointment_id",
               "treatment_id", "call_id", "priority", "state", "attempts", "next_attempt_at",
               "deadline_at", "result", "notes")
    rows = [{name: getattr(task, name) for name in columns} | {"campaign_id": campaign_ids.get(task.purpose)}
            for task in tasks]
    return insert_new_rows(session, DialTask, rows)


def tasks_dropped_by_booking(session: Session, clinic: Clinic, now: datetime) -> list[int]:
    """Open after-care / no-show tasks whose patient has booked a visit since: off the list."""
    return list(session.scalars(
        select(DialTask.id).where(
            DialTask.clinic_id == clinic.id,
            DialTask.purpose.in_((TaskPurpose.FOLLOW_UP, TaskPurpose.RECALL, TaskPurpose.NO_SHOW)),
            DialTask.state == TaskState.PENDING, has_future_visit(DialTask.patient_id, now))))

