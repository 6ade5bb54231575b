"""Satisfaction by the IVR keypad after an automatic call: a real rq worker dials through a local
fake Twilio, the scripted patients press their answer and then a rating; the rating is stored per
visit and receptionist through complaints.ratings and read by the measures. The domain function
itself on SQLite and PostgreSQL."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.analytics.measures import satisfaction
from callcenter.analytics.periods import Filters
from callcenter.complaints import ratings
from callcenter.complaints.records import ComplaintError
from callcenter.core.i18n import t
from callcenter.core.models import (
    AuditLog,
    Call,
    CallDirection,
    CallStatus,
    Patient,
    Rating,
    Staff,
    StaffRole,
)
from callcenter.outbound import prompts
from tests import factories as f
from tests.campaign_env import clinic_with_visits, served, start_worker, stop_worker, wait_until
from tests.conftest import app_settings
from tests.fake_twilio import FakeCall, FakeTwilio
from tests.fake_twilio import Patient as Phone
from tests.test_campaign_twilio import ACCOUNT, TOKEN, twilio_env

BOOKED = "+79001250001"  # confirms, rates 5: the receptionist who booked the visit is rated
CALL_BACK = "+79001250002"  # cannot come, rates 4 (visit booked without a call: nobody rated)
WRONG = "+79001250003"  # confirms, then two keys that are no rating: nothing stored, goodbye
STOP = "+79001250004"  # no more calls: not asked to rate
SILENT = "+79001250005"  # confirms, presses nothing for the rating
CHINESE = "+79001250006"  # confirms, rates 2, in Chinese


@pytest.fixture
def settings(sqlite_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    return app_settings(sqlite_url, redis_url, tmp_path, TWILIO_ACCOUNT_SID=ACCOUNT,
                        TWILIO_AUTH_TOKEN=TOKEN, DIAL_MAX_ATTEMPTS=2)


@pytest.fixture
def twilio() -> Any:
    fake = FakeTwilio(ACCOUNT, TOKEN).start()
    yield fake
    fake.stop()


def _ended(call: FakeCall) -> bool:
    return any(params.get("CallStatus") == "completed" for _url, params, _status in call.posts)


def _rating_posts(call: FakeCall) -> list[str]:
    return [params["Digits"] for url, params, _status in call.posts if "/rating?" in url]


def _twiml(call: FakeCall) -> list[str]:
    """What our webhooks said on the call (the status callbacks answer with no body)."""
    return [reply for reply in call.replies if reply.strip()]


def _said(reply: str) -> str:
    return " ".join(say.text or "" for say in ET.fromstring(reply).iter("Say"))


def test_the_keypad_rating_after_an_automatic_call(app: Any, session: Session, twilio: FakeTwilio,
                                                   sqlite_url: str, redis_url: str, tmp_path: Path) -> None:
    script = {BOOKED: Phone(digits="15"), CALL_BACK: Phone(digits="34"), WRONG: Phone(digits="1789"),
              STOP: Phone(digits="95"), SILENT: Phone(digits="1"), CHINESE: Phone(digits="12")}
    twilio.patients.update(script)
    clinic, visits = clinic_with_visits(session, list(script))
    by_phone = dict(zip(script, visits, strict=True))
    desk = Staff(clinic_id=clinic.id, role=StaffRole.RECEPTIONIST, first_name="Vera", last_name="Desk",
                 login="vera-rated")
    session.add(desk)
    session.flush()
    booking = Call(clinic_id=clinic.id, provider="generic", provider_call_id="booking-1",
                   direction=CallDirection.INBOUND, caller=BOOKED, agent_id=desk.id,
                   patient_id=by_phone[BOOKED].patient_id, status=CallStatus.COMPLETED,
                   started_at=datetime.now(UTC) - timedelta(days=3))
    session.add(booking)
    session.flush()
    by_phone[BOOKED].created_by_call_id = booking.id
    session.get(Patient, by_phone[CHINESE].patient_id).preferred_language = "zh"  # type: ignore[union-attr]
    session.commit()

    with served(app) as base:
        proc = start_worker(twilio_env(sqlite_url, redis_url, tmp_path, twilio, base), tmp_path / "w.log",
                            "dial", "default")
        try:
            wait_until(lambda: len(twilio.calls) == len(script) and all(map(_ended, twilio.calls)),
                       90, "every call played out to its end")
        finally:
            stop_worker(proc)

    session.expire_all()
    stored = {r.appointment_id: r for r in session.scalars(select(Rating))}
    calls = {call.to: call for call in twilio.calls}
    assert {by_phone[p].id: stored[by_phone[p].id].score for p in (BOOKED, CALL_BACK, CHINESE)} == {
        by_phone[BOOKED].id: 5, by_phone[CALL_BACK].id: 4, by_phone[CHINESE].id: 2}
    assert len(stored) == 3  # WRONG, STOP and SILENT rated nothing
    rated = stored[by_phone[BOOKED].id]
    assert (rated.agent_id, rated.channel, rated.clinic_id) == (desk.id, "ivr", clinic.id)
    assert rated.patient_id == by_phone[BOOKED].patient_id and rated.dial_attempt_id is not None
    assert stored[by_phone[CALL_BACK].id].agent_id is None

    # Asked in the patient's language, thanked after the rating.
    assert t(prompts.RATE, "ru") in _said(_twiml(calls[BOOKED])[-2])
    assert t(prompts.RATED, "ru") == _said(_twiml(calls[BOOKED])[-1])
    assert t(prompts.RATE, "zh") in _said(next(r for r in _twiml(calls[CHINESE]) if "/rating?" in r))
    # A wrong key is asked once more, then goodbye: no third question, the 9 never pressed.
    assert _rating_posts(calls[WRONG]) == ["7", "8"]
    last = _twiml(calls[WRONG])[-1]
    assert ET.fromstring(last).find("Gather") is None and _said(last) == t(prompts.GOODBYE, "ru")
    assert _rating_posts(calls[STOP]) == [] and "/rating" not in "".join(calls[STOP].replies)
    assert _rating_posts(calls[SILENT]) == []

    # The measures read what the keypad stored: the clinic's mean and the receptionist's reviews.
    today = datetime.now(ZoneInfo(clinic.timezone)).date()
    figures = satisfaction(session, Filters(clinic.id, ZoneInfo(clinic.timezone), today - timedelta(days=1),
                                            today + timedelta(days=1)))
    assert (figures[None].whole, figures[None].value) == (3, round(11 / 3, 4))
    assert (figures[desk.id].whole, figures[desk.id].value) == (1, 5.0)


def test_record_a_rating_once(database_url: str, session: Session) -> None:
    clinic = f.clinic(session)
    patient = f.patient(session, clinic, "+79001250099")
    desk = Staff(clinic_id=clinic.id, role=StaffRole.RECEPTIONIST, first_name="Ira", last_name="Desk")
    session.add(desk)
    session.flush()
    call = Call(clinic_id=clinic.id, provider="generic", provider_call_id="rated-1",
                direction=CallDirection.INBOUND, caller="+79001250099", agent_id=desk.id,
                patient_id=patient.id, status=CallStatus.COMPLETED, started_at=datetime.now(UTC))
    session.add(call)
    session.flush()
    now = datetime.now(UTC)
    for wrong in ("0", "6", "", "12", "x", None):
        with pytest.raises(ComplaintError) as refused:
            ratings.record(session, clinic_id=clinic.id, answer=wrong, channel="desk", now=now,
                           patient_id=patient.id, call_id=call.id)
        assert refused.value.field == "score"
    with pytest.raises(ComplaintError) as refused:
        ratings.record(session, clinic_id=clinic.id, answer="5", channel="fax", now=now)
    assert refused.value.field == "channel"
    assert session.scalar(select(Rating.id)) is None

    rating = ratings.record(session, clinic_id=clinic.id, answer="3", channel="desk", now=now,
                            patient_id=patient.id, call_id=call.id)
    session.commit()
    assert (rating.score, rating.agent_id, rating.channel) == (3, desk.id, "desk")
    audit = session.scalars(select(AuditLog).where(AuditLog.action == "record_rating")).one()
    assert (audit.object_id, audit.clinic_id, audit.details["score"]) == (str(rating.id), clinic.id, 3)
