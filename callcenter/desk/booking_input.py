"""A booking request's fields as every desk route reads them (the pop, "other time", the
schedule page), and the answers: the booked visit, or the refusal with its code."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from sqlalchemy.orm import Session

from callcenter.core.inputs import optional_text
from callcenter.core.models import Appointment, Call, Clinic, Patient, Service, utcnow
from callcenter.desk.http_input import DeskError, id_field, time_field
from callcenter.schedule import booking


def flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise DeskError(name, "expected true or false")
    return value


def service_of(session: Session, body: dict[str, Any]) -> Service | None:
    service_id = id_field(body, "service_id", required=False)
    if service_id is None:
        return None
    service = session.get(Service, service_id)  # the clinic scope hides another clinic's
    if service is None or not service.active:
        raise DeskError("service_id", "no such service", 404)
    return service


def book_from_body(session: Session, body: dict[str, Any], clinic: Clinic, patient: Patient,
                   call: Call | None = None) -> Appointment:
    """{doctor_id?, starts_at, ends_at?, service_id?, service?, squeeze?, another?} → the visit."""
    return booking.book(
        session, clinic=clinic, patient=patient, doctor_id=id_field(body, "doctor_id", required=False),
        starts_at=time_field(body, "starts_at"), ends_at=time_field(body, "ends_at", False),
        service=optional_text(Appointment.service, body, "service"), offered=service_of(session, body),
        squeeze=flag(body, "squeeze"), another=flag(body, "another"), now=utcnow(), call=call)


def booked_json(appointment: Appointment) -> dict[str, Any]:
    return {"appointment_id": appointment.id, "status": str(appointment.status),
            "starts_at": appointment.starts_at.isoformat(), "ends_at": appointment.ends_at.isoformat(),
            "doctor_id": appointment.doctor_id, "overbooked": appointment.overbooked}


def booking_refusal(exc: booking.BookingError, locale: str) -> tuple[Response, int]:
    body: dict[str, Any] = {"error": exc.code, "field": exc.field, "message": exc.localized(locale)}
    if isinstance(exc, booking.AlreadyBooked):
        body["appointment_id"] = exc.appointment_id
    return jsonify(body), exc.status
