"""What the desk records beside bookings: complaints and who owns them, callers who are not
patients (an organisation's number) and where their calls go, and patients' ratings."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.core.models.base import Base, UTCDateTime, str_enum, utcnow


class ComplaintSubject(enum.StrEnum):
    DOCTOR = "doctor"
    SERVICE = "service"
    WAITING = "waiting"
    BILLING = "billing"
    STAFF = "staff"
    OTHER = "other"


class ComplaintSeverity(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class ComplaintStatus(enum.StrEnum):
    OPEN = "open"
    ANSWERED = "answered"  # the owner has an answer; the patient still has to hear it
    CLOSED = "closed"  # the patient was told


class Complaint(Base):
    __tablename__ = "complaints"
    __table_args__ = (Index("ix_complaints_clinic_status_due", "clinic_id", "status", "due_on"),
                      Index("ix_complaints_clinic_created", "clinic_id", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    subject: Mapped[ComplaintSubject] = mapped_column(str_enum(ComplaintSubject, "complaint_subject"))
    # The doctor complained about, when the subject is a doctor: routes to that doctor's head.
    doctor_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    words: Mapped[str] = mapped_column(Text)
    severity: Mapped[ComplaintSeverity] = mapped_column(str_enum(ComplaintSeverity, "complaint_severity"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    # Who reports back to the patient: the receptionist who took it down.
    callback_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    due_on: Mapped[date] = mapped_column(Date)  # the clinic's calendar day the patient hears back by
    status: Mapped[ComplaintStatus] = mapped_column(
        str_enum(ComplaintStatus, "complaint_status"), default=ComplaintStatus.OPEN)
    answer: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ComplaintRule(Base):
    """Who owns a complaint of a subject (and, optionally, only of one severity), and how many
    days the clinic gives itself to report back."""

    __tablename__ = "complaint_rules"
    __table_args__ = (UniqueConstraint("clinic_id", "subject", "severity"),
                      CheckConstraint("due_days >= 0 AND due_days <= 60", name="due_days"))

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    subject: Mapped[ComplaintSubject] = mapped_column(str_enum(ComplaintSubject, "complaint_subject"))
    severity: Mapped[ComplaintSeverity | None] = mapped_column(
        str_enum(ComplaintSeverity, "complaint_severity"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"))
    due_days: Mapped[int] = mapped_column(Integer, default=3)


class NonPatientPurpose(enum.StrEnum):
    VENDOR = "vendor"
    ADVERTISING = "advertising"
    PARTNER = "partner"
    JOB = "job"
    OTHER = "other"


class RouteKind(enum.StrEnum):
    EXTENSION = "extension"  # the receptionist transfers the call to an internal extension
    PHONE = "phone"  # click-to-call connects the person's own phone
    MESSAGE = "message"  # nobody takes the call: a message with the caller's e-mail for the director


class Organisation(Base):
    """A number that belongs to a business, not a patient: its calls pop as the organisation."""

    __tablename__ = "organisations"
    __table_args__ = (UniqueConstraint("clinic_id", "e164"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    e164: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200), default="")
    purpose: Mapped[NonPatientPurpose] = mapped_column(str_enum(NonPatientPurpose, "non_patient_purpose"))
    email: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NonPatientRoute(Base):
    """Where a non-patient call of one purpose goes."""

    __tablename__ = "non_patient_routes"
    __table_args__ = (UniqueConstraint("clinic_id", "purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    purpose: Mapped[NonPatientPurpose] = mapped_column(str_enum(NonPatientPurpose, "non_patient_purpose"))
    kind: Mapped[RouteKind] = mapped_column(str_enum(RouteKind, "route_kind"))
    # Whom the receptionist names to the caller ("the marketing manager"), and their extension or
    # number (empty for a message).
    person: Mapped[str] = mapped_column(String(200), default="")
    target: Mapped[str] = mapped_column(String(32), default="")


class OrganisationMessage(Base):
    """A non-patient call left as a message for the director."""

    __tablename__ = "organisation_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"))
    email: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Rating(Base):
    """A patient's 1-5 answer to "how satisfied were you", after a call or a visit."""

    __tablename__ = "ratings"
    __table_args__ = (CheckConstraint("score >= 1 AND score <= 5", name="score"),
                      Index("ix_ratings_clinic_created", "clinic_id", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id"))
    # The receptionist rated: whoever handled the call or booked the visit.
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    # One rating per automatic call attempt: a retried callback does not count twice.
    dial_attempt_id: Mapped[int | None] = mapped_column(ForeignKey("dial_attempts.id"), unique=True)
    channel: Mapped[str] = mapped_column(String(16))  # ivr, sms
    score: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
