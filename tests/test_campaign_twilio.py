"""Confirmation calls over Twilio: real rq worker processes, a local fake Twilio, our real webhooks."""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core.config import load_config
from callcenter.core.models import (
    Appointment,
    AppointmentStatus,
    Call,
    CallDirection,
    CallOutcome,
    Campaign,
    DialAttempt,
    DialTask,
    OptOut,
    TaskPurpose,
    TaskState,
    utcnow,
)
from callcenter.outbound import control
from callcenter.outbound.jobs import plan_clinic
from tests.campaign_env import (
    clinic_with_visits,
    served,
    start_worker,
    stop_worker,
    wait_until,
    worker_env,
)
from tests.conftest import app_settings
from tests.fake_twilio import FakeTwilio, Patient

ACCOUNT = "AC" + "5" * 32
TOKEN = "twilio-test-token"
FINAL = (TaskState.DONE, TaskState.FAILED, TaskState.CANCELLED)
ATTEMPT_IN_URL = re.compile(r"/webhooks/twilio/outbound/(\d+)/twiml$")


@pytest.fixture
def settings(sqlite_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    # The web process writes back what the webhooks report: same retry policy as the workers.
    return app_settings(sqlite_url, redis_url, tmp_path, TWILIO_ACCOUNT_SID=ACCOUNT,
                        TWILIO_AUTH_TOKEN=TOKEN, DIAL_MAX_ATTEMPTS=2, DIAL_BACKOFF=dict.fromkeys(
                            ("busy", "no_answer", "machine", "hung_up", "failed"), 1))


@pytest.fixture
def twilio() -> Any:
    fake = FakeTwilio(ACCOUNT, TOKEN).start()
    yield fake
    fake.stop()


def twilio_env(sqlite_url: str, redis_url: str, tmp_path: Path, fake: FakeTwilio, base: str,
               **extra: str) -> dict[str, str]:
    settings = {
        "CALLCENTER_DIAL_MODE": "twilio", "TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_API_BASE": fake.base_url, "CALLCENTER_PUBLIC_URL": base,
        "CALLCENTER_TWILIO_CALLER_ID": "+74950000000", "CALLCENTER_DIAL_CPS": "5",
        "CALLCENTER_DIAL_MAX_ATTEMPTS": "2",
        "CALLCENTER_DIAL_BACKOFF": "busy=1,no_answer=1,machine=1,hung_up=1,failed=1",
    }
    return worker_env(sqlite_url, redis_url, tmp_path, **{**settings, **extra})


def confirmation_tasks(session: Session) -> list[DialTask]:
    session.expire_all()
    return list(session.scalars(select(DialTask).where(DialTask.purpose == TaskPurpose.CONFIRMATION)))


def all_final(session: Session, expected: int) -> bool:
    tasks = confirmation_tasks(session)
    return len(tasks) == expected and all(t.state in FINAL for t in tasks)


def attempt_ids_dialed(fake: FakeTwilio) -> list[int]:
    return [int(ATTEMPT_IN_URL.search(call.url).group(1)) for call in fake.calls]  # type: ignore[union-attr]


def test_every_answer_is_written_back(app: Any, session: Session, twilio: FakeTwilio, sqlite_url: str,
                                      redis_url: str, tmp_path: Path) -> None:
    script = {
        "+79001230001": Patient(digits="1"),  # confirms
        "+79001230002": Patient(digits="3"),  # cannot come: the desk calls back, the visit stays
        "+79001230003": Patient(digits="2"),  # wants another time
        "+79001230004": Patient(digits="9"),  # no more calls
        "+79001230005": Patient(answer="busy"),
        "+79001230006": Patient(answer="machine"),
        "+79001230007": Patient(digits="71"),  # a key with no meaning, then 1
    }
    twilio.patients.update(script)
    _clinic, visits = clinic_with_visits(session, list(script))
    by_phone = dict(zip(script, [v.id for v in visits], strict=True))
    with served(app) as base:
        proc = start_worker(twilio_env(sqlite_url, redis_url, tmp_path, twilio, base), tmp_path / "w.log",
                            "dial", "default")
        try:
            wait_until(lambda: all_final(session, len(script)), 90, "confirmation tasks finished")
        finally:
            stop_worker(proc)

    def status(phone: str) -> AppointmentStatus:
        return session.get(Appointment, by_phone[phone]).status  # type: ignore[union-attr]

    assert status("+79001230001") is AppointmentStatus.CONFIRMED
    assert status("+79001230007") is AppointmentStatus.CONFIRMED
    assert status("+79001230002") is AppointmentStatus.BOOKED  # until a new time is agreed
    assert status("+79001230003") is AppointmentStatus.BOOKED
    assert status("+79001230004") is AppointmentStatus.BOOKED
    # Not reached after the attempts: the "call" mark for the next shift.
    assert status("+79001230005") is AppointmentStatus.CALL_BACK
    assert status("+79001230006") is AppointmentStatus.CALL_BACK

    desk = {(t.purpose, t.phone) for t in session.scalars(select(DialTask).where(
        DialTask.purpose.in_((TaskPurpose.CALL_BACK, TaskPurpose.RESCHEDULE))))}
    assert desk == {(TaskPurpose.CALL_BACK, "+79001230002"), (TaskPurpose.RESCHEDULE, "+79001230003")}
    assert session.scalars(select(OptOut.e164)).all() == ["+79001230004"]

    calls = Counter(call.to for call in twilio.calls)
    assert calls["+79001230005"] == 2  # busy: retried up to the limit
    assert calls["+79001230006"] == 1  # a machine got the short message, no retry
    assert all(calls[p] == 1 for p in script if p not in ("+79001230005",))
    assert sorted(attempt_ids_dialed(twilio)) == sorted(set(attempt_ids_dialed(twilio)))
    assert session.scalar(select(DialAttempt.id).where(DialAttempt.state != "ended")) is None

    # The status callbacks went through the inbound pipeline: one outbound Call row per call.
    rows = session.scalars(select(Call).where(Call.direction == CallDirection.OUTBOUND)).all()
    assert len(rows) == len(twilio.calls)
    confirmed = next(c for c in rows if c.dialed == "+79001230001")
    assert confirmed.outcome is CallOutcome.CONFIRMED


def test_a_paused_campaign_dials_nobody_until_resumed(app: Any, session: Session, twilio: FakeTwilio,
                                                      sqlite_url: str, redis_url: str, tmp_path: Path) -> None:
    phones = ["+79001240001", "+79001240002"]
    twilio.patients.update({p: Patient(digits="1") for p in phones})
    clinic, _visits = clinic_with_visits(session, phones)
    connection = redis.Redis.from_url(redis_url)
    with served(app) as base:
        env = twilio_env(sqlite_url, redis_url, tmp_path, twilio, base)
        # The lists are built, then the campaign is paused before any worker runs.
        plan_clinic(session, connection, clinic, utcnow(), load_config(environ=env))
        campaign = session.scalars(select(Campaign)).one()
        control.apply(session, campaign, "pause", utcnow())
        session.commit()
        proc = start_worker(env, tmp_path / "w.log", "dial", "default")
        try:
            time.sleep(4)  # several plan runs (every second) while paused
            assert twilio.calls == []
            control.apply(session, campaign, "resume", utcnow())
            session.commit()
            wait_until(lambda: all_final(session, 2), 60, "resumed campaign finished")
        finally:
            stop_worker(proc)
    assert sorted(call.to for call in twilio.calls) == phones


def test_callbacks_with_a_bad_signature_are_refused(client: Any) -> None:
    reply = client.post("/webhooks/twilio/outbound/1/gather", data={"Digits": "1", "CallSid": "CAx"},
                        headers={"X-Twilio-Signature": "forged"})
    assert reply.status_code == 403
    assert reply.get_json()["error"] == "bad_signature"
