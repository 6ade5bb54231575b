"""Server-side sessions: a cookie saved before sign-out, lock, password change or deactivation is
dead when replayed from another browser; idle and shift limits; the desk's feed ends with it."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.access import staff_sessions
from callcenter.access.staff_accounts import password_problem
from callcenter.cli import cli
from callcenter.core.models import StaffSession
from tests import api_world
from tests import desk_world as w
from tests import factories as f
from tests.conftest import app_settings

LIFETIMES = staff_sessions.Lifetimes(idle=timedelta(minutes=30), absolute=timedelta(hours=12))
NEW_PASSWORD = "plum-orchard-41"


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    return app_settings(database_url, redis_url, tmp_path, GENERIC_SECRET=w.SECRET,
                        CLICK_TO_CALL="off")


@pytest.fixture
def world(client: Any, session: Session) -> w.World:
    return api_world.build(client, session)


def _sign_in(client: Any, login: str, password: str = w.PASSWORD) -> str:
    """Through the real form; returns the page's CSRF token for the new session."""
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"login": login, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    desk = client.get("/desk").get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', desk).group(1)


def _replay(app: Any, cookie: str) -> Any:
    """Another browser holding a copy of the saved cookie."""
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    return thief


def _cookie(client: Any) -> str:
    return client.get_cookie("session").value


def _call_id(session: Session) -> int:
    return api_world.existing_ids(session)["call_id"][0]


def test_a_cookie_saved_before_sign_out_is_dead(app, client, session: Session, world: w.World) -> None:
    csrf = _sign_in(client, "anna")
    saved = _cookie(client)
    assert _replay(app, saved).get("/api/calls").status_code == 200  # the copy works while signed in
    assert client.post("/logout", headers={"X-CSRF-Token": csrf}).status_code == 302
    thief = _replay(app, saved)
    assert thief.get("/api/calls").status_code == 401
    assert thief.get("/desk").headers["Location"].startswith("/login")
    [row] = session.scalars(select(StaffSession)).all()
    assert row.end_reason == "sign_out"


def test_signing_in_again_ends_the_previous_session(app, client, session: Session,
                                                    world: w.World) -> None:
    _sign_in(client, "anna")
    saved = _cookie(client)
    _sign_in(client, "john")
    assert _replay(app, saved).get("/api/calls").status_code == 401
    assert client.get("/api/calls").status_code == 200
    reasons = session.scalars(select(StaffSession.end_reason).order_by(StaffSession.created_at)).all()
    assert sorted(reasons, key=str) == sorted(["replaced", None], key=str)


def test_a_locked_desk_refuses_every_route_and_the_pre_lock_cookie(app, client, session: Session,
                                                                  world: w.World) -> None:
    csrf = _sign_in(client, "anna")
    saved = _cookie(client)
    call_id = _call_id(session)
    assert client.post("/api/desk/lock", headers={"X-CSRF-Token": csrf}).status_code == 200
    for browser in (client, _replay(app, saved)):
        for response in (browser.get("/api/calls"), browser.get(f"/api/calls/{call_id}/script"),
                         browser.patch(f"/api/calls/{call_id}", json={"notes": "x"},
                                       headers={"X-CSRF-Token": csrf})):
            assert (response.status_code, response.json["error"]) == (423, "locked")
        outbound = browser.get("/desk/outbound")
        assert outbound.status_code == 302 and outbound.headers["Location"] == "/desk"
        lock_screen = browser.get("/desk").get_data(as_text=True)
        assert 'id="lock"' in lock_screen and w.MARIA_PHONE not in lock_screen
    unlocked = client.post("/api/desk/unlock", json={"password": w.PASSWORD},
                           headers={"X-CSRF-Token": csrf})
    assert unlocked.status_code == 200
    assert client.get("/api/calls").status_code == 200
    # Unlocking gave the session a new token: the copy taken before the lock stays dead.
    assert _replay(app, saved).get("/api/calls").status_code == 401


def test_a_password_change_ends_every_other_session(app, client, session: Session,
                                                    world: w.World) -> None:
    other = app.test_client()
    _sign_in(other, "anna")
    csrf = _sign_in(client, "anna")
    saved = _cookie(client)
    weak = client.post("/account/password", data={"current": w.PASSWORD, "new": "anna-12345",
                                                   "repeat": "anna-12345", "csrf_token": csrf})
    assert weak.status_code == 400 and "логин" in weak.get_data(as_text=True)
    assert other.get("/api/calls").status_code == 200  # nothing changed
    changed = client.post("/account/password", data={"current": w.PASSWORD, "new": NEW_PASSWORD,
                                                      "repeat": NEW_PASSWORD, "csrf_token": csrf})
    assert changed.status_code == 302
    assert other.get("/api/calls").status_code == 401
    assert _replay(app, saved).get("/api/calls").status_code == 401
    assert client.get("/api/calls").status_code == 200  # this browser was signed in anew
    _sign_in(app.test_client(), "anna", NEW_PASSWORD)


def _run_cli(database_url: str, redis_url: str, tmp_path: Path, *args: str) -> Any:
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "CALLCENTER_INSTANCE_DIR": str(tmp_path), "CALLCENTER_SECRET_KEY": "test-secret"}
    return CliRunner().invoke(cli, list(args), env=env, input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")


def test_staff_password_and_deactivate_commands_end_sessions(app, client, session: Session,
                                                             world: w.World, database_url: str,
                                                             redis_url: str, tmp_path: Path) -> None:
    _sign_in(client, "anna")
    saved = _cookie(client)
    result = _run_cli(database_url, redis_url, tmp_path, "staff", "password", "anna")
    assert result.exit_code == 0, result.output
    assert "1 session(s) ended" in result.output
    assert _replay(app, saved).get("/api/calls").status_code == 401
    _sign_in(client, "anna", NEW_PASSWORD)
    saved = _cookie(client)
    result = _run_cli(database_url, redis_url, tmp_path, "staff", "deactivate", "anna")
    assert result.exit_code == 0 and "1 session(s) ended" in result.output
    assert _replay(app, saved).get("/api/calls").status_code == 401
    assert client.get("/api/calls").status_code == 401
    unknown = _run_cli(database_url, redis_url, tmp_path, "staff", "deactivate", "nobody")
    assert unknown.exit_code != 0 and "no staff member" in unknown.output


def test_the_cli_refuses_a_weak_password(database_url: str, redis_url: str, tmp_path: Path,
                                         session: Session, world: w.World) -> None:
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "CALLCENTER_INSTANCE_DIR": str(tmp_path), "CALLCENTER_SECRET_KEY": "test-secret"}
    result = CliRunner().invoke(cli, ["staff", "password", "anna"], env=env, input="admin\nadmin\n")
    assert result.exit_code == 2 and "shorter than 10" in result.output


@pytest.mark.parametrize(("password", "problem"), [
    ("short-1", "The password is shorter than 10 characters"),
    ("xx-anna-xx-yy", "The password contains the login or is a known demo password"),
    ("aaaaabbbbbbb", "Too simple: too few different characters"),
    ("marketing", "The password is shorter than 10 characters"),
    (NEW_PASSWORD, None),
])
def test_password_rules(password: str, problem: str | None) -> None:
    assert password_problem("anna", password) == problem


def test_idle_and_shift_limits_end_a_session(session: Session) -> None:
    staff = f.receptionist(session, f.clinic(session), "101")
    session.commit()
    token = staff_sessions.start(session, staff, f.T0)
    row, found, verdict = staff_sessions.load(session, token, f.T0 + timedelta(seconds=30), LIFETIMES)
    assert verdict is staff_sessions.Verdict.ACTIVE and found is not None
    assert row.last_seen_at == f.T0  # touched at most once a minute
    moment = f.T0
    for _ in range(71):  # busy all day: a request every 10 minutes keeps it alive until 12 h
        moment += timedelta(minutes=10)
        assert staff_sessions.load(session, token, moment, LIFETIMES)[2] is staff_sessions.Verdict.ACTIVE
    assert row.last_seen_at == moment
    row, found, verdict = staff_sessions.load(session, token, f.T0 + timedelta(hours=12), LIFETIMES)
    assert verdict is staff_sessions.Verdict.EXPIRED and found is None and row.end_reason == "expired"
    session.commit()
    later = staff_sessions.load(session, token, f.T0 + timedelta(hours=12, seconds=1), LIFETIMES)
    assert later[2] is staff_sessions.Verdict.ENDED

    idle_token = staff_sessions.start(session, staff, f.T0)
    at_limit = f.T0 + timedelta(minutes=29, seconds=59)
    assert staff_sessions.load(session, idle_token, at_limit, LIFETIMES)[2] is staff_sessions.Verdict.ACTIVE
    row, _, verdict = staff_sessions.load(session, idle_token, at_limit + timedelta(minutes=30), LIFETIMES)
    assert verdict is staff_sessions.Verdict.IDLE and row.end_reason == "idle"
    assert staff_sessions.load(session, "never-issued", f.T0, LIFETIMES)[2] is staff_sessions.Verdict.MISSING


def test_an_idle_session_is_refused_over_http(app, client, session: Session, world: w.World) -> None:
    _sign_in(client, "anna")
    row = session.scalars(select(StaffSession)).one()
    row.last_seen_at -= timedelta(minutes=app.config["SESSION_IDLE_MINUTES"])
    session.commit()
    assert client.get("/api/calls").status_code == 401
    session.expire_all()
    assert session.get(StaffSession, row.id).end_reason == "idle"


def test_the_desk_feed_ends_when_its_session_is_locked(app, client, session: Session,
                                                       world: w.World) -> None:
    csrf = _sign_in(client, "anna")
    feed = client.get("/desk/stream", buffered=False)
    assert feed.status_code == 200
    ended = threading.Event()

    def read() -> None:
        for _chunk in feed.response:
            pass
        ended.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    # The lock comes from another copy of the cookie (a second tab): the open feed must stop too.
    _replay(app, _cookie(client)).post("/api/desk/lock", headers={"X-CSRF-Token": csrf})
    assert ended.wait(timeout=60), "the feed went on after the lock"
    feed.close()


def test_no_demo_password_can_become_a_real_one() -> None:
    from callcenter.demo.people import LOGINS

    assert all(password_problem("someone", login) is not None for login, *_ in LOGINS)
