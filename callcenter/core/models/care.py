"""Appointments and treatments: what the schedule and the recall lists are built from."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.core.models.base import Base, UTCDateTime, str_enum, utcnow
from callcenter.core.models.clinic import Staff
from callcenter.core.models.patients import Patient


class AppointmentStatus(enum.StrEnum):
    BOOKED = "booked"
    CONFIRMED = "confirmed"  # the "visit confirmed" mark
    CALL_BACK = "call_back"  # the "call" mark: not reached, call again on the day
    CANCELLED = "cancelled"
    RESCHEDULED = "rescheduled"
    NO_SHOW = "no_show"
    ARRIVED = "arrived"
    COMPLETED = "completed"


ACTIVE_STATUSES = (AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED, AppointmentStatus.CALL_BACK)


class Appointment(Base):
    __tablename__ = "appointments"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    doctor_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    service: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[AppointmentStatus] = mapped_column(
        str_enum(AppointmentStatus, "appointment_status"), default=AppointmentStatus.BOOKED
    )
    price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    created_by_call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"), index=True)
    rescheduled_from_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id"))
    notes: Mapped[str] = mapped_column(Text, default="")
    # Squeezed in on a full day for acute pain, on top of another visit: the patient may wait.
    overbooked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The waiting list: the patient would come earlier if a slot frees up.
    wants_earlier: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    patient: Mapped[Patient] = relationship()
    doctor: Mapped[Staff] = relationship()

    __table_args__ = (
        Index("ix_appointments_doctor_start", "doctor_id", "starts_at"),
        # PostgreSQL: with the id in the index, a clinic's visits of a period are read from the
        # index alone (SQLite's indexes end in the row id anyway). Migration 0042.
        Index("ix_appointments_clinic_start", "clinic_id", "starts_at", postgresql_include=["id"]),
        # A patient's bookings made after a moment (a campaign's results), answered from the index.
        Index("ix_appointments_patient_created", "patient_id", "created_at",
              postgresql_include=["clinic_id"]),
        # analytics: bookings made in a period (attribution to calls)
        Index("ix_appointments_clinic_created", "clinic_id", "created_at"),
    )


class SlotClaim(Base):
    """One slot of a doctor's schedule held by a visit: one row per slot the visit covers.

    The unique (doctor, slot start, lane) is the database's guard against two desks booking the
    same time at once, on SQLite and PostgreSQL alike: the second insert fails, whatever either
    desk read before. Lane 0 is the regular booking, lane 1 the one squeezed on top of it.
    """

    __tablename__ = "slot_claims"
    __table_args__ = (UniqueConstraint("doctor_id", "starts_at", "lane"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    doctor_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointments.id", ondelete="CASCADE"),
                                                index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lane: Mapped[int] = mapped_column(Integer, default=0)


class TreatmentType(enum.StrEnum):
    EXTRACTION = "extraction"
    FILLING = "filling"
    ROOT_CANAL = "root_canal"
    PROSTHETICS = "prosthetics"
    CLEANING = "cleaning"
    PERIODONTAL = "periodontal"
    IMPLANT = "implant"
    IMPLANT_CROWN = "implant_crown"
    ORTHODONTIC_RETAINER = "orthodontic_retainer"
    OTHER = "other"


class Treatment(Base):
    __tablename__ = "treatments"
    # Follow-up and recall lists look treatments up by clinic, type and date (migration 0037).
    __table_args__ = (
        Index("ix_treatments_clinic_performed", "clinic_id", "performed_on",
              postgresql_include=["patient_id", "id"]),
        Index("ix_treatments_clinic_type_performed", "clinic_id", "type", "performed_on", "patient_id",
              postgresql_include=["id"]),
        Index("ix_treatments_patient_performed", "patient_id", "performed_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    doctor_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id"))
    type: Mapped[TreatmentType] = mapped_column(str_enum(TreatmentType, "treatment_type"))
    performed_on: Mapped[date] = mapped_column(Date, index=True)
    notes: Mapped[str] = mapped_column(Text, default="")

    patient: Mapped[Patient] = relationship()


class DoctorNotice(Base):
    """Something the attending doctor must be told (a patient refused any next contact after
    cancelling); the desk hands it on and marks it seen."""

    __tablename__ = "doctor_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    doctor_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id"))
    kind: Mapped[str] = mapped_column(String(24), default="refused_next_contact")
    note: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    patient: Mapped[Patient] = relationship()
    doctor: Mapped[Staff] = relationship(foreign_keys=[doctor_id])
