"""RQ jobs: plan (build lists, keep tasks moving, queue due attempts) and dial one attempt.

Crash safety rests on one row: an attempt is claimed by inserting DialAttempt(task, attempt_no),
unique, and committed BEFORE the number is dialed. A job that runs twice (re-queued after a
lost worker, or after Redis came back) finds the row and dials nobody; a worker killed mid-call
leaves a claimed attempt that `plan` closes as failed after DIAL_ATTEMPT_TIMEOUT, so the task
moves on to its next attempt instead of being lost.
"""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, timedelta
from typing import Any

from redis import Redis
from rq import Queue, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callcenter.core import clinic_settings
from callcenter.core.config import load_config
from callcenter.core.models import (
    ACTIVE_STATUSES,
    Appointment,
    AppointmentStatus,
    Campaign,
    CampaignState,
    Clinic,
    DialAttempt,
    DialMode,
    DialTask,
    Patient,
    TaskPurpose,
    TaskState,
    utcnow,
)
from callcenter.core.phones import mask
from callcenter.core.runtime import Runtime
from callcenter.inbound.ingest import ingest_events
from callcenter.outbound import control, dial_rules, gap_fill, lists, prompts, recall_events
from callcenter.outbound.dial_reasons import STOPS_CAMPAIGN, DialFailure, Reason
from callcenter.outbound.dialers import Dialer, DialRequest, dialer_for
from callcenter.outbound.dialers.sip import dial_seconds
from callcenter.outbound.pacing import NoChannel, Pacer
from callcenter.outbound.results import Outcome, RetryPolicy, record_outcome
from callcenter.outbound.store import campaign_for, default_mode

log = logging.getLogger(__name__)
DIAL_QUEUE = "dial"
OPEN_ATTEMPT_STATES = ("claimed", "dialing")
AUTOMATIC = (DialMode.TWILIO, DialMode.SIP)
CHANNEL_WAIT = 60.0
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
    """Queue one dial job per due task of a running automatic campaign.

    The task stays pending; its next_attempt_at moves forward by DIAL_REQUEUE_AFTER, so a job
    lost with Redis is queued again later, and the claim keeps a duplicate from dialing.
    """
    due = session.execute(
        select(DialTask.id, DialTask.attempts).join(Campaign, Campaign.id == DialTask.campaign_id)
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
    queue = Queue(DIAL_QUEUE, connection=connection)
    queued = 0
    for row in due:
        job_id = f"dial-{row.id}-{row.attempts + 1}"
        if _waiting(job_id, connection):
            continue
        # RQ's timeout only backs up the dial's own limits: waiting for a channel, then the dial.
        queue.enqueue(dial_attempt, row.id, row.attempts + 1, job_id=job_id,
                      job_timeout=int(CHANNEL_WAIT) + dial_seconds(config) + 60,
                      result_ttl=3600, failure_ttl=24 * 3600)
        queued += 1
    return queued


def _waiting(job_id: str, connection: Redis) -> bool:
    """The attempt's job is still queued or running (not lost with Redis, not finished)."""
    try:
        job = Job.fetch(job_id, connection=connection)
    except NoSuchJobError:
        return False
    status = job.get_status()
    if status == JobStatus.STARTED:
        # A worker SIGKILLed before the attempt was claimed leaves its job "started" for good;
        # once the worker's registration has expired, the job is lost and may be queued again
        # (the claim in dial_attempt still keeps the attempt from being dialed twice).
        return bool(job.worker_name) and bool(
            connection.exists(Worker.redis_worker_namespace_prefix + job.worker_name))
    return status in (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED)


# ---- dial --------------------------------------------------------------------------------------

def dial_attempt(task_id: int, attempt_no: int) -> str:
    """Dial attempt `attempt_no` of a task, at most once whatever happens to this job."""
    rt = runtime()
    config = rt.config
    with rt.sessions() as session:
        campaign = session.scalar(select(Campaign).join(DialTask, DialTask.campaign_id == Campaign.id)
                                  .where(DialTask.id == task_id))
        if campaign is None or campaign.mode not in AUTOMATIC:
            return "not automatic"
        if campaign.state is not CampaignState.RUNNING:
            return "campaign not running"
        mode, campaign_id = campaign.mode, campaign.id
    try:
        dialer = dialer_for(mode, config)
    except RuntimeError:
        # Every attempt would fail the same way (its settings are missing): stop the list with
        # the reason for the admin rather than burn its attempts.
        _stop_campaign(rt, campaign_id, Reason.NOT_CONFIGURED, None)
        return "campaign stopped: dialer not set up"
    pacer = Pacer(rt.redis, dialer.trunk, config["DIAL_CPS"], config["DIAL_CHANNELS"],
                  lease_seconds=config["DIAL_ATTEMPT_TIMEOUT"])
    try:
        # Twilio carries the call itself: its channel is held only while the call is created.
        # The line before the claim: a refused registration claims no attempt, no task loses one.
        with pacer.channel(CHANNEL_WAIT), dialer.line():
            with rt.sessions() as session:
                request = claim_attempt(session, task_id, attempt_no, mode, utcnow(), config)
            if isinstance(request, str):
                return request
            return _place(rt, dialer, request, pacer)
    except DialFailure as exc:
        _stop_campaign(rt, campaign_id, exc.reason, exc.status)
        return f"campaign stopped: {exc}"
    except NoChannel:
        with rt.sessions() as session:
            session.execute(update(DialTask).where(DialTask.id == task_id,
                                                   DialTask.state == TaskState.PENDING)
                            .values(next_attempt_at=utcnow() + timedelta(seconds=5)))
            session.commit()
        return "no free channel"


def claim_attempt(session: Session, task_id: int, attempt_no: int, mode: DialMode, now: datetime,
                  config: dict[str, Any]) -> DialRequest | str:
    """Check the rules at dial time, then claim the attempt (committed) or say why not."""
    task = session.get(DialTask, task_id)
    if task is None or task.state is not TaskState.PENDING or task.attempts >= attempt_no:
        return "already handled"
    campaign = session.get(Campaign, task.campaign_id)
    if campaign is None or campaign.state is not CampaignState.RUNNING:
        return "campaign not running"
    clinic = session.get(Clinic, task.clinic_id)
    assert clinic is not None
    policy = RetryPolicy.from_config(config)
    reason = _no_longer_needed(session, task, now)
    if reason is not None:
        record_outcome(session, task, reason, now=now, policy=policy)
        session.commit()
        return f"not needed: {reason.value}"
    refused = dial_rules.refusal(session, clinic, phone=task.phone or "", patient_id=task.patient_id,
                                 now=now, config=config, marketing=is_marketing(campaign))
    if refused is dial_rules.Refusal.OUTSIDE_HOURS:
        task.next_attempt_at = dial_rules.calling_resumes_at(session, clinic, task.phone, now, config)
        session.commit()
        return "outside calling hours"
    if refused is not None:
        record_outcome(session, task, Outcome.NOT_NEEDED, now=now, policy=policy)
        session.commit()
        return f"not needed: {refused.value}"
    session.add(DialAttempt(task_id=task.id, attempt_no=attempt_no, mode=mode, phone=task.phone or "",
                            state="claimed", started_at=now, result="", digits=""))
    task.attempts = attempt_no
    task.state = TaskState.IN_PROGRESS
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return "already claimed"
    attempt_id = session.scalar(select(DialAttempt.id).where(DialAttempt.task_id == task.id,
                                                             DialAttempt.attempt_no == attempt_no))
    assert attempt_id is not None
    return _request(session, task, clinic, attempt_id, config)


def is_marketing(campaign: Campaign) -> bool:
    """A marketing list (news, offers) calls only patients who agreed to marketing calls."""
    return bool((campaign.settings or {}).get("marketing"))


def _no_longer_needed(session: Session, task: DialTask, now: datetime) -> Outcome | None:
    """A new booking or a visit already settled: do not call (the dial rules ask the rest)."""
    if task.purpose in (TaskPurpose.FOLLOW_UP, TaskPurpose.RECALL, TaskPurpose.NO_SHOW) and (
            task.patient_id in lists.patients_with_future_visit(session, task.clinic_id, now)):
        return Outcome.BOOKED
    if task.purpose is TaskPurpose.CONFIRMATION and task.appointment_id:
        visit = session.get(Appointment, task.appointment_id)
        if visit is None or visit.status is not AppointmentStatus.BOOKED or visit.starts_at <= now:
            return Outcome.NOT_NEEDED
    return None


def _request(session: Session, task: DialTask, clinic: Clinic, attempt_id: int,
             config: dict[str, Any]) -> DialRequest:
    patient = session.get(Patient, task.patient_id) if task.patient_id else None
    lang = prompts.language(patient.preferred_language if patient else None, clinic.locale)
    visit = session.get(Appointment, task.appointment_id) if task.appointment_id else None
    visit_at = visit.starts_at if visit is not None and visit.status in ACTIVE_STATUSES else None
    calendar = lists.clinic_calendar(session, clinic)
    return DialRequest(
        attempt_id=attempt_id, task_id=task.id, clinic_id=clinic.id,
        caller_id=clinic_settings.caller_id(clinic, config), phone=task.phone or "", purpose=task.purpose,
        language=lang, text=prompts.message(task.purpose, lang, clinic.name, visit_at, calendar.tz),
        thanks_text=prompts.thanks(lang))


def _place(rt: Runtime, dialer: Dialer, request: DialRequest, pacer: Pacer) -> str:
    try:
        result = dialer.dial(request, pacer.wait_for_slot)
    except Exception:
        log.exception("dialing attempt %s to %s failed", request.attempt_id, mask(request.phone))
        _finish(rt, request, Outcome.FAILED, None, "")
        return "failed"
    if result.events:
        ingest_events(rt, dialer.mode.value, result.events,
                      json.dumps({"attempt_id": request.attempt_id, "outcome": str(result.outcome),
                                  "call_id": result.provider_call_id}),
                      source="outbound", clinic_id=request.clinic_id)
    _finish(rt, request, result.outcome, result.provider_call_id, result.digits, result.reason,
            result.sip_status)
    if result.reason in STOPS_CAMPAIGN:  # registered, yet the PBX refused the account's calls
        with rt.sessions() as session:
            campaign_id = session.scalar(select(DialTask.campaign_id).where(DialTask.id == request.task_id))
        assert campaign_id is not None
        _stop_campaign(rt, campaign_id, Reason(result.reason), result.sip_status)
    return str(result.outcome or "dialing")


def _finish(rt: Runtime, request: DialRequest, outcome: Outcome | None, provider_call_id: str | None,
            digits: str, reason: str = "", sip_status: int | None = None) -> None:
    with rt.sessions() as session:
        attempt = session.get(DialAttempt, request.attempt_id)
        task = session.get(DialTask, request.task_id)
        assert attempt is not None and task is not None
        attempt.provider_call_id = provider_call_id
        attempt.reason, attempt.sip_status = reason, sip_status
        if outcome is None:
            attempt.state = "dialing"  # the provider reports the rest by webhook
        else:
            record_outcome(session, task, outcome, now=utcnow(), attempt=attempt, digits=digits,
                           policy=RetryPolicy.from_config(rt.config))
        session.commit()


def _stop_campaign(rt: Runtime, campaign_id: int, reason: Reason, status: int | None) -> None:
    log.warning("campaign %s stopped: %s (SIP %s)", campaign_id, reason.value, status)
    with rt.sessions() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        control.stop(campaign, reason.value, status)
        session.commit()
