"""/marketing dashboard, /api/analytics JSON and CSV exports: aggregates only, never patients."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, get_day_names
from babel.numbers import format_decimal, format_percent
from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request
from markupsafe import Markup
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from callcenter.access.audit import record as audit
from callcenter.access.auth import current_staff, require_role
from callcenter.access.locale import request_locale
from callcenter.analytics import REPORTS, Filters, Granularity, Row, network
from callcenter.analytics.svg_charts import Series, bar_chart, column_chart
from callcenter.analytics.texts import (
    COLUMNS,
    DEFINITIONS,
    GROUPS,
    LINE_LABELS,
    NONE_LABEL,
    PURPOSES,
    SECTIONS,
)
from callcenter.core.i18n import Text, t
from callcenter.core.ids import MAX_ID
from callcenter.core.inputs import InputError
from callcenter.core.models import Channel, Clinic, TrackingNumber
from callcenter.core.web import db, session_opener

bp = Blueprint("marketing", __name__, template_folder="templates")

MAX_DAYS = 3 * 366
NETWORK = "all"  # ?clinic=all: every clinic of the viewer's network, summed
HIDDEN = {"channel_id", "tracking_number_id", "staff_id", "campaign_id", "line"}
RATES = {"booking_rate", "arrival_rate", "show_rate", "missed_share", "called_back_share",
         "achieved", "reached_rate", "confirmation_rate", "booked_rate"}
TEXT_COLUMNS = {"period", "month", "channel", "tracking_number", "tracking_channel", "heard_channel",
                "receptionist", "campaign", "purpose"}
# What an empty name means, per (report, column); "" = any report.

def _day(args: MultiDict[str, str], field: str, default: date) -> date:
    raw = args.get(field, "").strip()
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InputError(field, "expected a date like 2026-03-31") from None


def _ids(args: MultiDict[str, str], field: str) -> tuple[int, ...]:
    values = [v.strip() for v in args.getlist(field) if v.strip()]
    if not all(v.isdecimal() and v.isascii() and int(v) <= MAX_ID for v in values):
        raise InputError(field, "expected numeric ids")
    return tuple(int(v) for v in values)


def parse_filters(args: MultiDict[str, str], clinic: Clinic, config: dict[str, Any],
                  today: date) -> Filters:
    """Filters from query arguments; a bad one answers 400 naming the argument."""
    end = _day(args, "to", today)
    start = _day(args, "from", end - timedelta(days=29))
    if start > end:
        raise InputError("from", "the start is after the end of the period")
    if (end - start).days >= MAX_DAYS:
        raise InputError("from", "the period may span at most {days} days", days=MAX_DAYS)
    group = args.get("group", Granularity.DAY.value)
    if group not in Granularity.__members__.values():
        raise InputError("group", "one of {values}", values="day, week, month")
    window = args.get("window", str(config["ATTRIBUTION_DAYS"])).strip()
    if not window.isdigit() or not 1 <= int(window) <= 365:
        raise InputError("window", "whole days from 1 to 365")
    return Filters(clinic_id=clinic.id, tz=ZoneInfo(clinic.timezone), start=start, end=end,
                   granularity=Granularity(group), channel_ids=_ids(args, "channel"),
                   tracking_number_ids=_ids(args, "number"), window_days=int(window),
                   invitation_target=config["INVITATIONS_TARGET"], sms_price=float(config["SMS_PRICE"]))


def picked_clinics(args: MultiDict[str, str], home: Clinic) -> list[Clinic]:
    """?clinic=<id> one clinic, ?clinic=all every clinic of the viewer's network, none: their own.
    The session's scope hides other networks' clinics: their id answers 404 like a missing one."""
    raw = args.get("clinic", "").strip()
    if not raw:
        return [home]
    if raw == NETWORK:
        return list(db().scalars(select(Clinic).order_by(Clinic.id)))
    if not (raw.isdecimal() and raw.isascii() and int(raw) <= MAX_ID):
        raise InputError("clinic", "a clinic id or 'all'")
    clinic = db().get(Clinic, int(raw))
    if clinic is None:
        abort(404, description="clinic: not found")
    return [clinic]


def _context() -> tuple[Clinic, list[Filters], list[Clinic]]:
    """The clinic whose calendar the period is read in (the one picked, or the viewer's own for
    the network), each picked clinic's filters on its own clock, and the clinics."""
    staff = current_staff()
    assert staff is not None  # require_role let the request in
    home = db().get(Clinic, staff.clinic_id)
    if home is None:
        abort(404, description="clinic: not found")
    clinics = picked_clinics(request.args, home)
    clinic = clinics[0] if len(clinics) == 1 else home
    today = datetime.now(UTC).astimezone(ZoneInfo(clinic.timezone)).date()
    flt = parse_filters(request.args, clinic, current_app.config, today)
    return clinic, [replace(flt, clinic_id=c.id, tz=ZoneInfo(c.timezone)) for c in clinics], clinics


def _report(name: str) -> Any:
    report = REPORTS.get(name)
    if report is None:
        abort(404, description=f"report: unknown {name!r} (one of {', '.join(REPORTS)})")
    return report


def _built(names: list[str], filters: list[Filters]) -> dict[str, list[Row]]:
    """The named reports for the picked clinics, as many at a time as the settings allow."""
    return network.build_many(db(), names, filters, session_opener(), current_app.config["REPORT_THREADS"])


def _filters_json(filters: list[Filters]) -> dict[str, Any]:
    flt = filters[0]
    return {"from": flt.start.isoformat(), "to": flt.end.isoformat(), "group": flt.granularity.value,
            "channel": list(flt.channel_ids), "number": list(flt.tracking_number_ids),
            "window": flt.window_days, "timezone": flt.tz.key,
            "clinic": [f.clinic_id for f in filters]}


def definitions(locale: str) -> dict[str, str]:
    return {key: t(text, locale) for key, text in DEFINITIONS.items()}


@bp.get("/api/analytics")
@require_role("marketing", "admin")
def api_index() -> Response:
    locale = request_locale(current_app.config["LOCALE"])
    return jsonify({"reports": {n: list(r.columns) for n, r in REPORTS.items()},
                    "definitions": definitions(locale)})


@bp.get("/api/analytics/<name>")
@require_role("marketing", "admin")
def api_report(name: str) -> Response:
    report = _report(name)
    _, filters, _ = _context()
    return jsonify({"report": name, "filters": _filters_json(filters), "columns": list(report.columns),
                    "rows": _built([name], filters)[name]})


@bp.get("/marketing/export/<name>.csv")
@require_role("marketing", "admin")
def export_csv(name: str) -> Response:
    report = _report(name)
    _, filters, _ = _context()
    flt = filters[0]
    rows = _built([name], filters)[name]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=report.columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    staff = current_staff()
    audit(db(), staff.id if staff else None, "export", "analytics", name, **_filters_json(filters))
    db().commit()
    filename = f"{name}_{flt.start.isoformat()}_{flt.end.isoformat()}.csv"
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


class _Formatter:
    """Turns report rows into the strings a table cell shows, in the viewer's language."""

    def __init__(self, locale: str, flt: Filters) -> None:
        self.locale = locale
        self.flt = flt
        self.weekdays = get_day_names("abbreviated", locale=locale)

    def period(self, iso: str) -> str:
        day = date.fromisoformat(iso)
        if self.flt.granularity is Granularity.MONTH:
            return format_date(day, "LLL yyyy", locale=self.locale)
        return format_date(day, "d MMM", locale=self.locale)

    def cell(self, column: str, value: Any, report: str = "", line: str | None = None) -> str:
        if value is None and column == "channel" and line in LINE_LABELS:
            return t(LINE_LABELS[line], self.locale)
        if value is None:
            label = NONE_LABEL.get((report, column)) or NONE_LABEL.get(("", column))
            return t(label, self.locale) if label else "—"
        if column in RATES:
            return format_percent(value, "#,##0.0%", locale=self.locale)
        if column == "period":
            return self.period(value)
        if column == "weekday":
            return str(self.weekdays[value])
        if column == "hour":
            return f"{value:02d}:00"
        if column == "purpose":
            return t(PURPOSES.get(value, value), self.locale)
        if column == "month":
            return format_date(date.fromisoformat(value + "-01"), "LLL yyyy", locale=self.locale)
        if isinstance(value, int | float):
            return format_decimal(value, locale=self.locale)
        return str(value)

    def table(self, name: str, rows: list[Row]) -> dict[str, Any]:
        columns = [c for c in REPORTS[name].columns if c not in HIDDEN]
        return {"name": name, "columns": columns, "text": [c in TEXT_COLUMNS for c in columns],
                "rows": [[self.cell(c, row.get(c), name, row.get("line")) for c in columns]
                         for row in rows]}

    def label(self, column: str, row: Row) -> str:
        return self.cell(column, row.get(column), line=row.get("line"))


def _charts(data: dict[str, list[Row]], fmt: _Formatter, tr: Any) -> dict[str, Markup]:
    summary = data["summary"][0]
    stages = ["calls", "unique_callers", "first_time_callers", "bookings", "arrivals"]
    periods = data["periods"]
    channels = data["channels"][:10]
    return {
        "funnel": bar_chart(tr(SECTIONS["funnel"]), [tr(COLUMNS[s]) for s in stages],
                            [Series(tr(COLUMNS["calls"]), [summary[s] for s in stages])]),
        "periods": column_chart(
            tr(SECTIONS["periods"]), [fmt.label("period", r) for r in periods],
            [Series(tr(COLUMNS["answered"]), [r["answered"] for r in periods]),
             Series(tr(COLUMNS["missed"]), [r["missed"] for r in periods])], stacked=True),
        "bookings": column_chart(
            tr(SECTIONS["periods"]), [fmt.label("period", r) for r in periods],
            [Series(tr(COLUMNS["bookings"]), [r["bookings"] for r in periods]),
             Series(tr(COLUMNS["arrivals"]), [r["arrivals"] for r in periods])]),
        "channels": bar_chart(
            tr(SECTIONS["channels"]), [fmt.label("channel", r) for r in channels],
            [Series(tr(COLUMNS[s]), [r[s] for r in channels])
             for s in ("calls", "bookings", "arrivals")]),
        "hours": column_chart(
            tr(SECTIONS["hours"]), [fmt.label("hour", r)[:2] for r in data["hours"]],
            [Series(tr(COLUMNS["answered"]), [r["answered"] for r in data["hours"]]),
             Series(tr(COLUMNS["missed"]), [r["missed"] for r in data["hours"]])],
            stacked=True, width=470),
        "weekdays": column_chart(
            tr(SECTIONS["weekdays"]), [fmt.label("weekday", r) for r in data["weekdays"]],
            [Series(tr(COLUMNS["answered"]), [r["answered"] for r in data["weekdays"]]),
             Series(tr(COLUMNS["missed"]), [r["missed"] for r in data["weekdays"]])],
            stacked=True, width=470),
    }


@bp.get("/marketing")
@require_role("marketing", "admin")
def dashboard() -> str:
    clinic, filters, clinics = _context()
    flt = filters[0]
    locale = request_locale(clinic.locale or current_app.config["LOCALE"])
    session = db()
    data = _built(list(REPORTS), filters)
    fmt = _Formatter(locale, flt)

    def tr(message: str | Text) -> str:
        return t(message, locale)

    channels = session.scalars(select(Channel).order_by(Channel.name)).all()
    numbers = session.scalars(select(TrackingNumber).where(
        TrackingNumber.clinic_id.in_([c.id for c in clinics])).order_by(TrackingNumber.e164)).all()
    return render_template(
        "marketing/dashboard.html", locale=locale, columns=COLUMNS, sections=SECTIONS,
        groups=GROUPS, clinic=clinic, flt=flt, network=len(clinics) > 1,
        picked=request.args.get("clinic", "").strip(),
        all_clinics=session.scalars(select(Clinic).order_by(Clinic.name, Clinic.id)).all(),
        query=request.query_string.decode(), channels=channels, numbers=numbers,
        summary={k: fmt.cell(k, v) for k, v in data["summary"][0].items()},
        tables={name: fmt.table(name, rows) for name, rows in data.items()},
        charts=_charts(data, fmt, tr), granularities=[g.value for g in Granularity],
        defs=definitions(locale),
    )
