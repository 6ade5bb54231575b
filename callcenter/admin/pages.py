"""What the admin pages share: the signed-in admin, their clinics, the clinic a form names."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import abort, current_app
from sqlalchemy import select

from callcenter.access.auth import current_staff
from callcenter.access.locale import request_locale
from callcenter.core.models import Clinic, Staff
from callcenter.core.web import db


def admin() -> Staff:
    staff = current_staff()
    assert staff is not None  # require_role ran first
    return staff


def locale() -> str:
    return request_locale(current_app.config["LOCALE"])


def clinics() -> list[Clinic]:
    """The admin's clinics (the session's scope), their own first."""
    home = admin().clinic_id
    return sorted(db().scalars(select(Clinic)).all(), key=lambda c: (c.id != home, c.name))


def home_clinic() -> Clinic:
    clinic = db().get(Clinic, admin().clinic_id)
    assert clinic is not None  # the scope always holds the staff member's own clinic
    return clinic


def chosen_clinic(form: Mapping[str, str]) -> Clinic:
    """The clinic a form's `clinic_id` names (absent: the admin's own); another clinic's id
    answers 404, exactly like one that does not exist."""
    raw = (form.get("clinic_id") or "").strip()
    if not raw:
        return home_clinic()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        abort(404)
    clinic = db().get(Clinic, int(raw))
    if clinic is None:
        abort(404)
    return clinic


def local(moment: datetime | None, zone: str) -> str:
    """A stored UTC time as the clinic's wall clock."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S") if moment else ""
