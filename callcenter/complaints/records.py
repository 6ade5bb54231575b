"""A complaint's life: recorded from a call or a patient, routed to its owner by the clinic's
rules with a day to report back by, answered by the owner, closed once the patient was told.

Every path (the desk, the owner's page, the API) goes through these functions; they take "now"
and the clinic's zone, add the audit row, and leave the commit to the caller.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from callcenter.access.audit import record as audit
from callcenter.core.inputs import FieldError, text
from callcenter.core.models import (
    Call,
    Clinic,
    Complaint,
    ComplaintRule,
    ComplaintSeverity,
    ComplaintStatus,
    ComplaintSubject,
    Patient,
    Staff,
    StaffRole,
)

# Days to report back when no rule of the clinic says: the worse, the sooner.
DEFAULT_DUE_DAYS = {ComplaintSeverity.HIGH: 1, ComplaintSeverity.MEDIUM: 3, ComplaintSeverity.LOW: 5}
# Who may own a complaint: someone who signs in to see their list.
OWNER_ROLES = (StaffRole.ADMIN, StaffRole.RECEPTIONIST)


E = TypeVar("E", bound=enum.StrEnum)


class ComplaintError(FieldError):
    """A complaint request refused, naming the field (400 unless given)."""


@dataclass(frozen=True)
class Routing:
    owner: Staff
    due_on: date
    rule_id: int | None  # None: the clinic's manager by default


def local_today(now: datetime, zone: ZoneInfo) -> date:
    return now.astimezone(zone).date()


def choice(kind: type[E], value: object, field: str) -> E:
    try:
        return kind(str(value))
    except ValueError:
        raise ComplaintError(field, "one of: {choices}",
                             choices=", ".join(m.value for m in kind)) from None


def managers(session: Session, clinic_id: int) -> list[Staff]:
    return list(session.scalars(select(Staff).where(
        Staff.clinic_id == clinic_id, Staff.role == StaffRole.ADMIN, Staff.active.is_(True))
        .order_by(Staff.id)))


def route(session: Session, clinic: Clinic, subject: ComplaintSubject, severity: ComplaintSeverity,
          now: datetime, zone: ZoneInfo) -> Routing:
    """The owner and report-back day: the rule for this subject and severity, else the rule for
    the subject, else the clinic's manager (its first active admin) with the default days."""
    rules = session.scalars(select(ComplaintRule).where(
        ComplaintRule.clinic_id == clinic.id, ComplaintRule.subject == subject,
        or_(ComplaintRule.severity == severity, ComplaintRule.severity.is_(None)))).all()
    today = local_today(now, zone)
    for rule in sorted(rules, key=lambda r: r.severity is None):
        owner = session.get(Staff, rule.owner_id)
        if owner is not None and owner.active and owner.role in OWNER_ROLES:
            return Routing(owner, today + timedelta(days=rule.due_days), rule.id)
    found = managers(session, clinic.id)
    if not found:
        raise ComplaintError("subject", "no one to own it: add a complaint rule or a clinic manager",
                             409)
    return Routing(found[0], today + timedelta(days=DEFAULT_DUE_DAYS[severity]), None)


def record(session: Session, *, clinic: Clinic, staff: Staff, subject: ComplaintSubject,
           severity: ComplaintSeverity, words: str, now: datetime, call: Call | None = None,
           patient: Patient | None = None, doctor_id: int | None = None) -> Complaint:
    """Write the complaint down and route it; the receptionist who took it reports back."""
    words = text(Complaint.words, words, "words").strip()
    if not words:
        raise ComplaintError("words", "required")
    if patient is None and call is not None and call.patient_id:
        patient = session.get(Patient, call.patient_id)
    if patient is None and call is None:
        raise ComplaintError("patient_id", "a call or a patient is required")
    if doctor_id is not None:
        doctor = session.get(Staff, doctor_id)
        if doctor is None or doctor.role != StaffRole.DOCTOR:
            raise ComplaintError("doctor_id", "no such doctor", 404)
    routing = route(session, clinic, subject, severity, now, ZoneInfo(clinic.timezone))
    complaint = Complaint(
        clinic_id=clinic.id, call_id=call.id if call else None,
        patient_id=patient.id if patient else None, subject=subject, doctor_id=doctor_id,
        words=words, severity=severity, owner_id=routing.owner.id, callback_by_id=staff.id,
        due_on=routing.due_on, created_by_id=staff.id, created_at=now)
    session.add(complaint)
    session.flush()
    audit(session, staff.id, "record_complaint", "complaint", complaint.id, clinic_id=clinic.id,
          call_id=complaint.call_id, patient_id=complaint.patient_id, owner_id=routing.owner.id,
          rule_id=routing.rule_id, subject=str(subject), severity=str(severity))
    return complaint


def answer(session: Session, complaint: Complaint, staff: Staff, reply: str, now: datetime) -> None:
    """The owner's answer: what the patient is to be told."""
    reply = text(Complaint.answer, reply, "answer").strip()
    if not reply:
        raise ComplaintError("answer", "required")
    if complaint.status == ComplaintStatus.CLOSED:
        raise ComplaintError("answer", "the complaint is closed", 409)
    complaint.answer, complaint.status, complaint.answered_at = reply, ComplaintStatus.ANSWERED, now
    audit(session, staff.id, "answer_complaint", "complaint", complaint.id,
          clinic_id=complaint.clinic_id, patient_id=complaint.patient_id)


def close(session: Session, complaint: Complaint, staff: Staff, now: datetime) -> None:
    """The patient heard the answer."""
    if complaint.status != ComplaintStatus.ANSWERED:
        raise ComplaintError("status", "only an answered complaint can be closed", 409)
    complaint.status, complaint.closed_at = ComplaintStatus.CLOSED, now
    audit(session, staff.id, "close_complaint", "complaint", complaint.id,
          clinic_id=complaint.clinic_id, patient_id=complaint.patient_id)


def is_overdue(complaint: Complaint, today: date) -> bool:
    return complaint.status != ComplaintStatus.CLOSED and complaint.due_on < today


def overdue(session: Session, clinic_ids: frozenset[int], today: date) -> list[Complaint]:
    """Not closed and past the day the patient should have heard back, oldest first."""
    return list(session.scalars(select(Complaint).where(
        Complaint.clinic_id.in_(clinic_ids), Complaint.status != ComplaintStatus.CLOSED,
        Complaint.due_on < today).order_by(Complaint.due_on, Complaint.id)))


def for_staff(session: Session, staff: Staff, *, everyone: bool) -> list[Complaint]:
    """What is not closed yet: the staff member's own (to answer, or to report back), or the
    clinics' all for a manager."""
    query = select(Complaint).where(Complaint.status != ComplaintStatus.CLOSED)
    if not everyone:
        query = query.where(or_(Complaint.owner_id == staff.id, Complaint.callback_by_id == staff.id))
    return list(session.scalars(query.order_by(Complaint.due_on, Complaint.id)))


def to_report_back(session: Session, staff: Staff, today: date) -> list[Complaint]:
    """The desk's list: complaints this receptionist must call the patient back about, answered
    (the answer is ready) or overdue (the patient is waiting)."""
    return [c for c in session.scalars(select(Complaint).where(
        Complaint.callback_by_id == staff.id, Complaint.status != ComplaintStatus.CLOSED)
        .order_by(Complaint.due_on, Complaint.id))
        if c.status == ComplaintStatus.ANSWERED or is_overdue(c, today)]
