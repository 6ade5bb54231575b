"""Events for the clinic's own system, written into the outbox by the domain functions that make
the change (booking, visit marks, confirmation answers, a new card at the desk), in the caller's
transaction: the change and its event commit or roll back together. Delivery (the worker) and
the changes feed (the sync API) live in `callcenter.exchange`; this low layer only writes, so
every feature may call it.

Changes the clinic's system itself sent (file import, sync API) make no event: it knows them.
Recalls coming due are computed by the worker's planner, which writes their events (once each).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Text, cast, func, select
from sqlalchemy.orm import Session, object_session

from callcenter.core.db import insert_ignoring_conflicts
from callcenter.core.models import Appointment, EventReceiver, ExternalRef, OutboxEvent, Patient


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment is not None else None


def appointment_data(visit: Appointment) -> dict[str, Any]:
    return {"id": visit.id, "patient_id": visit.patient_id, "doctor_id": visit.doctor_id,
            "starts_at": _iso(visit.starts_at), "ends_at": _iso(visit.ends_at),
            "status": visit.status.value, "service": visit.service,
            "overbooked": bool(visit.overbooked), "rescheduled_from_id": visit.rescheduled_from_id}


def patient_data(patient: Patient) -> dict[str, Any]:
    return {"id": patient.id, "last_name": patient.last_name, "first_name": patient.first_name,
            "patronymic": patient.patronymic,
            "birth_date": patient.birth_date.isoformat() if patient.birth_date else None,
            "sex": patient.sex.value, "language": patient.preferred_language,
            "is_lead": bool(patient.is_lead),
            "phones": [{"number": phone.e164, "label": phone.label} for phone in patient.phones]}


def transaction_id(session: Session) -> ColumnElement[int] | int:
    """What the event's `xid` is set to: the writing transaction's id on PostgreSQL, evaluated
    in the INSERT itself; 0 on SQLite, whose single writer commits events in id order."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(cast(func.pg_current_xact_id(), Text), BigInteger)
    return 0


def initial_state(session: Session, clinic_id: int) -> str:
    receiver = session.get(EventReceiver, clinic_id)
    # Without a receiver the event is kept for the changes feed only: configuring one later
    # does not flood it with the past.
    return "pending" if receiver is not None and receiver.enabled else "held"


def _record(session: Session, clinic_id: int, patient_id: int | None, kind: str,
            data: dict[str, Any], now: datetime) -> OutboxEvent:
    event = OutboxEvent(uid=str(uuid.uuid4()), clinic_id=clinic_id, patient_id=patient_id,
                        type=kind, data=data, occurred_at=now,
                        state=initial_state(session, clinic_id), attempts=0, next_attempt_at=now,
                        xid=transaction_id(session))
    session.add(event)
    return event


def visit_changed(visit: Appointment, now: datetime, change: str | None = None) -> OutboxEvent:
    """The visit was booked, moved, cancelled, confirmed or marked: its event, named by the
    change ("booked"; "rescheduled" for the new visit of a move, which names the old one in
    rescheduled_from_id) or else by its new status (confirmed, call_back, cancelled, arrived,
    completed, no_show). The caller commits."""
    session = object_session(visit)
    assert session is not None, "the visit must be in a session"
    session.flush()  # a new visit gets its id
    return _record(session, visit.clinic_id, visit.patient_id, f"appointment.{change or visit.status.value}",
                   appointment_data(visit), now)


def patient_created(patient: Patient, now: datetime) -> OutboxEvent:
    """A card made at the desk; the caller commits."""
    session = object_session(patient)
    assert session is not None, "the patient must be in a session"
    session.flush()
    return _record(session, patient.clinic_id, patient.id, "patient.created", patient_data(patient),
                   now)



def patient_updated(patient: Patient, changed: list[str], now: datetime) -> OutboxEvent:
    """A card edited at the desk: the card after the change, the names of the fields that
    changed, and the clinic's system's own id of the patient when it sent us the card (so a
    connector finds its record without a lookup table of ours). The caller commits."""
    session = object_session(patient)
    assert session is not None and patient.id is not None, "an existing card, in a session"
    external = session.scalar(select(ExternalRef.external_id).where(
        ExternalRef.clinic_id == patient.clinic_id, ExternalRef.kind == "patients",
        ExternalRef.local_id == patient.id))
    data = {**patient_data(patient), "external_id": external, "changed": changed}
    return _record(session, patient.clinic_id, patient.id, "patient.updated", data, now)


def recalls_due(session: Session, clinic_id: int, recalls: list[dict[str, Any]], now: datetime) -> int:
    """A `recall.due` event per recall (each a dict with patient_id and due_date, the rest is
    the event's data), once: the key (patient, due day) is unique, so a planner that runs again,
    or two at once, adds nothing. Returns how many were new; the caller commits."""
    if not recalls:
        return 0
    state = initial_state(session, clinic_id)
    rows = [{"uid": str(uuid.uuid4()), "clinic_id": clinic_id, "patient_id": recall["patient_id"],
             "type": "recall.due", "data": recall, "occurred_at": now, "state": state,
             "attempts": 0, "next_attempt_at": now,
             "dedupe_key": f"recall:{recall['patient_id']}:{recall['due_date']}"}
            for recall in recalls]
    statement = (insert_ignoring_conflicts(session, OutboxEvent)
                 .values(xid=transaction_id(session)).returning(OutboxEvent.id))
    return len(session.execute(statement, rows).all())
