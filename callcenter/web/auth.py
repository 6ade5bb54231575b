"""Sign in and out; "/" sends each role to its own page."""

from __future__ import annotations

import logging
import time

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from ..audit import record as audit
from ..auth import authenticate, current_staff, sign_in, sign_out
from ..i18n import request_locale, t
from ..login_throttle import LoginThrottle
from ..ratelimit import Limit
from . import db, runtime

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)

# Doctors are in the data (schedules, patients' doctor) but have no pages: least access.
HOME_BY_ROLE = {"receptionist": "/desk", "marketing": "/marketing", "admin": "/admin"}


def _safe_next(target: str | None) -> str | None:
    # Only same-site paths: an open redirect after login is a phishing tool.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return None


def login_throttle() -> LoginThrottle:
    """Failed-password counters shared by sign-in and the desk's unlock (same password)."""
    extensions = current_app.extensions
    if "login_throttle" not in extensions:
        config = current_app.config
        window = config["LOGIN_WINDOW"]
        extensions["login_throttle"] = LoginThrottle(
            Limit("login-name", config["LOGIN_FAILURES"], window),
            Limit("login-address", config["LOGIN_ADDRESS_FAILURES"], window),
            lambda: runtime().redis if config["REDIS_URL"] else None)
    return extensions["login_throttle"]


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int, dict[str, str]]:
    locale = request_locale(current_app.config["LOCALE"])
    next_url = _safe_next(request.args.get("next"))
    error = None
    if request.method == "POST":
        name, address, now = request.form.get("login", "").strip(), request.remote_addr or "", time.time()
        wait = login_throttle().refused(name, address, now)
        if wait is not None:
            log.warning("sign-in paused for %s s: too many failures (address %s)", wait, address)
            page = render_template("login.html", locale=locale, error=t("login.throttled", locale),
                                   next=next_url)
            return page, 429, {"Retry-After": str(wait)}
        staff = authenticate(db(), name, request.form.get("password", ""))
        if staff is not None and str(staff.role) not in HOME_BY_ROLE:
            return render_template("login.html", locale=locale, error=t("login.no_pages", locale),
                                   next=next_url), 403, {}
        if staff is not None:
            login_throttle().succeeded(name, now)
            sign_in(staff)
            audit(db(), staff.id, "login", "staff", staff.id)
            db().commit()
            return redirect(next_url or HOME_BY_ROLE[str(staff.role)])
        login_throttle().failed(name, address, now)
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
    return redirect(HOME_BY_ROLE.get(str(staff.role), url_for("auth.login")))
