"""The audit trail: who viewed which patient card, played which recording, exported what."""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request
from sqlalchemy.orm import Session

from callcenter.core.models import (
    Appointment,
    AuditLog,
    Call,
    Campaign,
    Clinic,
    DialTask,
    Patient,
    Staff,
    TrackingNumber,
)

# Object types whose row names its clinic: the audit row goes to that clinic's admins.
OWNED: dict[str, type[Patient | Call | Appointment | TrackingNumber | Campaign | DialTask]] = {
    "patient": Patient, "call": Call, "appointment": Appointment,
    "tracking_number": TrackingNumber, "campaign": Campaign, "dial_task": DialTask,
}


def record(session: Session, staff_id: int | None, action: str, object_type: str,
           object_id: object = "", *, clinic_id: int | None = None, **details: Any) -> None:
    """Add an audit row to the session; it commits with the caller's transaction. Its clinic is
    `clinic_id`, else the clinic of the record it names, else the staff member's own."""
    if clinic_id is None:
        clinic_id = clinic_of(session, staff_id, object_type, str(object_id))
    session.add(AuditLog(
        staff_id=staff_id, action=action, object_type=object_type, object_id=str(object_id),
        details=details, clinic_id=clinic_id,
        remote_addr=(request.remote_addr or "") if has_request_context() else "",
    ))


def clinic_of(session: Session, staff_id: int | None, object_type: str, object_id: str) -> int | None:
    """Whose audit row it is: the named record's clinic, else the staff member's home clinic."""
    key = int(object_id) if object_id.isascii() and object_id.isdigit() and len(object_id) < 10 else None
    if key is not None and object_type == "clinic":
        clinic = session.get(Clinic, key)
        if clinic is not None:
            return clinic.id
    model = OWNED.get(object_type)
    if key is not None and model is not None:
        row = session.get(model, key)
        if row is not None:
            return row.clinic_id
    staff = session.get(Staff, staff_id) if staff_id is not None else None
    return staff.clinic_id if staff is not None else None
