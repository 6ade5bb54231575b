"""What texts are due, on each clinic's clock: the scheduler's periodic job writes them to the
outbox and queues the sending.

- confirmation: the visits of today's confirmation runs (the same ones the calls are about),
  when the clinic confirms by text alone or before the call; with "fallback", the visits whose
  confirmation call gave up unanswered;
- text-back: an unanswered inbound call, within the messaging window, at most once per number
  and day (the dedupe key), never to a number that refused texts (the outbox checks);
- after-care: the treatments recorded today, with the treatment's own instructions;
- recall: today's recall list, with two concrete times to choose from;
- rating: the one satisfaction question after a visit marked completed (today's or yesterday's,
  so a visit completed after the window closed is asked in the morning), once per visit, while
  the window is open, only where the clinic confirms visits by text, never after the visit was
  rated another way (the IVR keypad).
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from typing import Any

from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core import clinic_settings
from callcenter.core.models import (
    ACTIVE_STATUSES,
    Appointment,
    AppointmentStatus,
    Call,
    CallDirection,
    CallStatus,
    Clinic,
    DialTask,
    Patient,
    Rating,
    TaskPurpose,
    TaskState,
    Treatment,
    utcnow,
)
from callcenter.messaging import outbox, sending
from callcenter.messaging.compose import Composer
from callcenter.messaging.providers import provider_for
from callcenter.outbound import lists
from callcenter.outbound.jobs import runtime
from callcenter.outbound.visits import visits_to_confirm
from callcenter.outbound.workdays import at_local
from callcenter.schedule.slots import offer_for_clinic

log = logging.getLogger(__name__)
# A missed call older than this gets no text-back: the desk has called back, or should.
TEXT_BACK_WITHIN = timedelta(hours=1)


def plan_messages() -> dict[str, int]:
    """The scheduler's periodic job: every clinic under a lock, then recovery and sending."""
    rt = runtime()
    config = rt.config
    if not config["SMS_PROVIDER"]:
        return {}
    totals: dict[str, int] = {}
    with rt.sessions() as session:
        clinic_ids = list(session.scalars(select(Clinic.id)))
    for clinic_id in clinic_ids:
        lock = rt.redis.lock(f"callcenter:sms-plan:{clinic_id}", timeout=300, blocking=False)
        if not lock.acquire():
            continue
        try:
            with rt.write_guard(), rt.sessions() as session:
                clinic = session.get(Clinic, clinic_id)
                assert clinic is not None
                for key, value in plan_clinic(session, clinic, utcnow(), config).items():
                    totals[key] = totals.get(key, 0) + value
        finally:
            lock.release()
    with rt.sessions() as session:
        provider = provider_for(config["SMS_PROVIDER"], config)
        assert provider is not None
        totals["recovered"] = sending.recover(session, provider, utcnow(), config)
        totals["queued"] = send_due(session, rt.redis, config)
    return totals


def send_due(session: Session, connection: Redis, config: dict[str, Any]) -> int:
    return sending.dispatch(session, connection, utcnow(), config)


def plan_clinic(session: Session, clinic: Clinic, now: datetime, config: dict[str, Any]) -> dict[str, int]:
    """Write every text due now for one clinic to the outbox (committed); counts by purpose."""
    compose = Composer.for_clinic(session, clinic, config)
    counts = {
        "confirmation": _confirmations(session, clinic, now, config, compose),
        "text_back": _text_backs(session, clinic, now, config, compose),
        "after_care": _after_care(session, clinic, now, config, compose),
        "recall": _recalls(session, clinic, now, config, compose),
        # After after-care: the question is then the last text, the one a digit answers.
        "rating": _ratings(session, clinic, now, config, compose),
    }
    session.commit()
    return counts


def _store(session: Session, draft: outbox.Draft | None, now: datetime, config: dict[str, Any]) -> int:
    return int(draft is not None and outbox.enqueue(session, draft, now, config) is not None)


def _confirmations(session: Session, clinic: Clinic, now: datetime, config: dict[str, Any],
                   compose: Composer) -> int:
    mode = clinic_settings.sms_confirmation(clinic, config)
    if mode in ("alone", "before_call"):
        settings = lists.ListSettings.from_config(config, clinic)
        due = [(v.visit_id, v.not_before) for v in visits_to_confirm(
            session, clinic.id, lists.clinic_calendar(session, clinic), now,
            settings.confirm_evening, settings.confirm_morning)]
    elif mode == "fallback":
        today = now.astimezone(compose.zone).date()
        due = [(visit_id, now) for visit_id in session.scalars(
            select(DialTask.appointment_id).join(Appointment, Appointment.id == DialTask.appointment_id)
            .where(DialTask.clinic_id == clinic.id, DialTask.purpose == TaskPurpose.CONFIRMATION,
                   DialTask.state == TaskState.FAILED, DialTask.due_date >= today,
                   Appointment.status.in_(ACTIVE_STATUSES), Appointment.starts_at > now))]
    else:
        return 0
    stored = 0
    for visit_id, not_before in due:
        visit = session.get(Appointment, visit_id)
        assert visit is not None
        stored += _store(session, compose.confirmation(visit, not_before), now, config)
    return stored


def _text_backs(session: Session, clinic: Clinic, now: datetime, config: dict[str, Any],
                compose: Composer) -> int:
    missed = session.scalars(
        select(Call).where(Call.clinic_id == clinic.id, Call.direction == CallDirection.INBOUND,
                           Call.status == CallStatus.MISSED, Call.caller.is_not(None),
                           Call.callback_done_at.is_(None),
                           Call.started_at >= now - TEXT_BACK_WITHIN)
        .order_by(Call.started_at)).all()
    stored = 0
    for call in missed:
        # Only a call missed within the window, texted while it is still open: no text at night
        # for a call at night, and none in the morning for one the desk will return anyway.
        assert call.caller is not None
        if not (outbox.in_window(session, clinic, call.caller, call.started_at, config)
                and outbox.in_window(session, clinic, call.caller, now, config)):
            continue
        stored += _store(session, compose.text_back(call), now, config)
    return stored


def _after_care(session: Session, clinic: Clinic, now: datetime, config: dict[str, Any],
                compose: Composer) -> int:
    today = now.astimezone(compose.zone).date()
    treatments = session.scalars(select(Treatment).where(
        Treatment.clinic_id == clinic.id, Treatment.performed_on == today)).all()
    return sum(_store(session, compose.after_care(treatment), now, config) for treatment in treatments)


def _recalls(session: Session, clinic: Clinic, now: datetime, config: dict[str, Any],
             compose: Composer) -> int:
    today = now.astimezone(compose.zone).date()
    tasks = session.scalars(select(DialTask).where(
        DialTask.clinic_id == clinic.id, DialTask.purpose == TaskPurpose.RECALL,
        DialTask.due_date == today, DialTask.state == TaskState.PENDING)).all()
    if not tasks:
        return 0
    slots = offer_for_clinic(session, clinic, now)
    if len(slots) < 2:
        return 0  # two concrete dates or none: "any time" is not an invitation
    stored = 0
    for task in tasks:
        patient = session.get(Patient, task.patient_id) if task.patient_id else None
        if patient is not None and task.phone:
            stored += _store(session, compose.recall(patient, task.phone, today, slots), now, config)
    return stored



def _ratings(session: Session, clinic: Clinic, now: datetime, config: dict[str, Any],
             compose: Composer) -> int:
    if clinic_settings.sms_confirmation(clinic, config) == "off":
        return 0  # the clinic confirms by calls only: it asks nothing by text either
    today = now.astimezone(compose.zone).date()
    since = at_local(today - timedelta(days=1), time(0), compose.zone)
    visits = session.scalars(
        select(Appointment).where(
            Appointment.clinic_id == clinic.id, Appointment.status == AppointmentStatus.COMPLETED,
            Appointment.starts_at >= since, Appointment.starts_at <= now,
            ~select(Rating.id).where(Rating.appointment_id == Appointment.id).exists())
        .order_by(Appointment.starts_at)).all()
    stored = 0
    for visit in visits:
        draft = compose.rating(visit)
        if draft is not None and outbox.in_window(session, clinic, draft.phone, now, config):
            stored += _store(session, draft, now, config)
    return stored
