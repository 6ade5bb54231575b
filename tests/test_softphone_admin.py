"""The browser phone as an administrator sets it up on /admin/staff (both databases): the form's
own POST with its CSRF token, errors naming the field in the admin's language with nothing
saved, the password never shown back and kept when left blank, audited without it, another
clinic's staff member answered 404 — and the desk then gets those settings from
GET /api/desk/softphone, the password only at that staff member's own desk."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.access import softphone_accounts
from callcenter.core.i18n import t
from callcenter.core.models import AuditLog, Clinic, Staff, StaffRole
from tests import factories as f

PASSWORD = "s3cret-sip-pass"
SIP = {"softphone_kind": "sip", "wss_url": "wss://pbx.example.org:8089/ws", "sip_user": "201",
       "sip_domain": "", "sip_password": PASSWORD, "twilio_identity": ""}


@pytest.fixture
def clinic(session: Session) -> Clinic:
    row = f.clinic(session, name="Улыбка")
    session.commit()
    return row


@pytest.fixture
def admin(client: Any, session: Session, clinic: Clinic) -> Staff:
    return f.signed_in(client, session, role="admin", clinic_row=clinic, extension="100")


@pytest.fixture
def anna(session: Session, clinic: Clinic) -> Staff:
    row = f.receptionist(session, clinic, "201")
    session.commit()
    return row


def _desk_of(app: Any, session: Session, staff: Staff) -> Any:
    desk = app.test_client()
    f.open_session(desk, session, staff)
    return desk


def _stored(session: Session, staff: Staff) -> softphone_accounts.Softphone | None:
    session.expire_all()
    return softphone_accounts.read("test-secret", staff)


def _field_error(page: str, field: str) -> str:
    found = re.search(rf'id="{field}-error" role="alert">([^<]+)<', page)
    assert found, f"no error shown for {field}"
    return found.group(1)


def test_the_admin_sets_a_sip_phone_and_only_that_desk_gets_its_password(
        app: Any, client: Any, session: Session, admin: Staff, anna: Staff) -> None:
    page = client.get(f"/admin/staff/{anna.id}").get_data(as_text=True)
    form = page[page.index('id="softphone-form"'):]
    assert 'name="csrf_token"' in form[:form.index("</form>")]
    saved = client.post(f"/admin/staff/{anna.id}/softphone", data=SIP)
    assert saved.status_code == 302 and saved.headers["Location"].endswith("done=softphone")

    shown = client.get(f"/admin/staff/{anna.id}").get_data(as_text=True)
    assert "wss://pbx.example.org:8089/ws" in shown and PASSWORD not in shown
    assert t("A password is stored. Leave this empty to keep it.", "ru") in shown

    desk = _desk_of(app, session, anna).get("/api/desk/softphone")
    assert desk.headers["Cache-Control"] == "no-store"
    assert desk.get_json() == {
        "kind": "sip", "ws": "wss://pbx.example.org:8089/ws", "uri": "sip:201@pbx.example.org",
        "user": "201", "password": PASSWORD, "domain": "pbx.example.org", "extension": "201",
        "name": anna.display_name}
    # The admin's own desk has no phone: another member's settings never reach it.
    assert client.get("/api/desk/softphone").get_json() == {"kind": "off", "unreadable": False}

    audit = session.scalars(select(AuditLog).where(AuditLog.action == "staff_softphone_set")).one()
    assert (audit.staff_id, audit.object_id) == (admin.id, str(anna.id))
    assert audit.details == {"kind": "sip", "password_changed": True}
    session.expire_all()
    assert anna.softphone_sealed is not None and PASSWORD not in anna.softphone_sealed


def test_a_blank_password_keeps_the_stored_one_then_twilio_then_off(
        app: Any, client: Any, session: Session, admin: Staff, anna: Staff) -> None:
    assert client.post(f"/admin/staff/{anna.id}/softphone", data=SIP).status_code == 302
    moved = {**SIP, "wss_url": "wss://pbx2.example.org/ws", "sip_domain": "clinic.example.org",
             "sip_password": ""}
    assert client.post(f"/admin/staff/{anna.id}/softphone", data=moved).status_code == 302
    phone = _stored(session, anna)
    assert phone is not None
    assert (phone.wss_url, phone.sip_domain, phone.password) == (
        "wss://pbx2.example.org/ws", "clinic.example.org", PASSWORD)

    twilio = {"softphone_kind": "twilio", "twilio_identity": "desk-anna"}
    assert client.post(f"/admin/staff/{anna.id}/softphone", data=twilio).status_code == 302
    assert _desk_of(app, session, anna).get("/api/desk/softphone").get_json() == {
        "kind": "twilio", "identity": "desk-anna", "extension": "201"}
    # Back to SIP: the Twilio phone held no password, so one must be typed.
    again = client.post(f"/admin/staff/{anna.id}/softphone", data={**SIP, "sip_password": ""})
    assert again.status_code == 400
    assert _field_error(again.get_data(as_text=True), "sip_password") == t(
        "The SIP password (up to 128 characters)", "ru")

    assert client.post(f"/admin/staff/{anna.id}/softphone", data={"softphone_kind": "off"}).status_code == 302
    assert _stored(session, anna) is None
    assert _desk_of(app, session, anna).get("/api/desk/softphone").get_json()["kind"] == "off"
    kinds = session.scalars(select(AuditLog.details).where(AuditLog.action == "staff_softphone_set")
                            .order_by(AuditLog.id)).all()
    assert [d["kind"] for d in kinds] == ["sip", "sip", "twilio", "off"]
    assert [d["password_changed"] for d in kinds] == [True, False, False, False]


@pytest.mark.parametrize(("change", "field", "english"), [
    ({"softphone_kind": "skype"}, "softphone_kind", "Unknown choice"),
    ({"wss_url": "https://pbx.example.org/ws"}, "wss_url",
     "The PBX's WebSocket address, like wss://pbx.example.org:8089/ws"),
    # A broken "[v6" host or a port out of range made urlsplit raise: a 500.
    ({"wss_url": "wss://[::1/ws"}, "wss_url", "The PBX's WebSocket address, like wss://pbx.example.org:8089/ws"),
    ({"wss_url": "wss://pbx.example.org:99999/ws"}, "wss_url",
     "The PBX's WebSocket address, like wss://pbx.example.org:8089/ws"),
    ({"sip_user": "anna desk"}, "sip_user", "The SIP user name: letters, digits and . _ + -"),
    ({"sip_domain": "pbx example"}, "sip_domain", "A host name, like pbx.example.org"),
    ({"sip_password": "p" * 129}, "sip_password", "The SIP password (up to 128 characters)"),
    ({"softphone_kind": "twilio", "twilio_identity": "desk anna"}, "twilio_identity",
     "Letters, digits, dot, dash or underscore, up to 121"),
])
def test_bad_input_names_the_field_in_the_admins_language_and_saves_nothing(
        client: Any, session: Session, admin: Staff, anna: Staff, change: dict[str, str], field: str,
        english: str) -> None:
    assert client.post(f"/admin/staff/{anna.id}/softphone", data=SIP).status_code == 302
    session.expire_all()
    before = anna.softphone_sealed
    answer = client.post(f"/admin/staff/{anna.id}/softphone", data={**SIP, **change})
    assert answer.status_code == 400
    page = answer.get_data(as_text=True)
    assert _field_error(page, field) == t(english, "ru") != english
    assert PASSWORD not in page and "p" * 129 not in page  # a typed password is not shown back either
    if field in ("wss_url", "sip_user"):
        assert change[field] in page  # what was typed stays in the field to correct
    session.expire_all()
    assert anna.softphone_sealed == before
    assert len(session.scalars(select(AuditLog).where(AuditLog.action == "staff_softphone_set")).all()) == 1


def test_only_desk_roles_get_a_phone(client: Any, session: Session, clinic: Clinic, admin: Staff) -> None:
    doctor = Staff(clinic_id=clinic.id, role=StaffRole.DOCTOR, first_name="Ivan", last_name="Doc")
    session.add(doctor)
    session.commit()
    assert 'id="softphone-form"' not in client.get(f"/admin/staff/{doctor.id}").get_data(as_text=True)
    answer = client.post(f"/admin/staff/{doctor.id}/softphone", data=SIP)
    assert answer.status_code == 400
    assert _field_error(answer.get_data(as_text=True), "softphone_kind") == t(
        "Only receptionists and administrators work at the desk", "ru")
    assert _stored(session, doctor) is None


def test_another_clinics_staff_member_is_not_there(client: Any, session: Session, admin: Staff) -> None:
    foreign = f.clinic(session, name="Not yours")
    stranger = f.receptionist(session, foreign, "201", login="stranger")
    session.commit()
    assert client.post(f"/admin/staff/{stranger.id}/softphone", data=SIP).status_code == 404
    assert _stored(session, stranger) is None
    assert not session.scalars(select(AuditLog).where(AuditLog.action == "staff_softphone_set")).all()


def test_a_post_without_the_forms_csrf_token_is_refused(app: Any, session: Session, admin: Staff,
                                                        anna: Staff) -> None:
    forged = app.test_client()
    f.open_session(forged, session, admin)
    del forged.environ_base["HTTP_X_CSRF_TOKEN"]
    assert forged.post(f"/admin/staff/{anna.id}/softphone", data=SIP).status_code == 400
    assert forged.post(f"/admin/staff/{anna.id}/softphone",
                       data={**SIP, "csrf_token": "test-csrf"}).status_code == 302
    assert _stored(session, anna) is not None
