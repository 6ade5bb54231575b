"""Sign-in with a real password hash, role checks, CSRF on every post."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.access.passwords import hash_password
from callcenter.core.db import make_engine
from callcenter.core.models import AuditLog, Clinic, Staff, StaffRole, StaffSession
from tests import factories as f
from tests.services import ROOT


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


@pytest.mark.parametrize("login", ["ro\x00ot", "r" * 500, "ro\ufffdot"])
def test_a_login_no_account_can_have_fails_like_a_wrong_password(client, session: Session,
                                                                  login: str) -> None:
    _root(session)
    response = _login_form(client, login, "pw")
    assert response.status_code == 200 and 'name="csrf_token"' in response.get_data(as_text=True)
    assert client.get("/api/calls").status_code == 401


def _root(session: Session) -> None:
    clinic = f.clinic(session)
    session.add(Staff(clinic_id=clinic.id, role=StaffRole.ADMIN, login="root", first_name="R",
                      last_name="A", password_hash=hash_password("pw")))
    session.commit()


def test_open_redirect_is_refused(client, session: Session) -> None:
    _root(session)
    response = _login_form(client, "root", "pw", next_url="//evil.example/x")
    assert response.headers["Location"] == "/admin"


def test_api_needs_sign_in_and_the_right_role(client, session: Session) -> None:
    f.set_up(session)
    assert client.get("/api/calls").status_code == 401
    f.signed_in(client, session, role="marketing")
    response = client.get("/api/calls")
    assert response.status_code == 403 and response.json["error"] == "forbidden"


def test_post_without_csrf_token_is_refused(client, session: Session) -> None:
    f.signed_in(client, session)
    del client.environ_base["HTTP_X_CSRF_TOKEN"]
    response = client.patch("/api/calls/1", json={"notes": "x"})
    assert response.status_code == 400 and response.json["error"] == "csrf_failed"


@pytest.mark.parametrize("target", ["/\t/evil.example/", "/%09/evil.example/", "//evil",
                                    "/\\evil", "https://evil", "/\\/evil.example", "http:/evil",
                                    "/%2F/evil.example", "\nhttps://evil", "evil.example"])
def test_next_must_be_a_local_path(client, session: Session, target: str) -> None:
    _root(session)
    page = client.get("/login", query_string={"next": target}).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/login", query_string={"next": target},
                           data={"login": "root", "password": "pw", "csrf_token": token})
    assert response.headers["Location"] == "/admin"


def test_a_local_next_is_followed(client, session: Session) -> None:
    _root(session)
    response = _login_form(client, "root", "pw", next_url="/desk/outbound%3Fday%3D1")
    assert response.headers["Location"] == "/desk/outbound?day=1"


def test_doctors_do_not_sign_in(client, session: Session) -> None:
    """The decision: the desk is the receptionists' and doctors have no pages, so a doctor's right
    password opens nothing and starts no session."""
    clinic = f.clinic(session)
    session.add(Staff(clinic_id=clinic.id, role=StaffRole.DOCTOR, login="dr", first_name="D",
                      last_name="K", password_hash=hash_password("doctor-pw-1")))
    session.commit()
    response = _login_form(client, "dr", "doctor-pw-1")
    assert response.status_code == 403 and "нет страниц" in response.get_data(as_text=True)
    assert session.scalar(select(func.count(StaffSession.id))) == 0
    with client.session_transaction() as flask_session:
        assert "sid" not in flask_session
    assert client.get("/desk").headers["Location"].startswith("/login")


# --- production start -------------------------------------------------------------------------

def _callcenter(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "callcenter.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def cli_env(redis_url: str, tmp_path: Path) -> dict[str, str]:
    keep = {name: value for name, value in os.environ.items() if not name.startswith("CALLCENTER_")}
    return {**keep, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.db'}", "REDIS_URL": redis_url,
            "CALLCENTER_INSTANCE_DIR": str(tmp_path), "CALLCENTER_SECRET_KEY": "prod-secret",
            "CALLCENTER_WEB_WORKER": "0", "CALLCENTER_ENV": "production"}


def _clinics(env: dict[str, str]) -> int:
    engine = make_engine(env["DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count(Clinic.id))).scalar_one()
    finally:
        engine.dispose()


def test_production_refuses_the_demo_and_known_passwords(cli_env: dict[str, str], tmp_path: Path) -> None:
    refused = _callcenter(["demo", "--patients", "20"], cli_env, tmp_path)
    out, err = refused.communicate(timeout=120)
    assert refused.returncode == 2 and len(err.strip().splitlines()) == 1 and "production" in err
    # Loaded in development (as someone trying it out would), then started for production:
    loaded = _callcenter(["demo", "--patients", "20"], {**cli_env, "CALLCENTER_ENV": "development"},
                         tmp_path)
    out, err = loaded.communicate(timeout=300)
    assert loaded.returncode == 0, err
    serve = _callcenter(["serve", "--port", "1"], cli_env, tmp_path)
    out, err = serve.communicate(timeout=300)
    assert serve.returncode == 2 and "running" not in out
    [line] = err.strip().splitlines()
    assert "5 active staff account(s) have a known default password" in line and "admin" not in line
    listed = _callcenter(["staff", "check"], cli_env, tmp_path)
    out, _ = listed.communicate(timeout=300)
    assert listed.returncode == 1 and "admin: known default password" in out


def test_production_serve_never_loads_the_demo(cli_env: dict[str, str], tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    serve = _callcenter(["serve", "--port", str(port)], cli_env, tmp_path)
    try:
        assert serve.stdout is not None
        lines = []
        for line in serve.stdout:  # ends when the process does: no wait without a condition
            lines.append(line)
            if "callcenter is running" in line:
                break
        assert any("callcenter is running" in line for line in lines), (lines, serve.stderr.read())
        assert not any("demo" in line for line in lines)
        assert _clinics(cli_env) == 0
    finally:
        serve.terminate()
        serve.wait(timeout=30)


def test_a_hash_with_older_parameters_signs_in_and_is_replaced(client, session: Session) -> None:
    """Hashes made before the 19 MiB setting (argon2-cffi's defaults: 64 MiB, 3 passes, 4 lanes)
    still verify, and the sign-in stores the password again at today's parameters."""
    from argon2 import PasswordHasher

    clinic = f.clinic(session)
    old = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4).hash("0ld-s3cret")
    staff = Staff(clinic_id=clinic.id, role=StaffRole.ADMIN, login="olga", first_name="Olga",
                  last_name="A", password_hash=old)
    session.add(staff)
    session.commit()
    assert _login_form(client, "olga", "0ld-s3cret").status_code == 302
    session.expire_all()
    stored = session.get(Staff, staff.id).password_hash
    assert stored != old and stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert hash_password("x").startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    client.post("/logout")
    assert _login_form(client, "olga", "0ld-s3cret").status_code == 302  # the new hash verifies
