"""A patient's call history: every call with them (linked to their card, or from or to one of
their numbers before a card linked it), how it ended, its recording; and their visits."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, joinedload

from callcenter.callscripts.values import agent_name, doctor_name, format_when
from callcenter.core.i18n import NP_, t
from callcenter.core.models import Appointment, Call, CallDirection, Clinic, Patient, Staff
from callcenter.core.phones import display
from callcenter.desk.texts import desk_texts

PAGE = 50
VISIT_STATUSES = {
    "booked": NP_("visit status", "Booked"),
    "confirmed": NP_("visit status", "Confirmed"),
    "call_back": NP_("visit status", "To call on the day"),
    "cancelled": NP_("visit status", "Cancelled"),
    "rescheduled": NP_("visit status", "Rescheduled"),
    "no_show": NP_("visit status", "No-show"),
    "arrived": NP_("visit status", "Arrived"),
    "completed": NP_("visit status", "Completed"),
}


def _theirs(patient: Patient) -> Any:
    """Calls linked to the card, and unlinked ones from or to its numbers."""
    numbers = [p.e164 for p in patient.phones]
    conditions = [Call.patient_id == patient.id]
    if numbers:
        conditions.append(and_(Call.patient_id.is_(None), or_(
            and_(Call.direction != CallDirection.OUTBOUND, Call.caller.in_(numbers)),
            and_(Call.direction == CallDirection.OUTBOUND, Call.dialed.in_(numbers)))))
    return or_(*conditions)


def _talk(seconds: int | None) -> str:
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds else ""


def calls(session: Session, patient: Patient, clinic: Clinic, locale: str,
          offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """One page of the calls, newest first, and how many there are in all."""
    texts = desk_texts(locale)
    total = session.scalar(select(func.count(Call.id)).where(_theirs(patient))) or 0
    rows = session.scalars(
        select(Call).options(joinedload(Call.channel))
        .where(_theirs(patient)).order_by(Call.started_at.desc(), Call.id.desc())
        .limit(PAGE).offset(offset)).all()
    names = {s.id: agent_name(s, locale) for s in session.scalars(
        select(Staff).where(Staff.id.in_({c.agent_id for c in rows if c.agent_id})))}
    out = []
    for call in rows:
        remote = call.dialed if call.direction == CallDirection.OUTBOUND else call.caller
        out.append({
            "id": call.id, "when": format_when(call.started_at, clinic.timezone, locale),
            "direction": str(call.direction), "outbound": call.direction == CallDirection.OUTBOUND,
            "number": display(remote, clinic.region) if remote else "",
            "status": texts.get(f"status.{call.status}", str(call.status)),
            "outcome": texts.get(f"outcome.{call.outcome}", str(call.outcome)) if call.outcome else "",
            "talk": _talk(call.duration), "agent": names.get(call.agent_id or 0, ""),
            "channel": call.channel.name if call.channel else "", "notes": call.notes,
            "recording": bool(call.recording_url),
        })
    return out, total


def visits(session: Session, patient: Patient, clinic: Clinic, locale: str) -> list[dict[str, Any]]:
    """Every visit, the latest first."""
    rows = session.scalars(
        select(Appointment).options(joinedload(Appointment.doctor))
        .where(Appointment.patient_id == patient.id).order_by(Appointment.starts_at.desc())).all()
    return [{"when": format_when(a.starts_at, clinic.timezone, locale),
             "doctor": doctor_name(a.doctor, locale), "service": a.service,
             "status": str(a.status), "status_label": t(VISIT_STATUSES[str(a.status)], locale),
             "from_call": a.created_by_call_id} for a in rows]
