"""The receptionist's desk: the page, its live SSE feed, the patient card and the desk's JSON API."""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request, session
from sqlalchemy import or_, select

from callcenter.access import staff_sessions
from callcenter.access.audit import record as audit
from callcenter.access.auth import (
    SessionWatch,
    is_locked,
    require_role,
    signed_in_session,
)
from callcenter.access.login_throttle import shared as login_throttle
from callcenter.access.passwords import verify_password
from callcenter.callscripts.values import doctor_name
from callcenter.core import clinic_scope, security_headers
from callcenter.core.inputs import optional_text, text
from callcenter.core.labels import PURPOSES
from callcenter.core.models import (
    Appointment,
    Call,
    CallOutcome,
    CallStatus,
    Channel,
    DialTask,
    DoctorNotice,
    OptOut,
    Service,
    Staff,
    StaffRole,
    utcnow,
)
from callcenter.core.price_list import service_name
from callcenter.core.web import db, runtime
from callcenter.desk import clicktocall, desk_request, drafts, softphone
from callcenter.desk import feed as desk_feed
from callcenter.desk import lists as desk_lists
from callcenter.desk.booking_input import book_from_body, booked_json, booking_refusal
from callcenter.desk.desk_request import answer_errors
from callcenter.desk.http_input import (
    DeskError,
    appointment_by_id,
    body_json,
    call_by_id,
    id_field,
    patient_by_id,
    time_field,
)
from callcenter.desk.popcard import build_card
from callcenter.desk.softphone_texts import phone_texts
from callcenter.desk.texts import desk_texts
from callcenter.inbound.attribution import set_heard_from
from callcenter.outbound import dial_rules, gap_fill
from callcenter.schedule import booking

bp = Blueprint("desk", __name__, template_folder="templates")

DESK = ("receptionist", "admin")
# app.extensions key of the Event that ends every open desk stream (set it before shutting down).
STREAMS_STOP = "desk_streams_stop"
STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
ACTIVE_WINDOW = timedelta(hours=2)
DESK_OUTCOMES = (CallOutcome.BOOKED, CallOutcome.RESCHEDULED, CallOutcome.CANCELLED,
                 CallOutcome.INFORMATION, CallOutcome.COMPLAINT, CallOutcome.NON_PATIENT,
                 CallOutcome.WRONG_NUMBER)


answer_errors(bp, "invalid_request", DeskError)


@bp.errorhandler(booking.BookingError)
def _booking_error(exc: booking.BookingError) -> tuple[Response, int]:
    return booking_refusal(exc, _locale())  # "just taken", "already booked": codes of their own


# The request helpers every desk blueprint shares (desk/desk_request.py).
_staff, _clinic, _locale = desk_request.staff, desk_request.clinic, desk_request.locale
_card = desk_request.card_response


def _stream_position() -> str:
    try:
        return desk_feed.resolve_start(runtime(), "$")
    except Exception:  # Redis down at page load: the stream resumes from "now" when it reconnects
        return "$"


@bp.get("/desk")
@require_role(*DESK, open_when_locked=True)  # locked, it is the lock screen: no patient data
def page() -> str:
    staff = _staff()
    locale = _locale()
    security_headers.allow_connect(*softphone.connect_sources(runtime(), staff))
    channels = db().scalars(select(Channel).where(Channel.offered_as_answer.is_(True),
                                                  Channel.active.is_(True))
                            .order_by(Channel.name)).all()
    doctors = db().scalars(select(Staff).where(Staff.clinic_id == staff.clinic_id,
                                               Staff.role == StaffRole.DOCTOR,
                                               Staff.active.is_(True))
                           .order_by(Staff.last_name)).all()
    return render_template(
        "desk/desk.html", locale=locale, staff=staff, texts=desk_texts(locale), channels=channels,
        doctors_json=[{"id": d.id, "name": doctor_name(d, locale)} for d in doctors],
        services_json=_services(staff.clinic_id, locale),
        outcomes=[o.value for o in DESK_OUTCOMES], staff_clinic_tz=_clinic().timezone,
        start_id=_stream_position(), locked=is_locked(),
        lock_minutes=current_app.config["DESK_LOCK_MINUTES"], phone_texts=phone_texts(locale),
    )


def _services(clinic_id: int, locale: str) -> list[dict[str, Any]]:
    """The price list's services in use, for the card's "service asked about" choice."""
    clinic = _clinic(clinic_id)
    rows = db().scalars(select(Service).where(Service.clinic_id == clinic_id,
                                              Service.active.is_(True))).all()
    named = ({"id": s.id, "name": service_name(s, locale, clinic.locale)} for s in rows)
    return sorted(named, key=lambda s: s["name"].casefold())


@bp.get("/desk/stream")
@require_role(*DESK)
def stream() -> Response:
    staff = _staff()
    last_id = request.headers.get("Last-Event-ID") or request.args.get("from") or "$"
    if last_id != "$" and not STREAM_ID.match(last_id):
        raise DeskError("Last-Event-ID", "expected a stream id like 1700000000000-0")
    scope = clinic_scope.current(db())
    assert scope is not None  # set when require_role loaded the staff member
    desk = desk_feed.Desk(staff.id, scope.clinic_ids, staff.sip_extension, _locale())
    # The feed ends within seconds of a lock, sign-out or password change elsewhere.
    stop = SessionWatch(current_app.extensions.setdefault(STREAMS_STOP, threading.Event()))
    body = desk_feed.stream(runtime(), desk, last_id, time.monotonic, time.sleep, stop)
    return Response(body, mimetype="text/event-stream",
                    headers={"X-Accel-Buffering": "no"})


@bp.get("/desk/patients/<int:patient_id>")
@require_role(*DESK)
def patient_page(patient_id: int) -> str:
    from callcenter.desk.popcard import patient_summaries

    patient = patient_by_id(patient_id)
    locale = _locale()
    summary = patient_summaries(db(), _clinic(patient.clinic_id), [patient.id], utcnow(), locale)[0]
    audit(db(), _staff().id, "view_patient", "patient", patient.id, via="card_page")
    db().commit()
    return render_template("desk/patient.html", locale=locale, patient=summary,
                           purposes=PURPOSES)


@bp.get("/api/desk/active")
@require_role(*DESK)
def active() -> Response:
    """Calls ringing at this desk (or everywhere) or in talk here: what a reloaded page shows."""
    staff = _staff()
    since = utcnow() - ACTIVE_WINDOW
    rows = db().scalars(select(Call.id).where(
        Call.started_at >= since,
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
    call_by_id(call_id)
    return _card(call_id, "card")


@bp.post("/api/desk/calls/<int:call_id>/patient")
@require_role(*DESK)
def pick_patient(call_id: int) -> Response:
    """A family number: the receptionist picks who is calling."""
    call = call_by_id(call_id)
    patient = patient_by_id(id_field(body_json(), "patient_id") or 0)
    call.patient_id = patient.id
    audit(db(), _staff().id, "pick_patient", "call", call.id, patient_id=patient.id)
    db().commit()
    return _card(call_id, "pick")


@bp.post("/api/desk/calls/<int:call_id>/wrap-up")
@require_role(*DESK)
def wrap_up(call_id: int) -> Response:
    """Outcome, the "how did you hear" answer and notes."""
    call = call_by_id(call_id)
    body = body_json()
    if "outcome" in body:
        try:
            outcome = CallOutcome(body["outcome"])
        except ValueError:
            raise DeskError("outcome", "one of: {choices}",
                            choices=", ".join(o.value for o in CallOutcome)) from None
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
    drafts.discard(db(), call.id, _staff().id)
    audit(db(), _staff().id, "wrap_up_call", "call", call.id, fields=sorted(body))
    db().commit()
    return jsonify({"call_id": call.id, "outcome": str(call.outcome) if call.outcome else None})


@bp.post("/api/desk/calls/<int:call_id>/book")
@require_role(*DESK)
def book(call_id: int) -> Response:
    """Book one of the offered slots, or another free time, for the call's patient."""
    call = call_by_id(call_id)
    body = body_json()
    patient = patient_by_id(id_field(body, "patient_id", required=False) or call.patient_id or 0)
    appointment = book_from_body(db(), body, _clinic(call.clinic_id), patient, call=call)
    audit(db(), _staff().id, "book", "appointment", appointment.id, call_id=call.id)
    db().commit()
    return jsonify(booked_json(appointment))


@bp.post("/api/desk/appointments/<int:appointment_id>/cancel")
@require_role(*DESK)
def cancel(appointment_id: int) -> Response:
    """Cancel with the agreed next contact: {starts_at[, doctor_id]} or {call_back_at}."""
    appointment = appointment_by_id(appointment_id)
    body = body_json()
    call_id = id_field(body, "call_id", required=False)
    call = call_by_id(call_id) if call_id else None
    result = booking.cancel(db(), appointment, booking.NextContact(
        starts_at=time_field(body, "starts_at", False), doctor_id=id_field(body, "doctor_id", False),
        call_back_at=time_field(body, "call_back_at", False),
        refused=optional_text(Appointment.notes, body, "refused")), now=utcnow(), call=call,
        staff_id=_staff().id)
    audit(db(), _staff().id, "cancel", "appointment", appointment.id,
          call_id=call_id, next=type(result).__name__)
    gap_fill.offer_now(db(), _clinic(appointment.clinic_id), utcnow())  # the freed slot's call list
    db().commit()
    if isinstance(result, Appointment):
        return jsonify({"cancelled": appointment.id, "appointment_id": result.id,
                        "starts_at": result.starts_at.isoformat()})
    if isinstance(result, DoctorNotice):
        return jsonify({"cancelled": appointment.id, "doctor_notice_id": result.id})
    return jsonify({"cancelled": appointment.id, "task_id": result.id,
                    "call_back_at": result.next_attempt_at.isoformat() if result.next_attempt_at else None})


@bp.post("/api/desk/appointments/<int:appointment_id>/mark")
@require_role(*DESK)
def mark(appointment_id: int) -> Response:
    """The confirmation result: {"mark": "confirmed"} or {"mark": "call"}."""
    appointment = appointment_by_id(appointment_id)
    booking.mark(appointment, str(body_json().get("mark", "")), utcnow())
    audit(db(), _staff().id, "mark", "appointment", appointment.id, status=str(appointment.status))
    db().commit()
    return jsonify({"appointment_id": appointment.id, "status": str(appointment.status)})


@bp.get("/api/desk/lists")
@require_role(*DESK)
def lists() -> Response:
    clinic, now, session_ = _clinic(), utcnow(), db()
    found = {
        "missed": desk_lists.missed_to_return(session_, clinic, now),
        "confirmations": desk_lists.confirmations_today(session_, clinic, now, _locale()),
        "call_backs": desk_lists.call_backs_due(session_, clinic, now),
        "without_outcome": desk_lists.without_outcome(session_, clinic, _staff(), now),
    }
    audit(session_, _staff().id, "view_lists", "clinic", clinic.id,
          patient_ids=sorted({row["patient_id"] for rows in found.values() for row in rows
                              if row.get("patient_id")}))
    session_.commit()
    return jsonify(found)


@bp.post("/api/desk/dial")
@require_role(*DESK)
def dial() -> Response:
    """Click-to-call: ring this receptionist's headset, then the number."""
    staff = _staff()
    body = body_json()
    number = body.get("number")
    task_id = id_field(body, "task_id", required=False)
    if task_id is not None and db().get(DialTask, task_id) is None:
        raise DeskError("task_id", "no such task", 404)
    if not isinstance(number, str) or not number:
        raise DeskError("number", "required (E.164)")
    try:
        call_id = clicktocall.dial(runtime(), staff, number, task_id=task_id,
                                   asked_to_call=optional_text(OptOut.reason, body, "asked_to_call"))
    except (clicktocall.DialError, dial_rules.DialRefused) as exc:
        raise DeskError(exc.field, exc.msgid, exc.status, **exc.params) from None
    return jsonify({"call_id": call_id})


@bp.post("/api/desk/lock")
@require_role(*DESK, open_when_locked=True)
def lock() -> Response:
    staff_sessions.lock(signed_in_session(), utcnow())
    db().commit()
    return jsonify({"locked": True})


@bp.post("/api/desk/unlock")
@require_role(*DESK, open_when_locked=True)
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
    session["sid"] = staff_sessions.unlock(signed_in_session(), utcnow())
    db().commit()
    return jsonify({"locked": False})
