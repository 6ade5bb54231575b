"""The desk API's input: JSON fields and the records named by id, or a DeskError naming the field."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app, request

from callcenter.access.auth import current_staff
from callcenter.access.locale import request_locale
from callcenter.core.ids import storable
from callcenter.core.inputs import FieldError
from callcenter.core.models import Appointment, Call, Clinic, Patient, Staff
from callcenter.core.web import db


class DeskError(FieldError):
    """A desk request refused: `status` (400 unless given) with the field to fix."""


def body_json() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise DeskError("body", "expected a JSON object")
    return body


def time_field(body: dict[str, Any], name: str, required: bool = True) -> datetime | None:
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


def id_field(body: dict[str, Any], name: str, required: bool = True) -> int | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not storable(value):
        raise DeskError(name, "expected an integer id")
    return value


def signed_in_staff() -> Staff:
    staff = current_staff()
    assert staff is not None  # require_role ran first
    return staff


def desk_clinic(clinic_id: int | None = None) -> Clinic:
    """The given clinic (a record's own), else the staff member's home clinic."""
    clinic = db().get(Clinic, clinic_id or signed_in_staff().clinic_id)
    assert clinic is not None  # only ids of rows in the session's scope reach here
    return clinic


def desk_locale() -> str:
    return request_locale(current_app.config["LOCALE"])


# Lookups by id: the session's clinic scope makes another clinic's row None, like a missing one.
def call_by_id(call_id: int) -> Call:
    call = db().get(Call, call_id)
    if call is None:
        raise DeskError("call_id", "no such call", 404)
    return call


def patient_by_id(patient_id: int) -> Patient:
    patient = db().get(Patient, patient_id)
    if patient is None or patient.erased_at is not None:
        raise DeskError("patient_id", "no such patient", 404)
    return patient


def appointment_by_id(appointment_id: int) -> Appointment:
    appointment = db().get(Appointment, appointment_id)
    if appointment is None:
        raise DeskError("appointment_id", "no such appointment", 404)
    return appointment
