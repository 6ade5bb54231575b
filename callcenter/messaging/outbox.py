"""The outbox: every text is a `Message` row before anything is sent, and moves on from there.

queued → sending (claimed by one worker, committed before the provider is called) → sent →
delivered | undelivered | failed; or cancelled (opted out, no longer needed). A text is unique
per (clinic, dedupe key): "confirmation:<patient>:<visit>", "text_back:<number>:<day>", so a
second enqueue by any path is a no-op. Status callbacks only ever move a message forward: they
arrive in any order, and a final state is final.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from callcenter.core import clinic_settings
from callcenter.core.db import insert_ignoring_conflicts
from callcenter.core.models import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    Appointment,
    Clinic,
    Message,
    MessagePurpose,
    MessageStatus,
)
from callcenter.messaging import optout, segments
from callcenter.messaging.providers import MessageEvent, Outgoing, SendError, Sent
from callcenter.outbound.workdays import at_local, patient_zone

RANK = {MessageStatus.QUEUED: 0, MessageStatus.SENDING: 1, MessageStatus.SENT: 2}
MARKETING = frozenset({MessagePurpose.RECALL})
OPTED_OUT_CODES = frozenset({"21610"})  # Twilio: the number texted STOP to the account


@dataclass(frozen=True)
class Draft:
    clinic_id: int
    purpose: MessagePurpose
    phone: str
    body: str
    patient_id: int | None = None
    appointment_id: int | None = None
    dedupe_key: str | None = None
    staff_id: int | None = None
    not_before: datetime | None = None


def enqueue(session: Session, draft: Draft, now: datetime, config: dict[str, Any]) -> int | None:
    """Store the text to be sent; its id, or None when it may not or need not be sent (no
    provider, the number refused texts, the same text was stored before). The caller commits."""
    clinic = session.get(Clinic, draft.clinic_id)
    if clinic is None or not config["SMS_PROVIDER"] or not draft.body.strip():
        return None
    if optout.refused(session, draft.clinic_id, draft.phone, draft.patient_id,
                      marketing=draft.purpose in MARKETING):
        return None
    statement = insert_ignoring_conflicts(session, Message).values(
        clinic_id=draft.clinic_id, patient_id=draft.patient_id, appointment_id=draft.appointment_id,
        staff_id=draft.staff_id, direction="outbound", purpose=draft.purpose, phone=draft.phone,
        sender=clinic_settings.sms_sender(clinic, config)[:20], body=draft.body,
        dedupe_key=draft.dedupe_key, provider=config["SMS_PROVIDER"], status=MessageStatus.QUEUED,
        error="", segments=segments.count(draft.body).count, attempts=0,
        next_attempt_at=draft.not_before or now, reading="", created_at=now, updated_at=now,
    ).returning(Message.id)
    return session.execute(statement).scalar()


def window_opens(now: datetime, zone: ZoneInfo, window: tuple[time, time]) -> datetime:
    """`now` inside the messaging window on the patient's clock, else when it next opens."""
    for offset in range(0, 3):
        day = now.astimezone(zone).date() + timedelta(days=offset)
        start, end = at_local(day, window[0], zone), at_local(day, window[1], zone)
        if end > now:
            return max(start, now)
    return now + timedelta(days=1)


def in_window(session: Session, clinic: Clinic, phone: str, now: datetime,
              config: dict[str, Any]) -> bool:
    zone = patient_zone(phone, ZoneInfo(clinic.timezone))
    return window_opens(now, zone, clinic_settings.sms_window(clinic, config)) <= now


def claim(session: Session, message_id: int, now: datetime, config: dict[str, Any],
          callback_url: str) -> Outgoing | str:
    """Check the rules at send time, then mark the text `sending` or say why not. The caller
    commits before it hands the text to the provider."""
    message = session.get(Message, message_id)
    if message is None or message.status is not MessageStatus.QUEUED:
        return "already handled"
    clinic = session.get(Clinic, message.clinic_id)
    assert clinic is not None
    reason = _not_to_send(session, message)
    if reason is not None:
        message.status, message.error, message.updated_at = MessageStatus.CANCELLED, reason, now
        session.flush()
        return reason
    zone = patient_zone(message.phone, ZoneInfo(clinic.timezone))
    opens = window_opens(now, zone, clinic_settings.sms_window(clinic, config))
    if opens > now:
        message.next_attempt_at = opens
        session.flush()
        return "outside the messaging window"
    claimed = session.execute(
        update(Message).where(Message.id == message_id, Message.status == MessageStatus.QUEUED)
        .values(status=MessageStatus.SENDING, attempts=Message.attempts + 1, claimed_at=now,
                updated_at=now).execution_options(synchronize_session=False))
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return "already claimed"
    return outgoing(message, callback_url)


def outgoing(message: Message, callback_url: str) -> Outgoing:
    url = f"{callback_url}?message={message.id}" if callback_url else ""
    return Outgoing(message.id, message.phone, message.body, message.sender, url)


def _not_to_send(session: Session, message: Message) -> str | None:
    """Opted out since, or the visit it was about was settled another way."""
    if message.purpose is not MessagePurpose.DESK and optout.refused(
            session, message.clinic_id, message.phone, message.patient_id,
            marketing=message.purpose in MARKETING):
        return "opted out"
    if message.purpose is MessagePurpose.CONFIRMATION and message.appointment_id:
        visit = session.get(Appointment, message.appointment_id)
        if visit is None or visit.status not in ACTIVE_STATUSES:
            return "visit no longer booked"
    return None


def record_sent(session: Session, message_id: int, sent: Sent, now: datetime) -> None:
    message = session.get(Message, message_id)
    assert message is not None
    message.provider_message_id = message.provider_message_id or sent.provider_message_id
    _advance(message, sent.status, "", now)
    if sent.segments:
        message.segments = sent.segments
    if sent.cost is not None:
        message.cost = sent.cost


def record_failure(session: Session, message_id: int, error: SendError, now: datetime,
                   config: dict[str, Any]) -> None:
    message = session.get(Message, message_id)
    assert message is not None
    message.error = str(error)[:200]
    message.updated_at = now
    if error.opted_out:
        optout.record(session, message.clinic_id, message.phone, message.patient_id, now)
    if error.permanent or message.attempts >= config["SMS_MAX_ATTEMPTS"]:
        message.status = MessageStatus.FAILED
    else:
        message.status = MessageStatus.QUEUED
        message.next_attempt_at = now + timedelta(seconds=config["SMS_RETRY_SECONDS"])


def apply_status(session: Session, event: MessageEvent, now: datetime) -> Message | None:
    """A delivery status from the provider, applied only if it moves the message forward."""
    message = None
    # Locked: two callbacks of one text (sent, delivered: possibly out of order and at once) or
    # a callback and the sender's own record must not write over each other's newer status.
    if event.message_id is not None:
        message = session.scalar(select(Message).where(
            Message.id == event.message_id, Message.provider == event.provider,
            Message.direction == "outbound").with_for_update())
    if message is None:
        message = session.scalar(select(Message).where(
            Message.provider == event.provider,
            Message.provider_message_id == event.provider_message_id).with_for_update())
    if message is None or event.status is None:
        return message
    message.provider_message_id = message.provider_message_id or event.provider_message_id
    _advance(message, event.status, event.error, now)
    if event.error in OPTED_OUT_CODES:
        optout.record(session, message.clinic_id, message.phone, message.patient_id, now)
    return message


def _advance(message: Message, status: MessageStatus, error: str, now: datetime) -> None:
    if message.status in FINAL_STATUSES:
        return
    if status in FINAL_STATUSES or RANK.get(status, 0) > RANK.get(message.status, 0):
        message.status = status
        message.updated_at = now
        if error:
            message.error = f"provider error {error}"[:200]
