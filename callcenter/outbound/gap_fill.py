"""Keep the schedule dense: a freed slot (a visit cancelled or moved away) is offered to patients
who are due, as a ready call list on the desk's outbound list (purpose "gap_fill").

Who is offered it, in this order: the waiting list (patients booked later who would come
earlier; the same doctor's first), then unfinished treatment (an implant without its crown yet),
then recall due (an open check-up call). Patients who may not be called, or who already have a
visit booked (apart from the waiting list's own), are left out; a handful per slot is enough.
The builder is pure and idempotent like the others; the desk's cancel runs it at once so the
list is there before the planner's next run.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, aliased

from callcenter.core import followup_table
from callcenter.core.i18n import N_
from callcenter.core.models import (
    ACTIVE_STATUSES,
    Appointment,
    AppointmentStatus,
    Clinic,
    DialMode,
    DialTask,
    TaskPurpose,
    TaskState,
    Treatment,
)
from callcenter.outbound.lists import DEFAULT_SETTINGS, PRIORITY, ListSettings, NewTask, save_new
from callcenter.outbound.reach import callable_phones, patients_with_future_visit
from callcenter.outbound.store import campaign_for
from callcenter.schedule.slots import OCCUPYING

FREED = (AppointmentStatus.CANCELLED, AppointmentStatus.RESCHEDULED)
PER_SLOT = 5
RECENT = timedelta(days=2)  # a slot freed longer ago than this has had its offers
LEAD = timedelta(hours=1)  # too close to offer by phone
# Why the patient is on the list (the task's notes), most deserving first.
REASONS = {
    "waiting_list": N_("on the waiting list"),
    "unfinished_treatment": N_("treatment not finished"),
    "recall_due": N_("check-up due"),
}


def slot_open(session: Session, freed: Appointment, now: datetime) -> bool:
    """The freed time is still ahead and nobody has taken it since."""
    if freed.starts_at <= now + LEAD:
        return False
    taken = session.scalar(select(exists().where(
        Appointment.doctor_id == freed.doctor_id, Appointment.status.in_(OCCUPYING),
        Appointment.starts_at < freed.ends_at, Appointment.ends_at > freed.starts_at)))
    return not taken


def _freed_slots(session: Session, clinic: Clinic, now: datetime) -> list[Appointment]:
    offered = exists().where(DialTask.appointment_id == Appointment.id,
                             DialTask.purpose == TaskPurpose.GAP_FILL)
    rows = session.scalars(select(Appointment).where(
        Appointment.clinic_id == clinic.id, Appointment.status.in_(FREED),
        Appointment.starts_at > now + LEAD, Appointment.updated_at >= now - RECENT, ~offered)
        .order_by(Appointment.starts_at)).all()
    return [row for row in rows if slot_open(session, row, now)]


def _waiting_list(session: Session, freed: Appointment) -> list[int]:
    rows = session.execute(select(Appointment.patient_id, Appointment.doctor_id).where(
        Appointment.clinic_id == freed.clinic_id, Appointment.wants_earlier.is_(True),
        Appointment.status.in_(ACTIVE_STATUSES), Appointment.starts_at > freed.ends_at)
        .order_by(Appointment.starts_at)).all()
    same_doctor = [p for p, d in rows if d == freed.doctor_id]
    return list(dict.fromkeys([*same_doctor, *(p for p, _ in rows)]))


def _unfinished(session: Session, clinic_id: int) -> list[int]:
    later = aliased(Treatment)
    found: list[int] = []
    for kind, until in followup_table.UNTIL.items():
        found += session.scalars(select(Treatment.patient_id).where(
            Treatment.clinic_id == clinic_id, Treatment.type == kind,
            ~exists().where(later.patient_id == Treatment.patient_id, later.type == until,
                            later.performed_on > Treatment.performed_on))
            .order_by(Treatment.performed_on)).all()
    return found


def _recall_due(session: Session, clinic_id: int, now: datetime) -> list[int]:
    return list(session.scalars(select(DialTask.patient_id).where(
        DialTask.clinic_id == clinic_id, DialTask.purpose == TaskPurpose.RECALL,
        DialTask.state.in_((TaskState.PENDING, TaskState.FAILED)),
        DialTask.patient_id.is_not(None), DialTask.due_date <= now.date() + timedelta(days=7))
        .order_by(DialTask.due_date)))


def build_gap_fills(session: Session, clinic: Clinic, now: datetime,
                    settings: ListSettings = DEFAULT_SETTINGS) -> list[NewTask]:
    """For every slot freed lately and still open: up to PER_SLOT patients to offer it to."""
    del settings  # the builders' common signature; a freed slot is offered whenever it frees
    slots = _freed_slots(session, clinic, now)
    if not slots:
        return []
    booked = patients_with_future_visit(session, clinic.id, now)
    today = now.astimezone(ZoneInfo(clinic.timezone)).date()
    already = set(session.scalars(select(DialTask.patient_id).where(
        DialTask.clinic_id == clinic.id, DialTask.purpose == TaskPurpose.GAP_FILL,
        DialTask.due_date == today)))
    due = [("unfinished_treatment", p) for p in _unfinished(session, clinic.id) if p not in booked]
    due += [("recall_due", p) for p in _recall_due(session, clinic.id, now) if p not in booked]
    tasks: list[NewTask] = []
    for freed in slots:
        candidates = [("waiting_list", p) for p in _waiting_list(session, freed)] + due
        chosen = _first_callable(session, candidates, {freed.patient_id, *already})
        for rank, (reason, patient_id, phone) in enumerate(chosen[:PER_SLOT]):
            already.add(patient_id)
            tasks.append(NewTask(
                clinic_id=clinic.id, purpose=TaskPurpose.GAP_FILL, patient_id=patient_id, phone=phone,
                due_date=today, appointment_id=freed.id, priority=PRIORITY[TaskPurpose.GAP_FILL] + rank,
                next_attempt_at=now, deadline_at=freed.starts_at, notes=reason))
    return tasks


def _first_callable(session: Session, candidates: list[tuple[str, int]],
                    skip: Iterable[int | None]) -> list[tuple[str, int, str]]:
    """The first PER_SLOT candidates who may be called, in order; asked a batch at a time, so a
    long recall list costs a query or two, not one lookup of thousands."""
    seen = set(skip)
    unique: list[tuple[int, str]] = []
    for reason, patient_id in candidates:  # a patient counts once, under their first reason
        if patient_id not in seen:
            seen.add(patient_id)
            unique.append((patient_id, reason))
    chosen: list[tuple[str, int, str]] = []
    for start in range(0, len(unique), 4 * PER_SLOT):
        batch = unique[start:start + 4 * PER_SLOT]
        phones = callable_phones(session, [p for p, _ in batch])
        chosen += [(reason, p, phones[p]) for p, reason in batch if p in phones]
        if len(chosen) >= PER_SLOT:
            break
    return chosen


def offer_now(session: Session, clinic: Clinic, now: datetime) -> int:
    """Build and save the gap-fill list at once (after a cancellation at the desk)."""
    tasks = build_gap_fills(session, clinic, now)
    if not tasks:
        return 0
    campaign = campaign_for(session, clinic.id, TaskPurpose.GAP_FILL, tasks[0].due_date,
                            DialMode.PREVIEW)
    return save_new(session, tasks, {TaskPurpose.GAP_FILL: campaign.id})
