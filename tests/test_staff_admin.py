"""/admin/staff on both databases: accounts created and edited through the real form posts, bad
input refused field by field with nothing saved, a reset password that must be replaced at the
next (real) sign-in, deactivation ending sessions, the last-admin guard, and clinic scope."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.access import staff_admin
from callcenter.access.passwords import hash_password, verify_password
from callcenter.core.i18n import t
from callcenter.core.models import (
    AuditLog,
    Clinic,
    Staff,
    StaffClinic,
    StaffRole,
    StaffSession,
    utcnow,
)
from tests import factories as f

TEMPORARY = "Temporary-pass-42"
OWN = "my own secret phrase"


@pytest.fixture
def clinic(session: Session) -> Clinic:
    row = f.clinic(session, name="Улыбка")
    session.commit()
    return row


@pytest.fixture
def admin(client: Any, session: Session, clinic: Clinic) -> Staff:
    return f.signed_in(client, session, role="admin", clinic_row=clinic, extension=None)


def _form(clinic: Clinic, **kw: Any) -> dict[str, Any]:
    form = {"role": "receptionist", "login": "anna", "last_name": "Кузнецова", "first_name": "Анна",
            "patronymic": "", "locale": "ru", "sip_extension": "101", "clinic_ids": [str(clinic.id)],
            "password": TEMPORARY}
    form.update(kw)
    return form


def _count(session: Session) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count(Staff.id))) or 0)


def _field_error(page: str, field: str) -> str:
    found = re.search(rf'id="{field}-error" role="alert">([^<]+)<', page)
    assert found, f"no error shown for {field}"
    return found.group(1)


def _sign_in(app: Any, login: str, password: str) -> tuple[Any, Any]:
    """A real sign-in through the login form; returns the browser-like client and the answer."""
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    answer = client.post("/login", data={"login": login, "password": password,
                                         "csrf_token": token.group(1)})
    if answer.status_code == 302:  # signing in issued a new CSRF token: the page frame has it
        page = client.get("/account/password").get_data(as_text=True)
        token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
        assert token
        client.environ_base["HTTP_X_CSRF_TOKEN"] = token.group(1)
    return client, answer


def test_create_then_edit_a_receptionist(client: Any, session: Session, clinic: Clinic,
                                         admin: Staff) -> None:
    created = client.post("/admin/staff", data=_form(clinic))
    assert created.status_code == 302, created.get_data(as_text=True)
    anna = session.scalar(select(Staff).where(Staff.login == "anna"))
    assert anna is not None and anna.role == StaffRole.RECEPTIONIST and anna.sip_extension == "101"
    assert anna.must_change_password and verify_password(anna.password_hash, TEMPORARY)
    assert anna.clinic_id == clinic.id
    listed = client.get("/admin/staff").get_data(as_text=True)
    assert "Кузнецова" in listed and "101" in listed
    edited = client.post(f"/admin/staff/{anna.id}",
                         data=_form(clinic, role="marketing", sip_extension="", locale="en"))
    assert edited.status_code == 302
    session.expire_all()
    assert (anna.role, anna.sip_extension, anna.locale) == (StaffRole.MARKETING, None, "en")
    actions = set(session.scalars(select(AuditLog.action).where(AuditLog.staff_id == admin.id)))
    assert {"staff_created", "staff_updated"} <= actions


@pytest.mark.parametrize(("change", "field", "english"), [
    ({"login": "ANNA"}, "login", "This login is taken"),
    ({"sip_extension": "101"}, "sip_extension", "Another staff member of this clinic has this extension"),
    ({"sip_extension": "10a"}, "sip_extension", "2 to 10 digits"),
    ({"password": "short"}, "password", "The password is shorter than 10 characters"),
    ({"password": "olga-the-desk-1"}, "password",
     "The password contains the login or is a known demo password"),
    ({"role": "superuser"}, "role", "Unknown role"),
    ({"locale": "fr"}, "locale", "Unknown language"),
    ({"last_name": ""}, "last_name", "Required"),
    ({"clinic_ids": []}, "clinic_ids", "Choose at least one clinic"),
    ({"specialties": ["astrologer"], "role": "doctor"}, "specialties", "Unknown specialty: {value}"),
])
def test_bad_input_names_the_field_and_saves_nothing(client: Any, session: Session, clinic: Clinic,
                                                     admin: Staff, change: dict[str, Any],
                                                     field: str, english: str) -> None:
    assert client.post("/admin/staff", data=_form(clinic)).status_code == 302
    before = _count(session)
    answer = client.post("/admin/staff", data=_form(clinic, **{"login": "olga", **change}))
    assert answer.status_code == 400
    shown = _field_error(answer.get_data(as_text=True), field)
    assert shown == t(english, "ru").format(value="astrologer") != english  # in the admin's language
    assert _count(session) == before


def test_a_refused_edit_changes_nothing(client: Any, session: Session, clinic: Clinic,
                                        admin: Staff) -> None:
    for login, extension in (("anna", "101"), ("john", "102")):
        assert client.post("/admin/staff", data=_form(clinic, login=login,
                                                          sip_extension=extension)).status_code == 302
    john = session.scalar(select(Staff).where(Staff.login == "john"))
    assert john is not None
    answer = client.post(f"/admin/staff/{john.id}",
                         data=_form(clinic, login="john", last_name="Renamed", sip_extension="101"))
    assert answer.status_code == 400
    _field_error(answer.get_data(as_text=True), "sip_extension")
    session.expire_all()
    assert (john.last_name, john.sip_extension) == ("Кузнецова", "102")


def test_an_extension_is_unique_per_clinic_not_per_network(client: Any, session: Session,
                                                           clinic: Clinic, admin: Staff) -> None:
    other = f.clinic(session, name="Second")
    session.add(StaffClinic(staff_id=admin.id, clinic_id=other.id))
    session.commit()
    assert client.post("/admin/staff", data=_form(clinic)).status_code == 302
    second = client.post("/admin/staff",
                         data=_form(clinic, login="olga", clinic_ids=[str(other.id)]))
    assert second.status_code == 302
    both = client.post("/admin/staff", data=_form(
        clinic, login="vera", sip_extension="101", clinic_ids=[str(clinic.id), str(other.id)]))
    assert both.status_code == 400
    olga = session.scalar(select(Staff).where(Staff.login == "olga"))
    assert olga is not None and olga.clinic_id == other.id


def test_granting_a_clinic_outside_ones_scope_is_refused(client: Any, session: Session,
                                                         clinic: Clinic, admin: Staff) -> None:
    foreign = f.clinic(session, name="Not yours")
    session.commit()
    before = _count(session)
    answer = client.post("/admin/staff", data=_form(
        clinic, clinic_ids=[str(clinic.id), str(foreign.id)]))
    assert answer.status_code == 404  # like a clinic that does not exist
    assert _field_error(answer.get_data(as_text=True), "clinic_ids") == t(
        "You do not administer clinic {value}", "ru").format(value=foreign.id)
    missing = client.post("/admin/staff", data=_form(clinic, clinic_ids=[str(foreign.id + 100)]))
    assert missing.status_code == 404
    assert _count(session) == before
    assert client.post("/admin/staff", data=_form(clinic)).status_code == 302
    anna = session.scalar(select(Staff).where(Staff.login == "anna"))
    assert anna is not None
    widened = client.post(f"/admin/staff/{anna.id}",
                          data=_form(clinic, clinic_ids=[str(clinic.id), str(foreign.id)]))
    assert widened.status_code == 404
    assert session.scalar(select(StaffClinic).where(StaffClinic.staff_id == anna.id)) is None


def test_another_clinics_staff_member_is_not_there(app: Any, client: Any, session: Session,
                                                   clinic: Clinic, admin: Staff) -> None:
    foreign = f.clinic(session, name="Not yours")
    stranger = Staff(clinic_id=foreign.id, role=StaffRole.RECEPTIONIST, login="stranger",
                     first_name="Sam", last_name="Stranger", sip_extension="101")
    session.add(stranger)
    session.commit()
    assert "Stranger" not in client.get("/admin/staff").get_data(as_text=True)
    assert client.get(f"/admin/staff/{stranger.id}").status_code == 404
    for path in ("", "/active", "/password"):
        answer = client.post(f"/admin/staff/{stranger.id}{path}", data={"active": "0",
                                                                        "password": TEMPORARY})
        assert answer.status_code == 404
    session.expire_all()
    assert stranger.active and stranger.password_hash is None
    # Logins are global: the stranger's login is taken here too, though the stranger is not shown.
    answer = client.post("/admin/staff", data=_form(clinic, login="Stranger"))
    assert answer.status_code == 400 and "login-error" in answer.get_data(as_text=True)


def test_a_reset_password_must_be_changed_at_the_next_sign_in(app: Any, client: Any, session: Session,
                                                              clinic: Clinic, admin: Staff) -> None:
    anna = f.receptionist(session, clinic, "101")
    anna.password_hash = hash_password(OWN)
    session.commit()
    desk, signed = _sign_in(app, "anna", OWN)
    assert signed.headers["Location"] == "/desk" and desk.get("/api/calls").status_code == 200

    assert client.post(f"/admin/staff/{anna.id}/password", data={"password": "short"}).status_code == 400
    assert desk.get("/api/calls").status_code == 200  # a refused reset changes nothing
    reset = client.post(f"/admin/staff/{anna.id}/password", data={"password": TEMPORARY})
    assert reset.status_code == 302
    assert desk.get("/api/calls").status_code == 401  # her open session ended with the reset
    assert _sign_in(app, "anna", OWN)[1].status_code == 200  # the old password is gone

    desk, signed = _sign_in(app, "anna", TEMPORARY)
    assert signed.status_code == 302 and signed.headers["Location"] == "/account/password"
    refused = desk.get("/api/calls")
    assert refused.status_code == 403 and refused.get_json()["error"] == "password_change_required"
    assert desk.get("/desk").headers["Location"] == "/account/password"
    forced = t("An administrator set a temporary password for you: choose your own to continue.", "ru")
    assert forced in desk.get("/account/password").get_data(as_text=True)
    same = desk.post("/account/password", data={"current": TEMPORARY, "new": TEMPORARY,
                                                "repeat": TEMPORARY})
    assert same.status_code == 400 and desk.get("/api/calls").status_code == 403
    assert t("The new password is the same as the current one", "ru") in same.get_data(as_text=True)
    changed = desk.post("/account/password", data={"current": TEMPORARY, "new": OWN, "repeat": OWN})
    assert changed.status_code == 302, changed.get_data(as_text=True)
    assert changed.headers["Location"] == "/desk"
    assert desk.get("/api/calls").status_code == 200
    session.expire_all()
    assert not anna.must_change_password


def test_deactivation_ends_every_session_and_reactivation_checks_the_extension(
        app: Any, client: Any, session: Session, clinic: Clinic, admin: Staff) -> None:
    anna = f.receptionist(session, clinic, "101")
    anna.password_hash = hash_password(OWN)
    session.commit()
    desks = [_sign_in(app, "anna", OWN)[0] for _ in range(2)]
    assert all(d.get("/api/calls").status_code == 200 for d in desks)
    assert client.post(f"/admin/staff/{anna.id}/active", data={"active": "0"}).status_code == 302
    assert all(d.get("/api/calls").status_code == 401 for d in desks)
    ends = set(session.scalars(select(StaffSession.end_reason).where(StaffSession.staff_id == anna.id)))
    assert ends == {"deactivated"}
    assert _sign_in(app, "anna", OWN)[1].status_code == 200  # the form again: no sign-in
    listed = client.get("/admin/staff").get_data(as_text=True)
    assert 'class="inactive"' in listed and "Desk Anna" in listed  # still listed, as deactivated

    olga = f.receptionist(session, clinic, "101", login="olga")  # her desk went to someone else
    session.commit()
    again = client.post(f"/admin/staff/{anna.id}/active", data={"active": "1"})
    assert again.status_code == 400
    _field_error(again.get_data(as_text=True), "sip_extension")
    olga.sip_extension = "105"
    session.commit()
    assert client.post(f"/admin/staff/{anna.id}/active", data={"active": "1"}).status_code == 302
    assert _sign_in(app, "anna", OWN)[1].status_code == 302


def test_the_last_admin_stays(client: Any, session: Session, clinic: Clinic, admin: Staff) -> None:
    answer = client.post(f"/admin/staff/{admin.id}/active", data={"active": "0"})
    assert answer.status_code == 400
    assert _field_error(answer.get_data(as_text=True), "active") == t("You cannot deactivate yourself", "ru")
    demoted = client.post(f"/admin/staff/{admin.id}", data=_form(
        clinic, role="receptionist", login=admin.login, sip_extension="", password=""))
    assert demoted.status_code == 400
    _field_error(demoted.get_data(as_text=True), "role")

    second = f.clinic(session, name="Second")
    session.add(StaffClinic(staff_id=admin.id, clinic_id=second.id))
    session.commit()
    # Leaving the second clinic would leave it with no administrator.
    left = client.post(f"/admin/staff/{admin.id}", data=_form(
        clinic, role="admin", login=admin.login, sip_extension="", password=""))
    assert left.status_code == 400
    assert _field_error(left.get_data(as_text=True), "clinic_ids") == t(
        "This is the last active administrator of clinic {value}: make someone else one first",
        "ru").format(value=second.id)
    session.expire_all()
    assert admin.active and admin.role == StaffRole.ADMIN
    assert session.scalar(select(StaffClinic.clinic_id).where(StaffClinic.staff_id == admin.id)) == second.id


def test_the_last_admin_guard_holds_outside_a_request_too(session: Session, clinic: Clinic) -> None:
    """From an installation-wide session (the CLI's), another account cannot remove the last admin."""
    boss = Staff(clinic_id=clinic.id, role=StaffRole.ADMIN, login="boss", first_name="B", last_name="A")
    desk = f.receptionist(session, clinic, "101")
    session.add(boss)
    session.commit()
    with pytest.raises(staff_admin.Refused) as refused:
        staff_admin.set_active(session, boss, False, desk, utcnow())
    assert refused.value.by_field()["active"].msgid.startswith("This is the last active administrator")
    session.rollback()
    deputy = Staff(clinic_id=clinic.id, role=StaffRole.ADMIN, login="deputy", first_name="D",
                   last_name="A")
    session.add(deputy)
    session.commit()
    staff_admin.set_active(session, boss, False, desk, utcnow())
    session.commit()
    assert not boss.active
