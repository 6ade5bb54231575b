"""The issue's acceptance, end to end with real worker processes and a local provider (Twilio
Messaging or SMSC) posting signed callbacks to our real webhooks, on SQLite and PostgreSQL:

- a reminder is sent and delivered; "да" confirms the visit; "нет" gives the "call" mark and a
  call-back task; STOP records the refusal at once and the next texts skip the number;
- a missed call gets one text-back; a second missed call the same day gets none.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core.models import (
    Appointment,
    AppointmentStatus,
    DialTask,
    MessageStatus,
    OptOut,
    TaskPurpose,
    TaskState,
    Treatment,
    TreatmentType,
    utcnow,
)
from tests import factories as f
from tests.campaign_env import TZ, clinic_with_visits, served, wait_until
from tests.conftest import app_settings
from tests.sms_env import (
    PROVIDERS,
    messages_to,
    missed_call,
    point_callbacks,
    provider_settings,
    sms_worker_env,
    start_fake,
    worker,
)

PHONES = ["+79161110001", "+79161110002", "+79161110003"]
TRACKING = "+74951112233"


@pytest.fixture(params=PROVIDERS)
def provider(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def fake(provider: str) -> Iterator[Any]:
    server = start_fake(provider)
    yield server
    server.stop()


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path, provider: str, fake: Any) -> dict[str, Any]:
    return app_settings(database_url, redis_url, tmp_path, **provider_settings(provider, fake))


def _delivered(session: Session, phone: str) -> bool:
    found = messages_to(session, phone)
    return bool(found) and all(m.status is MessageStatus.DELIVERED for m in found)


def _status(session: Session, visit_id: int) -> AppointmentStatus:
    session.expire_all()
    visit = session.get(Appointment, visit_id)
    assert visit is not None
    return visit.status


def test_reminder_reply_and_stop(app: Any, session: Session, database_url: str, redis_url: str,
                                 tmp_path: Path, provider: str, fake: Any) -> None:
    clinic, visits = clinic_with_visits(session, PHONES)
    with served(app) as base:
        point_callbacks(provider, fake, base)
        env = sms_worker_env(database_url, redis_url, tmp_path, provider, fake, base,
                             CALLCENTER_SMS_CONFIRMATION="before_call", CALLCENTER_SMS_REPLY_WAIT="600")
        with worker(env, tmp_path / "worker.log"):
            for phone in PHONES:
                wait_until(lambda p=phone: _delivered(session, p), 90, f"reminder to {phone} delivered")
            reminder = messages_to(session, PHONES[0])[0]
            assert reminder.appointment_id == visits[0].id and reminder.provider == provider
            assert "Olga" in reminder.body or "Doc" in reminder.body  # the doctor, by name
            assert len(fake.to(PHONES[0])) == 1

            fake.reply(PHONES[0], "да")
            wait_until(lambda: _status(session, visits[0].id) is AppointmentStatus.CONFIRMED, 60,
                       "'да' confirms the visit")
            fake.reply(PHONES[1], "Нет")
            wait_until(lambda: _status(session, visits[1].id) is AppointmentStatus.CALL_BACK, 60,
                       "'нет' gives the 'call' mark")
            session.expire_all()
            call_backs = session.scalars(select(DialTask).where(
                DialTask.purpose == TaskPurpose.CALL_BACK, DialTask.state == TaskState.PENDING)).all()
            assert [t.patient_id for t in call_backs] == [visits[1].patient_id]
            # The confirmation calls waiting for the reply are settled, not made.
            confirmations = {t.appointment_id: t for t in session.scalars(select(DialTask).where(
                DialTask.purpose == TaskPurpose.CONFIRMATION))}
            assert confirmations[visits[0].id].state is TaskState.DONE
            assert confirmations[visits[0].id].result == "confirmed"

            fake.reply(PHONES[2], "STOP")
            session.expire_all()
            refusal = session.scalar(select(OptOut).where(OptOut.e164 == PHONES[2]))
            assert refusal is not None and refusal.scope == "sms"  # recorded before the answer

            # The next texts (after-care for today's treatments) go to the others, not to STOP.
            # "Today" is the clinic's: from 21:00 UTC Moscow is already on the next day.
            today = utcnow().astimezone(ZoneInfo(TZ)).date()
            for visit in visits:
                session.add(Treatment(clinic_id=clinic.id, patient_id=visit.patient_id,
                                      type=TreatmentType.EXTRACTION, performed_on=today))
            session.commit()
            for phone in PHONES[:2]:
                wait_until(lambda p=phone: len(messages_to(session, p)) == 2 and _delivered(session, p),
                           90, f"after-care to {phone}")
            aftercare = messages_to(session, PHONES[0])[1]
            assert "удален" in aftercare.body  # the extraction's own instructions
            assert len(messages_to(session, PHONES[2])) == 1
            assert len(fake.to(PHONES[2])) == 1  # nothing even tried after STOP


def test_missed_call_text_back_once_a_day(app: Any, session: Session, database_url: str,
                                          redis_url: str, tmp_path: Path, provider: str,
                                          fake: Any) -> None:
    clinic = f.clinic(session)
    f.channel_number(session, clinic, "site", TRACKING)
    session.commit()
    runtime = app.extensions["callcenter"]
    caller, other = "+79165550001", "+79165550002"
    with served(app) as base:
        point_callbacks(provider, fake, base)
        env = sms_worker_env(database_url, redis_url, tmp_path, provider, fake, base)
        with worker(env, tmp_path / "worker.log"):
            missed_call(runtime, caller, TRACKING, "call-1")
            wait_until(lambda: _delivered(session, caller), 90, "one text-back")
            missed_call(runtime, caller, TRACKING, "call-2")
            # A later caller's text-back proves the planner has run since the second call.
            missed_call(runtime, other, TRACKING, "call-3")
            wait_until(lambda: _delivered(session, other), 90, "the other caller's text-back")
            texts = messages_to(session, caller)
            assert len(texts) == 1 and texts[0].dedupe_key.startswith("text_back:")
            assert "Dental Plus" in texts[0].body
            assert len(fake.to(caller)) == 1
