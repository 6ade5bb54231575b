"""The desk's work lists: missed calls to return, today's confirmations, call-backs due this shift,
and today's calls at this desk still without an outcome."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, joinedload

from callcenter.callscripts.values import doctor_name, format_when
from callcenter.core.models import (
    Appointment,
    AppointmentStatus,
    Call,
    CallDirection,
    CallDraft,
    CallStatus,
    Clinic,
    DialTask,
    Patient,
    PatientPhone,
    Staff,
    TaskPurpose,
    TaskState,
)
from callcenter.core.phones import display

LIST_LIMIT = 50
DESK_TASKS = (TaskPurpose.CALL_BACK, TaskPurpose.RESCHEDULE, TaskPurpose.NO_SHOW)


def _day_bounds(now: datetime, tz: str, offset: int = 0) -> tuple[datetime, datetime]:
    zone = ZoneInfo(tz)
    day = now.astimezone(zone).date() + timedelta(days=offset)
    start = datetime.combine(day, time(0), tzinfo=zone)
    return start, datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)


def _short_name(patient: Patient | None) -> str:
    if patient is None:
        return ""
    return " ".join(p for p in (patient.last_name, patient.first_name, patient.patronymic) if p)


def missed_to_return(session: Session, clinic: Clinic, now: datetime,
                     limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
    """One row per number still waiting for a call-back, the longest wait first."""
    rows = session.execute(
        select(Call.caller, func.min(Call.started_at), func.count(Call.id), func.max(Call.id))
        .where(Call.clinic_id == clinic.id, Call.direction == CallDirection.INBOUND,
               Call.status == CallStatus.MISSED, Call.callback_done_at.is_(None),
               Call.caller.is_not(None))
        .group_by(Call.caller).order_by(func.min(Call.started_at)).limit(limit)
    ).all()
    names = _names_by_number(session, clinic.id, [r[0] for r in rows])
    return [{
        "call_id": last_id, "number": display(caller, clinic.region), "number_e164": caller,
        "name": names.get(caller, ""), "first_missed_at": first.isoformat(), "attempts": count,
        "waited_minutes": max(int((now - first).total_seconds() // 60), 0),
    } for caller, first, count, last_id in rows]


def _names_by_number(session: Session, clinic_id: int, numbers: list[str]) -> dict[str, str]:
    if not numbers:
        return {}
    found: dict[str, list[str]] = {}
    for e164, patient in session.execute(
        select(PatientPhone.e164, Patient).join(Patient, Patient.id == PatientPhone.patient_id)
        .where(PatientPhone.e164.in_(numbers), Patient.clinic_id == clinic_id,
               Patient.erased_at.is_(None))
    ).all():
        found.setdefault(e164, []).append(_short_name(patient))
    return {number: ", ".join(names) for number, names in found.items()}


def confirmations_today(session: Session, clinic: Clinic, now: datetime, locale: str,
                        limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
    """Tomorrow's unconfirmed visits, and today's and tomorrow's marked "call"."""
    today_start, _ = _day_bounds(now, clinic.timezone)
    _, tomorrow_end = _day_bounds(now, clinic.timezone, 1)
    tomorrow_start, _ = _day_bounds(now, clinic.timezone, 1)
    rows = session.scalars(
        select(Appointment).options(joinedload(Appointment.patient).joinedload(Patient.phones),
                                    joinedload(Appointment.doctor))
        .where(Appointment.clinic_id == clinic.id,
               or_((Appointment.status == AppointmentStatus.BOOKED)
                   & (Appointment.starts_at >= tomorrow_start),
                   (Appointment.status == AppointmentStatus.CALL_BACK)
                   & (Appointment.starts_at >= max(now, today_start))),
               Appointment.starts_at < tomorrow_end)
        .order_by(Appointment.starts_at).limit(limit)
    ).unique().all()
    return [{
        "appointment_id": a.id, "patient_id": a.patient_id, "name": _short_name(a.patient),
        "number_e164": a.patient.phones[0].e164 if a.patient.phones else None,
        "number": display(a.patient.phones[0].e164, clinic.region) if a.patient.phones else "",
        "when": format_when(a.starts_at, clinic.timezone, locale), "starts_at": a.starts_at.isoformat(),
        "doctor": doctor_name(a.doctor, locale), "status": str(a.status),
    } for a in rows]


def call_backs_due(session: Session, clinic: Clinic, now: datetime,
                   limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
    """Agreed call-backs (and other desk tasks) due by the end of today, the earliest first."""
    _, today_end = _day_bounds(now, clinic.timezone)
    today = now.astimezone(ZoneInfo(clinic.timezone)).date()
    tasks = session.scalars(
        select(DialTask).options(joinedload(DialTask.patient).joinedload(Patient.phones))
        .where(DialTask.clinic_id == clinic.id, DialTask.purpose.in_(DESK_TASKS),
               DialTask.state == TaskState.PENDING,
               DialTask.due_date <= today,
               or_(DialTask.next_attempt_at.is_(None), DialTask.next_attempt_at < today_end))
        .order_by(DialTask.next_attempt_at, DialTask.due_date).limit(limit)
    ).unique().all()
    return [{
        "task_id": t.id, "purpose": str(t.purpose), "patient_id": t.patient_id,
        "name": _short_name(t.patient), "number_e164": t.phone,
        "number": display(t.phone, clinic.region) if t.phone else "",
        "at": t.next_attempt_at.isoformat() if t.next_attempt_at else None,
        "overdue": bool(t.next_attempt_at and t.next_attempt_at < now), "notes": t.notes,
    } for t in tasks]


def without_outcome(session: Session, clinic: Clinic, staff: Staff, now: datetime,
                    limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
    """Today's conversations at this desk (its extension or its receptionist) that still have no
    outcome, the latest first: a card closed with "later" waits here with its draft."""
    today_start, today_end = _day_bounds(now, clinic.timezone)
    mine = [Call.agent_id == staff.id]
    if staff.sip_extension:
        mine.append(Call.extension == staff.sip_extension)
    rows = session.scalars(
        select(Call).options(joinedload(Call.patient))
        .where(Call.clinic_id == clinic.id, Call.answered_at.is_not(None), Call.outcome.is_(None),
               Call.direction != CallDirection.INTERNAL, or_(*mine),
               Call.started_at >= today_start, Call.started_at < today_end)
        .order_by(Call.started_at.desc()).limit(limit)
    ).all()
    drafted = set(session.scalars(select(CallDraft.call_id).where(
        CallDraft.staff_id == staff.id, CallDraft.call_id.in_([c.id for c in rows]))))
    return [{
        "call_id": c.id, "patient_id": c.patient_id, "name": _short_name(c.patient),
        "number": display(_remote(c), clinic.region) if _remote(c) else "",
        "started_at": c.started_at.isoformat(), "direction": str(c.direction),
        "draft": c.id in drafted,
    } for c in rows]


def _remote(call: Call) -> str | None:
    return call.dialed if call.direction == CallDirection.OUTBOUND else call.caller
