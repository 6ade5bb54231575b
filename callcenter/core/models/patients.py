"""Patients and their phone numbers (one number may belong to a whole family)."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.core.models.base import Base, UTCDateTime, str_enum, utcnow


class Sex(enum.StrEnum):
    FEMALE = "female"
    MALE = "male"
    UNKNOWN = "unknown"


class Patient(Base):
    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    last_name: Mapped[str] = mapped_column(String(100), default="")
    first_name: Mapped[str] = mapped_column(String(100), default="")
    patronymic: Mapped[str] = mapped_column(String(100), default="")
    birth_date: Mapped[date | None] = mapped_column(Date)
    sex: Mapped[Sex] = mapped_column(str_enum(Sex, "sex"), default=Sex.UNKNOWN)
    preferred_language: Mapped[str] = mapped_column(String(8), default="ru")
    notes: Mapped[str] = mapped_column(Text, default="")
    consent_calls: Mapped[bool] = mapped_column(Boolean, default=True)
    consent_marketing: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set when the card was created from an unknown caller (a lead) rather than at the desk.
    is_lead: Mapped[bool] = mapped_column(Boolean, default=False)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    phones: Mapped[list[PatientPhone]] = relationship(
        back_populates="patient", cascade="all, delete-orphan"
    )

    __table_args__ = (
        Index("ix_patients_name", "clinic_id", "last_name", "first_name"),
        # Who may be called at all, probed per patient by the outbound lists (migration 0037).
        Index("ix_patients_callable", "id", postgresql_include=["clinic_id"],
              postgresql_where=text("consent_calls IS TRUE AND erased_at IS NULL"),
              sqlite_where=text("consent_calls IS TRUE AND erased_at IS NULL")),
    )


class PatientPhone(Base):
    __tablename__ = "patient_phones"
    # A patient's phones in the order they are tried (migration 0037).
    __table_args__ = (UniqueConstraint("patient_id", "e164"),
                      Index("ix_patient_phones_patient_order", "patient_id", "id", postgresql_include=["e164"]))

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    e164: Mapped[str] = mapped_column(String(20), index=True)
    label: Mapped[str] = mapped_column(String(40), default="mobile")

    patient: Mapped[Patient] = relationship(back_populates="phones")
