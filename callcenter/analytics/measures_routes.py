"""/measures: the clinic's own measures with their targets, per clinic and receptionist, by week
or month; /measures/rows: the rows behind one figure (ids and days only, no patient data)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, render_template, request
from sqlalchemy import select

from callcenter.access.auth import current_staff, require_role
from callcenter.access.locale import request_locale
from callcenter.analytics.measures import TARGETS, measures
from callcenter.analytics.periods import Filters
from callcenter.core.i18n import N_, t
from callcenter.core.inputs import InputError
from callcenter.core.models import Clinic, Staff
from callcenter.core.web import db

bp = Blueprint("measures", __name__, template_folder="templates")
VIEWERS = ("marketing", "admin")
NAMES = {"data_accuracy": N_("Data accuracy"), "booked_same_day": N_("Requests booked the same day"),
         "complaint_share": N_("Complaints per patient call"), "satisfaction": N_("Satisfaction (1-5)"),
         "follow_ups_same_day": N_("Follow-up calls made on their day")}


def _period(args: Any, tz: ZoneInfo) -> tuple[str, date, date]:
    """?period=week|month and ?at=YYYY-MM-DD (a day inside it; today by default)."""
    period = args.get("period", "month")
    if period not in ("week", "month"):
        raise InputError("period", "one of: {choices}", choices="week, month")
    raw = args.get("at", "")
    try:
        at = date.fromisoformat(raw) if raw else datetime.now(UTC).astimezone(tz).date()
    except ValueError:
        raise InputError("at", "expected a date like 2026-01-31") from None
    if period == "week":
        start = at - timedelta(days=at.weekday())
        return period, start, start + timedelta(days=6)
    start = at.replace(day=1)
    following = (start + timedelta(days=32)).replace(day=1)
    return period, start, following - timedelta(days=1)


def _clinics() -> list[Clinic]:
    return list(db().scalars(select(Clinic).order_by(Clinic.id)))


@bp.get("/measures")
@require_role(*VIEWERS)
def page() -> str:
    locale = request_locale(current_app.config["LOCALE"])
    sections = []
    for clinic in _clinics():
        tz = ZoneInfo(clinic.timezone)
        period, start, end = _period(request.args, tz)
        found = measures(db(), Filters(clinic.id, tz, start, end))
        names = {s.id: s.display_name for s in db().scalars(select(Staff).where(
            Staff.id.in_([k for k in found if k is not None])))}
        sections.append({"clinic": clinic, "period": period, "start": start, "end": end,
                         "figures": found, "names": names})
    return render_template("measures/page.html", locale=locale, sections=sections,
                           measures=list(TARGETS), labels={k: t(v, locale) for k, v in NAMES.items()})


@bp.get("/measures/rows")
@require_role(*VIEWERS)
def rows() -> str:
    locale = request_locale(current_app.config["LOCALE"])
    measure = request.args.get("measure", "")
    if measure not in TARGETS:
        raise InputError("measure", "one of: {choices}", choices=", ".join(TARGETS))
    raw = request.args.get("clinic", "")
    clinic = db().get(Clinic, int(raw)) if raw.isascii() and raw.isdigit() and len(raw) < 10 else None
    if clinic is None:
        abort(404)
    staff_raw = request.args.get("staff", "")
    key = int(staff_raw) if staff_raw.isascii() and staff_raw.isdigit() and len(staff_raw) < 10 else None
    tz = ZoneInfo(clinic.timezone)
    _, start, end = _period(request.args, tz)
    figure = measures(db(), Filters(clinic.id, tz, start, end)).get(key, {}).get(measure)
    staff = current_staff()
    assert staff is not None
    return render_template("measures/rows.html", locale=locale, clinic=clinic, measure=measure,
                           label=t(NAMES[measure], locale), figure=figure, start=start, end=end,
                           cards=staff.role == "admin")
