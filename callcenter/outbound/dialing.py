"""Dial one attempt: check the rules at dial time, claim it, place the call, write back the outcome.

Runs in a dialer thread (`dial_service`), with the process's long-lived dialers: one SIP
registration and one Twilio client shared by every call of the process, instead of one per dial.

Crash safety rests on one row: an attempt is claimed by inserting DialAttempt(task, attempt_no),
unique, and committed BEFORE the number is dialed. An attempt taken twice (queued again after a
lost dialer, or after Redis came back) finds the row and dials nobody; a dialer killed mid-call
leaves a claimed attempt that `jobs.plan` closes as failed after DIAL_ATTEMPT_TIMEOUT.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callcenter.core import clinic_settings
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
from callcenter.outbound import control, dial_rules, lists, prompts, reach
from callcenter.outbound.dial_reasons import STOPS_CAMPAIGN, DialFailure, Reason
from callcenter.outbound.dialers import Dialer, DialRequest, DialResult, dialer_for
from callcenter.outbound.jobs import AUTOMATIC, runtime
from callcenter.outbound.pacing import NoChannel, Pacer
from callcenter.outbound.results import Outcome, RetryPolicy, record_outcome

log = logging.getLogger(__name__)
CHANNEL_WAIT = 60.0
CLAIM_YIELDS_SECONDS = 5.0


class Dialers:
    """This process's handles and dialers, one per mode, made on first use and kept (a SIP
    registration, a Twilio client) for every later call; `close` unregisters."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._made: dict[DialMode, Dialer] = {}
        self._lock = threading.Lock()
        # Outcomes before claims: a thread whose call has ended writes before the next claim of
        # this process, so a task's final state does not queue behind twenty new claims.
        self._writes = threading.Condition()
        self._ending = 0

    @contextmanager
    def ending(self) -> Iterator[None]:
        with self._writes:
            self._ending += 1
        try:
            yield
        finally:
            with self._writes:
                self._ending -= 1
                self._writes.notify_all()

    def before_claim(self) -> None:
        """Wait (a few seconds at most) until no call of this process is writing its outcome."""
        with self._writes:
            self._writes.wait_for(lambda: self._ending == 0, CLAIM_YIELDS_SECONDS)

    def get(self, mode: DialMode) -> Dialer:
        """Raises RuntimeError when the mode's settings are missing."""
        with self._lock:
            if mode not in self._made:
                self._made[mode] = dialer_for(mode, self.rt.config)
            return self._made[mode]

    def close(self) -> None:
        with self._lock:
            made, self._made = list(self._made.values()), {}
        for dialer in made:
            dialer.close()


def dial_attempt(task_id: int, attempt_no: int, dialers: Dialers | None = None) -> str:
    """Dial attempt `attempt_no` of a task, at most once whatever happens to this process."""
    own = dialers is None
    dialers = dialers or Dialers(runtime())
    rt = dialers.rt
    with rt.sessions() as session:
        campaign = session.scalar(select(Campaign).join(DialTask, DialTask.campaign_id == Campaign.id)
                                  .where(DialTask.id == task_id))
        if campaign is None or campaign.mode not in AUTOMATIC:
            return "not automatic"
        if campaign.state is not CampaignState.RUNNING:
            return "campaign not running"
        mode, campaign_id = campaign.mode, campaign.id
    try:
        dialer = dialers.get(mode)
    except RuntimeError:
        # Every attempt would fail the same way (its settings are missing): stop the list with
        # the reason for the admin rather than burn its attempts.
        _stop_campaign(rt, campaign_id, Reason.NOT_CONFIGURED, None)
        return "campaign stopped: dialer not set up"
    try:
        return _dial(dialers, dialer, task_id, attempt_no, mode)
    except DialFailure as exc:
        _stop_campaign(rt, campaign_id, exc.reason, exc.status)
        return f"campaign stopped: {exc}"
    except NoChannel:
        with rt.write_guard(), rt.sessions() as session:
            session.execute(update(DialTask).where(DialTask.id == task_id,
                                                   DialTask.state == TaskState.PENDING)
                            .values(next_attempt_at=utcnow() + timedelta(seconds=5)))
            session.commit()
        return "no free channel"
    finally:
        if own:
            dialers.close()


def _dial(dialers: Dialers, dialer: Dialer, task_id: int, attempt_no: int, mode: DialMode) -> str:
    rt, config = dialers.rt, dialers.rt.config
    # 1.5 % under the limit: the check-in (`Pacer.slot`) keeps every second within it, with 15 ms
    # to spare for a packet that reaches the far end late.
    pacer = Pacer(rt.redis, dialer.trunk, config["DIAL_CPS"], config["DIAL_CHANNELS"],
                  lease_seconds=config["DIAL_ATTEMPT_TIMEOUT"], margin=0.015)
    # The line before the claim: a refused registration claims no attempt, no task loses one.
    # The channel is the trunk's: held from the claim until the call has ended, not while the
    # outcome is written (Twilio carries the call itself: its channel ends once it is created).
    with dialer.line(), pacer.channel(CHANNEL_WAIT):
        # Writers queue on the write guard (SQLite: one at a time), not in SQLite's busy handler,
        # whose sleeps made twenty dialer threads' claims and write-backs take seconds.
        dialers.before_claim()
        with rt.write_guard(), rt.sessions() as session:
            request = claim_attempt(session, task_id, attempt_no, mode, utcnow(), config)
        if isinstance(request, str):
            return request
        try:
            result: DialResult | None = dialer.dial(request, pacer.slot)
        except Exception:
            log.exception("dialing attempt %s to %s failed", request.attempt_id, mask(request.phone))
            result = None
    with dialers.ending():
        return _write_back(rt, dialer, request, result)


def claim_attempt(session: Session, task_id: int, attempt_no: int, mode: DialMode, now: datetime,
                  config: Mapping[str, Any]) -> DialRequest | str:
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
            task.patient_id is not None and reach.patient_has_future_visit(session, task.patient_id, now)):
        return Outcome.BOOKED
    if task.purpose is TaskPurpose.CONFIRMATION and task.appointment_id:
        visit = session.get(Appointment, task.appointment_id)
        if visit is None or visit.status is not AppointmentStatus.BOOKED or visit.starts_at <= now:
            return Outcome.NOT_NEEDED
    return None


def _request(session: Session, task: DialTask, clinic: Clinic, attempt_id: int,
             config: Mapping[str, Any]) -> DialRequest:
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


def _write_back(rt: Runtime, dialer: Dialer, request: DialRequest, result: DialResult | None) -> str:
    """The call log, then the outcome (which marks the logged call): the task's final state as
    soon as the call has ended."""
    if result is None:
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
    with rt.write_guard(), rt.sessions() as session:
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
    with rt.write_guard(), rt.sessions() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        control.stop(campaign, reason.value, status)
        session.commit()
