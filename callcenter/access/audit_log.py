"""Reading the audit trail: filters by staff member, patient, action and period (days of the
clinic's calendar), newest first, a page at a time or every row for a CSV.

The session's clinic scope decides which rows exist at all: an admin sees the rows of their
clinics, and rows no clinic can claim only when they administer every clinic.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, cast, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from callcenter.core import clinic_scope
from callcenter.core.inputs import InputError, text
from callcenter.core.models import (
    Appointment,
    AuditLog,
    Call,
    Patient,
    PatientPhone,
    Staff,
    StaffClinic,
)
from callcenter.core.phones import normalize

PAGE_SIZE = 50
# A patient is asked for by card number, or by phone (then every card on that number).
SHORTEST_PHONE = 7


@dataclass(frozen=True)
class AuditFilter:
    staff_id: int | None = None
    patient_ids: tuple[int, ...] | None = None  # None: any; empty: a patient no row can name
    action: str = ""
    start: date | None = None
    end: date | None = None  # inclusive
    zone: str = "UTC"

    def query(self, patient: str = "") -> dict[str, str]:
        """The filters as the page's query string (for the CSV link and the pager)."""
        values = {"staff": str(self.staff_id or ""), "patient": patient, "action": self.action,
                  "from": self.start.isoformat() if self.start else "",
                  "to": self.end.isoformat() if self.end else ""}
        return {k: v for k, v in values.items() if v}


def staff_of_scope(session: Session) -> list[Staff]:
    """The staff members of the session's clinics (Staff itself is not clinic-scoped)."""
    scope = clinic_scope.current(session)
    ids = tuple(scope.clinic_ids) if scope is not None else ()
    further = select(StaffClinic.staff_id).where(StaffClinic.clinic_id.in_(ids))
    return list(session.scalars(
        select(Staff).where(or_(Staff.clinic_id.in_(ids), Staff.id.in_(further)))
        .order_by(Staff.last_name, Staff.first_name, Staff.id)))


def parse(session: Session, args: Mapping[str, str], zone: str, region: str) -> AuditFilter:
    """The filters of a query string; an InputError names the first bad field."""
    staff_id = _staff(session, (args.get("staff") or "").strip())
    patient_ids = _patients(session, (args.get("patient") or "").strip(), region)
    action = text(AuditLog.action, (args.get("action") or "").strip(), "action")
    start, end = _day(args, "from"), _day(args, "to")
    if start and end and end < start:
        raise InputError("to", "before the start of the period")
    return AuditFilter(staff_id, patient_ids, action, start, end, zone)


def page_number(args: Mapping[str, str]) -> int:
    raw = (args.get("page") or "1").strip()
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw[:7]) <= 100_000:
        raise InputError("page", "expected a page number")
    return int(raw)


def _staff(session: Session, raw: str) -> int | None:
    if not raw:
        return None
    if raw.isascii() and raw.isdigit() and len(raw) < 10 and int(raw) in {
            s.id for s in staff_of_scope(session)}:
        return int(raw)
    raise InputError("staff", "no such staff member")


def _patients(session: Session, raw: str, region: str) -> tuple[int, ...] | None:
    if not raw:
        return None
    text(Patient.last_name, raw, "patient")
    digits = "".join(ch for ch in raw if ch.isdigit())
    if raw.lstrip("#").isascii() and raw.lstrip("#").isdigit() and len(digits) < SHORTEST_PHONE:
        patient = session.get(Patient, int(digits))  # the session's scope hides others' cards
        return (patient.id,) if patient is not None else ()
    number = normalize(raw, region) if len(digits) >= SHORTEST_PHONE else None
    if number is None:
        raise InputError("patient", "expected a card number or a phone number")
    return tuple(session.scalars(select(PatientPhone.patient_id).where(PatientPhone.e164 == number)))


def _day(args: Mapping[str, str], name: str) -> date | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    try:
        if len(raw) != len("YYYY-MM-DD"):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise InputError(name, "expected a date as YYYY-MM-DD") from None


def _midnight(day: date, zone: str) -> datetime:
    return datetime.combine(day, time(0), ZoneInfo(zone))


def conditions(flt: AuditFilter) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if flt.staff_id is not None:
        found.append(AuditLog.staff_id == flt.staff_id)
    if flt.action:
        found.append(AuditLog.action == flt.action)
    if flt.start is not None:
        found.append(AuditLog.at >= _midnight(flt.start, flt.zone))
    if flt.end is not None:
        found.append(AuditLog.at < _midnight(flt.end + timedelta(days=1), flt.zone))
    if flt.patient_ids is not None:
        found.append(_about_patients(flt.patient_ids))
    return found


def _about_patients(ids: tuple[int, ...]) -> ColumnElement[bool]:
    """Rows naming the patient's card, or one of their calls or visits."""
    as_text = [str(i) for i in ids]
    calls = select(cast(Call.id, String)).where(Call.patient_id.in_(ids))
    visits = select(cast(Appointment.id, String)).where(Appointment.patient_id.in_(ids))
    return or_(and_(AuditLog.object_type == "patient", AuditLog.object_id.in_(as_text)),
               and_(AuditLog.object_type == "call", AuditLog.object_id.in_(calls)),
               and_(AuditLog.object_type == "appointment", AuditLog.object_id.in_(visits)))


def page(session: Session, flt: AuditFilter, number: int) -> tuple[list[AuditLog], bool]:
    """One page of rows, newest first, and whether another page follows."""
    rows = list(session.scalars(
        select(AuditLog).where(*conditions(flt)).order_by(AuditLog.at.desc(), AuditLog.id.desc())
        .offset((number - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)))
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


def actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditLog.action).distinct().order_by(AuditLog.action)))


CSV_COLUMNS = ("at", "staff_id", "staff", "action", "object_type", "object_id", "clinic_id",
               "details", "remote_addr")


def csv_rows(session: Session, flt: AuditFilter, names: Mapping[int, str]) -> Iterator[dict[str, Any]]:
    """Every filtered row as a CSV record, newest first, times in the clinic's zone."""
    zone = ZoneInfo(flt.zone)
    query = (select(AuditLog).where(*conditions(flt))
             .order_by(AuditLog.at.desc(), AuditLog.id.desc()).execution_options(yield_per=500))
    for row in session.scalars(query):
        yield {"at": row.at.astimezone(zone).isoformat(), "staff_id": row.staff_id or "",
               "staff": names.get(row.staff_id, "") if row.staff_id else "",
               "action": row.action, "object_type": row.object_type, "object_id": row.object_id,
               "clinic_id": row.clinic_id or "",
               "details": json.dumps(row.details, ensure_ascii=False, sort_keys=True),
               "remote_addr": row.remote_addr}
