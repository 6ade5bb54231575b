"""The screen-pop card of a call: who is calling, via which channel, their visits, dues and script.

One focused set of queries (patients on the number, their appointments, pending tasks, the
number's previous calls), each on an index; the script comes from `scripts.script_for_call`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from callcenter.callscripts.library import Library
from callcenter.callscripts.selection import ScriptNotFound, script_for_call
from callcenter.callscripts.values import address_patient, doctor_name, format_when
from callcenter.core import clinic_settings
from callcenter.core.models import (
    ACTIVE_STATUSES,
    Appointment,
    AppointmentStatus,
    Call,
    CallCandidate,
    CallerKind,
    Clinic,
    DialTask,
    Patient,
    Staff,
    TaskPurpose,
    TaskState,
)
from callcenter.core.phones import display, mask
from callcenter.desk import drafts
from callcenter.schedule.offer_memo import OfferMemo
from webhooks import TEST_CALLER

log = logging.getLogger(__name__)

VISITED = (AppointmentStatus.ARRIVED, AppointmentStatus.COMPLETED)
# Outbound work the desk should mention while the patient is on the line anyway.
DUE_PURPOSES = (TaskPurpose.RECALL, TaskPurpose.FOLLOW_UP, TaskPurpose.CONFIRMATION,
                TaskPurpose.NO_SHOW, TaskPurpose.CALL_BACK, TaskPurpose.RESCHEDULE)
DUE_AHEAD = timedelta(days=14)
NEXT_APPOINTMENTS = 3
PREVIOUS_CALLS = 5


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _appointment(appt: Appointment, tz: str, locale: str) -> dict[str, Any]:
    return {
        "id": appt.id, "starts_at": appt.starts_at.isoformat(), "when": format_when(appt.starts_at, tz, locale),
        "doctor_id": appt.doctor_id, "doctor": doctor_name(appt.doctor, locale),
        "service": appt.service, "status": str(appt.status),
    }


def full_name(patient: Patient) -> str:
    """As the patient's own language writes it: surname first in ru and zh, given name first in en."""
    locale = patient.preferred_language
    if locale == "zh":
        return f"{patient.last_name}{patient.first_name}"
    parts = ((patient.first_name, patient.last_name) if locale == "en"
             else (patient.last_name, patient.first_name, patient.patronymic))
    return " ".join(p for p in parts if p)


@dataclass(frozen=True)
class PatientRows:
    """What the card read of its patients. Held while the card's script is filled in: the
    session's identity map keeps rows only while something references them, and the script
    then finds the patient and their doctors there instead of asking the database again."""

    patients: dict[int, Patient]
    appointments: list[Appointment]  # by starts_at
    tasks: list[DialTask]  # due, by due_date


def patient_rows(session: Session, clinic: Clinic, patient_ids: Sequence[int], now: datetime) -> PatientRows:
    if not patient_ids:
        return PatientRows({}, [], [])
    patients = {p.id: p for p in session.scalars(
        select(Patient).options(joinedload(Patient.phones)).where(Patient.id.in_(patient_ids))
    ).unique()}
    appointments = list(session.scalars(
        select(Appointment).options(joinedload(Appointment.doctor))
        .where(Appointment.patient_id.in_(patient_ids)).order_by(Appointment.starts_at)
    ))
    local_today = now.astimezone(ZoneInfo(clinic.timezone)).date()
    tasks = list(session.scalars(
        select(DialTask).where(DialTask.patient_id.in_(patient_ids),
                               DialTask.state.in_((TaskState.PENDING, TaskState.IN_PROGRESS)),
                               DialTask.purpose.in_(DUE_PURPOSES),
                               DialTask.due_date <= local_today + DUE_AHEAD)
        .order_by(DialTask.due_date)
    ))
    return PatientRows(patients, appointments, tasks)


def patient_summaries(session: Session, clinic: Clinic, patient_ids: Sequence[int], now: datetime,
                      locale: str, rows: PatientRows | None = None) -> list[dict[str, Any]]:
    """Name, address form, visits, next appointments, last visit, dues and notes of each patient
    (`rows`: read already by `patient_rows`)."""
    rows = rows or patient_rows(session, clinic, patient_ids, now)
    patients, appointments, tasks = rows.patients, rows.appointments, rows.tasks
    local_today = now.astimezone(ZoneInfo(clinic.timezone)).date()
    cards = []
    for patient_id in patient_ids:
        patient = patients.get(patient_id)
        if patient is None or patient.erased_at is not None:
            continue
        own = [a for a in appointments if a.patient_id == patient_id]
        upcoming = [a for a in own if a.starts_at >= now and a.status in ACTIVE_STATUSES]
        visits = [a for a in own if a.status in VISITED and a.starts_at < now]
        last = visits[-1] if visits else None
        cards.append({
            "id": patient.id,
            "name": full_name(patient),
            "address": address_patient(patient, patient.preferred_language or locale),
            "language": patient.preferred_language,
            "birth_date": patient.birth_date.isoformat() if patient.birth_date else None,
            "new": not visits,
            "visits": len(visits),
            "is_lead": patient.is_lead,
            "notes": patient.notes,
            "phones": [display(p.e164, clinic.region) for p in patient.phones],
            "phones_e164": [p.e164 for p in patient.phones],
            "next_appointments": [_appointment(a, clinic.timezone, locale)
                                  for a in upcoming[:NEXT_APPOINTMENTS]],
            "last_visit": _appointment(last, clinic.timezone, locale) if last else None,
            "due": [_due(t, local_today) for t in tasks if t.patient_id == patient_id],
        })
    return cards


def _due(task: DialTask, today: date) -> dict[str, Any]:
    return {"id": task.id, "purpose": str(task.purpose), "due_date": task.due_date.isoformat(),
            "overdue": task.due_date < today, "notes": task.notes,
            "at": _iso(task.next_attempt_at)}


def previous_calls(session: Session, call: Call, limit: int = PREVIOUS_CALLS) -> list[dict[str, Any]]:
    """The number's earlier calls, newest first (index on caller, started_at)."""
    remote = call.caller if str(call.direction) != "outbound" else call.dialed
    if not remote:
        return []
    number_column = Call.caller if str(call.direction) != "outbound" else Call.dialed
    rows = session.scalars(
        select(Call).where(number_column == remote, Call.id != call.id,
                           Call.started_at <= call.started_at)
        .order_by(Call.started_at.desc()).limit(limit)
    ).all()
    return [{"id": c.id, "started_at": c.started_at.isoformat(), "direction": str(c.direction),
             "status": str(c.status), "outcome": str(c.outcome) if c.outcome else None,
             "duration": c.duration, "notes": c.notes[:200],
             "recording": bool(c.recording_url)} for c in rows]


def _channel(call: Call) -> dict[str, Any] | None:
    """"via maps listing — implants": the channel, and the tracking number's own label."""
    if call.channel is None:
        return None
    label = call.tracking_number.label if call.tracking_number else ""
    return {"code": call.channel.code, "name": call.channel.name,
            "label": label if label and label != call.channel.code else ""}


def script_json(session: Session, call: Call, now: datetime, speaker: Staff | None,
                library: Library | None = None, offers: OfferMemo | None = None,
                appointments: Sequence[Appointment] | None = None) -> dict[str, Any] | None:
    """The filled-in script as the desk that pops will say it (its receptionist's name in it)."""
    try:
        return script_for_call(session, call, now, agent=speaker, library=library, offers=offers,
                               appointments=appointments).to_json()
    except ScriptNotFound as exc:
        log.warning("no script for call %s: %s", call.id, exc)
        return None


def card_call(session: Session, call_id: int) -> Call | None:
    """The call with what its card shows of it loaded in the same statement."""
    return session.scalar(
        select(Call).options(joinedload(Call.channel), joinedload(Call.heard_from_channel),
                             joinedload(Call.clinic), joinedload(Call.tracking_number))
        .where(Call.id == call_id)
    )


def build_card(session: Session, call_id: int, now: datetime, locale: str,
               speaker: Staff | None = None, library: Library | None = None,
               call: Call | None = None, offers: OfferMemo | None = None) -> dict[str, Any] | None:
    """The whole pop for one call, as JSON-ready data; None for an unknown call. `call`: read
    already by `card_call` (the desk's stream reads it to decide the action); `offers`: the
    stream's memo of slot offers."""
    call = call or card_call(session, call_id)
    if call is None:
        return None
    clinic = call.clinic
    # Only a family's number has candidates: other calls skip the round trip (every pop has many).
    candidate_ids = list(session.scalars(
        select(CallCandidate.patient_id).where(CallCandidate.call_id == call.id)
        .order_by(CallCandidate.patient_id))) if call.caller_kind == CallerKind.FAMILY else []
    ids = candidate_ids or ([call.patient_id] if call.patient_id else [])
    if call.patient_id and call.patient_id not in ids:
        ids.append(call.patient_id)
    remote = call.dialed if str(call.direction) == "outbound" else call.caller
    rows = patient_rows(session, clinic, ids, now)
    own = [a for a in rows.appointments if a.patient_id == call.patient_id] if call.patient_id else None
    return {
        "call": {
            "id": call.id, "status": str(call.status), "direction": str(call.direction),
            "number": display(remote, clinic.region), "number_e164": remote,
            "masked": mask(remote), "channel": _channel(call),
            "caller_kind": str(call.caller_kind), "first_time": call.first_time,
            "extension": call.extension, "agent_id": call.agent_id,
            "started_at": call.started_at.isoformat(), "answered_at": _iso(call.answered_at),
            "ended_at": _iso(call.ended_at), "outcome": str(call.outcome) if call.outcome else None,
            "heard_from": call.heard_from_channel.code if call.heard_from_channel else None,
            "notes": call.notes, "patient_id": call.patient_id,
            "test": call.caller == TEST_CALLER, "recording": bool(call.recording_url),
        },
        # The new-patient form starts in the clinic's language for new patients, not the desk's.
        "new_patient_language": clinic_settings.patient_language(clinic),
        "draft": drafts.draft_json(session, call.id, speaker.id if speaker else None),
        "patients": patient_summaries(session, clinic, ids, now, locale, rows),
        "previous_calls": previous_calls(session, call),
        "script": script_json(session, call, now, speaker, library, offers, own),
    }
