"""The plan job: build lists, keep tasks moving, queue due attempts for the dialers.

A dialer killed mid-call leaves a claimed attempt (`dialing.claim_attempt`) that `plan` closes
as failed after DIAL_ATTEMPT_TIMEOUT, so the task moves on to its next attempt instead of being
lost; an attempt queued but never dialed is queued again after DIAL_REQUEUE_AFTER.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from redis import Redis
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from callcenter.core.config import load_config
from callcenter.core.models import (
    Appointment,
    AppointmentStatus,
    Campaign,
    CampaignState,
    Clinic,
    DialAttempt,
    DialMode,
    DialTask,
    TaskPurpose,
    TaskState,
    utcnow,
)
from callcenter.core.runtime import Runtime
from callcenter.outbound import dial_queue, gap_fill, lists, recall_events
from callcenter.outbound.results import Outcome, RetryPolicy, record_outcome
from callcenter.outbound.store import campaign_for, default_mode

log = logging.getLogger(__name__)
OPEN_ATTEMPT_STATES = ("claimed", "dialing")
AUTOMATIC = (DialMode.TWILIO, DialMode.SIP)
BUILDERS: dict[TaskPurpose, lists.Builder] = {**lists.BUILDERS, TaskPurpose.GAP_FILL: gap_fill.build_gap_fills}
_runtime: Runtime | None = None


def runtime() -> Runtime:
    """This worker process's handles, made on first use (after RQ forked the job's process)."""
    global _runtime
    if _runtime is None:
        _runtime = Runtime.from_config(load_config())
    return _runtime


# ---- plan --------------------------------------------------------------------------------------

def plan_campaigns() -> dict[str, int]:
    """The scheduler's periodic job: every clinic, under a lock so concurrent runs do not overlap."""
    rt = runtime()
    totals: dict[str, int] = {}
    with rt.sessions() as session:
        clinic_ids = list(session.scalars(select(Clinic.id)))
    for clinic_id in clinic_ids:
        lock = rt.redis.lock(f"callcenter:plan:{clinic_id}", timeout=300, blocking=False)
        if not lock.acquire():
            continue
        try:
            with rt.sessions() as session:
                clinic = session.get(Clinic, clinic_id)
                assert clinic is not None
                counts = plan_clinic(session, rt.redis, clinic, utcnow(), rt.config)
            for key, value in counts.items():
                totals[key] = totals.get(key, 0) + value
        finally:
            lock.release()
    return totals


def plan_clinic(session: Session, connection: Redis, clinic: Clinic, now: datetime,
                config: dict[str, Any]) -> dict[str, int]:
    counts = {"added": build_lists(session, connection, clinic, now, config)}
    counts["confirmed_at_booking"] = _confirm_new_bookings(session, clinic, now)
    policy = RetryPolicy.from_config(config)
    counts["dropped"] = _drop_booked(session, clinic, now, policy)
    counts["recovered"] = _close_stale_attempts(session, clinic, now, config, policy)
    counts["expired"] = _expire(session, clinic, now, policy)
    session.commit()
    counts["queued"] = dispatch(session, connection, clinic, now, config)
    return counts


def build_lists(session: Session, connection: Redis, clinic: Clinic, now: datetime,
                config: dict[str, Any]) -> int:
    """Missed calls and no-shows on every run; the daily lists once a day from LISTS_AT on.

    The once-a-day marker lives in Redis; if Redis lost it, the rebuild adds nothing anyway.
    """
    settings = lists.ListSettings.from_config(config, clinic)
    calendar = lists.clinic_calendar(session, clinic)
    local = now.astimezone(calendar.tz)
    purposes = [*lists.CONTINUOUS, TaskPurpose.GAP_FILL]
    marker = f"callcenter:lists:{clinic.id}:{local.date().isoformat()}"
    daily_due = local.strftime("%H:%M") >= config["LISTS_AT"] and not connection.exists(marker)
    if daily_due:
        purposes += lists.DAILY
        recall_events.announce(session, clinic, now, settings)
    added = 0
    for purpose in purposes:
        tasks = BUILDERS[purpose](session, clinic, now, settings)
        if not tasks:
            continue
        campaign = campaign_for(session, clinic.id, purpose, local.date(), default_mode(purpose, config))
        added += lists.save_new(session, tasks, {purpose: campaign.id})
    added += _adopt(session, clinic, local.date(), config)
    session.commit()
    if daily_due:
        connection.set(marker, "1", ex=2 * 24 * 3600)
    return added


def _adopt(session: Session, clinic: Clinic, today: date, config: dict[str, Any]) -> int:
    """Tasks the desk made outside the builders (a completed visit's first follow-up, a no-show's
    call-back) join their day's list once due, dialed the way that list is."""
    orphans = session.scalars(select(DialTask).where(
        DialTask.clinic_id == clinic.id, DialTask.campaign_id.is_(None),
        DialTask.state == TaskState.PENDING, DialTask.due_date <= today)).all()
    for task in orphans:
        task.campaign_id = campaign_for(session, clinic.id, task.purpose, today,
                                        default_mode(task.purpose, config)).id
    return len(orphans)


def _confirm_new_bookings(session: Session, clinic: Clinic, now: datetime) -> int:
    ids = lists.bookings_confirmed_at_booking(session, clinic, now)
    if ids:
        session.execute(update(Appointment).where(Appointment.id.in_(ids),
                                                  Appointment.status == AppointmentStatus.BOOKED)
                        .values(status=AppointmentStatus.CONFIRMED)
                        .execution_options(synchronize_session=False))
    return len(ids)


def _drop_booked(session: Session, clinic: Clinic, now: datetime, policy: RetryPolicy) -> int:
    ids = lists.tasks_dropped_by_booking(session, clinic, now)
    for task in session.scalars(select(DialTask).where(DialTask.id.in_(ids))):
        record_outcome(session, task, Outcome.BOOKED, now=now, policy=policy)
    return len(ids)


def _close_stale_attempts(session: Session, clinic: Clinic, now: datetime, config: dict[str, Any],
                          policy: RetryPolicy) -> int:
    """Attempts whose worker died or whose result never came back: failed, task moves on."""
    cutoff = now - timedelta(seconds=config["DIAL_ATTEMPT_TIMEOUT"])
    stale = session.execute(
        select(DialAttempt, DialTask).join(DialTask, DialTask.id == DialAttempt.task_id)
        .where(DialTask.clinic_id == clinic.id, DialAttempt.state.in_(OPEN_ATTEMPT_STATES),
               DialAttempt.started_at < cutoff)
    ).all()
    for attempt, task in stale:
        record_outcome(session, task, Outcome.FAILED, now=now, attempt=attempt, policy=policy)
    return len(stale)


def _expire(session: Session, clinic: Clinic, now: datetime, policy: RetryPolicy) -> int:
    tasks = session.scalars(select(DialTask).where(
        DialTask.clinic_id == clinic.id, DialTask.state == TaskState.PENDING,
        DialTask.deadline_at.is_not(None), DialTask.deadline_at < now)).all()
    for task in tasks:
        record_outcome(session, task, Outcome.EXPIRED, now=now, policy=policy)
    return len(tasks)


def dispatch(session: Session, connection: Redis, clinic: Clinic, now: datetime,
             config: dict[str, Any], limit: int = 1000) -> int:
    """Queue each due task of a running automatic campaign for the dialers (`dial_queue`).

    The task stays pending; its next_attempt_at moves forward by DIAL_REQUEUE_AFTER, so an
    attempt lost with Redis or with a dialer is queued again later, and the claim keeps a
    duplicate from dialing.
    """
    due = session.execute(
        select(DialTask.id, DialTask.attempts, DialTask.priority)
        .join(Campaign, Campaign.id == DialTask.campaign_id)
        .where(DialTask.clinic_id == clinic.id, DialTask.state == TaskState.PENDING,
               DialTask.next_attempt_at <= now, Campaign.state == CampaignState.RUNNING,
               Campaign.mode.in_(AUTOMATIC))
        .order_by(DialTask.priority, DialTask.next_attempt_at).limit(limit)
    ).all()
    if not due:
        return 0
    retry_at = now + timedelta(seconds=config["DIAL_REQUEUE_AFTER"])
    session.execute(update(DialTask).where(DialTask.id.in_([row.id for row in due]))
                    .values(next_attempt_at=retry_at).execution_options(synchronize_session=False))
    session.commit()
    return dial_queue.push(connection, [(row.id, row.attempts + 1, row.priority) for row in due
                                        if not dial_queue.waiting(connection, row.id, row.attempts + 1)])
