"""Who may not be texted, and recording a refusal the moment it arrives.

A refusal is an `OptOut` row, the same table as the do-not-call list: scope "sms" (a STOP text)
stops texts; scope "all" (the admin's "no calls at all", key 9, a STOPALL text) stops texts and
calls; "marketing" stops marketing texts. Every sender asks `refused` when a text is stored and
again when the worker hands it over.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, exists, or_, select, update
from sqlalchemy.orm import Session

from callcenter.core.models import Message, MessageStatus, OptOut
from callcenter.outbound.reach import binds
from callcenter.outbound.results import Answer, record_opt_out

TEXT_SCOPES = ("all", "sms")


def refused(session: Session, clinic_id: int, phone: str, patient_id: int | None,
            marketing: bool = False) -> bool:
    scopes = (*TEXT_SCOPES, "marketing") if marketing else TEXT_SCOPES
    whose = [OptOut.e164 == phone]
    if patient_id is not None:
        whose.append(OptOut.patient_id == patient_id)
    return session.scalar(select(exists().where(or_(*whose), OptOut.scope.in_(scopes),
                                                binds(clinic_id)))) or False


def record(session: Session, clinic_id: int, phone: str, patient_id: int | None, now: datetime,
           scope: str = "sms") -> bool:
    """Record the refusal (once) and withdraw every text still waiting for this number.
    Returns False when the number had already refused."""
    already = session.scalar(select(exists().where(
        OptOut.e164 == phone, OptOut.scope == scope, binds(clinic_id))))
    if not already:
        record_opt_out(session, Answer(clinic_id, patient_id, phone, None), now, scope=scope,
                       source="sms")
    session.execute(
        update(Message).where(Message.clinic_id == clinic_id, Message.phone == phone,
                              Message.status == MessageStatus.QUEUED)
        .values(status=MessageStatus.CANCELLED, error="opted out", updated_at=now)
        .execution_options(synchronize_session=False))
    return not already


def withdraw(session: Session, clinic_id: int, phone: str) -> int:
    """START after STOP: the texts-only refusal the patient made by text is lifted (a refusal
    an administrator entered, or one of calls, stays)."""
    result = session.execute(delete(OptOut).where(
        OptOut.e164 == phone, OptOut.scope == "sms", OptOut.source == "sms",
        OptOut.clinic_id == clinic_id).execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
