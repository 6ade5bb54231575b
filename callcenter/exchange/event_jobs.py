"""The worker's part of events out: every PLAN_SECONDS find the clinics with events due and queue
one delivery job per clinic (one at a time per clinic, which keeps each patient's order)."""

from __future__ import annotations

from rq import Queue
from sqlalchemy import select

from callcenter.core.models import EventReceiver, OutboxEvent, utcnow
from callcenter.exchange.delivery import STALE, deliver_clinic
from callcenter.exchange.jobs import worker_runtime

QUEUE = "default"
OPEN = ("queued", "started", "scheduled", "deferred")


def _job_id(clinic_id: int) -> str:
    return f"callcenter-events-{clinic_id}"


def send_events() -> dict[str, int]:
    """The scheduled job: queue a delivery round for each clinic with an event due."""
    rt = worker_runtime()
    now = utcnow()
    with rt.sessions() as session:
        due = sorted(set(session.scalars(
            select(OutboxEvent.clinic_id)
            .join(EventReceiver, EventReceiver.clinic_id == OutboxEvent.clinic_id)
            .where(EventReceiver.enabled.is_(True), OutboxEvent.next_attempt_at <= now,
                   (OutboxEvent.state == "pending")
                   | ((OutboxEvent.state == "sending") & (OutboxEvent.claimed_at < now - STALE))))))
    queue = Queue(QUEUE, connection=rt.redis)
    queued = 0
    for clinic_id in due:
        earlier = queue.fetch_job(_job_id(clinic_id))
        if earlier is not None and earlier.get_status() in OPEN:
            continue
        queue.enqueue(deliver_events, clinic_id, job_id=_job_id(clinic_id), job_timeout=3600,
                      result_ttl=60, failure_ttl=86400)
        queued += 1
    return {"clinics": queued}


def deliver_events(clinic_id: int) -> dict[str, int]:
    """One clinic's delivery round."""
    rt = worker_runtime()
    with rt.sessions() as session:
        return deliver_clinic(session, clinic_id, rt.config, utcnow, rt.write_guard)
