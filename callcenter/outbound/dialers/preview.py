"""Preview: the list goes to the desk, a receptionist dials with one click and records the outcome.

Nothing is dialed here; the desk page reads `desk_list`, and the outcome comes back through
results.record_outcome like any automatic call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session, aliased

from callcenter.callscripts.values import doctor_name, format_when, treatment_label
from callcenter.core.models import (
    ACTIVE_STATUSES,
    Appointment,
    Campaign,
    CampaignState,
    Clinic,
    DialMode,
    DialTask,
    Patient,
    Staff,
    TaskPurpose,
    TaskState,
    Treatment,
)
from callcenter.core.phones import display
from callcenter.outbound import dial_rules
from callcenter.outbound.gap_fill import REASONS, slot_open
from callcenter.outbound.results import DESK_OUTCOMES, Outcome

PAGE = 25
SCAN = 1000  # the most tasks one page load looks at
# After-care calls a new booking makes unnecessary (the planner cancels them on its next run).
BOOKING_ENDS = (TaskPurpose.FOLLOW_UP, TaskPurpose.RECALL, TaskPurpose.NO_SHOW, TaskPurpose.GAP_FILL)


@dataclass
class DeskList:
    tasks: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    page: int = 1
    pages: int = 1
    calling_resumes_at: datetime | None = None  # set when the clinic's calling hours are closed


def desk_list(session: Session, clinic: Clinic, now: datetime, config: Mapping[str, Any], locale: str,
              *, purpose: TaskPurpose | None = None, page: int = 1, per_page: int = PAGE) -> DeskList:
    """What the desk may call now, most urgent first, one page of it.

    Preview tasks whose time has come (and tasks the desk made, not yet on a day's list), plus
    automatic ones that could not reach the patient (the "call" mark for the next shift). Left
    out: whatever the dial rules refuse now (do-not-call, consent, the patient's calling hours),
    after-care calls of a patient who booked meanwhile, gap-fill offers of a slot taken since.
    Outside the clinic's calling hours the list is empty and says when calling resumes.
    """
    resumes = dial_rules.calling_resumes_at(session, clinic, None, now, config)
    if resumes > now:
        return DeskList(calling_resumes_at=resumes)
    booked = (select(Appointment.id).where(
        Appointment.patient_id == DialTask.patient_id, Appointment.starts_at > now,
        Appointment.status.in_(ACTIVE_STATUSES), ~Appointment.wants_earlier))
    query = (
        select(DialTask, Patient)
        .outerjoin(Campaign, Campaign.id == DialTask.campaign_id)
        .outerjoin(Patient, Patient.id == DialTask.patient_id)
        .where(DialTask.clinic_id == clinic.id,
               or_(Campaign.id.is_(None), Campaign.state == CampaignState.RUNNING),
               or_(((Campaign.id.is_(None)) | (Campaign.mode == DialMode.PREVIEW))
                   & (DialTask.state == TaskState.PENDING) & (DialTask.next_attempt_at <= now),
                   (Campaign.mode != DialMode.PREVIEW) & (DialTask.state == TaskState.FAILED)
                   & (DialTask.result != Outcome.EXPIRED.value) & (DialTask.due_date >= now.date())),
               ~(DialTask.purpose.in_(BOOKING_ENDS) & exists(booked)))
        .order_by(DialTask.priority, DialTask.next_attempt_at, DialTask.id)
        .limit(SCAN))
    if purpose is not None:
        query = query.where(DialTask.purpose == purpose)
    rows = session.execute(query).all()
    allowed = dial_rules.callable_tasks(session, clinic, [task for task, _ in rows], now, config)
    rows = [(task, patient) for task, patient in rows if task.id in allowed]
    rows = [(task, patient) for task, patient in rows if task.purpose is not TaskPurpose.GAP_FILL
            or _gap_still_open(session, task, now)]
    pages = max((len(rows) + per_page - 1) // per_page, 1)
    page = min(max(page, 1), pages)
    shown = rows[(page - 1) * per_page: page * per_page]
    context = _context(session, clinic, [task for task, _ in shown], locale)
    return DeskList([_item(task, patient, clinic, context.get(task.id, "")) for task, patient in shown],
                    len(rows), page, pages)


def _gap_still_open(session: Session, task: DialTask, now: datetime) -> bool:
    freed = session.get(Appointment, task.appointment_id) if task.appointment_id else None
    return freed is not None and slot_open(session, freed, now)


def _context(session: Session, clinic: Clinic, tasks: list[DialTask], locale: str) -> dict[int, str]:
    """The visit or the treatment each call is about, as the receptionist reads it."""
    visit_ids = {t.appointment_id for t in tasks if t.appointment_id}
    treatment_ids = {t.treatment_id for t in tasks if t.treatment_id}
    doctor = aliased(Staff)
    visits = {a.id: (a, d) for a, d in session.execute(
        select(Appointment, doctor).join(doctor, doctor.id == Appointment.doctor_id)
        .where(Appointment.id.in_(visit_ids))).all()} if visit_ids else {}
    treatments = {t.id: t for t in session.scalars(
        select(Treatment).where(Treatment.id.in_(treatment_ids)))} if treatment_ids else {}
    found = {}
    for task in tasks:
        parts = []
        if task.treatment_id in treatments:
            done = treatments[task.treatment_id]
            parts.append(f"{treatment_label(done.type, locale)} · {done.performed_on.isoformat()}")
        if task.appointment_id in visits:
            visit, doc = visits[task.appointment_id]
            what = " · ".join(p for p in (format_when(visit.starts_at, clinic.timezone, locale),
                                          doctor_name(doc, locale), visit.service) if p)
            parts.append(what)
        found[task.id] = " — ".join(parts)
    return found


def _item(task: DialTask, patient: Patient | None, clinic: Clinic, about: str) -> dict[str, Any]:
    name = " ".join(filter(None, (patient.first_name, patient.patronymic, patient.last_name))) if patient else ""
    return {
        "task_id": task.id, "purpose": task.purpose.value, "patient_id": task.patient_id,
        "patient": name, "phone": task.phone,
        "phone_display": display(task.phone, clinic.region) if task.phone else "",
        "dial_uri": f"tel:{task.phone}" if task.phone else "", "due_date": task.due_date.isoformat(),
        "appointment_id": task.appointment_id, "treatment_id": task.treatment_id, "about": about,
        "attempts": task.attempts, "state": task.state.value, "result": task.result,
        "notes": task.notes, "reason": REASONS.get(task.notes),
        "outcomes": [o.value for o in DESK_OUTCOMES[task.purpose]],
    }
