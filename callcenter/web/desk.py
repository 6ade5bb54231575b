"""The receptionist's desk: the page, its live SSE feed, the patient card and the desk's JSON API."""

from __future__ import annotations

import re
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request, session
from sqlalchemy import or_, select

from .. import booking, clicktocall, desk_feed, desk_lists, leads
from ..attribution import set_heard_from
from ..audit import record as audit
from ..auth import current_staff, require_role
from ..i18n import MESSAGES, request_locale
from ..inputs import optional_text, text
from ..models import (
    Appointment,
    Call,
    CallOutcome,
    CallStatus,
    Channel,
    Clinic,
    Patient,
    Staff,
    StaffRole,
    utcnow,
)
from ..passwords import verify_password
from ..popcard import build_card
from ..script_values import doctor_name
from . import db, runtime
from .auth import login_throttle
from .ids import storable

bp = Blueprint("desk", __name__)

DESK = ("receptionist", "admin")
# app.extensions key of the Event that ends every open desk stream (set it before shutting down).
STREAMS_STOP = "desk_streams_stop"
STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
ACTIVE_WINDOW = timedelta(hours=2)
DESK_OUTCOMES = (CallOutcome.BOOKED, CallOutcome.RESCHEDULED, CallOutcome.CANCELLED,
                 CallOutcome.INFORMATION, CallOutcome.COMPLAINT, CallOutcome.NON_PATIENT,
                 CallOutcome.WRONG_NUMBER)


class DeskError(Exception):
    def __init__(self, field: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.status = status


@bp.errorhandler(DeskError)
def _desk_error(exc: DeskError) -> tuple[Response, int]:
    return jsonify({"error": "invalid_request", "field": exc.field, "message": exc.message}), exc.status


@bp.errorhandler(booking.BookingError)
def _booking_error(exc: booking.BookingError) -> tuple[Response, int]:
    return jsonify({"error": "rejected", "field": exc.field, "message": exc.message}), 409


@bp.before_request
def _refuse_when_locked() -> Any:
    # A locked desk shows no patient data until the password is entered again.
    if session.get("desk_locked") and request.endpoint not in ("desk.page", "desk.unlock", "desk.lock"):
        return jsonify({"error": "locked", "message": "the desk is locked; enter your password"}), 423
    return None


def _staff() -> Staff:
    staff = current_staff()
    assert staff is not None  # require_role ran first
    return staff


def _clinic() -> Clinic:
    clinic = db().get(Clinic, _staff().clinic_id)
    assert clinic is not None
    return clinic


def _locale() -> str:
    return request_locale(current_app.config["LOCALE"])


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise DeskError("body", "expected a JSON object")
    return body


def _time(body: dict[str, Any], name: str, required: bool = True) -> datetime | None:
    value = body.get(name)
    if value in (None, ""):
        if required:
            raise DeskError(name, "required")
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise DeskError(name, "expected an ISO 8601 date-time with offset") from None
    if parsed.tzinfo is None:
        raise DeskError(name, "time zone offset required")
    return parsed


def _int(body: dict[str, Any], name: str, required: bool = True) -> int | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not storable(value):
        raise DeskError(name, "expected an integer id")
    return value


def _call(call_id: int) -> Call:
    call = db().get(Call, call_id)
    if call is None or call.clinic_id != _staff().clinic_id:
        raise DeskError("call_id", "no such call", 404)
    return call


def _patient(patient_id: int) -> Patient:
    patient = db().get(Patient, patient_id)
    if patient is None or patient.clinic_id != _staff().clinic_id or patient.erased_at is not None:
        raise DeskError("patient_id", "no such patient", 404)
    return patient


def _appointment(appointment_id: int) -> Appointment:
    appointment = db().get(Appointment, appointment_id)
    if appointment is None or appointment.clinic_id != _staff().clinic_id:
        raise DeskError("appointment_id", "no such appointment", 404)
    return appointment


def _card(call_id: int, via: str) -> Response:
    """The card as JSON, audited as a view (the write happens after the read-only build)."""
    session = db()
    card = build_card(session, call_id, utcnow(), _locale(), speaker=_staff())
    if card is None:
        raise DeskError("call_id", "no such call", 404)
    session.rollback()
    desk_feed.audit_card_view(session, _staff().id, card, via=via)
    session.commit()
    return jsonify(card)


def _stream_position() -> str:
    try:
        return desk_feed.resolve_start(runtime(), "$")
    except Exception:  # Redis down at page load: the stream resumes from "now" when it reconnects
        return "$"


@bp.get("/desk")
@require_role(*DESK)
def page() -> str:
    staff = _staff()
    locale = _locale()
    channels = db().scalars(select(Channel).where(Channel.offered_as_answer.is_(True))
                            .order_by(Channel.name)).all()
    doctors = db().scalars(select(Staff).where(Staff.clinic_id == staff.clinic_id,
                                               Staff.role == StaffRole.DOCTOR,
                                               Staff.active.is_(True))
                           .order_by(Staff.last_name)).all()
    texts = {key.removeprefix("desk."): (entry.get(locale) or entry["en"])
             for key, entry in MESSAGES.items() if key.startswith("desk.")}
    return render_template(
        "desk/desk.html", locale=locale, staff=staff, texts=texts, channels=channels,
        doctors_json=[{"id": d.id, "name": doctor_name(d, locale)} for d in doctors],
        outcomes=[o.value for o in DESK_OUTCOMES], staff_clinic_tz=_clinic().timezone,
        start_id=_stream_position(), locked=bool(session.get("desk_locked")),
        lock_minutes=current_app.config["DESK_LOCK_MINUTES"],
    )


@bp.get("/desk/stream")
@require_role(*DESK)
def stream() -> Response:
    staff = _staff()
    last_id = request.headers.get("Last-Event-ID") or request.args.get("from") or "$"
    if last_id != "$" and not STREAM_ID.match(last_id):
        raise DeskError("Last-Event-ID", "expected a stream id like 1700000000000-0")
    desk = desk_feed.Desk(staff.id, staff.clinic_id, staff.sip_extension, _locale())
    stop = current_app.extensions.setdefault(STREAMS_STOP, threading.Event())
    body = desk_feed.stream(runtime(), desk, last_id, time.monotonic, time.sleep, stop)
    return Response(body, mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@bp.get("/desk/patients/<int:patient_id>")
@require_role(*DESK)
def patient_page(patient_id: int) -> str:
    from ..popcard import patient_summaries

    patient = _patient(patient_id)
    locale = _locale()
    summary = patient_summaries(db(), _clinic(), [patient.id], utcnow(), locale)[0]
    audit(db(), _staff().id, "view_patient", "patient", patient.id, via="card_page")
    db().commit()
    return render_template("desk/patient.html", locale=locale, patient=summary)


@bp.get("/api/desk/active")
@require_role(*DESK)
def active() -> Response:
    """Calls ringing at this desk (or everywhere) or in talk here: what a reloaded page shows."""
    staff = _staff()
    since = utcnow() - ACTIVE_WINDOW
    rows = db().scalars(select(Call.id).where(
        Call.clinic_id == staff.clinic_id, Call.started_at >= since,
        or_((Call.status == CallStatus.RINGING)
            & (or_(Call.extension.is_(None), Call.extension == staff.sip_extension)),
            (Call.status == CallStatus.ANSWERED) & (Call.extension == staff.sip_extension)),
    ).order_by(Call.started_at)).all()
    cards = []
    for call_id in rows:
        card = build_card(db(), call_id, utcnow(), _locale(), speaker=staff)
        if card is not None:
            cards.append(card)
    db().rollback()
    for card in cards:
        desk_feed.audit_card_view(db(), staff.id, card, via="reload")
    db().commit()
    return jsonify({"cards": cards})


@bp.get("/api/desk/calls/<int:call_id>/card")
@require_role(*DESK)
def card(call_id: int) -> Response:
    _call(call_id)
    return _card(call_id, "card")


@bp.post("/api/desk/calls/<int:call_id>/patient")
@require_role(*DESK)
def pick_patient(call_id: int) -> Response:
    """A family number: the receptionist picks who is calling."""
    call = _call(call_id)
    patient = _patient(_int(_body(), "patient_id") or 0)
    call.patient_id = patient.id
    audit(db(), _staff().id, "pick_patient", "call", call.id, patient_id=patient.id)
    db().commit()
    return _card(call_id, "pick")


@bp.post("/api/desk/calls/<int:call_id>/new-patient")
@require_role(*DESK)
def new_patient(call_id: int) -> Response:
    """A card for an unknown caller, with the number they called from."""
    call = _call(call_id)
    body = _body()
    given = {name: optional_text(getattr(Patient, name), body, name) for name in ("last_name", "first_name", "patronymic", "notes")}
    language = optional_text(Patient.preferred_language, body, "language") or _clinic().locale
    try:
        patient = leads.patient_from_call(db(), call, language=language, **given)
    except ValueError as exc:
        raise DeskError("first_name", str(exc)) from None
    audit(db(), _staff().id, "create_patient", "patient", patient.id, call_id=call.id)
    db().commit()
    return _card(call_id, "new_patient")


@bp.post("/api/desk/calls/<int:call_id>/wrap-up")
@require_role(*DESK)
def wrap_up(call_id: int) -> Response:
    """Outcome, the "how did you hear" answer and notes."""
    call = _call(call_id)
    body = _body()
    if "outcome" in body:
        try:
            outcome = CallOutcome(body["outcome"])
        except ValueError:
            raise DeskError("outcome", "one of: " + ", ".join(o.value for o in CallOutcome)) from None
        booking.check_outcome(db(), call, outcome)
        call.outcome = outcome
    if "heard_from" in body:
        try:
            set_heard_from(db(), call, optional_text(Channel.code, body, "heard_from") or None, optional_text(Call.heard_from_note, body, "heard_from_note"))
        except LookupError as exc:
            raise DeskError("heard_from", str(exc)) from None
    if "notes" in body:
        call.notes = text(Call.notes, body["notes"], "notes")
    call.agent_id = call.agent_id or _staff().id
    audit(db(), _staff().id, "wrap_up_call", "call", call.id, fields=sorted(body))
    db().commit()
    return jsonify({"call_id": call.id, "outcome": str(call.outcome) if call.outcome else None})


@bp.post("/api/desk/calls/<int:call_id>/book")
@require_role(*DESK)
def book(call_id: int) -> Response:
    """Book one of the offered slots, or another free time, for the call's patient."""
    call = _call(call_id)
    body = _body()
    patient = _patient(_int(body, "patient_id", required=False) or call.patient_id or 0)
    appointment = booking.book(db(), clinic=_clinic(), patient=patient,
                               doctor_id=_int(body, "doctor_id") or 0,
                               starts_at=_time(body, "starts_at"), ends_at=_time(body, "ends_at", False),
                               service=optional_text(Appointment.service, body, "service"), now=utcnow(), call=call)
    audit(db(), _staff().id, "book", "appointment", appointment.id, call_id=call.id)
    db().commit()
    return jsonify({"appointment_id": appointment.id, "status": str(appointment.status),
                    "starts_at": appointment.starts_at.isoformat()})


@bp.post("/api/desk/appointments/<int:appointment_id>/cancel")
@require_role(*DESK)
def cancel(appointment_id: int) -> Response:
    """Cancel with the agreed next contact: {starts_at[, doctor_id]} or {call_back_at}."""
    appointment = _appointment(appointment_id)
    body = _body()
    call_id = _int(body, "call_id", required=False)
    call = _call(call_id) if call_id else None
    result = booking.cancel(db(), appointment, booking.NextContact(
        starts_at=_time(body, "starts_at", False), doctor_id=_int(body, "doctor_id", False),
        call_back_at=_time(body, "call_back_at", False)), now=utcnow(), call=call)
    audit(db(), _staff().id, "cancel", "appointment", appointment.id,
          call_id=call_id, next=type(result).__name__)
    db().commit()
    if isinstance(result, Appointment):
        return jsonify({"cancelled": appointment.id, "appointment_id": result.id,
                        "starts_at": result.starts_at.isoformat()})
    return jsonify({"cancelled": appointment.id, "task_id": result.id,
                    "call_back_at": result.next_attempt_at.isoformat() if result.next_attempt_at else None})


@bp.post("/api/desk/appointments/<int:appointment_id>/mark")
@require_role(*DESK)
def mark(appointment_id: int) -> Response:
    """The confirmation result: {"mark": "confirmed"} or {"mark": "call"}."""
    appointment = _appointment(appointment_id)
    booking.mark(appointment, str(_body().get("mark", "")))
    audit(db(), _staff().id, "mark", "appointment", appointment.id, status=str(appointment.status))
    db().commit()
    return jsonify({"appointment_id": appointment.id, "status": str(appointment.status)})


@bp.get("/api/desk/lists")
@require_role(*DESK)
def lists() -> Response:
    clinic, now, session_ = _clinic(), utcnow(), db()
    return jsonify({
        "missed": desk_lists.missed_to_return(session_, clinic, now),
        "confirmations": desk_lists.confirmations_today(session_, clinic, now, _locale()),
        "call_backs": desk_lists.call_backs_due(session_, clinic, now),
    })


@bp.post("/api/desk/dial")
@require_role(*DESK)
def dial() -> Response:
    """Click-to-call: ring this receptionist's headset, then the number."""
    staff = _staff()
    body = _body()
    number = body.get("number")
    if not isinstance(number, str) or not number:
        raise DeskError("number", "required (E.164)")
    try:
        call_id = clicktocall.dial(runtime(), staff, number,
                                   task_id=_int(body, "task_id", required=False))
    except clicktocall.DialError as exc:
        raise DeskError(exc.field, exc.message, exc.status) from None
    return jsonify({"call_id": call_id})


@bp.post("/api/desk/lock")
@require_role(*DESK)
def lock() -> Response:
    session["desk_locked"] = True
    return jsonify({"locked": True})


@bp.post("/api/desk/unlock")
@require_role(*DESK)
def unlock() -> Response | tuple[Response, int]:
    body = request.get_json(silent=True)
    password = str(body.get("password", "")) if isinstance(body, dict) else ""
    staff = _staff()
    name, address, now = staff.login or str(staff.id), request.remote_addr or "", time.time()
    wait = login_throttle().refused(name, address, now)
    if wait is not None:
        return (jsonify({"error": "throttled", "message": f"too many wrong passwords; wait {wait} s"}),
                429, {"Retry-After": str(wait)})
    if not verify_password(staff.password_hash, password):
        login_throttle().failed(name, address, now)
        audit(db(), staff.id, "unlock_failed", "staff", staff.id)
        db().commit()
        return jsonify({"error": "wrong_password", "message": "wrong password"}), 403
    login_throttle().succeeded(name, now)
    session.pop("desk_locked", None)
    return jsonify({"locked": False})
