"""The conversation on a patient's card: their texts (and their family number's) beside their
calls, a reply from the card, and incoming texts nobody has read yet, which the desk lists like
missed calls."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from callcenter.core.inputs import InputError, text
from callcenter.core.models import (
    Call,
    Message,
    MessagePurpose,
    Patient,
    PatientPhone,
    Staff,
)
from callcenter.core.phones import display
from callcenter.messaging import optout, outbox, segments

LIMIT = 200


@dataclass(frozen=True)
class Entry:
    kind: str  # "message" | "call"
    id: int
    at: datetime
    direction: str
    phone: str
    text: str  # the message, or the call's status
    status: str
    unread: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "at": self.at.isoformat(), "direction": self.direction,
                "phone": self.phone, "text": self.text, "status": self.status, "unread": self.unread}


def numbers(patient: Patient) -> list[str]:
    return [phone.e164 for phone in patient.phones]


def thread(session: Session, patient: Patient, region: str) -> list[Entry]:
    """Newest last: the patient's messages and calls, and those of numbers they share."""
    phones = numbers(patient)
    messages = session.scalars(
        select(Message).where(or_(Message.patient_id == patient.id, Message.phone.in_(phones)))
        .order_by(Message.created_at.desc()).limit(LIMIT)).all()
    calls = session.scalars(
        select(Call).where(or_(Call.patient_id == patient.id, Call.caller.in_(phones)))
        .order_by(Call.started_at.desc()).limit(LIMIT)).all()
    entries = [Entry("message", m.id, m.created_at, m.direction, display(m.phone, region), m.body,
                     m.status.value, m.direction == "inbound" and m.read_at is None) for m in messages]
    entries += [Entry("call", c.id, c.started_at, c.direction.value, display(c.caller, region), "",
                      c.status.value) for c in calls]
    return sorted(entries, key=lambda e: e.at)[-LIMIT:]


def mark_read(session: Session, patient: Patient, now: datetime) -> int:
    result = session.execute(
        update(Message).where(or_(Message.patient_id == patient.id, Message.phone.in_(numbers(patient))),
                              Message.direction == "inbound", Message.read_at.is_(None))
        .values(read_at=now).execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def unread(session: Session, region: str) -> list[dict[str, Any]]:
    """Incoming texts nobody has read, oldest first, with the card they open."""
    rows = session.execute(
        select(Message, Patient.id.label("card")).outerjoin(
            PatientPhone, PatientPhone.e164 == Message.phone).outerjoin(
            Patient, (Patient.id == PatientPhone.patient_id) & (Patient.clinic_id == Message.clinic_id))
        .where(Message.direction == "inbound", Message.read_at.is_(None))
        .order_by(Message.created_at).limit(LIMIT)).all()
    seen: dict[int, dict[str, Any]] = {}
    for message, card in rows:
        seen.setdefault(message.id, {
            "id": message.id, "patient_id": message.patient_id or card,
            "phone": display(message.phone, region), "text": message.body,
            "at": message.created_at.isoformat()})
    return list(seen.values())


def reply(session: Session, staff: Staff, patient: Patient, body: Any, phone: Any, now: datetime,
          config: dict[str, Any]) -> int:
    """The receptionist's text from the card, to the number given (one of the patient's) or the
    one the patient last wrote from. The same refusals hold as for any sender."""
    message = text(Message.body, body, "body").strip()
    if not message:
        raise InputError("body", "required")
    if segments.count(message).count > 10:
        raise InputError("body", "longer than {most} characters", most=670)
    phones = numbers(patient)
    if phone in (None, ""):
        last = session.scalar(select(Message.phone).where(
            Message.phone.in_(phones), Message.direction == "inbound")
            .order_by(Message.created_at.desc()).limit(1))
        phone = last or (phones[0] if phones else None)
    if phone not in phones:
        raise InputError("phone", "not one of the patient's numbers")
    if not config["SMS_PROVIDER"]:
        raise InputError("body", "text messages are not set up")
    if optout.refused(session, patient.clinic_id, phone, patient.id):
        raise InputError("phone", "this number asked not to get texts")
    message_id = outbox.enqueue(session, outbox.Draft(
        patient.clinic_id, MessagePurpose.DESK, phone, message, patient_id=patient.id,
        staff_id=staff.id), now, config)
    assert message_id is not None
    return message_id
