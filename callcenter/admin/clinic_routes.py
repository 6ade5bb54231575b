"""/admin/clinic: one clinic's settings and days off; /admin/clinics: the network's clinics.

Which clinic the page edits is `?clinic=<id>` (the staff member's own without it); the session's
scope hides every clinic outside theirs, so another network's clinic answers 404 like a missing
one. Every form is checked whole before anything is written, in one transaction, and audited.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from babel.numbers import format_decimal
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select

from callcenter.access.audit import record as audit
from callcenter.access.auth import current_staff, require_role
from callcenter.access.locale import request_locale
from callcenter.admin import clinic_form, days_off
from callcenter.core import clinic_settings
from callcenter.core.config import LOCALES
from callcenter.core.i18n import N_, t
from callcenter.core.ids import storable
from callcenter.core.inputs import FieldError
from callcenter.core.labels import LANGUAGE_NAMES
from callcenter.core.models import WEEKDAYS, Clinic, StaffClinic, utcnow
from callcenter.core.web import db
from callcenter.messaging import estimate

bp = Blueprint("clinic_admin", __name__, template_folder="templates")

LABELS = {
    "name": N_("Name"), "address": N_("Address"), "timezone": N_("Time zone"),
    "locale": N_("Language"), "region": N_("Country (numbering plan)"),
    "hours_mon": N_("Monday"), "hours_tue": N_("Tuesday"), "hours_wed": N_("Wednesday"),
    "hours_thu": N_("Thursday"), "hours_fri": N_("Friday"), "hours_sat": N_("Saturday"),
    "hours_sun": N_("Sunday"), "morning_until": N_("Morning greeting until"),
    "evening_from": N_("Evening greeting from"), "call_window": N_("Outbound calling window"),
    "caller_id": N_("Caller ID"), "patient_language": N_("Language of new patients"),
    "sms_confirmation": N_("Confirmation by text"), "sms_window": N_("Messaging window"),
    "sms_sender": N_("Text sender"),
    "day": N_("Day"), "reason": N_("Reason"), "year": N_("Year"),
}
DONE = {"saved": N_("Settings saved"), "created": N_("Clinic created"),
        "added": N_("Day off added"), "removed": N_("Day off removed"),
        "imported": N_("Public holidays added: {}")}
CONFIRMATION_MODES = {"off": N_("Off: calls only"), "alone": N_("A text instead of the call"),
                      "before_call": N_("A text, then a call if no reply came"),
                      "fallback": N_("A call, then a text if nobody answered")}


def _locale() -> str:
    return request_locale(current_app.config["LOCALE"])


def _staff_id() -> int:
    staff = current_staff()
    assert staff is not None  # require_role let the request in
    return staff.id


def _clinic(raw: str | None) -> Clinic:
    """The clinic named by the form or query (the staff member's own without one); 404 outside
    their scope, exactly like an id that does not exist."""
    staff = current_staff()
    assert staff is not None
    text = (raw or "").strip()
    if not text:
        clinic_id: int | None = staff.clinic_id
    else:
        clinic_id = int(text) if text.isdecimal() and text.isascii() else None
    clinic = db().get(Clinic, clinic_id) if storable(clinic_id) else None
    if clinic is None:
        abort(404)
    return clinic


def _messages(problems: Mapping[str, FieldError], locale: str) -> dict[str, str]:
    return {field: error.localized(locale) for field, error in problems.items()}


def _done(locale: str) -> str:
    what, _, figure = request.args.get("done", "").partition(":")
    return t(DONE[what], locale).format(figure) if what in DONE else ""


def _reminders(clinic: Clinic, locale: str) -> str:
    found = estimate.reminders(db(), clinic, utcnow(), current_app.config)
    if found is None:
        return ""
    return t("Reminders before visits cost about {cost} a month: {visits} visits in the last 30 days "
             "× {segments} segments × {price}.", locale).format(
        cost=format_decimal(found.cost, locale=locale), visits=found.visits, segments=found.segments,
        price=format_decimal(found.price, locale=locale))


def _settings_page(clinic: Clinic, values: Mapping[str, str], errors: Mapping[str, str],
                   status: int = 200) -> tuple[str, int]:
    locale = _locale()
    config = current_app.config
    start, end = clinic_settings.parse_window(config["CALL_HOURS"])
    text_start, text_end = clinic_settings.parse_window(config["SMS_WINDOW"])
    return render_template(
        "admin/clinic.html", locale=locale, clinic=clinic, values=values, errors=errors,
        labels=LABELS, weekdays=WEEKDAYS, languages=LOCALES, language_names=LANGUAGE_NAMES,
        zones=clinic_form.zones(), message=_done(locale),
        clinics=db().scalars(select(Clinic).order_by(Clinic.name, Clinic.id)).all(),
        days_off=days_off.listed(db(), clinic), this_year=utcnow().year,
        modes={code: t(name, locale) for code, name in CONFIRMATION_MODES.items()},
        reminders=_reminders(clinic, locale),
        installation={"caller_id": config["TWILIO_CALLER_ID"],
                      "call_window": f"{clinic_settings.clock_text(start)}-{clinic_settings.clock_text(end)}",
                      "sms_provider": config["SMS_PROVIDER"], "sms_sender": config["SMS_SENDER"],
                      "sms_confirmation": t(CONFIRMATION_MODES[config["SMS_CONFIRMATION"]], locale),
                      "sms_window": f"{clinic_settings.clock_text(text_start)}-{clinic_settings.clock_text(text_end)}"},
    ), status


@bp.get("/admin/clinic")
@require_role("admin")
def settings_page() -> tuple[str, int]:
    clinic = _clinic(request.args.get("clinic"))
    return _settings_page(clinic, clinic_form.shown(clinic), {})


@bp.post("/admin/clinic")
@require_role("admin")
def save_settings() -> Response | tuple[str, int]:
    clinic = _clinic(request.values.get("clinic"))
    try:
        settings = clinic_form.read(request.form)
    except clinic_form.Problems as exc:
        return _settings_page(clinic, request.form, _messages(exc.problems, _locale()), 400)
    clinic_form.apply(clinic, settings)
    audit(db(), _staff_id(), "update_clinic_settings", "clinic", clinic.id)
    db().commit()
    return redirect(url_for("clinic_admin.settings_page", clinic=clinic.id, done="saved"))


def _day_off_action(action: Callable[[Clinic], tuple[str, dict[str, Any]]]) -> Response | tuple[str, int]:
    """Run one days-off change, all checked first; a refusal re-renders the page naming the field."""
    clinic = _clinic(request.values.get("clinic"))
    try:
        done, details = action(clinic)
    except FieldError as error:
        return _settings_page(clinic, clinic_form.shown(clinic),
                              _messages({error.field: error}, _locale()), 400)
    audit(db(), _staff_id(), done.partition(":")[0] + "_day_off", "clinic", clinic.id, **details)
    db().commit()
    return redirect(url_for("clinic_admin.settings_page", clinic=clinic.id, done=done) + "#days-off")


@bp.post("/admin/clinic/days-off")
@require_role("admin")
def add_day_off() -> Response | tuple[str, int]:
    def add(clinic: Clinic) -> tuple[str, dict[str, Any]]:
        day = days_off.day_of(request.form.get("day", ""))
        reason = days_off.reason_of(request.form.get("reason", ""))
        days_off.add(db(), clinic, day, reason)
        return "added", {"day": day.isoformat()}

    return _day_off_action(add)


@bp.post("/admin/clinic/days-off/delete")
@require_role("admin")
def remove_day_off() -> Response | tuple[str, int]:
    def remove(clinic: Clinic) -> tuple[str, dict[str, Any]]:
        day = days_off.day_of(request.form.get("day", ""))
        if not days_off.remove(db(), clinic, day):
            raise FieldError("day", N_("{value} is not a day off"), value=day.isoformat())
        return "removed", {"day": day.isoformat()}

    return _day_off_action(remove)


@bp.post("/admin/clinic/holidays")
@require_role("admin")
def import_holidays() -> Response | tuple[str, int]:
    def imported(clinic: Clinic) -> tuple[str, dict[str, Any]]:
        year = days_off.year_of(request.form.get("year", ""))
        added = days_off.import_year(db(), clinic, year, clinic.locale)
        return f"imported:{added}", {"year": year, "added": added}

    return _day_off_action(imported)


def _clinics_page(values: Mapping[str, str], errors: Mapping[str, str],
                  status: int = 200) -> tuple[str, int]:
    locale = _locale()
    return render_template(
        "admin/clinics.html", locale=locale, values=values, errors=errors, labels=LABELS,
        languages=LOCALES, language_names=LANGUAGE_NAMES, zones=clinic_form.zones(),
        message=_done(locale),
        clinics=db().scalars(select(Clinic).order_by(Clinic.name, Clinic.id)).all(),
    ), status


@bp.get("/admin/clinics")
@require_role("admin")
def clinics_page() -> tuple[str, int]:
    home = _clinic(None)  # a new clinic starts like the admin's own
    return _clinics_page({"timezone": home.timezone, "locale": home.locale, "region": home.region}, {})


@bp.post("/admin/clinics")
@require_role("admin")
def create_clinic() -> Response | tuple[str, int]:
    """A new clinic of the network; its creator administers it from now on."""
    problems: dict[str, FieldError] = {}
    values = clinic_form.identity(request.form, problems)
    if problems:
        return _clinics_page(request.form, _messages(problems, _locale()), 400)
    clinic = Clinic(**values, opening_hours={})
    db().add(clinic)
    db().flush()
    db().add(StaffClinic(staff_id=_staff_id(), clinic_id=clinic.id))
    audit(db(), _staff_id(), "create_clinic", "clinic", clinic.id, name=clinic.name)
    db().commit()
    return redirect(url_for("clinic_admin.settings_page", clinic=clinic.id, done="created"))

