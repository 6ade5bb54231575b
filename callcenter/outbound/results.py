"""The one write-back: what a call's outcome does to the task, the visit and the patient."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from callcenter.core import events_out
from callcenter.core.models import (
    ACTIVE_STATUSES,
    Appointment,
    AppointmentStatus,
    Call,
    CallOutcome,
    Clinic,
    DialAttempt,
    DialMode,
    DialTask,
    OptOut,
    TaskPurpose,
    TaskState,
)
from callcenter.outbound.lists import PRIORITY
from callcenter.outbound.store import campaign_for


class Outcome(enum.StrEnum):
    CONFIRMED = "confirmed"  # key 1 on a visit reminder
    ACKNOWLEDGED = "acknowledged"  # reached: key 1 on an after-care call, or the desk talked
    RESCHEDULE = "reschedule"  # key 2: the desk calls back to agree a time
    CANCEL = "cancel"  # key 3: the visit stays until the desk agrees the next contact
    OPT_OUT = "opt_out"  # key 9
    BOOKED = "booked"  # the patient booked meanwhile: the call is no longer needed
    NOT_NEEDED = "not_needed"  # opted out since, or the visit was settled another way
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    MACHINE = "machine"
    HUNG_UP = "hung_up"  # answered, no choice made
    FAILED = "failed"  # network / number error, or the attempt never reported back
    EXPIRED = "expired"  # the calling window closed before anyone was reached
    DECLINED = "declined"  # "no" by text: the desk calls back about the visit


KEYS = {"1": Outcome.CONFIRMED, "2": Outcome.RESCHEDULE, "3": Outcome.CANCEL, "9": Outcome.OPT_OUT}
RETRYABLE = frozenset({Outcome.BUSY, Outcome.NO_ANSWER, Outcome.MACHINE, Outcome.HUNG_UP,
                       Outcome.FAILED})
REACHED = frozenset({Outcome.CONFIRMED, Outcome.ACKNOWLEDGED, Outcome.RESCHEDULE, Outcome.CANCEL,
                     Outcome.OPT_OUT, Outcome.DECLINED})
CALL_OUTCOME = {Outcome.CONFIRMED: CallOutcome.CONFIRMED, Outcome.CANCEL: CallOutcome.CANCELLED,
                Outcome.RESCHEDULE: CallOutcome.RESCHEDULED}


# What a receptionist may record per purpose: "visit confirmed" only where there is a visit to
# confirm, "booked" where the call is to book one.
_NOT_REACHED = (Outcome.BUSY, Outcome.NO_ANSWER, Outcome.MACHINE)
_TO_BOOK = (Outcome.BOOKED, Outcome.ACKNOWLEDGED, Outcome.RESCHEDULE, Outcome.OPT_OUT, *_NOT_REACHED)
DESK_OUTCOMES: dict[TaskPurpose, tuple[Outcome, ...]] = {
    TaskPurpose.CONFIRMATION: (Outcome.CONFIRMED, Outcome.RESCHEDULE, Outcome.CANCEL, Outcome.OPT_OUT,
                               *_NOT_REACHED),
    TaskPurpose.FOLLOW_UP: (Outcome.ACKNOWLEDGED, Outcome.BOOKED, Outcome.RESCHEDULE, Outcome.OPT_OUT,
                            *_NOT_REACHED),
    TaskPurpose.RECALL: _TO_BOOK,
    TaskPurpose.NO_SHOW: _TO_BOOK,
    TaskPurpose.GAP_FILL: _TO_BOOK,
    TaskPurpose.MISSED_CALL: (Outcome.ACKNOWLEDGED, Outcome.BOOKED, *_NOT_REACHED),
    TaskPurpose.CALL_BACK: (Outcome.BOOKED, Outcome.ACKNOWLEDGED, *_NOT_REACHED),
    TaskPurpose.RESCHEDULE: (Outcome.BOOKED, Outcome.ACKNOWLEDGED, *_NOT_REACHED),
}


def outcome_for_key(digit: str, purpose: TaskPurpose) -> Outcome | None:
    """Key pressed → outcome; on a call without a visit, 1 means 'all is well'."""
    outcome = KEYS.get(digit)
    if outcome is Outcome.CONFIRMED and purpose is not TaskPurpose.CONFIRMATION:
        return Outcome.ACKNOWLEDGED
    return outcome


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    backoff: Mapping[str, int] = field(default_factory=lambda: {
        "busy": 600, "no_answer": 1800, "machine": 3600, "hung_up": 1800, "failed": 900})
    machine: str = "message"  # a message left on a machine ends the task; "retry" calls again

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RetryPolicy:
        return cls(max_attempts=config["DIAL_MAX_ATTEMPTS"], backoff=dict(config["DIAL_BACKOFF"]),
                   machine=config["DIAL_MACHINE"])


DEFAULT_POLICY = RetryPolicy()


def record_outcome(session: Session, task: DialTask, outcome: Outcome, *, now: datetime,
                   attempt: DialAttempt | None = None, digits: str = "",
                   policy: RetryPolicy = DEFAULT_POLICY) -> bool:
    """Apply one outcome once; a repeat (retried webhook, late status) changes nothing.

    Returns True if it changed anything. The caller commits.
    """
    if attempt is not None:
        if attempt.state == "ended":
            return False
        attempt.state = "ended"
        attempt.result = outcome.value
        attempt.digits = digits[:16]
        attempt.ended_at = now
        _mark_call(session, attempt, outcome)
    if task.state in (TaskState.DONE, TaskState.FAILED, TaskState.CANCELLED):
        return attempt is not None
    task.result = outcome.value
    if outcome in RETRYABLE:
        _retry_or_give_up(session, task, outcome, now, policy)
        return True
    if outcome is Outcome.EXPIRED:
        _not_reached(session, task)
        return True
    if outcome in (Outcome.BOOKED, Outcome.NOT_NEEDED):
        task.state = TaskState.CANCELLED
        task.next_attempt_at = None
        if outcome is Outcome.BOOKED and task.purpose is TaskPurpose.MISSED_CALL and task.call_id:
            _close_missed_call(session, task, now)
        return True
    task.state = TaskState.DONE
    task.next_attempt_at = None
    if task.purpose is TaskPurpose.MISSED_CALL and task.call_id is not None:
        _close_missed_call(session, task, now)
    answer = Answer(task.clinic_id, task.patient_id, task.phone, task.appointment_id)
    if outcome is Outcome.OPT_OUT:
        record_opt_out(session, answer, now)
    else:
        apply_answer(session, answer, outcome, now)
    return True


@dataclass(frozen=True)
class Answer:
    """Who answered about which visit, by whatever way the answer came (a key, a text)."""

    clinic_id: int
    patient_id: int | None
    phone: str | None
    appointment_id: int | None


def apply_answer(session: Session, answer: Answer, outcome: Outcome, now: datetime) -> None:
    """What the patient's answer does to the visit and the desk's list: the marks ("visit
    confirmed", "call") and the call-back tasks. A text reply with no call task behind it (the
    clinic confirms by text alone, or the call already gave up) comes here directly."""
    visit = session.get(Appointment, answer.appointment_id) if answer.appointment_id else None
    active = visit is not None and visit.status in ACTIVE_STATUSES
    if outcome is Outcome.CONFIRMED and visit is not None and active:
        visit.status = AppointmentStatus.CONFIRMED
        events_out.visit_changed(visit, now)
    elif outcome is Outcome.RESCHEDULE:
        _desk_task(session, answer, TaskPurpose.RESCHEDULE, now, "asked to move the visit")
    elif outcome is Outcome.CANCEL:
        # No cancellation without an agreed next contact: the visit stays in place and the desk
        # calls back to agree a new time (booking.cancel, with the rule, when they talk).
        _desk_task(session, answer, TaskPurpose.CALL_BACK, now, "wants to cancel: agree a new time")
    elif outcome is Outcome.DECLINED:
        # "No" by text is not yet a cancellation: the visit gets the "call" mark and the desk
        # calls to agree another time (or to cancel it, with the next contact agreed).
        if visit is not None and active:
            visit.status = AppointmentStatus.CALL_BACK
            events_out.visit_changed(visit, now)
        _desk_task(session, answer, TaskPurpose.CALL_BACK, now, "replied no by text")


def _retry_or_give_up(session: Session, task: DialTask, outcome: Outcome, now: datetime,
                      policy: RetryPolicy) -> None:
    final_machine = outcome is Outcome.MACHINE and policy.machine == "message"
    retry_at = now + timedelta(seconds=policy.backoff.get(outcome.value, 1800))
    in_time = task.deadline_at is None or retry_at < task.deadline_at
    if task.attempts < policy.max_attempts and in_time and not final_machine:
        task.state = TaskState.PENDING
        task.next_attempt_at = retry_at
        return
    _not_reached(session, task)


def _not_reached(session: Session, task: DialTask) -> None:
    """Attempts used up: the visit gets the "call" mark, the next shift calls by hand."""
    task.state = TaskState.FAILED
    task.next_attempt_at = None
    if task.purpose is TaskPurpose.CONFIRMATION and task.appointment_id:
        visit = session.get(Appointment, task.appointment_id)
        if visit is not None and visit.status is AppointmentStatus.BOOKED:
            visit.status = AppointmentStatus.CALL_BACK


def _desk_task(session: Session, task: Answer, purpose: TaskPurpose, now: datetime,
               note: str) -> None:
    clinic = session.get(Clinic, task.clinic_id)
    assert clinic is not None
    today = now.astimezone(ZoneInfo(clinic.timezone)).date()
    exists = session.scalar(select(DialTask.id).where(
        DialTask.patient_id == task.patient_id, DialTask.purpose == purpose,
        DialTask.due_date == today))
    if exists is not None:
        return
    campaign = campaign_for(session, clinic.id, purpose, today, DialMode.PREVIEW)
    session.add(DialTask(
        clinic_id=clinic.id, campaign_id=campaign.id, patient_id=task.patient_id, purpose=purpose,
        due_date=today, phone=task.phone, appointment_id=task.appointment_id,
        priority=PRIORITY[purpose], state=TaskState.PENDING, attempts=0, next_attempt_at=now,
        result="", notes=note))
    session.flush()


def record_opt_out(session: Session, answer: Answer, now: datetime, *, scope: str = "all",
                   source: str = "ivr") -> None:
    """The patient asked not to be contacted (key 9, a STOP text): recorded at once, and every
    pending call to them is dropped when the refusal covers calls ("all")."""
    session.add(OptOut(e164=answer.phone, patient_id=answer.patient_id, scope=scope, source=source,
                       created_at=now, clinic_id=answer.clinic_id))
    if scope != "all":
        return
    same_person = [DialTask.phone == answer.phone]
    if answer.patient_id is not None:
        same_person.append(DialTask.patient_id == answer.patient_id)
    session.execute(
        update(DialTask)
        .where(or_(*same_person), DialTask.state == TaskState.PENDING)
        .values(state=TaskState.CANCELLED, result=Outcome.OPT_OUT.value, next_attempt_at=None)
        .execution_options(synchronize_session=False))


def _close_missed_call(session: Session, task: DialTask, now: datetime) -> None:
    session.execute(
        update(Call).where(Call.id == task.call_id, Call.callback_done_at.is_(None))
        .values(callback_done_at=now).execution_options(synchronize_session=False))


def _mark_call(session: Session, attempt: DialAttempt, outcome: Outcome) -> None:
    """The outbound call's own row (written by record_call_event) learns how it ended."""
    if not attempt.provider_call_id:
        return
    call_outcome = CALL_OUTCOME.get(outcome) or (
        None if outcome in REACHED else CallOutcome.NOT_REACHED)
    if call_outcome is None:
        return
    session.execute(
        update(Call).where(Call.provider == attempt.mode.value,
                           Call.provider_call_id == attempt.provider_call_id)
        .values(outcome=call_outcome).execution_options(synchronize_session=False))
