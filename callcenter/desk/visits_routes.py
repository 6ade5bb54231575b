"""The desk's visits: today's list with arrived / completed (+ treatment) / no-show, the visits
of earlier days nobody marked, and what the doctors must be told. Every action is one function of
`schedule.visits`, the same a sync API calls."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from callcenter.access.audit import record as audit
from callcenter.access.auth import require_role
from callcenter.callscripts.values import doctor_name, format_when, treatment_label
from callcenter.core import followup_table
from callcenter.core.i18n import N_
from callcenter.core.inputs import optional_text
from callcenter.core.labels import PURPOSES
from callcenter.core.models import Appointment, Clinic, DoctorNotice, TreatmentType, utcnow
from callcenter.core.web import db
from callcenter.desk.http_input import DeskError, appointment_by_id, body_json
from callcenter.desk.http_input import desk_clinic as _clinic
from callcenter.desk.http_input import desk_locale as _locale
from callcenter.desk.http_input import desk_staff as _staff
from callcenter.outbound import gap_fill
from callcenter.schedule import booking, notices, visits

bp = Blueprint("visits", __name__, template_folder="templates")
DESK = ("receptionist", "admin")
STATUS_LABELS = {
    "booked": N_("booked"), "confirmed": N_("confirmed"), "call_back": N_("to call"),
    "arrived": N_("arrived"), "completed": N_("completed"), "no_show": N_("did not come"),
}


@bp.errorhandler(DeskError)
@bp.errorhandler(booking.BookingError)
def _refused(exc: DeskError | booking.BookingError) -> tuple[Response, int]:
    body = {"error": "rejected" if isinstance(exc, booking.BookingError) else "invalid_request",
            "field": exc.field, "message": exc.localized(_locale())}
    return jsonify(body), exc.status


def _day(clinic: Clinic) -> date:
    raw = request.args.get("day", "")
    if not raw:
        return utcnow().astimezone(ZoneInfo(clinic.timezone)).date()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise DeskError("day", "expected a date like 2026-03-10") from None


def _name(visit: Appointment) -> str:
    p = visit.patient
    return " ".join(part for part in (p.last_name, p.first_name, p.patronymic) if part)


def _visit(visit: Appointment, clinic: Clinic, locale: str) -> dict[str, Any]:
    local = visit.starts_at.astimezone(ZoneInfo(clinic.timezone))
    return {
        "appointment_id": visit.id, "patient_id": visit.patient_id, "patient": _name(visit),
        "doctor": doctor_name(visit.doctor, locale), "service": visit.service,
        "starts_at": visit.starts_at.isoformat(), "time": local.strftime("%H:%M"),
        "when": format_when(visit.starts_at, clinic.timezone, locale), "status": str(visit.status),
        "status_label": STATUS_LABELS.get(str(visit.status), str(visit.status)),
        "wants_earlier": visit.wants_earlier,
    }


def _notice(notice: DoctorNotice, locale: str) -> dict[str, Any]:
    p = notice.patient
    return {"notice_id": notice.id, "doctor": doctor_name(notice.doctor, locale),
            "patient_id": notice.patient_id,
            "patient": " ".join(x for x in (p.last_name, p.first_name, p.patronymic) if x),
            "note": notice.note, "created_at": notice.created_at.isoformat()}


def _lists(clinic: Clinic, day: date, locale: str) -> dict[str, Any]:
    session, now = db(), utcnow()
    found = {
        "day": day.isoformat(),
        "visits": [_visit(v, clinic, locale) for v in visits.day_visits(session, clinic.id, day,
                                                                           clinic.timezone)],
        "unresolved": [_visit(v, clinic, locale)
                       for v in visits.unresolved(session, clinic.id, now, clinic.timezone)],
        "notices": [_notice(n, locale) for n in notices.open_notices(session, clinic.id)],
    }
    patients = sorted({row["patient_id"] for key in ("visits", "unresolved", "notices")
                       for row in found[key]})
    audit(session, _staff().id, "view_visits", "clinic", clinic.id, patient_ids=patients)
    session.commit()
    return found


@bp.get("/desk/visits")
@require_role(*DESK)
def page() -> str:
    clinic, locale = _clinic(), _locale()
    found = _lists(clinic, _day(clinic), locale)
    return render_template("desk/visits.html", locale=locale, statuses=STATUS_LABELS, purposes=PURPOSES,
                           treatments=[(k.value, treatment_label(k, locale)) for k in TreatmentType],
                           **found)


@bp.get("/api/desk/visits")
@require_role(*DESK)
def listing() -> Response:
    clinic = _clinic()
    return jsonify(_lists(clinic, _day(clinic), _locale()))


def _done(visit: Appointment, action: str, **extra: Any) -> Response:
    audit(db(), _staff().id, action, "appointment", visit.id, status=str(visit.status))
    db().commit()
    return jsonify({"appointment_id": visit.id, "status": str(visit.status), **extra})


@bp.post("/api/desk/visits/<int:appointment_id>/arrived")
@require_role(*DESK)
def arrived(appointment_id: int) -> Response:
    visit = appointment_by_id(appointment_id)
    visits.arrived(visit, now=utcnow(), tz=_clinic(visit.clinic_id).timezone)
    return _done(visit, "visit_arrived")


@bp.post("/api/desk/visits/<int:appointment_id>/completed")
@require_role(*DESK)
def completed(appointment_id: int) -> Response:
    """{"treatments": ["filling", ...], "notes": "..."}: what was done starts its follow-ups."""
    visit = appointment_by_id(appointment_id)
    body = body_json()
    raw = body.get("treatments")
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise DeskError("treatments", "expected a list of treatment types")
    try:
        kinds = [TreatmentType(value) for value in raw]
    except ValueError:
        raise DeskError("treatments", "one of: {choices}",
                        choices=", ".join(k.value for k in TreatmentType)) from None
    clinic = _clinic(visit.clinic_id)
    done = visits.completed(db(), visit, kinds, now=utcnow(), tz=clinic.timezone,
                            notes=optional_text(DoctorNotice.note, body, "notes"),
                            table=followup_table.schedule(current_app.config["FOLLOWUP_SCHEDULE"]))
    return _done(visit, "visit_completed", treatments=[t.id for t in done.treatments],
                 follow_ups={k.value: [d.isoformat() for d in days] for k, days in done.follow_ups.items()},
                 follow_up_task_id=done.first_task.id if done.first_task else None)


@bp.post("/api/desk/visits/<int:appointment_id>/no-show")
@require_role(*DESK)
def no_show(appointment_id: int) -> Response:
    visit = appointment_by_id(appointment_id)
    task = visits.no_show(db(), visit, now=utcnow(), tz=_clinic(visit.clinic_id).timezone)
    return _done(visit, "visit_no_show", call_back_task_id=task.id)


@bp.post("/api/desk/visits/<int:appointment_id>/waiting-list")
@require_role(*DESK)
def waiting_list(appointment_id: int) -> Response:
    """{"wants_earlier": true}: offer this patient an earlier slot when one frees up."""
    visit = appointment_by_id(appointment_id)
    wanted = body_json().get("wants_earlier")
    if not isinstance(wanted, bool):
        raise DeskError("wants_earlier", "expected true or false")
    visit.wants_earlier = wanted
    gap_fill.offer_now(db(), _clinic(visit.clinic_id), utcnow())
    return _done(visit, "visit_waiting_list", wants_earlier=wanted)


@bp.post("/api/desk/notices/<int:notice_id>/seen")
@require_role(*DESK)
def notice_seen(notice_id: int) -> Response:
    notice = db().get(DoctorNotice, notice_id)  # another clinic's is None: the session's scope
    if notice is None:
        raise DeskError("notice_id", "no such notice", 404)
    notices.mark_seen(notice, utcnow())
    audit(db(), _staff().id, "doctor_notice_seen", "patient", notice.patient_id, notice_id=notice.id)
    db().commit()
    return jsonify({"notice_id": notice.id, "seen_at": notice.seen_at.isoformat() if notice.seen_at else None})
