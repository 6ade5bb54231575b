"""Confirmation calls over SIP: a real rq worker registers with sipp (the PBX + the patient's phone).

pyVoIP registers on sipp, dials, plays espeak-ng audio over RTP and reads RFC 2833 keys that sipp
replays from a pcap; busy, no answer and hang-up-early are sipp scenarios too.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core.models import (
    Appointment,
    AppointmentStatus,
    Call,
    CallDirection,
    CallStatus,
    DialAttempt,
    DialTask,
    TaskPurpose,
    TaskState,
)
from tests.campaign_env import clinic_with_visits, start_worker, stop_worker, wait_until, worker_env
from tests.conftest import app_settings, require
from tests.sipp import dtmf_pcap, scenarios
from tests.sipp.phone import SippPhone, sipp_binary

pytestmark = pytest.mark.sipp
FINAL = (TaskState.DONE, TaskState.FAILED, TaskState.CANCELLED)


@pytest.fixture
def settings(sqlite_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    return app_settings(sqlite_url, redis_url, tmp_path)


@pytest.fixture(autouse=True)
def _tools() -> None:
    require(sipp_binary(), "sipp not installed (apt-get install sip-tester)")
    require(shutil.which("espeak-ng") and shutil.which("sox"), "espeak-ng / sox not installed")


def sip_env(sqlite_url: str, redis_url: str, tmp_path: Path, phone: SippPhone, **extra: str) -> dict[str, str]:
    return worker_env(
        sqlite_url, redis_url, tmp_path, CALLCENTER_DIAL_MODE="sip",
        CALLCENTER_SIP_SERVER="127.0.0.1", CALLCENTER_SIP_PORT=str(phone.port),
        CALLCENTER_SIP_USER="201", CALLCENTER_SIP_PASSWORD="desk-201", CALLCENTER_DIAL_RING_SECONDS="2",
        CALLCENTER_DIAL_CPS="5", CALLCENTER_DIAL_MAX_ATTEMPTS="2",
        CALLCENTER_DIAL_BACKOFF="busy=1,no_answer=1,machine=1,hung_up=1,failed=1", **extra)


def tasks_final(session: Session, expected: int) -> bool:
    session.expire_all()
    tasks = session.scalars(select(DialTask).where(DialTask.purpose == TaskPurpose.CONFIRMATION)).all()
    return len(tasks) == expected and all(t.state in FINAL for t in tasks)


def run_campaign(session: Session, sqlite_url: str, redis_url: str, tmp_path: Path, scenario: str,
                 phones: list[str]) -> tuple[SippPhone, list[Appointment]]:
    phone = SippPhone(scenario, tmp_path, "patient").start()
    _clinic, visits = clinic_with_visits(session, phones)
    worker = start_worker(sip_env(sqlite_url, redis_url, tmp_path, phone), tmp_path / "worker.log",
                          "dial", "default")
    try:
        wait_until(lambda: tasks_final(session, len(phones)), 120, "SIP confirmation tasks finished")
    finally:
        stop_worker(worker)
        phone.stop()
    return phone, visits


def test_the_patient_presses_1_and_the_visit_is_confirmed(session: Session, sqlite_url: str,
                                                           redis_url: str, tmp_path: Path) -> None:
    pcap = dtmf_pcap.write(tmp_path / "key1.pcap", "1")
    phones = ["+79001250001", "+79001250002"]
    phone, visits = run_campaign(session, sqlite_url, redis_url, tmp_path,
                                 scenarios.answers_and_presses(pcap), phones)
    for visit in visits:
        session.refresh(visit)
        assert visit.status is AppointmentStatus.CONFIRMED
    invites = phone.received("INVITE")
    assert sorted(uri for _, uri in invites) == [f"sip:{p}@127.0.0.1" for p in phones]
    assert len(phone.received("REGISTER")) >= 2  # registered before dialing (and de-registered)
    assert len(phone.received("BYE")) == 2  # we hung up cleanly after the thanks
    attempts = session.scalars(select(DialAttempt)).all()
    assert [(a.result, a.digits, a.state) for a in attempts] == [("confirmed", "1", "ended")] * 2
    calls = session.scalars(select(Call).where(Call.provider == "sip")).all()
    assert {(c.direction, c.status, c.dialed) for c in calls} == {
        (CallDirection.OUTBOUND, CallStatus.COMPLETED, p) for p in phones}
    # The prompt was rendered by espeak-ng into pyVoIP's 8 kHz unsigned 8-bit format.
    assert list((tmp_path / "prompts").glob("*.u8"))


@pytest.mark.parametrize(("name", "result", "answered"), [
    ("busy", "busy", False),
    ("no_answer", "no_answer", False),
    ("hangs_up_early", "hung_up", True),
])
def test_not_reached_after_the_attempts_marks_the_visit_call(
        name: str, result: str, answered: bool, session: Session, sqlite_url: str, redis_url: str,
        tmp_path: Path) -> None:
    phones = ["+79001260001"]
    phone, visits = run_campaign(session, sqlite_url, redis_url, tmp_path,
                                 getattr(scenarios, name)(), phones)
    session.refresh(visits[0])
    assert visits[0].status is AppointmentStatus.CALL_BACK
    task = session.scalars(select(DialTask)).one()
    assert (task.state, task.attempts, task.result) == (TaskState.FAILED, 2, result)
    assert len(phone.received("INVITE")) == 2
    if name == "no_answer":
        assert len(phone.received("CANCEL")) == 2
    calls = session.scalars(select(Call).where(Call.provider == "sip")).all()
    expected = CallStatus.COMPLETED if answered else CallStatus.FAILED
    assert [c.status for c in calls] == [expected, expected]
