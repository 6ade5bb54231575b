"""Delivery of the outbox's events to the clinic's receiver: a signed POST per event, in order per
patient, retried with exponential backoff, each attempt in the delivery log.

The signature is our own webhook format (webhooks.hmac_signing): hex HMAC-SHA256 over
"<unix timestamp>.<body>" in X-Callcenter-Signature, the timestamp in X-Callcenter-Timestamp.
X-Callcenter-Event-Id carries the event's id: a receiver that saw it before answers 2xx and
ignores it, since an event whose answer was lost (a timeout, a killed worker) is sent again.

An event is claimed (`sending`, committed) before the POST, so two workers never send it at
once; a claim older than STALE (the worker died mid-request) is taken over. A patient's next
event waits until the one before it is delivered or given up.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from typing import Any

import requests
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from callcenter.core.models import EventAttempt, EventReceiver, OutboxEvent
from callcenter.core.secret_box import Unreadable, seal, unseal
from webhooks.hmac_signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

EVENT_ID_HEADER = "X-Callcenter-Event-Id"
EVENT_TYPE_HEADER = "X-Callcenter-Event"
PURPOSE = "event-receiver"
TIMEOUT = 10  # seconds a receiver has to answer
STALE = timedelta(seconds=TIMEOUT * 6)
ROUND = 500  # events looked at per clinic and round
ROUND_TIME = timedelta(seconds=240)  # a slow receiver must not hold the worker past its job timeout


def envelope(event: OutboxEvent) -> dict[str, Any]:
    """The event as the receiver and the changes feed see it."""
    return {"id": event.uid, "sequence": event.id, "type": event.type,
            "occurred_at": event.occurred_at.isoformat(), "clinic_id": event.clinic_id,
            "patient_id": event.patient_id, "data": event.data}


def seal_secret(secret_key: str, secret: str) -> str:
    return seal(secret_key, PURPOSE, {"secret": secret})


def receiver_secret(receiver: EventReceiver, secret_key: str) -> str | None:
    """The signing secret, or None when it was sealed under another CALLCENTER_SECRET_KEY."""
    try:
        return str(unseal(secret_key, PURPOSE, receiver.sealed_secret)["secret"])
    except (Unreadable, KeyError):
        return None


def backoff(attempts: int, config: dict[str, Any]) -> timedelta:
    """The wait after the `attempts`-th failure: the base, doubled each time, up to the cap."""
    seconds = config["EVENTS_RETRY_SECONDS"] * 2 ** min(max(attempts - 1, 0), 20)
    return timedelta(seconds=min(seconds, config["EVENTS_RETRY_MAX"]))


def post(url: str, secret: str, event: OutboxEvent, now: datetime) -> tuple[int | None, str]:
    """(HTTP status or None when nothing answered, the start of the answer or the failure)."""
    body = json.dumps(envelope(event), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    stamp = int(now.timestamp())
    headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: str(stamp),
               SIGNATURE_HEADER: sign(secret, stamp, body), EVENT_ID_HEADER: event.uid,
               EVENT_TYPE_HEADER: event.type}
    try:
        answer = requests.post(url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False)
    except requests.RequestException as exc:
        return None, type(exc).__name__
    return answer.status_code, answer.text[:300]


def _claim(session: Session, event: OutboxEvent, now: datetime) -> bool:
    claimed = session.execute(
        update(OutboxEvent).where(OutboxEvent.id == event.id, or_(
            OutboxEvent.state == "pending",
            and_(OutboxEvent.state == "sending", OutboxEvent.claimed_at < now - STALE)))
        .values(state="sending", claimed_at=now, attempts=OutboxEvent.attempts + 1)
        .execution_options(synchronize_session=False))
    session.commit()
    return claimed.rowcount == 1  # type: ignore[attr-defined]


def _record(session: Session, event: OutboxEvent, status: int | None, answer: str, now: datetime,
            config: dict[str, Any]) -> bool:
    """Log the attempt and move the event on; True when it was delivered."""
    session.refresh(event)
    session.add(EventAttempt(clinic_id=event.clinic_id, event_id=event.id, attempted_at=now,
                             status_code=status, response=answer[:300]))
    delivered = status is not None and 200 <= status < 300
    if delivered:
        event.state, event.delivered_at = "delivered", now
    elif now - event.occurred_at > timedelta(hours=config["EVENTS_GIVE_UP_HOURS"]):
        event.state = "failed"
    else:
        event.state, event.next_attempt_at = "pending", now + backoff(event.attempts, config)
    return delivered


def deliver_clinic(session: Session, clinic_id: int, config: dict[str, Any],
                   clock: Callable[[], datetime],
                   write_guard: Callable[[], AbstractContextManager[object]] = nullcontext) -> dict[str, int]:
    """One round over the clinic's undelivered events, oldest first: each patient's first one
    that is due is sent; after a failure that patient's later events wait for the retry, and a
    receiver that did not answer at all ends the round (the next round tries again)."""
    counts = {"delivered": 0, "failed": 0}
    receiver = session.get(EventReceiver, clinic_id)
    secret = receiver_secret(receiver, config["SECRET_KEY"]) if receiver is not None else None
    if receiver is None or not receiver.enabled or secret is None:
        return counts
    waiting = session.scalars(
        select(OutboxEvent).where(OutboxEvent.clinic_id == clinic_id,
                                  OutboxEvent.state.in_(("pending", "sending")))
        .order_by(OutboxEvent.id).limit(ROUND)).all()
    held: set[int | None] = set()
    until = clock() + ROUND_TIME
    for event in waiting:
        now = clock()
        if now > until:
            break
        if event.patient_id in held:
            continue
        held.add(event.patient_id)  # whatever happens now, this patient's later events wait
        if event.next_attempt_at > now:
            continue
        with write_guard():
            if not _claim(session, event, now):
                continue
        status, answer = post(receiver.url, secret, event, now)
        with write_guard():
            delivered = _record(session, event, status, answer, clock(), config)
            session.commit()
        if delivered:
            held.discard(event.patient_id)
            counts["delivered"] += 1
        else:
            counts["failed"] += 1
            if status is None:
                break
    return counts


def replay(session: Session, event: OutboxEvent, now: datetime) -> None:
    """Send the event again (delivered, failed or waiting), at once; the caller commits."""
    event.state, event.next_attempt_at, event.attempts = "pending", now, 0
    event.delivered_at = None
