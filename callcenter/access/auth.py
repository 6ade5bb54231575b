"""Who is signed in, what their role may open, and CSRF protection for everything they post."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, abort, current_app, g, jsonify, redirect, request, session, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.access import staff_sessions
from callcenter.access.passwords import hash_password, needs_rehash, verify_password
from callcenter.core import clinic_scope
from callcenter.core.inputs import limit, problem
from callcenter.core.models import Staff, StaffRole, StaffSession, utcnow

# Doctors are in the data (schedules, patients' doctor) but have no pages, so they cannot sign in
# (least access): the desk is the receptionists'; an admin who covers the desk has it too.
HOME_BY_ROLE = {"receptionist": "/desk", "marketing": "/marketing", "admin": "/admin"}

F = TypeVar("F", bound=Callable[..., Any])

# Paths a PBX or a probe calls without a staff session: authenticated by signatures instead.
# /api/sync/ takes an integration token in a header, never a cookie: no cross-site forgery; /wt/
# (a website's tag asking for a number) carries no session and changes no patient data.
CSRF_EXEMPT_PREFIXES = ("/webhooks/", "/3cx/", "/healthz", "/api/sync/", "/wt/")


def authenticate(db: Session, login: str, password: str) -> Staff | None:
    # A login no account can have (NUL, a lone surrogate, too long) fails like a wrong password,
    # before PostgreSQL would refuse the query itself.
    if problem(login) is not None or len(login) > limit(Staff.login):
        return None
    staff = db.scalar(select(Staff).where(Staff.login == login, Staff.active.is_(True))
                      .execution_options(**clinic_scope.PAST_SCOPE))
    if staff is None or not verify_password(staff.password_hash, password):
        return None
    if needs_rehash(staff.password_hash):  # made with older parameters: saved with the sign-in
        staff.password_hash = hash_password(password)
    return staff


def lifetimes() -> staff_sessions.Lifetimes:
    config = current_app.config
    return staff_sessions.Lifetimes(idle=timedelta(minutes=config["SESSION_IDLE_MINUTES"]),
                                    absolute=timedelta(hours=config["SESSION_HOURS"]))


def sign_in(staff: Staff, now: datetime) -> None:
    """Start a server-side session and give this browser its token (the caller commits)."""
    from callcenter.core.web import db

    previous = current_session()
    if previous is not None:  # signing in over a session must not leave the old token working
        staff_sessions.end(previous, now, "replaced")
    token = staff_sessions.start(db(), staff, now, user_agent=request.user_agent.string,
                                 address=request.remote_addr or "")
    session.clear()
    session["sid"] = token
    session["csrf"] = secrets.token_urlsafe(32)
    session.permanent = True
    g.staff, g.staff_session = staff, None


def sign_out(now: datetime) -> None:
    from callcenter.core.web import db

    row = current_session()
    if row is not None:
        staff_sessions.end(row, now, "sign_out")
        db().commit()
    session.clear()
    g.staff, g.staff_session = None, None


def current_session() -> StaffSession | None:
    """This request's session row when it is active or locked (loaded once per request)."""
    current_staff()
    return g.staff_session


def current_staff() -> Staff | None:
    """The signed-in staff member (cached per request), or None; also for a locked session."""
    if "staff" not in g:
        from callcenter.core.web import db

        g.staff, g.staff_session = None, None
        token = session.get("sid")
        if isinstance(token, str) and token:
            row, staff, _ = staff_sessions.load(db(), token, utcnow(), lifetimes())
            db().commit()  # the touch, or the end for idle / age: nothing else is pending yet
            g.staff, g.staff_session = staff, row if staff is not None else None
            if staff is None:
                session.clear()
            else:
                clinic_scope.restrict(db(), clinic_scope.scope_of(db(), staff))
    return g.staff


def signed_in_session() -> StaffSession:
    """The session row of a view behind require_role (which made sure there is one)."""
    row = current_session()
    if row is None:
        raise RuntimeError("signed_in_session() outside require_role")
    return row


def is_locked() -> bool:
    row = current_session()
    return row is not None and row.locked_at is not None


def is_api_request() -> bool:
    # An EventSource cannot show a redirected page: it gets the JSON refusal like an API call.
    return request.path.startswith("/api/") or request.accept_mimetypes.best in (
        "application/json", "text/event-stream")


def require_role(*roles: str | StaffRole, open_when_locked: bool = False,
                 open_before_password_change: bool = False) -> Callable[[F], F]:
    """Route decorator: signed in (else 401 / login page), holding one of the roles (else 403),
    not locked (else 423 JSON / the desk's lock screen) unless open_when_locked, and with a
    password of their own (else 403 JSON / the password page) unless open_before_password_change."""
    allowed = {str(r) for r in roles}

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            staff = current_staff()
            if staff is None:
                if is_api_request():
                    return jsonify({"error": "unauthorized", "message": "sign in first"}), 401
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if allowed and str(staff.role) not in allowed:
                if is_api_request():
                    return jsonify({"error": "forbidden",
                                    "message": f"role {staff.role} may not use this"}), 403
                abort(403)
            if not open_when_locked and is_locked():
                if is_api_request():
                    return jsonify({"error": "locked",
                                    "message": "the desk is locked; enter your password"}), 423
                return redirect("/desk")  # the desk page is the lock screen
            if staff.must_change_password and not open_before_password_change:
                # An administrator knows the temporary password: it opens nothing else.
                if is_api_request():
                    return jsonify({"error": "password_change_required",
                                    "message": "choose your own password first"}), 403
                return redirect(url_for("auth.change_password"))
            return view(*args, **kwargs)

        wrapper.allowed_roles = allowed  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def _check_csrf() -> Any:
    if request.method in ("GET", "HEAD", "OPTIONS") or request.path.startswith(CSRF_EXEMPT_PREFIXES):
        return None
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    if not expected or not hmac.compare_digest(sent, expected):
        return jsonify({"error": "csrf_failed", "message": "missing or wrong CSRF token"}), 400
    return None


def _load_session() -> None:
    # Before any view runs, so the touch's commit never carries a view's half-done work.
    if request.endpoint != "static":
        current_staff()


class SessionWatch:
    """A stop signal for a long response (the desk's live feed): set when the app stops or the
    session is no longer active (ended, locked, idle, too old), checked at most every few seconds."""

    def __init__(self, stop: threading.Event, check_every: float = 5.0) -> None:
        row = current_session()
        self._stop, self._every = stop, check_every
        self._id = row.id if row is not None else ""
        self._sessions = current_app.extensions["callcenter"].sessions
        self._lifetimes = lifetimes()
        self._checked = time.monotonic()
        self._ended = row is None

    def is_set(self) -> bool:
        if self._stop.is_set() or self._ended:
            return True
        if time.monotonic() - self._checked >= self._every:
            self._checked = time.monotonic()
            with self._sessions() as db:
                self._ended = not staff_sessions.still_open(db, self._id, utcnow(), self._lifetimes)
        return self._ended


def init_app(app: Flask) -> None:
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=app.config["ENV"] == "production",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=app.config["SESSION_HOURS"]),
    )
    app.before_request(_check_csrf)
    app.before_request(_load_session)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["current_staff"] = current_staff
