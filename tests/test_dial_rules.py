"""One rule, every path: do-not-call, consent, marketing consent and calling hours on the campaign
worker, the desk's outbound list and click-to-call, with the audited "the patient asked us to call"
override; per-purpose outcomes; a reached caller closing missed-call tasks; a campaign whose
dialer cannot start stopping with a reason. On both databases, with a local Twilio stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core.models import (
    Appointment,
    AppointmentStatus,
    AuditLog,
    Campaign,
    CampaignState,
    Clinic,
    DialMode,
    DialTask,
    OptOut,
    Patient,
    TaskPurpose,
    TaskState,
    utcnow,
)
from callcenter.outbound import dialing, jobs
from callcenter.outbound.dialers.preview import desk_list
from callcenter.outbound.store import campaign_for
from tests import desk_world as w
from tests import factories as f
from tests.conftest import app_settings
from tests.fake_twilio import FakeTwilio

SID, TOKEN = "AC" + "e" * 32, "rules-twilio-token"
NOW = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)  # a Tuesday, 14:00 in Moscow


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio(SID, TOKEN).start()
    yield fake
    fake.stop()


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path, twilio: FakeTwilio) -> dict[str, Any]:
    return app_settings(database_url, redis_url, tmp_path, CLICK_TO_CALL="twilio",
                        TWILIO_ACCOUNT_SID=SID, TWILIO_AUTH_TOKEN=TOKEN, TWILIO_API_BASE=twilio.base_url,
                        TWILIO_CALLER_ID=w.TRACKED, GENERIC_SECRET=w.SECRET)


@pytest.fixture
def world(session: Session) -> w.World:
    return w.build(session)


def _task(session: Session, clinic: Clinic, patient: Patient, purpose: TaskPurpose,
          mode: DialMode = DialMode.PREVIEW, phone: str | None = None, **kw: Any) -> DialTask:
    campaign = campaign_for(session, clinic.id, purpose, date(2026, 3, 10), mode)
    task = DialTask(clinic_id=clinic.id, campaign_id=campaign.id, patient_id=patient.id, purpose=purpose,
                    due_date=utcnow().date(), phone=phone or patient.phones[0].e164,
                    state=TaskState.PENDING, next_attempt_at=utcnow() - timedelta(minutes=1), **kw)
    session.add(task)
    session.commit()
    return task


def _overrides(session: Session) -> list[dict[str, Any]]:
    return [d for (d,) in session.execute(select(AuditLog.details).where(AuditLog.action == "dial_override"))]


def test_click_to_call_refuses_an_opted_out_number_unless_the_patient_asked(
        client: Any, session: Session, world: w.World, twilio: FakeTwilio) -> None:
    session.add(OptOut(e164=w.MARIA_PHONE, clinic_id=world.clinic.id, scope="all", source="desk"))
    session.commit()
    f.signed_in(client, session, role="receptionist", clinic_row=world.clinic, extension="101", locale="en")
    refused = client.post("/api/desk/dial", json={"number": w.MARIA_PHONE})
    assert (refused.status_code, refused.get_json()["field"], refused.get_json()["message"]) == (
        409, "number", "this number is on the do-not-call list")
    assert twilio.calls_to("client:101") == [] and _overrides(session) == []
    asked = client.post("/api/desk/dial", json={"number": w.MARIA_PHONE,
                                                 "asked_to_call": "left a message asking for a call"})
    assert asked.status_code == 200, asked.get_json()
    [placed] = twilio.calls_to("client:101")
    assert w.MARIA_PHONE in placed.twiml
    assert _overrides(session) == [{"refusal": "opted_out", "reason": "left a message asking for a call",
                                    "via": "click_to_call"}]


def test_the_outbound_list_leaves_out_and_refuses_who_may_not_be_called(
        client: Any, session: Session, world: w.World, twilio: FakeTwilio) -> None:
    world.emily.consent_calls = False
    session.commit()
    allowed = _task(session, world.clinic, world.family[1], TaskPurpose.RECALL)
    no_consent = _task(session, world.clinic, world.emily, TaskPurpose.RECALL)
    opted = _task(session, world.clinic, world.family[0], TaskPurpose.RECALL)
    session.add(OptOut(patient_id=world.family[0].id, clinic_id=world.clinic.id, scope="all", source="ivr"))
    session.commit()
    f.signed_in(client, session, role="receptionist", clinic_row=world.clinic, extension="101", locale="en")
    listed = client.get("/api/campaigns/desk?purpose=recall").get_json()
    assert [t["task_id"] for t in listed["tasks"]] == [allowed.id]
    for task, message in ((no_consent, "the patient has not agreed to be called"),
                          (opted, "this number is on the do-not-call list")):
        refused = client.post("/api/desk/dial", json={"number": task.phone, "task_id": task.id})
        assert (refused.status_code, refused.get_json()["message"]) == (409, message)
    asked = client.post("/api/desk/dial", json={"number": no_consent.phone, "task_id": no_consent.id,
                                                 "asked_to_call": "asked at the desk to be called"})
    assert asked.status_code == 200
    assert [d["refusal"] for d in _overrides(session)] == ["no_consent"]
    session.refresh(no_consent)
    assert no_consent.call_id is not None and no_consent.attempts == 1


def test_the_campaign_worker_refuses_opted_out_and_marketing_without_consent(
        app: Any, session: Session, world: w.World) -> None:
    config = {**app.config, "CALL_HOURS": "00:00-24:00"}
    # Patients with no visit booked: a booking would end these calls before the rules are asked.
    opted = _task(session, world.clinic, f.patient(session, world.clinic, "+79161230001"),
                  TaskPurpose.RECALL, DialMode.TWILIO)
    session.add(OptOut(e164="+79161230001", clinic_id=world.clinic.id, scope="all", source="admin"))
    marketing = _task(session, world.clinic, world.emily, TaskPurpose.FOLLOW_UP, DialMode.TWILIO)
    fan = f.patient(session, world.clinic, "+79161230002", consent_marketing=True)
    agreed = _task(session, world.clinic, fan, TaskPurpose.FOLLOW_UP, DialMode.TWILIO)
    session.get(Campaign, marketing.campaign_id).settings = {"marketing": True}  # type: ignore[union-attr]
    session.commit()
    now = utcnow()
    assert dialing.claim_attempt(session, opted.id, 1, DialMode.TWILIO, now, config) == "not needed: opted_out"
    assert dialing.claim_attempt(session, marketing.id, 1, DialMode.TWILIO, now, config) == (
        "not needed: no_marketing_consent")
    request = dialing.claim_attempt(session, agreed.id, 1, DialMode.TWILIO, now, config)
    assert not isinstance(request, str) and request.phone == "+79161230002"
    session.expire_all()
    assert (session.get(DialTask, opted.id).state, session.get(DialTask, marketing.id).state) == (  # type: ignore[union-attr]
        TaskState.CANCELLED, TaskState.CANCELLED)


def test_at_23_00_the_list_has_nothing_to_call_and_says_when_calling_resumes(
        app: Any, session: Session, world: w.World) -> None:
    world.clinic.call_window_start = world.clinic.call_window_end = None  # the default 09:00-21:00
    session.commit()
    patient = f.patient(session, world.clinic, "+79161230003")
    task = _task(session, world.clinic, patient, TaskPurpose.RECALL)
    task.next_attempt_at = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)
    session.commit()
    late = datetime(2026, 3, 10, 20, 0, tzinfo=UTC)  # 23:00 in Moscow
    found = desk_list(session, world.clinic, late, app.config, "en")
    assert (found.tasks, found.total) == ([], 0)
    assert found.calling_resumes_at == datetime(2026, 3, 11, 6, 0, tzinfo=UTC)  # 09:00 Moscow
    morning = desk_list(session, world.clinic, datetime(2026, 3, 11, 7, 0, tzinfo=UTC), app.config, "en")
    assert patient.id in [t["patient_id"] for t in morning.tasks]


def test_outcomes_depend_on_the_purpose_and_cancel_keeps_the_visit(
        client: Any, session: Session, world: w.World) -> None:
    f.signed_in(client, session, role="receptionist", clinic_row=world.clinic, locale="en")
    missed = _task(session, world.clinic, world.emily, TaskPurpose.MISSED_CALL)
    wrong = client.post(f"/api/campaigns/tasks/{missed.id}/outcome", json={"outcome": "confirmed"})
    assert (wrong.status_code, wrong.get_json()["field"]) == (400, "outcome")
    assert client.post(f"/api/campaigns/tasks/{missed.id}/outcome",
                       json={"outcome": "acknowledged"}).get_json()["state"] == "done"
    visit = session.scalars(select(Appointment).where(Appointment.patient_id == world.family[0].id)).one()
    confirm = _task(session, world.clinic, world.family[0], TaskPurpose.CONFIRMATION, appointment_id=visit.id)
    assert client.post(f"/api/campaigns/tasks/{confirm.id}/outcome",
                       json={"outcome": "cancel"}).status_code == 200
    session.expire_all()
    assert session.get(Appointment, visit.id).status is AppointmentStatus.BOOKED  # type: ignore[union-attr]
    call_back = session.scalars(select(DialTask).where(DialTask.purpose == TaskPurpose.CALL_BACK,
                                                       DialTask.patient_id == world.family[0].id)).one()
    assert (call_back.appointment_id, call_back.state) == (visit.id, TaskState.PENDING)


def test_a_reached_caller_closes_the_missed_call_tasks_for_the_number(
        client: Any, session: Session, world: w.World) -> None:
    pending = _task(session, world.clinic, world.maria, TaskPurpose.MISSED_CALL, phone=w.MARIA_PHONE)
    failed = _task(session, world.clinic, world.emily, TaskPurpose.MISSED_CALL, DialMode.TWILIO,
                   phone=w.MARIA_PHONE)
    failed.state = TaskState.FAILED
    other = f.clinic(session, name="Other")
    elsewhere = _task(session, other, f.patient(session, other, w.MARIA_PHONE), TaskPurpose.MISSED_CALL)
    session.commit()
    for event in ("ringing", "answered", "ended"):
        body, headers = w.webhook("reach-1", event)
        assert client.post("/webhooks/generic", data=body, headers=headers).status_code == 204
    session.expire_all()
    assert [(session.get(DialTask, t.id).state, session.get(DialTask, t.id).result)  # type: ignore[union-attr]
            for t in (pending, failed)] == [(TaskState.DONE, "reached")] * 2
    assert session.get(DialTask, elsewhere.id).state is TaskState.PENDING  # type: ignore[union-attr]


def test_a_campaign_whose_dialer_cannot_start_stops_with_a_reason(
        app: Any, client: Any, session: Session, world: w.World, database_url: str, redis_url: str,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    task = _task(session, world.clinic, world.maria, TaskPurpose.RECALL, DialMode.SIP)
    for name, value in {"DATABASE_URL": database_url, "REDIS_URL": redis_url,
                        "CALLCENTER_INSTANCE_DIR": str(tmp_path), "CALLCENTER_SECRET_KEY": "x",
                        "CALLCENTER_SIP_SERVER": ""}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(jobs, "_runtime", None)  # this process's handles, from that environment
    assert dialing.dial_attempt(task.id, 1) == "campaign stopped: dialer not set up"
    assert dialing.dial_attempt(task.id, 1) == "campaign not running"  # the next job changes nothing
    session.expire_all()
    campaign = session.get(Campaign, task.campaign_id)
    assert campaign is not None
    assert (campaign.state, campaign.stop_reason) == (CampaignState.PAUSED, "dialer_not_configured")
    for n, (locale, words) in enumerate((("en", "Automatic calls are not set up"), ("ru", "не настроены"),
                                         ("zh", "自动呼叫尚未设置"))):
        admin = app.test_client()
        f.signed_in(admin, session, role="admin", clinic_row=world.clinic, extension=f"12{n}", locale=locale)
        page = admin.get("/admin/campaigns").get_data(as_text=True)
        assert words in page and "dialer_not_configured" not in page
    f.signed_in(client, session, role="admin", clinic_row=world.clinic, extension="109", locale="en")
    assert client.post(f"/api/campaigns/{campaign.id}/resume").get_json()["campaign"]["stop_reason"] is None
