"""RQ jobs that hand queued texts to the provider, at its rate, each at most once.

A text is claimed (`sending`, committed) before the provider is called, so a job that runs twice
sends nothing the second time. A worker killed between the claim and our record of the answer
leaves a `sending` row: after SMS_SEND_TIMEOUT the planner asks the provider whether it has it
(SMSC by our id, Twilio by number and text) and either adopts its answer or queues the text
again, so a crash neither loses the text nor sends it twice. The rate is a reservation schedule
in Redis shared by every worker (outbound.pacing), a little under the provider's limit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from redis import Redis
from rq import Queue
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from callcenter.core.models import Message, MessageStatus, utcnow
from callcenter.core.phones import mask
from callcenter.messaging import outbox
from callcenter.messaging.providers import Provider, SendError, provider_for
from callcenter.outbound.jobs import runtime
from callcenter.outbound.pacing import Pacer

log = logging.getLogger(__name__)
SMS_QUEUE = "sms"
BATCH = 50


def callback_url(config: dict[str, Any]) -> str:
    """Where the provider posts delivery statuses, when it takes a URL per message (Twilio)."""
    if config["SMS_PROVIDER"] != "twilio" or not config["PUBLIC_URL"]:
        return ""
    return f"{config['PUBLIC_URL'].rstrip('/')}/webhooks/sms/twilio/status"


def _provider(config: dict[str, Any]) -> Provider:
    provider = provider_for(config["SMS_PROVIDER"], config)
    if provider is None:
        raise RuntimeError("CALLCENTER_SMS_PROVIDER is not set: no texts can be sent")
    return provider


def send_batch(message_ids: Sequence[int]) -> dict[str, int]:
    """Send the given texts one by one at the provider's rate."""
    rt = runtime()
    config = rt.config
    provider = _provider(config)
    pacer = Pacer(rt.redis, f"sms:{provider.name}", config["SMS_RATE"], channels=1)
    url = callback_url(config)
    counts: dict[str, int] = {}
    for message_id in message_ids:
        result = _send_one(rt, provider, pacer, message_id, url)
        counts[result] = counts.get(result, 0) + 1
    return counts


def _send_one(rt: Any, provider: Provider, pacer: Pacer, message_id: int, url: str) -> str:
    with rt.sessions() as session:
        message = session.get(Message, message_id)
        if message is None or message.status is not MessageStatus.QUEUED:
            return "already handled"
    pacer.wait_for_slot()
    with rt.write_guard(), rt.sessions() as session:
        claimed = outbox.claim(session, message_id, utcnow(), rt.config, url)
    if isinstance(claimed, str):
        return claimed
    try:
        sent = provider.send(claimed)
    except SendError as exc:
        log.warning("text %s to %s not sent: %s", message_id, mask(claimed.to), exc.code)
        with rt.write_guard(), rt.sessions() as session:
            outbox.record_failure(session, message_id, exc, utcnow(), rt.config)
            session.commit()
        return "failed"
    with rt.write_guard(), rt.sessions() as session:
        outbox.record_sent(session, message_id, sent, utcnow())
        session.commit()
    return "sent"


def recover(session: Session, provider: Provider, now: datetime, config: dict[str, Any]) -> int:
    """Texts claimed by a worker that never reported back: the provider's answer decides."""
    cutoff = now - timedelta(seconds=config["SMS_SEND_TIMEOUT"])
    stale = session.scalars(select(Message).where(
        Message.status == MessageStatus.SENDING, Message.claimed_at < cutoff)).all()
    url = callback_url(config)
    for message in stale:
        claimed_at = message.claimed_at or cutoff
        try:
            found = provider.lookup(outbox.outgoing(message, url), claimed_at)
        except SendError:
            continue  # the provider cannot say now: ask again on the next round
        if found is not None:
            outbox.record_sent(session, message.id, found, now)
        else:
            message.status = MessageStatus.QUEUED
            message.next_attempt_at = now
    session.commit()
    return len(stale)


def dispatch(session: Session, connection: Redis, now: datetime, config: dict[str, Any],
             limit: int = 20000) -> int:
    """Queue the due texts in batches. Each text's next_attempt_at moves past the time its batch
    should take, so only a text whose job was lost (with Redis) is queued again."""
    due = list(session.scalars(
        select(Message.id).where(Message.status == MessageStatus.QUEUED,
                                 Message.next_attempt_at <= now)
        .order_by(Message.next_attempt_at, Message.id).limit(limit)))
    if not due:
        return 0
    queue = Queue(SMS_QUEUE, connection=connection)
    for index in range(0, len(due), BATCH):
        batch = due[index:index + BATCH]
        takes = (index + len(batch)) / config["SMS_RATE"]
        session.execute(update(Message).where(Message.id.in_(batch))
                        .values(next_attempt_at=now + timedelta(seconds=takes + config["SMS_SEND_TIMEOUT"]))
                        .execution_options(synchronize_session=False))
        session.commit()
        queue.enqueue(send_batch, batch, job_timeout=max(600, int(takes) * 2 + 60), result_ttl=600,
                      failure_ttl=24 * 3600)
    return len(due)
