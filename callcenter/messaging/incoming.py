"""Replies and delivery statuses from the provider, applied to the outbox and the schedule.

An incoming text is stored on the thread first. Then, read as a whole (messaging.replies):
STOP and the provider's own opt-out are recorded at once; START lifts a texts-only refusal;
"yes" / "no" to a visit reminder go through the one write-back (outbound.results): "visit
confirmed", or the "call" mark with a call-back task for the desk. A single digit 1-5 answering
the rating question (the last text to the number) is the visit's rating (complaints.ratings).
Anything else, or a yes that answers no reminder, waits unread on the desk: a person reads it,
nothing is guessed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.complaints import ratings
from callcenter.complaints.records import ComplaintError
from callcenter.core.models import (
    Clinic,
    DialTask,
    Message,
    MessagePurpose,
    MessageStatus,
    Patient,
    PatientPhone,
    Rating,
    TaskPurpose,
    TaskState,
    TrackingNumber,
)
from callcenter.core.phones import normalize
from callcenter.messaging import optout, outbox
from callcenter.messaging.providers import MessageEvent
from callcenter.messaging.replies import Reading, interpret
from callcenter.messaging.replies import normalize as normalize_reply
from callcenter.outbound.results import Answer, Outcome, apply_answer, record_outcome

# A reply answers the last text we sent that number within this time; later, it is just a text.
REPLY_WITHIN = timedelta(days=7)
PROVIDER_READINGS = {"STOP": Reading.OPT_OUT, "START": Reading.OPT_IN}
OUTCOMES = {Reading.CONFIRM: Outcome.CONFIRMED, Reading.DECLINE: Outcome.DECLINED}


def apply_event(session: Session, event: MessageEvent, now: datetime,
                config: dict[str, Any]) -> Message | None:
    """One provider event; the message it touched or stored (None: unknown, or a repeat)."""
    if event.kind == "status":
        return outbox.apply_status(session, event, now)
    return receive(session, event, now, config)


def receive(session: Session, event: MessageEvent, now: datetime, config: dict[str, Any]) -> Message | None:
    if event.phone is None or session.scalar(select(Message.id).where(
            Message.provider == event.provider,
            Message.provider_message_id == event.provider_message_id)) is not None:
        return None
    last = session.scalar(
        select(Message).where(Message.phone == event.phone, Message.direction == "outbound",
                              Message.created_at >= now - REPLY_WITHIN)
        .order_by(Message.created_at.desc(), Message.id.desc()).limit(1))
    clinic_id = last.clinic_id if last is not None else _clinic_for(session, event, config)
    if clinic_id is None:
        return None
    message = Message(
        clinic_id=clinic_id, patient_id=(last.patient_id if last else None) or _patient_for(
            session, clinic_id, event.phone),
        appointment_id=last.appointment_id if last else None, direction="inbound",
        purpose=MessagePurpose.REPLY, phone=event.phone, sender=event.to[:20], body=event.body,
        provider=event.provider, provider_message_id=event.provider_message_id,
        status=MessageStatus.RECEIVED, error="", segments=1, attempts=0, reading="",
        created_at=now, updated_at=now)
    session.add(message)
    session.flush()
    reading = PROVIDER_READINGS.get(event.opt_out) or interpret(event.body)
    message.reading = reading.value
    if _act(session, message, reading, last, now):
        message.read_at = now
    return message


def _act(session: Session, message: Message, reading: Reading, last: Message | None,
         now: datetime) -> bool:
    """Do what the reply asks; False when a person must read it."""
    if reading in (Reading.OPT_OUT, Reading.OPT_OUT_ALL):
        scope = "all" if reading is Reading.OPT_OUT_ALL else "sms"
        optout.record(session, message.clinic_id, message.phone, message.patient_id, now, scope)
        return True
    if reading is Reading.OPT_IN:
        optout.withdraw(session, message.clinic_id, message.phone)
        return True
    if last is not None and last.purpose is MessagePurpose.RATING:
        return _rate(session, message, last)
    outcome = OUTCOMES.get(reading)
    if (outcome is None or last is None or last.purpose is not MessagePurpose.CONFIRMATION
            or last.appointment_id is None):
        return False
    task = session.scalar(select(DialTask).where(
        DialTask.appointment_id == last.appointment_id, DialTask.purpose == TaskPurpose.CONFIRMATION,
        DialTask.state.in_((TaskState.PENDING, TaskState.IN_PROGRESS))))
    if task is not None:
        record_outcome(session, task, outcome, now=now)
    else:
        apply_answer(session, Answer(message.clinic_id, message.patient_id, message.phone,
                                     last.appointment_id), outcome, now)
    return True


def _rate(session: Session, message: Message, question: Message) -> bool:
    """The visit's rating from a reply of one digit; a second answer, or anything else, is for
    a person to read (the patient may be correcting themselves, or complaining)."""
    if question.appointment_id is None or session.scalar(select(Rating.id).where(
            Rating.appointment_id == question.appointment_id)) is not None:
        return False
    try:
        ratings.record(session, clinic_id=message.clinic_id, answer=normalize_reply(message.body),
                       channel="sms", now=message.created_at, patient_id=question.patient_id,
                       appointment_id=question.appointment_id)
    except ComplaintError:
        return False
    message.reading = Reading.RATING.value
    return True


def _clinic_for(session: Session, event: MessageEvent, config: dict[str, Any]) -> int | None:
    """A text out of the blue: the clinic whose sender or tracking number it went to, else the
    one clinic that knows the number, else the only clinic."""
    to = normalize(event.to, config["REGION"]) if event.to else None
    own = session.scalar(select(Clinic.id).where(Clinic.sms_sender.in_([event.to, to or ""])).limit(1))
    if own is not None:
        return own
    tracked = session.scalar(select(TrackingNumber.clinic_id).where(TrackingNumber.e164 == to)) if to else None
    if tracked is not None:
        return tracked
    known = set(session.scalars(select(Patient.clinic_id).join(
        PatientPhone, PatientPhone.patient_id == Patient.id).where(PatientPhone.e164 == event.phone)))
    if len(known) == 1:
        return known.pop()
    clinics = list(session.scalars(select(Clinic.id).limit(2)))
    return clinics[0] if len(clinics) == 1 else None


def _patient_for(session: Session, clinic_id: int, phone: str) -> int | None:
    """The patient on this number, when the number is one patient's (a family number is not)."""
    ids = list(session.scalars(select(PatientPhone.patient_id).join(
        Patient, Patient.id == PatientPhone.patient_id).where(
        PatientPhone.e164 == phone, Patient.clinic_id == clinic_id, Patient.erased_at.is_(None))))
    return ids[0] if len(ids) == 1 else None
