"""The desk's schedule: day and week by doctor, booking a free slot (standalone, or for the
patient of a call's card), moving and undoing a visit, today's arrivals, and the patient search
every desk page opens with "/"."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, jsonify, render_template, request
from sqlalchemy import select
from werkzeug.exceptions import NotFound

from callcenter.access.audit import record as audit
from callcenter.access.auth import require_role
from callcenter.callscripts.values import doctor_name
from callcenter.core.inputs import FieldError, InputError, problem
from callcenter.core.models import Clinic, Patient, Service, utcnow
from callcenter.core.phones import display
from callcenter.core.price_list import service_name
from callcenter.core.web import db
from callcenter.desk.booking_input import book_from_body, booked_json, booking_refusal
from callcenter.desk.http_input import (
    appointment_by_id,
    body_json,
    call_by_id,
    desk_clinic,
    desk_locale,
    desk_staff,
    id_field,
    patient_by_id,
    time_field,
)
from callcenter.desk.patient_search import search
from callcenter.desk.popcard import full_name
from callcenter.schedule import board as schedule_board
from callcenter.schedule import booking

bp = Blueprint("desk_schedule", __name__, template_folder="templates")

DESK = ("receptionist", "admin")
VIEWS = {"day": 1, "week": 7}


@bp.errorhandler(FieldError)
def _refused(exc: FieldError) -> tuple[Response, int]:
    if isinstance(exc, booking.BookingError):
        return booking_refusal(exc, desk_locale())
    body = {"error": "invalid_request", "field": exc.field, "message": exc.localized(desk_locale())}
    return jsonify(body), exc.status


def _first_day(clinic: Clinic, view: str) -> date:
    today = utcnow().astimezone(ZoneInfo(clinic.timezone)).date()
    raw = request.args.get("day", "")
    try:
        day = date.fromisoformat(raw) if raw else today
    except ValueError:
        raise NotFound() from None
    return day - timedelta(days=day.weekday()) if view == "week" else day


@bp.get("/desk/schedule")
@require_role(*DESK)
def page() -> str:
    """Server-rendered: free slots are buttons schedule.js books; visits carry their actions."""
    clinic, locale, now = desk_clinic(), desk_locale(), utcnow()
    view = request.args.get("view", "day")
    view = view if view in VIEWS else "day"
    first = _first_day(clinic, view)
    patient_id = request.args.get("patient_id", type=int)
    patient = patient_by_id(patient_id) if patient_id else None
    call_id = request.args.get("call_id", type=int)
    call = call_by_id(call_id) if call_id else None
    grid = schedule_board.build(db(), clinic, first, VIEWS[view], now)
    arrivals = schedule_board.arrivals(db(), clinic, now)
    services = sorted(({"id": s.id, "name": service_name(s, locale, clinic.locale),
                        "minutes": s.duration_minutes}
                       for s in db().scalars(select(Service).where(Service.clinic_id == clinic.id,
                                                                   Service.active.is_(True)))),
                      key=lambda s: str(s["name"]).casefold())
    shown = sorted({c.visit.patient_id for col in grid.columns.values() for c in col.cells if c.visit}
                   | {a.patient_id for a in arrivals} | ({patient.id} if patient else set()))
    audit(db(), desk_staff().id, "view_schedule", "clinic", clinic.id, patient_ids=shown,
          first=first.isoformat(), view=view)
    db().commit()
    step = timedelta(days=VIEWS[view])
    return render_template(
        "desk/schedule.html", locale=locale, clinic=clinic, board=grid, arrivals=arrivals, view=view,
        first=first, previous=first - step, following=first + step, patient=patient, call=call,
        zone=ZoneInfo(clinic.timezone), full_name=full_name, doctor_name=doctor_name,
        services=services, now=now,
        config={"patient_id": patient.id if patient else None, "call_id": call.id if call else None,
                "patient_name": full_name(patient) if patient else None})


@bp.post("/api/desk/schedule/book")
@require_role(*DESK)
def book() -> Response:
    """A free slot clicked on the schedule, for the chosen patient (and the call, when the
    schedule was opened from a call's card: the booking is then the call's, once)."""
    body = body_json()
    patient = patient_by_id(id_field(body, "patient_id") or 0)
    call_id = id_field(body, "call_id", required=False)
    call = call_by_id(call_id) if call_id else None
    appointment = book_from_body(db(), body, desk_clinic(patient.clinic_id), patient, call=call)
    audit(db(), desk_staff().id, "book", "appointment", appointment.id, call_id=call_id, via="schedule")
    db().commit()
    return jsonify(booked_json(appointment))


@bp.post("/api/desk/appointments/<int:appointment_id>/move")
@require_role(*DESK)
def move(appointment_id: int) -> Response:
    """To another free time (or doctor), with every check of a new booking."""
    appointment = appointment_by_id(appointment_id)
    body = body_json()
    moved = booking.reschedule(db(), appointment, doctor_id=id_field(body, "doctor_id", required=False),
                               starts_at=time_field(body, "starts_at"), now=utcnow())
    audit(db(), desk_staff().id, "move", "appointment", appointment.id, to=moved.id)
    db().commit()
    return jsonify({"moved": appointment.id, **booked_json(moved)})


@bp.post("/api/desk/appointments/<int:appointment_id>/undo")
@require_role(*DESK)
def undo(appointment_id: int) -> Response:
    """The booking just made, taken back within seconds (the toast's Undo)."""
    appointment = appointment_by_id(appointment_id)
    booking.undo(db(), appointment, now=utcnow())
    audit(db(), desk_staff().id, "undo_booking", "appointment", appointment.id)
    db().commit()
    return jsonify({"appointment_id": appointment.id, "status": str(appointment.status)})


def _found(patient: Patient, region: str) -> dict[str, Any]:
    return {"id": patient.id, "name": full_name(patient),
            "birth_date": patient.birth_date.isoformat() if patient.birth_date else None,
            "phones": [display(p.e164, region) for p in patient.phones]}


@bp.get("/api/desk/patients/search")
@require_role(*DESK)
def patient_search() -> Response:
    """By name, number or birth date, in the staff member's clinics only; audited as a view."""
    query = request.args.get("q", "")
    reason = problem(query)
    if reason is not None:
        raise InputError("q", reason)
    clinic = desk_clinic()
    found = search(db(), query, clinic.region)
    audit(db(), desk_staff().id, "search_patients", "clinic", clinic.id,
          patient_ids=[p.id for p in found])
    db().commit()
    return jsonify({"patients": [_found(p, clinic.region) for p in found]})
