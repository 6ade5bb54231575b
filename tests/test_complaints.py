"""Complaints (recorded on a call, routed by rule, answered, closed, overdue on the manager's page
and on the desk of whoever reports back, every step audited) and non-patient callers (marked,
routed, remembered, no patient card, out of the patient funnel), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.analytics import funnel
from callcenter.analytics.periods import Filters
from callcenter.core.models import (
    AuditLog,
    Call,
    CallerKind,
    Complaint,
    ComplaintRule,
    ComplaintStatus,
    NonPatientPurpose,
    NonPatientRoute,
    Patient,
    RouteKind,
    Staff,
    StaffRole,
    utcnow,
)
from tests import desk_world as w
from tests import factories as f
from tests.conftest import app_settings

VENDOR = "+74957770011"


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    return app_settings(database_url, redis_url, tmp_path, GENERIC_SECRET=w.SECRET, CLICK_TO_CALL="off")


def _call(client: Any, session: Session, call_id: str, caller: str) -> Call:
    for event in ("ringing", "answered"):
        body, headers = w.webhook(call_id, event, caller=caller)
        assert client.post("/webhooks/generic", data=body, headers=headers).status_code == 204
    call = session.scalar(select(Call).where(Call.provider_call_id == call_id))
    assert call is not None
    return call


def _world(client: Any, session: Session) -> tuple[w.World, Any, Staff, Any, Staff]:
    world = w.build(session)
    desk, manager = client.application.test_client(), client.application.test_client()
    receptionist = f.signed_in(desk, session, clinic_row=world.clinic, extension="101", locale="en")
    boss = f.signed_in(manager, session, role="admin", clinic_row=world.clinic, extension="109",
                       locale="en")
    return world, desk, receptionist, manager, boss


def test_a_complaint_is_routed_answered_closed_and_audited(client: Any, session: Session) -> None:
    world, desk, receptionist, manager, boss = _world(client, session)
    call = _call(client, session, "c-1", w.MARIA_PHONE)
    # A rule sends billing complaints to the receptionist's colleague John, 2 days to report back.
    session.add(ComplaintRule(clinic_id=world.clinic.id, subject="billing", owner_id=world.john.id,
                              due_days=2))
    session.commit()
    made = desk.post("/api/complaints", json={"call_id": call.id, "subject": "billing",
                                              "severity": "medium", "words": "Charged twice"})
    assert made.status_code == 201, made.get_json()
    complaint = session.get(Complaint, made.get_json()["id"])
    assert complaint is not None
    today = utcnow().astimezone(ZoneInfo(world.clinic.timezone)).date()
    assert (complaint.owner_id, complaint.callback_by_id, complaint.patient_id) == (
        world.john.id, receptionist.id, world.maria.id)
    assert complaint.due_on == today + timedelta(days=2)
    # Without a rule: the clinic's manager, the severity's default days.
    other = desk.post("/api/complaints", json={"call_id": call.id, "subject": "waiting",
                                               "severity": "high", "words": "Waited an hour"})
    assert other.get_json()["owner"] == boss.display_name
    assert other.get_json()["due_on"] == (today + timedelta(days=1)).isoformat()
    # Bad input names the field; nothing is written.
    for body, field in (({"call_id": call.id, "subject": "weather", "severity": "low", "words": "x"},
                         "subject"),
                        ({"call_id": call.id, "subject": "staff", "severity": "low", "words": " "},
                         "words"),
                        ({"subject": "staff", "severity": "low", "words": "x"}, "patient_id"),
                        ({"call_id": 999999, "subject": "staff", "severity": "low", "words": "x"},
                         "call_id")):
        refused = desk.post("/api/complaints", json=body)
        assert refused.status_code in (400, 404) and refused.get_json()["field"] == field, (body, refused.get_json())
    assert len(session.scalars(select(Complaint)).all()) == 2
    # The receptionist is not the owner: cannot answer. The manager can.
    assert desk.post(f"/complaints/{complaint.id}/answer", data={"answer": "x"}).status_code == 409
    assert manager.post(f"/complaints/{complaint.id}/answer",
                        data={"answer": "Refunded the second charge"}).status_code == 303
    assert desk.post(f"/complaints/{complaint.id}/close").status_code == 303
    session.expire_all()
    assert complaint.status == ComplaintStatus.CLOSED and complaint.answer.startswith("Refunded")
    actions = session.scalars(select(AuditLog.action).where(AuditLog.object_type == "complaint",
                                                            AuditLog.object_id == str(complaint.id))
                              .order_by(AuditLog.id)).all()
    assert actions == ["record_complaint", "answer_complaint", "close_complaint"]


def test_overdue_complaints_surface_for_the_manager_and_the_desk(client: Any, session: Session) -> None:
    _, desk, _, manager, _ = _world(client, session)
    call = _call(client, session, "c-2", w.EMILY_PHONE)
    made = desk.post("/api/complaints", json={"call_id": call.id, "subject": "doctor",
                                              "severity": "low", "words": "Rude at the visit"})
    complaint = session.get(Complaint, made.get_json()["id"])
    assert complaint is not None
    assert desk.get("/api/complaints/desk").get_json()["report_back"] == []
    complaint.due_on -= timedelta(days=10)
    session.commit()
    due = desk.get("/api/complaints/desk").get_json()["report_back"]
    assert [(c["id"], c["overdue"]) for c in due] == [(complaint.id, True)]
    page = manager.get("/complaints").get_data(as_text=True)
    overdue_block = page[page.index('id="overdue"'):page.index('id="open-complaints"')]
    assert f"#{complaint.id}" in overdue_block


def test_a_vendor_is_marked_routed_remembered_and_out_of_the_funnel(client: Any, session: Session) -> None:
    world, desk, receptionist, _manager, _boss = _world(client, session)
    session.add(NonPatientRoute(clinic_id=world.clinic.id, purpose=NonPatientPurpose.VENDOR,
                                kind=RouteKind.EXTENSION, person="Head nurse", target="105"))
    session.commit()
    first = _call(client, session, "v-1", VENDOR)
    assert first.caller_kind == CallerKind.NEW
    marked = desk.post(f"/api/complaints/calls/{first.id}/non-patient",
                       json={"purpose": "vendor", "name": "Dental Supply Ltd", "email": "sales@ds.example"})
    assert marked.status_code == 200, marked.get_json()
    assert marked.get_json()["route"] == {"kind": "extension", "person": "Head nurse", "target": "105"}
    assert desk.post(f"/api/complaints/calls/{first.id}/transferred", json={}).status_code == 200
    # No patient card for it, by any path.
    refused = desk.post(f"/api/desk/calls/{first.id}/new-patient", json={"first_name": "Sales"})
    assert refused.status_code == 400
    assert session.scalar(select(Patient).join(Patient.phones).where(Patient.phones.any(e164=VENDOR))) is None
    # Its next call pops as that organisation, with the non-patient script.
    second = _call(client, session, "v-2", VENDOR)
    assert second.caller_kind == CallerKind.NON_PATIENT
    card = desk.get(f"/api/desk/calls/{second.id}/card").get_json()
    assert card["script"]["scenario"] == "non_patient"
    context = desk.get(f"/api/complaints/calls/{second.id}").get_json()
    assert context["organisation"]["name"] == "Dental Supply Ltd"
    # A message for the director needs an e-mail; the organisation's own is used.
    left = desk.post(f"/api/complaints/calls/{second.id}/message", json={"text": "Price list"})
    assert left.status_code == 201 and left.get_json()["email"] == "sales@ds.example"
    bad = desk.post(f"/api/complaints/calls/{second.id}/non-patient", json={"purpose": "vendor",
                                                                            "email": "not-an-email"})
    assert bad.status_code == 400 and bad.get_json()["field"] == "email"
    # A patient's number cannot be an organisation's.
    maria_call = _call(client, session, "m-1", w.MARIA_PHONE)
    assert desk.post(f"/api/complaints/calls/{maria_call.id}/non-patient",
                     json={"purpose": "job"}).status_code == 409
    today = utcnow().astimezone(ZoneInfo(world.clinic.timezone)).date()
    flt = Filters(world.clinic.id, ZoneInfo(world.clinic.timezone), today - timedelta(days=1), today)
    assert funnel.summary(session, flt)[0]["calls"] == 1  # Maria's only
    audited = session.scalars(select(AuditLog.action).where(AuditLog.object_type == "call",
                                                            AuditLog.object_id == str(first.id))).all()
    assert {"mark_non_patient", "route_non_patient"} <= set(audited)
    assert receptionist.role == StaffRole.RECEPTIONIST


def test_a_routing_rule_is_deleted_and_audited(client: Any, session: Session) -> None:
    world, desk, _, manager, boss = _world(client, session)
    saved = manager.post("/complaints/settings/rules", data={
        "subject": "billing", "owner_id": str(world.john.id), "due_days": "2"})
    assert saved.status_code == 303
    rule_id = session.scalars(select(ComplaintRule.id)).one()
    page = manager.get("/complaints/settings").get_data(as_text=True)
    assert f'action="/complaints/settings/rules/{rule_id}/delete"' in page
    assert desk.post(f"/complaints/settings/rules/{rule_id}/delete").status_code == 403
    assert manager.post(f"/complaints/settings/rules/{rule_id}/delete").status_code == 303
    session.expire_all()
    assert session.scalars(select(ComplaintRule)).all() == []
    missing = manager.post(f"/complaints/settings/rules/{rule_id}/delete")
    assert missing.status_code == 404  # like another clinic's rule
    entry = session.scalars(select(AuditLog).where(AuditLog.action == "delete_complaint_rule")).one()
    assert entry.staff_id == boss.id and entry.details["rule_id"] == rule_id
    assert entry.details["owner_id"] == world.john.id and entry.details["subject"] == "billing"
