"""/marketing/web: website calls by source, medium, campaign, keyword or landing page; pool
health; the conversions owed to Metrica and Google Ads, row by row, and their files."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
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
    google_calls_csv,
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
PLATFORMS = {"metrica": N_("Yandex Metrica"), "google": N_("Google Ads"), "google_call": N_("Google Ads calls")}
KINDS = {"booked": N_("booked"), "arrived": N_("arrived")}


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


@dataclass(frozen=True)
class Asked:
    """The report's arguments: the clinic, the period (its own days), grouping and touch."""

    clinic: Clinic
    first: date
    last: date
    start: datetime
    end: datetime
    dimension: str
    touch: str


def _asked() -> Asked:
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
    return Asked(clinic, first, last, datetime.combine(first, time(), zone),
                 datetime.combine(last + timedelta(days=1), time(), zone), dimension, touch)


@bp.get("/marketing/web/funnel.csv")
@require_role("marketing", "admin")
def funnel_csv() -> Response:
    """The funnel as on the page (the same arguments), then each pool's health."""
    asked = _asked()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow((asked.dimension, "calls", "answered", "booked", "arrived", "revenue"))
    for row in funnel(db(), asked.clinic.id, asked.start, asked.end, asked.dimension, asked.touch):
        writer.writerow((row.key, row.calls, row.answered, row.booked, row.arrived, row.revenue))
    writer.writerow(())
    writer.writerow(("pool", "numbers", "visits", "fallback_visits", "peak_in_use", "peak_demand",
                     "recommended"))
    for h in pool_health(db(), asked.clinic.id, asked.start, asked.end):
        writer.writerow((h.pool.name, h.numbers, h.visits, h.fallback_visits, h.peak_in_use,
                         h.peak_demand, h.recommended))
    answer = Response(out.getvalue(), mimetype="text/csv")
    answer.headers["Content-Disposition"] = (
        f'attachment; filename="web-funnel-{asked.dimension}-{asked.first}-{asked.last}.csv"')
    return answer


@bp.get("/marketing/web")
@require_role("marketing", "admin")
def page() -> str:
    asked = _asked()
    clinic, first, last, start, end = asked.clinic, asked.first, asked.last, asked.start, asked.end
    dimension, touch = asked.dimension, asked.touch
    conversions = db().scalars(select(WebConversion).where(WebConversion.clinic_id == clinic.id)
                               .order_by(WebConversion.id.desc()).limit(200)).all()
    return render_template(
        "webtracking/report.html", locale=request_locale(current_app.config["LOCALE"]),
        clinic=clinic, clinics=db().scalars(select(Clinic).order_by(Clinic.name)).all(),
        first=first, last=last, dimension=dimension, touch=touch, labels=DIMENSION_LABELS,
        rows=funnel(db(), clinic.id, start, end, dimension, touch),
        health=pool_health(db(), clinic.id, start, end), conversions=conversions, states=STATES,
        platforms=PLATFORMS, kinds=KINDS)


@bp.get("/marketing/web/conversions/<platform>.csv")
@require_role("marketing", "admin")
def download(platform: str) -> Response:
    """Every conversion recorded for the platform, in its own import format. Metrica's file holds
    one type of id: ?ids=client (ClientId, the default) or ?ids=yclid."""
    if platform not in ("metrica", "google", "google_call"):
        abort(404)
    clinic = _clinic()
    _caught_up()
    batch = items(db(), clinic.id, platform, pending_only=False)
    if platform == "google":
        body = google_csv(clinic, batch)
    elif platform == "google_call":
        body = google_calls_csv(clinic, batch)
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
