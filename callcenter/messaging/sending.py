"""RQ jobs that hand queued texts to the provider, at its rate, each at most once.

A text is claimed (`sending`, committed) before the provider is called, so a job that runs twice
sends nothing the second time. A worker killed between the claim and our record of the answer
leaves a `sending` row: after SMS_SEND_TIMEOUT the planner asks the provider whether it has it
(SMSC by our id, Twilio by number and text) and either adopts its answer or queues the text
again, so a crash neither loses the text nor sends it twice. The rate is the provider's own
per-second count, kept in Redis for every worker (messaging.send_rate); a text is claimed before
it waits for its slot, so what leaves at the slot is the HTTP request alone.
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
from callcenter.messaging.providers import Outgoing, Provider, SendError, Sent, provider_for
from callcenter.messaging.send_rate import SendRate
from callcenter.outbound.jobs import runtime

log = logging.getLogger(__name__)
SMS_QUEUE = "sms"
BATCH = 50
GROUP = 10  # texts claimed (and their answers recorded) in one commit


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
    rate = SendRate(rt.redis, f"sms:{provider.name}", config["SMS_RATE"])
    url = callback_url(config)
    counts: dict[str, int] = {}
    for index in range(0, len(message_ids), GROUP):
        for result in _send_group(rt, provider, rate, message_ids[index:index + GROUP], url):
            counts[result] = counts.get(result, 0) + 1
    return counts


def _send_group(rt: Any, provider: Provider, rate: SendRate, message_ids: Sequence[int],
                url: str) -> list[str]:
    """Claim a few texts in one commit, hand each over at its slot, record the answers in one
    commit: two writes per group rather than per text keep a worker ahead of the rate on a busy
    machine. A worker killed in between leaves `sending` rows for `recover`."""
    with rt.write_guard(), rt.sessions() as session:
        _load(session, message_ids)
        claimed = [outbox.claim(session, message_id, utcnow(), rt.config, url)
                   for message_id in message_ids]
        session.commit()
    results = [c for c in claimed if isinstance(c, str)]
    answers: list[tuple[Outgoing, Sent | SendError]] = []
    for outgoing in claimed:
        if isinstance(outgoing, str):
            continue
        rate.wait()
        try:
            answers.append((outgoing, provider.send(outgoing)))
        except SendError as exc:
            log.warning("text %s to %s not sent: %s", outgoing.message_id, mask(outgoing.to), exc.code)
            answers.append((outgoing, exc))
    if answers:
        with rt.write_guard(), rt.sessions() as session:
            _load(session, [outgoing.message_id for outgoing, _ in answers])
            for outgoing, answer in answers:
                if isinstance(answer, SendError):
                    outbox.record_failure(session, outgoing.message_id, answer, utcnow(), rt.config)
                    results.append("failed")
                else:
                    outbox.record_sent(session, outgoing.message_id, answer, utcnow())
                    results.append("sent")
            session.commit()
    return results


def _load(session: Session, message_ids: Sequence[int]) -> None:
    """The group's rows in one query: the per-text steps then find them in the session. Locked
    until the commit: a provider's status callback arriving in between (Twilio's come within
    milliseconds) waits, instead of its "delivered" being overwritten by our "sent"."""
    session.scalars(select(Message).where(Message.id.in_(message_ids)).with_for_update()).all()


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
