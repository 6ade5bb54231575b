"""A patient's one-question satisfaction rating (1-5), stored per visit and receptionist.

Every channel that asks the question (the IVR keypad after an automatic call, an SMS reply, the
desk) goes through `record`; it takes "now", adds the audit row and leaves the commit to the
caller.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.access.audit import record as audit
from callcenter.complaints.records import ComplaintError
from callcenter.core.models import Appointment, Call, Rating

CHANNELS = ("ivr", "sms", "desk")
LOWEST, HIGHEST = 1, 5


def score(value: object) -> int:
    """The answer as a score, or ComplaintError naming `score`: one key or digit, 1 to 5."""
    answer = str(value).strip()
    if len(answer) != 1 or not answer.isdigit() or not LOWEST <= int(answer) <= HIGHEST:
        raise ComplaintError("score", "a whole number from {low} to {high}", low=LOWEST, high=HIGHEST)
    return int(answer)


def receptionist(session: Session, appointment_id: int | None, call_id: int | None) -> int | None:
    """Who is rated: the receptionist who booked the visit on a call, else who took the call."""
    if appointment_id is not None:
        booked_on = session.scalar(select(Appointment.created_by_call_id)
                                   .where(Appointment.id == appointment_id))
        call_id = booked_on or call_id
    if call_id is None:
        return None
    return session.scalar(select(Call.agent_id).where(Call.id == call_id))


def record(session: Session, *, clinic_id: int, answer: object, channel: str, now: datetime,
           patient_id: int | None = None, appointment_id: int | None = None,
           call_id: int | None = None, dial_attempt_id: int | None = None) -> Rating:
    """Store the rating once: a second answer on the same automatic call returns the first."""
    if channel not in CHANNELS:
        raise ComplaintError("channel", "one of: {choices}", choices=", ".join(CHANNELS))
    value = score(answer)
    if dial_attempt_id is not None:
        given = session.scalar(select(Rating).where(Rating.dial_attempt_id == dial_attempt_id))
        if given is not None:
            return given
    rating = Rating(clinic_id=clinic_id, patient_id=patient_id, appointment_id=appointment_id,
                    agent_id=receptionist(session, appointment_id, call_id),
                    dial_attempt_id=dial_attempt_id, channel=channel, score=value, created_at=now)
    session.add(rating)
    session.flush()
    audit(session, None, "record_rating", "rating", rating.id, clinic_id=clinic_id,
          patient_id=patient_id, appointment_id=appointment_id, channel=channel, score=value)
    return rating
