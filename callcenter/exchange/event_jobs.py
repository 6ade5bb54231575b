"""The worker's part of events out: every PLAN_SECONDS a delivery round for each clinic with an
event due. The round runs in the scheduled job itself rather than in jobs it queues: a queued
delivery would wait behind every other scheduled job, and two rounds at once (two workers) are
safe anyway, since each event is claimed before it is sent."""

from __future__ import annotations

from sqlalchemy import select

from callcenter.core.models import EventReceiver, OutboxEvent, utcnow
from callcenter.exchange.delivery import STALE, deliver_clinic
from callcenter.exchange.jobs import worker_runtime


def send_events() -> dict[str, int]:
    """The scheduled job: (events delivered, attempts failed) over every clinic."""
    rt = worker_runtime()
    now = utcnow()
    totals = {"delivered": 0, "failed": 0}
    with rt.sessions() as session:
        due = sorted(set(session.scalars(
            select(OutboxEvent.clinic_id)
            .join(EventReceiver, EventReceiver.clinic_id == OutboxEvent.clinic_id)
            .where(EventReceiver.enabled.is_(True), OutboxEvent.next_attempt_at <= now,
                   (OutboxEvent.state == "pending")
                   | ((OutboxEvent.state == "sending") & (OutboxEvent.claimed_at < now - STALE))))))
        for clinic_id in due:
            for name, count in deliver_clinic(session, clinic_id, rt.config, utcnow,
                                              rt.write_guard).items():
                totals[name] += count
    return totals
