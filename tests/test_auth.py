"""Sign-in with a real password hash, role checks, CSRF on every post."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.models import AuditLog, Staff, StaffRole
from callcenter.passwords import hash_password

from . import factories as f


def _login_form(client, login: str, password: str, next_url: str = ""):  # type: ignore[no-untyped-def]
    page = client.get("/login" + (f"?next={next_url}" if next_url else "")).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return client.post("/login" + (f"?next={next_url}" if next_url else ""),
                       data={"login": login, "password": password, "csrf_token": token})


def test_login_redirects_by_role_and_is_audited(client, session: Session) -> None:
    clinic = f.clinic(session)
    staff = Staff(clinic_id=clinic.id, role=StaffRole.MARKETING, login="maria", first_name="Maria",
                  last_name="K", password_hash=hash_password("s3cret!"))
    session.add(staff)
    session.commit()
    assert _login_form(client, "maria", "wrong").status_code == 200
    response = _login_form(client, "maria", "s3cret!")
    assert response.status_code == 302 and response.headers["Location"] == "/marketing"
    assert session.scalar(select(AuditLog.action).where(AuditLog.staff_id == staff.id)) == "login"


def test_open_redirect_is_refused(client, session: Session) -> None:
    clinic = f.clinic(session)
    session.add(Staff(clinic_id=clinic.id, role=StaffRole.ADMIN, login="root", first_name="R",
                      last_name="A", password_hash=hash_password("pw")))
    session.commit()
    response = _login_form(client, "root", "pw", next_url="//evil.example/x")
    assert response.headers["Location"] == "/admin"


def test_api_needs_sign_in_and_the_right_role(client, session: Session) -> None:
    assert client.get("/api/calls").status_code == 401
    f.signed_in(client, session, role="marketing")
    response = client.get("/api/calls")
    assert response.status_code == 403 and response.json["error"] == "forbidden"


def test_post_without_csrf_token_is_refused(client, session: Session) -> None:
    f.signed_in(client, session)
    del client.environ_base["HTTP_X_CSRF_TOKEN"]
    response = client.patch("/api/calls/1", json={"notes": "x"})
    assert response.status_code == 400 and response.json["error"] == "csrf_failed"
