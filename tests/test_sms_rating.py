"""The rating question by text after a completed visit, end to end with a real worker process
and the local fake Twilio Messaging server posting signed replies to our webhook, on SQLite and
PostgreSQL: one question per visit, none to a number that refused texts or where the clinic
confirms by calls only; "5" becomes the visit's rating for the receptionist who booked it;
a word, or a second digit, waits unread on the desk.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core.models import (
    Appointment,
    Call,
    CallDirection,
    CallStatus,
    Clinic,
    Message,
    MessagePurpose,
    MessageStatus,
    OptOut,
    Rating,
    Staff,
    StaffRole,
    TreatmentType,
    utcnow,
)
from callcenter.messaging import planner
from callcenter.schedule.visits import completed
from tests import factories as f
from tests.campaign_env import served, wait_until
from tests.conftest import app_settings
from tests.sms_env import (
    messages_to,
    point_callbacks,
    provider_settings,
    sms_worker_env,
    start_fake,
    worker,
)

HAPPY, WORDY, REFUSED, CALLS_ONLY = "+79162220001", "+79162220002", "+79162220003", "+79162220004"


@pytest.fixture
def fake() -> Iterator[Any]:
    server = start_fake("twilio")
    yield server
    server.stop()


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path, fake: Any) -> dict[str, Any]:
    return app_settings(database_url, redis_url, tmp_path, **provider_settings("twilio", fake))


def _visit(session: Session, clinic: Clinic, phone: str, agent: Staff | None,
           now: datetime | None = None) -> Appointment:
    """A visit two hours ago, booked on a call the receptionist took, marked completed."""
    now = now or utcnow()
    doctor = Staff(clinic_id=clinic.id, role=StaffRole.DOCTOR, first_name="Olga", last_name="Doc")
    patient = f.patient(session, clinic, phone, preferred_language="ru")
    session.add(doctor)
    session.flush()
    call = Call(clinic_id=clinic.id, provider="generic", provider_call_id=f"book-{phone}",
                direction=CallDirection.INBOUND, caller=phone, patient_id=patient.id,
                agent_id=agent.id if agent else None, status=CallStatus.COMPLETED,
                started_at=now - timedelta(days=3))
    visit = Appointment(clinic_id=clinic.id, patient_id=patient.id, doctor_id=doctor.id,
                        starts_at=now - timedelta(hours=2), ends_at=now - timedelta(hours=1),
                        created_at=now - timedelta(days=3))
    session.add_all([call, visit])
    session.flush()
    visit.created_by_call_id = call.id
    completed(session, visit, [TreatmentType.FILLING], now=now, tz=clinic.timezone)
    return visit


def _questions(session: Session, phone: str) -> list[Message]:
    return [m for m in messages_to(session, phone) if m.purpose is MessagePurpose.RATING]


def _reply(session: Session, phone: str, body: str) -> Message:
    session.expire_all()
    found = session.scalar(select(Message).where(Message.phone == phone, Message.direction == "inbound",
                                                 Message.body == body))
    assert found is not None, f"the reply {body!r} is stored"
    return found


def test_rating_by_text_after_a_visit(app: Any, session: Session, database_url: str,
                                      redis_url: str, tmp_path: Path, fake: Any) -> None:
    clinic = f.clinic(session)
    calls_only = f.clinic(session, name="Calls Only", sms_confirmation="off")
    anna = f.receptionist(session, clinic, "101")
    visits = {phone: _visit(session, clinic, phone, anna) for phone in (HAPPY, WORDY, REFUSED)}
    _visit(session, calls_only, CALLS_ONLY, None)
    session.add(OptOut(e164=REFUSED, clinic_id=clinic.id, scope="sms", source="sms"))
    session.commit()
    with served(app) as base:
        point_callbacks("twilio", fake, base)
        env = sms_worker_env(database_url, redis_url, tmp_path, "twilio", fake, base)
        with worker(env, tmp_path / "worker.log"):
            for phone in (HAPPY, WORDY):
                wait_until(lambda p=phone: any(m.status is MessageStatus.DELIVERED
                                               for m in _questions(session, p)), 90,
                           f"the rating question to {phone} delivered")
            question = _questions(session, HAPPY)[0]
            assert question.appointment_id == visits[HAPPY].id
            assert "от 1" in question.body and "5" in question.body  # the patient's language

            fake.reply(HAPPY, "5")
            fake.reply(WORDY, "Всё понравилось, спасибо")
            fake.reply(HAPPY, "4")  # a second answer is for a person to read

    session.expire_all()
    rating = session.scalars(select(Rating)).all()
    assert [(r.appointment_id, r.score, r.channel, r.agent_id, r.patient_id) for r in rating] == [
        (visits[HAPPY].id, 5, "sms", anna.id, visits[HAPPY].patient_id)]
    assert _reply(session, HAPPY, "5").read_at is not None
    assert _reply(session, HAPPY, "5").reading == "rating"
    assert _reply(session, HAPPY, "4").read_at is None  # unread on the desk, not guessed
    assert _reply(session, WORDY, "Всё понравилось, спасибо").read_at is None
    # Never to a number that refused texts, nor where the clinic confirms by calls only.
    assert messages_to(session, REFUSED) == [] and fake.to(REFUSED) == []
    assert _questions(session, CALLS_ONLY) == []  # (its after-care text is another matter)
    # Once per visit: another planning round (the worker ran many) stores no second question.
    assert len(_questions(session, HAPPY)) == 1
    assert [m.body for m in fake.to(HAPPY)].count(question.body) == 1
    assert planner.plan_clinic(session, clinic, utcnow(), app.extensions["callcenter"].config)["rating"] == 0


def test_rating_question_waits_for_the_messaging_window(app: Any, session: Session) -> None:
    """A visit completed at 23:30 is asked nothing at night, once in the morning, then never."""
    clinic = f.clinic(session)
    zone = ZoneInfo(clinic.timezone)
    night = datetime.combine(utcnow().astimezone(zone).date(), time(23, 30), zone).astimezone(UTC)
    _visit(session, clinic, HAPPY, None, now=night)
    session.commit()
    config = dict(app.extensions["callcenter"].config, SMS_PROVIDER="twilio",
                  SMS_SENDER="+74950000000", SMS_WINDOW="09:00-21:00")
    morning = night + timedelta(hours=10)
    assert planner.plan_clinic(session, clinic, night, config)["rating"] == 0
    assert planner.plan_clinic(session, clinic, morning, config)["rating"] == 1
    assert planner.plan_clinic(session, clinic, morning + timedelta(hours=1), config)["rating"] == 0
    assert len(_questions(session, HAPPY)) == 1
