"""Sign in and out; "/" sends each role to its own page."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from ..audit import record as audit
from ..auth import authenticate, current_staff, sign_in, sign_out
from ..i18n import request_locale, t
from . import db

bp = Blueprint("auth", __name__)

HOME_BY_ROLE = {"receptionist": "/desk", "doctor": "/desk", "marketing": "/marketing", "admin": "/admin"}


def _safe_next(target: str | None) -> str | None:
    # Only same-site paths: an open redirect after login is a phishing tool.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return None


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str:
    locale = request_locale(current_app.config["LOCALE"])
    next_url = _safe_next(request.args.get("next"))
    error = None
    if request.method == "POST":
        staff = authenticate(db(), request.form.get("login", "").strip(), request.form.get("password", ""))
        if staff is not None:
            sign_in(staff)
            audit(db(), staff.id, "login", "staff", staff.id)
            db().commit()
            return redirect(next_url or HOME_BY_ROLE.get(str(staff.role), "/"))
        error = t("login.failed", locale)
    return render_template("login.html", locale=locale, error=error, next=next_url)


@bp.post("/logout")
def logout() -> Response:
    sign_out()
    return redirect(url_for("auth.login"))


@bp.get("/")
def home() -> Response:
    staff = current_staff()
    if staff is None:
        return redirect(url_for("auth.login"))
    return redirect(HOME_BY_ROLE.get(str(staff.role), "/login"))
