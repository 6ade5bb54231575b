"""Who is signed in, what their role may open, and CSRF protection for everything they post."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, abort, g, jsonify, redirect, request, session, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import clinic_scope
from .models import Staff, StaffRole
from .passwords import verify_password

F = TypeVar("F", bound=Callable[..., Any])

# Paths a PBX or a probe calls without a staff session: authenticated by signatures instead.
CSRF_EXEMPT_PREFIXES = ("/webhooks/", "/3cx/", "/healthz")


def authenticate(db: Session, login: str, password: str) -> Staff | None:
    staff = db.scalar(select(Staff).where(Staff.login == login, Staff.active.is_(True)))
    if staff is None or not verify_password(staff.password_hash, password):
        return None
    return staff


def sign_in(staff: Staff) -> None:
    session.clear()
    session["staff_id"] = staff.id
    session["role"] = str(staff.role)
    session["csrf"] = secrets.token_urlsafe(32)
    session.permanent = True


def sign_out() -> None:
    session.clear()


def current_staff() -> Staff | None:
    """The signed-in staff member (cached per request), or None."""
    if "staff" not in g:
        from .web import db

        staff_id = session.get("staff_id")
        staff = db().get(Staff, staff_id) if staff_id else None
        g.staff = staff if staff is not None and staff.active else None
        if g.staff is not None:
            clinic_scope.restrict(db(), clinic_scope.scope_of(db(), g.staff))
    return g.staff


def _is_api() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def require_role(*roles: str | StaffRole) -> Callable[[F], F]:
    """Route decorator: signed in (else 401 / login page) and holding one of the roles (else 403)."""
    allowed = {str(r) for r in roles}

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            staff = current_staff()
            if staff is None:
                if _is_api():
                    return jsonify({"error": "unauthorized", "message": "sign in first"}), 401
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if allowed and str(staff.role) not in allowed:
                if _is_api():
                    return jsonify({"error": "forbidden",
                                    "message": f"role {staff.role} may not use this"}), 403
                abort(403)
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


def init_app(app: Flask) -> None:
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=app.config["ENV"] == "production",
        PERMANENT_SESSION_LIFETIME=12 * 3600,  # one shift
    )
    app.before_request(_check_csrf)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["current_staff"] = current_staff
