"""Sign in and out; "/" sends each role to its own page."""

from __future__ import annotations

import logging
import time
from urllib.parse import unquote, urlsplit

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from callcenter.access import staff_accounts
from callcenter.access.audit import record as audit
from callcenter.access.auth import (
    HOME_BY_ROLE,
    authenticate,
    current_staff,
    require_role,
    sign_in,
    sign_out,
)
from callcenter.access.locale import request_locale
from callcenter.access.login_throttle import shared as login_throttle
from callcenter.access.passwords import verify_password
from callcenter.core.i18n import N_, t
from callcenter.core.models import utcnow
from callcenter.core.web import db

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)

def safe_next(target: str | None) -> str | None:
    """target if it is a path on this site, else None: an open redirect after sign-in is a
    phishing tool. Browsers drop tabs and newlines and read a backslash as a slash, so
    `/%09/evil.example/` or `/\\evil.example` would leave the site."""
    if not target:
        return None
    decoded = unquote(target)
    if any(ord(c) < 32 or ord(c) == 127 or c == "\\" for c in decoded):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or decoded.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int, dict[str, str]]:
    locale = request_locale(current_app.config["LOCALE"])
    next_url = safe_next(request.args.get("next"))
    error = None
    if request.method == "POST":
        name, address, now = request.form.get("login", "").strip(), request.remote_addr or "", time.time()
        wait = login_throttle().refused(name, address, now)
        if wait is not None:
            log.warning("sign-in paused for %s s: too many failures (address %s)", wait, address)
            page = render_template("login.html", locale=locale, error=t("Too many attempts, wait a minute", locale),
                                   next=next_url)
            return page, 429, {"Retry-After": str(wait)}
        staff = authenticate(db(), name, request.form.get("password", ""))
        if staff is not None and str(staff.role) not in HOME_BY_ROLE:
            return render_template("login.html", locale=locale, error=t("This account has no pages here", locale),
                                   next=next_url), 403, {}
        if staff is not None:
            login_throttle().succeeded(name, now)
            sign_in(staff, utcnow())
            audit(db(), staff.id, "login", "staff", staff.id)
            db().commit()
            if staff.must_change_password:
                return redirect(url_for("auth.change_password"))
            return redirect(next_url or HOME_BY_ROLE[str(staff.role)])
        login_throttle().failed(name, address, now)
        error = t("Wrong login or password", locale)
    return render_template("login.html", locale=locale, error=error, next=next_url)


@bp.post("/logout")
def logout() -> Response:
    staff = current_staff()
    if staff is not None:
        audit(db(), staff.id, "logout", "staff", staff.id)
    sign_out(utcnow())
    return redirect(url_for("auth.login"))


@bp.get("/")
def home() -> Response:
    staff = current_staff()
    if staff is None:
        return redirect(url_for("auth.login"))
    return redirect(HOME_BY_ROLE.get(str(staff.role), url_for("auth.login")))


@bp.route("/account/password", methods=["GET", "POST"])
@require_role(*HOME_BY_ROLE, open_before_password_change=True)
def change_password() -> Response | str | tuple[str, int]:
    """The staff member's own password; every other session of theirs ends, this one starts anew."""
    staff = current_staff()
    assert staff is not None  # require_role ran first
    locale = request_locale(current_app.config["LOCALE"])
    if request.method == "GET":
        return render_template("account_password.html", locale=locale, error=None,
                               forced=staff.must_change_password)
    form = request.form
    name, address, now = staff.login or str(staff.id), request.remote_addr or "", time.time()
    error = None
    if login_throttle().refused(name, address, now) is not None:
        error = N_("Too many attempts, wait a minute")
    elif not verify_password(staff.password_hash, form.get("current", "")):
        login_throttle().failed(name, address, now)
        error = N_("The current password is wrong")
    elif form.get("new", "") != form.get("repeat", ""):
        error = N_("The new passwords differ")
    else:
        try:
            staff_accounts.change_password(db(), staff, form.get("new", ""), utcnow())
        except staff_accounts.WeakPassword as exc:
            error = exc.key
    if error is not None:
        return render_template("account_password.html", locale=locale, error=t(error, locale),
                               forced=staff.must_change_password), 400
    audit(db(), staff.id, "password_changed", "staff", staff.id)
    sign_in(staff, utcnow())
    db().commit()
    return redirect(HOME_BY_ROLE.get(str(staff.role), "/"))
