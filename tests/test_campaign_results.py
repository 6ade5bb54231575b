"""The one write-back function, the admin controls and the desk list, on both databases."""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.core.models import (
    Appointment,
    AppointmentStatus,
    Call,
    CallDirection,
    CallStatus,
    Campaign,
    CampaignState,
    Clinic,
    DialAttempt,
    DialMode,
    DialTask,
    OptOut,
    Staff,
    StaffRole,
    TaskPurpose,
    TaskState,
)
from callcenter.outbound.dialing import claim_attempt
from callcenter.outbound.pacing import NoChannel, Pacer
from callcenter.outbound.results import Outcome, RetryPolicy, record_outcome
from callcenter.outbound.store import campaign_for
from tests import factories as f

NOW = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=2, backoff={"busy": 600, "no_answer": 900, "machine": 900,
                                              "hung_up": 900, "failed": 900}, machine="message")


@pytest.fixture
def clinic(session: Session) -> Clinic:
    return f.clinic(session)


def _task(session: Session, clinic: Clinic, phone: str = "+79001110001",
          purpose: TaskPurpose = TaskPurpose.CONFIRMATION, mode: DialMode = DialMode.TWILIO,
          with_visit: bool = True, deadline: datetime | None = None) -> DialTask:
    patient = f.patient(session, clinic, phone)
    visit_id = None
    if with_visit:
        doctor = Staff(clinic_id=clinic.id, role=StaffRole.DOCTOR, first_name="D", last_name="D")
        session.add(doctor)
        session.flush()
        visit = Appointment(clinic_id=clinic.id, patient_id=patient.id, doctor_id=doctor.id,
                            starts_at=NOW + timedelta(days=1), ends_at=NOW + timedelta(days=1, minutes=30))
        session.add(visit)
        session.flush()
        visit_id = visit.id
    campaign = campaign_for(session, clinic.id, purpose, date(2026, 3, 10), mode)
    task = DialTask(clinic_id=clinic.id, campaign_id=campaign.id, patient_id=patient.id, purpose=purpose,
                    due_date=date(2026, 3, 11), phone=phone, appointment_id=visit_id,
                    state=TaskState.IN_PROGRESS, attempts=1, deadline_at=deadline)
    session.add(task)
    session.flush()
    return task


def _attempt(session: Session, task: DialTask, number: int = 1) -> DialAttempt:
    attempt = DialAttempt(task_id=task.id, attempt_no=number, mode=DialMode.TWILIO, phone=task.phone or "",
                          state="dialing", started_at=NOW)
    session.add(attempt)
    session.flush()
    return attempt


def _visit(session: Session, task: DialTask) -> Appointment:
    visit = session.get(Appointment, task.appointment_id)
    assert visit is not None
    return visit


def test_confirmed_marks_the_visit_once(session: Session, clinic: Clinic) -> None:
    task = _task(session, clinic)
    attempt = _attempt(session, task)
    assert record_outcome(session, task, Outcome.CONFIRMED, now=NOW, attempt=attempt, digits="1", policy=POLICY)
    assert (_visit(session, task).status, task.state, attempt.result) == (
        AppointmentStatus.CONFIRMED, TaskState.DONE, "confirmed")
    # A retried webhook or a late "completed" status changes nothing.
    assert not record_outcome(session, task, Outcome.HUNG_UP, now=NOW, attempt=attempt, policy=POLICY)
    assert (task.state, task.result, attempt.result) == (TaskState.DONE, "confirmed", "confirmed")


def test_a_cancellation_always_leaves_a_next_contact(session: Session, clinic: Clinic) -> None:
    """Key 3 (or the list's "cancel") cancels nothing by itself: the visit stays in place until
    the desk agrees a new time on the call-back."""
    task = _task(session, clinic)
    record_outcome(session, task, Outcome.CANCEL, now=NOW, attempt=_attempt(session, task), policy=POLICY)
    assert _visit(session, task).status is AppointmentStatus.BOOKED
    desk = session.scalars(select(DialTask).where(DialTask.purpose == TaskPurpose.CALL_BACK)).one()
    campaign = session.get(Campaign, desk.campaign_id)
    assert (desk.patient_id, desk.phone, desk.state, campaign.mode) == (  # type: ignore[union-attr]
        task.patient_id, task.phone, TaskState.PENDING, DialMode.PREVIEW)


def test_reschedule_hands_the_visit_to_the_desk(session: Session, clinic: Clinic) -> None:
    task = _task(session, clinic)
    record_outcome(session, task, Outcome.RESCHEDULE, now=NOW, attempt=_attempt(session, task), policy=POLICY)
    assert _visit(session, task).status is AppointmentStatus.BOOKED
    desk = session.scalars(select(DialTask).where(DialTask.purpose == TaskPurpose.RESCHEDULE)).one()
    assert desk.appointment_id == task.appointment_id


def test_opt_out_is_recorded_and_stops_other_calls(session: Session, clinic: Clinic) -> None:
    task = _task(session, clinic)
    other = DialTask(clinic_id=clinic.id, patient_id=task.patient_id, purpose=TaskPurpose.RECALL,
                     due_date=date(2026, 3, 12), phone=task.phone, state=TaskState.PENDING)
    session.add(other)
    session.flush()
    record_outcome(session, task, Outcome.OPT_OUT, now=NOW, attempt=_attempt(session, task), policy=POLICY)
    session.refresh(other)
    opt_out = session.scalars(select(OptOut)).one()
    assert (opt_out.e164, opt_out.patient_id, opt_out.source) == (task.phone, task.patient_id, "ivr")
    assert (other.state, other.result) == (TaskState.CANCELLED, "opt_out")


def test_busy_retries_then_the_visit_gets_the_call_mark(session: Session, clinic: Clinic) -> None:
    task = _task(session, clinic)
    record_outcome(session, task, Outcome.BUSY, now=NOW, attempt=_attempt(session, task), policy=POLICY)
    assert (task.state, task.next_attempt_at) == (TaskState.PENDING, NOW + timedelta(seconds=600))
    task.attempts = 2
    record_outcome(session, task, Outcome.NO_ANSWER, now=NOW, attempt=_attempt(session, task, 2), policy=POLICY)
    assert (task.state, task.result) == (TaskState.FAILED, "no_answer")
    assert _visit(session, task).status is AppointmentStatus.CALL_BACK


def test_no_retry_past_the_deadline(session: Session, clinic: Clinic) -> None:
    task = _task(session, clinic, deadline=NOW + timedelta(minutes=5))
    record_outcome(session, task, Outcome.BUSY, now=NOW, attempt=_attempt(session, task), policy=POLICY)
    assert task.state is TaskState.FAILED


@pytest.mark.parametrize(("policy", "state"), [("message", TaskState.FAILED), ("retry", TaskState.PENDING)])
def test_answering_machine_policy(policy: str, state: TaskState, session: Session, clinic: Clinic) -> None:
    task = _task(session, clinic)
    rules = RetryPolicy(max_attempts=3, backoff=POLICY.backoff, machine=policy)
    record_outcome(session, task, Outcome.MACHINE, now=NOW, attempt=_attempt(session, task), policy=rules)
    assert task.state is state


def test_a_returned_missed_call_leaves_the_missed_list(session: Session, clinic: Clinic) -> None:
    missed = Call(clinic_id=clinic.id, provider="test", provider_call_id="m1", direction=CallDirection.INBOUND,
                  caller="+79001110009", status=CallStatus.MISSED, started_at=NOW - timedelta(hours=1))
    session.add(missed)
    session.flush()
    task = _task(session, clinic, "+79001110009", TaskPurpose.MISSED_CALL, DialMode.PREVIEW, with_visit=False)
    task.call_id = missed.id
    record_outcome(session, task, Outcome.ACKNOWLEDGED, now=NOW, policy=POLICY)
    session.commit()
    session.refresh(missed)
    assert missed.callback_done_at == NOW


# ---- admin page, JSON API and desk list ----------------------------------------------------------

def test_admin_pauses_resumes_and_cancels_with_progress(client: Any, session: Session, clinic: Clinic) -> None:
    task = _task(session, clinic)
    task.state = TaskState.PENDING
    done = _task(session, clinic, "+79001110002")
    done.state = TaskState.DONE
    session.commit()
    f.signed_in(client, session, role="admin", clinic_row=clinic)
    listing = client.get("/api/campaigns").get_json()["campaigns"]
    assert [(c["purpose"], c["state"], c["tasks"]["pending"], c["tasks"]["done"]) for c in listing] == [
        ("confirmation", "running", 1, 1)]
    campaign_id = listing[0]["id"]
    assert client.post(f"/api/campaigns/{campaign_id}/pause").get_json()["campaign"]["state"] == "paused"
    assert client.post(f"/api/campaigns/{campaign_id}/resume").get_json()["campaign"]["state"] == "running"
    cancelled = client.post(f"/api/campaigns/{campaign_id}/cancel").get_json()["campaign"]
    assert (cancelled["state"], cancelled["tasks"]["cancelled"], cancelled["tasks"]["done"]) == ("cancelled", 1, 1)
    reply = client.post(f"/api/campaigns/{campaign_id}/resume")
    assert (reply.status_code, reply.get_json()["error"]) == (409, "bad_action")
    assert client.post(f"/api/campaigns/{campaign_id}/explode").status_code == 400
    assert client.post("/api/campaigns/999/pause").status_code == 404
    page = client.get("/admin/campaigns").get_data(as_text=True)
    assert "confirmation 2026-03-10" in page and "отменена" in page and "Обзвоны" in page  # the state in the admin's language


def test_campaign_pages_need_the_right_role(client: Any, session: Session, clinic: Clinic) -> None:
    f.set_up(session, clinic)
    assert client.get("/api/campaigns").status_code == 401
    f.signed_in(client, session, role="receptionist", clinic_row=clinic)
    assert client.get("/api/campaigns").status_code == 403
    assert client.get("/api/campaigns/desk").status_code == 200


def test_the_desk_calls_by_hand_and_records_the_outcome(client: Any, session: Session, clinic: Clinic) -> None:
    f.always_open(clinic)
    task = _task(session, clinic, purpose=TaskPurpose.CONFIRMATION, mode=DialMode.PREVIEW)
    task.state, task.attempts, task.next_attempt_at = TaskState.PENDING, 0, NOW
    session.commit()
    f.signed_in(client, session, role="receptionist", clinic_row=clinic)
    desk = client.get("/api/campaigns/desk").get_json()["tasks"]
    assert [(t["task_id"], t["dial_uri"]) for t in desk] == [(task.id, "tel:+79001110001")]
    page = client.get("/desk/outbound").get_data(as_text=True)
    assert 'data-number="+79001110001"' in page and 'data-outcome="confirmed"' in page
    # The list speaks the receptionist's language (ru here), purposes and outcomes included.
    assert "Кому позвонить" in page and "подтверждение" in page and "подтвердил визит" in page
    reply = client.post(f"/api/campaigns/tasks/{task.id}/outcome", json={"outcome": "confirmed"})
    assert reply.get_json() == {"task_id": task.id, "state": "done", "result": "confirmed", "changed": True}
    session.expire_all()
    assert _visit(session, task).status is AppointmentStatus.CONFIRMED
    bad = client.post(f"/api/campaigns/tasks/{task.id}/outcome", json={"outcome": "maybe"})
    assert (bad.status_code, bad.get_json()["error"]) == (400, "invalid_outcome")


def test_a_paused_campaign_leaves_the_desk_list(client: Any, session: Session, clinic: Clinic) -> None:
    f.always_open(clinic)
    task = _task(session, clinic, mode=DialMode.PREVIEW)
    task.state, task.next_attempt_at = TaskState.PENDING, NOW
    session.get(Campaign, task.campaign_id).state = CampaignState.PAUSED  # type: ignore[union-attr]
    session.commit()
    f.signed_in(client, session, role="receptionist", clinic_row=clinic)
    assert client.get("/api/campaigns/desk").get_json()["tasks"] == []


# ---- pacing -------------------------------------------------------------------------------------

def test_channels_are_shared_and_never_exceeded(redis_url: str) -> None:
    connection = redis.Redis.from_url(redis_url)
    first = Pacer(connection, "sip:pbx", cps=100, channels=2)
    second = Pacer(connection, "sip:pbx", cps=100, channels=2)  # another worker, same trunk
    with first.channel(), second.channel(), pytest.raises(NoChannel), first.channel(wait_seconds=0.2):
        pass
    with first.channel(), second.channel():
        pass  # both released on exit


def test_a_killed_workers_channel_expires(redis_url: str) -> None:
    connection = redis.Redis.from_url(redis_url)
    pacer = Pacer(connection, "sip:pbx", cps=100, channels=1, lease_seconds=1)
    leased = pacer.channel()
    leased.__enter__()  # a worker that died holding it: never exits
    with pytest.raises(NoChannel):
        pacer.channel(wait_seconds=0.1).__enter__()
    with pacer.channel(wait_seconds=3):
        pass


def test_slots_are_reserved_one_interval_apart(redis_url: str) -> None:
    connection = redis.Redis.from_url(redis_url)
    pacer = Pacer(connection, "twilio:AC1", cps=10, channels=5, margin=0.0)
    pacer.wait_for_slot()
    first = int(connection.get(pacer.slot_key))  # type: ignore[arg-type]
    pacer.wait_for_slot()
    second = int(connection.get(pacer.slot_key))  # type: ignore[arg-type]
    assert second - first >= 100_000  # microseconds: 10 calls per second at most


def test_calls_never_start_more_than_the_limit_in_any_second(redis_url: str) -> None:
    """Twelve dialers of two processes at 5 CPS, some of them late: every call started inside its
    slot, and no second from any moment holds more than 5 starts. No timing is asserted: the
    check-in is a count, whatever the machine's speed."""
    connection = redis.Redis.from_url(redis_url)
    pacers = [Pacer(connection, "sip:pbx", cps=5, channels=20, margin=0.0) for _ in range(2)]
    started: list[float] = []
    lock = threading.Lock()

    def dial(n: int) -> None:
        with pacers[n % 2].slot():
            if n % 3 == 0:
                time.sleep(0.3)  # a dialer held up after its check-in, before its packet leaves
            with lock:
                started.append(time.time())

    threads = [threading.Thread(target=dial, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    started.sort()
    assert len(started) == 12
    assert max(bisect_left(started, t + 1.0) - i for i, t in enumerate(started)) <= 5


# ---- rules checked again at dial time ------------------------------------------------------------

CONFIG = {"CALL_HOURS": "09:00-21:00", "DIAL_MAX_ATTEMPTS": 3, "DIAL_MACHINE": "message",
          "DIAL_BACKOFF": dict(POLICY.backoff), "TWILIO_CALLER_ID": "+74950000000"}


def _pending(session: Session, clinic: Clinic, phone: str = "+79001110001") -> DialTask:
    task = _task(session, clinic, phone)
    task.state, task.attempts = TaskState.PENDING, 0
    clinic.opening_hours = {d: [["09:00", "21:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
    session.commit()
    return task


def test_an_opt_out_after_the_list_was_built_stops_the_call(session: Session, clinic: Clinic) -> None:
    task = _pending(session, clinic)
    session.add(OptOut(e164=task.phone, scope="all", source="desk"))
    session.commit()
    assert claim_attempt(session, task.id, 1, DialMode.TWILIO, NOW, CONFIG) == "not needed: opted_out"
    session.refresh(task)
    assert (task.state, session.scalar(select(DialAttempt.id))) == (TaskState.CANCELLED, None)


def test_outside_calling_hours_the_call_waits_for_the_morning(session: Session, clinic: Clinic) -> None:
    task = _pending(session, clinic)
    late = datetime(2026, 3, 10, 19, 30, tzinfo=UTC)  # 22:30 in Moscow
    assert claim_attempt(session, task.id, 1, DialMode.TWILIO, late, CONFIG) == "outside calling hours"
    session.refresh(task)
    assert (task.state, task.next_attempt_at) == (TaskState.PENDING, datetime(2026, 3, 11, 6, 0, tzinfo=UTC))


def test_an_attempt_is_claimed_once(session: Session, clinic: Clinic) -> None:
    task = _pending(session, clinic)
    request = claim_attempt(session, task.id, 1, DialMode.TWILIO, NOW, CONFIG)
    assert not isinstance(request, str)
    assert (request.phone, request.language, request.purpose) == (task.phone, "ru", TaskPurpose.CONFIRMATION)
    assert "нажмите 1" in request.text  # the Russian prompt, with the key choices
    assert claim_attempt(session, task.id, 1, DialMode.TWILIO, NOW, CONFIG) == "already handled"
    assert session.scalar(select(func.count()).select_from(DialAttempt)) == 1
