"""/marketing/web: website calls by source, medium, campaign, keyword or landing page; pool
health; the conversions owed to Metrica and Google Ads, row by row, and their files."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, current_app, render_template, request
from sqlalchemy import select

from callcenter.access.auth import current_staff, require_role
from callcenter.access.locale import request_locale
from callcenter.core.i18n import N_
from callcenter.core.inputs import InputError
from callcenter.core.models import Clinic, WebConversion, utcnow
from callcenter.core.web import db, runtime
from callcenter.webtracking.conversions import (
    ID_COLUMNS,
    google_csv,
    items,
    metrica_csv,
    metrica_rows,
)
from callcenter.webtracking.jobs import track
from callcenter.webtracking.report import DIMENSIONS, TOUCHES, funnel, pool_health

bp = Blueprint("webtracking_report", __name__, template_folder="templates")

DIMENSION_LABELS = {"source": N_("Source"), "medium": N_("Medium"), "campaign": N_("Campaign"),
                    "keyword": N_("Keyword"), "landing": N_("Landing page")}
STATES = {"pending": N_("waiting"), "sent": N_("sent"), "rejected": N_("rejected")}


def _clinic() -> Clinic:
    staff = current_staff()
    assert staff is not None  # require_role ran first
    raw = (request.args.get("clinic_id") or "").strip() or str(staff.clinic_id)
    clinic = db().get(Clinic, int(raw)) if raw.isascii() and raw.isdigit() and len(raw) < 10 else None
    if clinic is None:  # missing, or another clinic's: alike
        abort(404)
    return clinic


def _day(name: str, default: date) -> date:
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InputError(name, "expected a date like 2026-03-31") from None


def _caught_up() -> None:
    """Visits, calls and bookings since the worker's last run are in the report too."""
    with runtime().write_guard():
        track(db(), runtime().redis, utcnow())


@bp.get("/marketing/web")
@require_role("marketing", "admin")
def page() -> str:
    clinic = _clinic()
    zone = ZoneInfo(clinic.timezone)
    today = utcnow().astimezone(zone).date()
    first, last = _day("from", today - timedelta(days=29)), _day("to", today)
    dimension = request.args.get("by", "source")
    touch = request.args.get("touch", "last")
    if dimension not in DIMENSIONS:
        raise InputError("by", "one of {values}", values=", ".join(DIMENSIONS))
    if touch not in TOUCHES:
        raise InputError("touch", "one of {values}", values=", ".join(TOUCHES))
    _caught_up()
    start = datetime.combine(first, time(), zone)
    end = datetime.combine(last + timedelta(days=1), time(), zone)
    conversions = db().scalars(select(WebConversion).where(WebConversion.clinic_id == clinic.id)
                               .order_by(WebConversion.id.desc()).limit(200)).all()
    return render_template(
        "webtracking/report.html", locale=request_locale(current_app.config["LOCALE"]),
        clinic=clinic, clinics=db().scalars(select(Clinic).order_by(Clinic.name)).all(),
        first=first, last=last, dimension=dimension, touch=touch, labels=DIMENSION_LABELS,
        rows=funnel(db(), clinic.id, start, end, dimension, touch),
        health=pool_health(db(), clinic.id, start, end), conversions=conversions, states=STATES)


@bp.get("/marketing/web/conversions/<platform>.csv")
@require_role("marketing", "admin")
def download(platform: str) -> Response:
    """Every conversion recorded for the platform, in its own import format. Metrica's file holds
    one type of id: ?ids=client (ClientId, the default) or ?ids=yclid."""
    if platform not in ("metrica", "google"):
        abort(404)
    clinic = _clinic()
    _caught_up()
    batch = items(db(), clinic.id, platform, pending_only=False)
    if platform == "google":
        body = google_csv(clinic, batch)
    else:
        id_type = {"client": "CLIENT_ID", "yclid": "YCLID"}.get(request.args.get("ids", "client"))
        if id_type is None:
            raise InputError("ids", "one of {values}", values="client, yclid")
        body = metrica_csv([row for _, row in metrica_rows(clinic, batch).get(id_type, [])],
                           ID_COLUMNS[id_type])
    answer = Response(body, mimetype="text/csv")
    answer.headers["Content-Disposition"] = (
        f'attachment; filename="{platform}-conversions-clinic-{clinic.id}.csv"')
    return answer
