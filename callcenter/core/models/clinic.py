"""Clinic (one location of a network), its days off, and its staff."""

from __future__ import annotations

import enum
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.core.models.base import Base, UTCDateTime, str_enum, utcnow

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Clinic(Base):
    __tablename__ = "clinics"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(8))
    region: Mapped[str] = mapped_column(String(2), default="RU")
    address: Mapped[str] = mapped_column(String(300), default="")
    # {"mon": [["09:00", "21:00"]], ...}; a weekday missing or empty = closed.
    opening_hours: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    morning_until: Mapped[time] = mapped_column(Time, default=time(11, 0))
    evening_from: Mapped[time] = mapped_column(Time, default=time(17, 0))
    # The demo loader's clinic: its logins are published, so every page says so.
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Unset (NULL) = the installation's setting (CALLCENTER_TWILIO_CALLER_ID, CALLCENTER_CALL_HOURS,
    # the clinic's own language): read them through core/clinic_settings.py, never directly.
    caller_id: Mapped[str | None] = mapped_column(String(20))
    call_window_start: Mapped[time | None] = mapped_column(Time)
    # 24:00 (calls until midnight) is stored as time.max.
    call_window_end: Mapped[time | None] = mapped_column(Time)
    patient_language: Mapped[str | None] = mapped_column(String(8))
    # ISO 4217 code of the price list; None: the currency of the clinic's region.
    currency: Mapped[str | None] = mapped_column(String(3))
    # Text messages (read through core/clinic_settings.py): how visits are confirmed by text
    # (off | alone | before_call | fallback), the hours texts may go out, the sender shown.
    sms_confirmation: Mapped[str | None] = mapped_column(String(16))
    sms_window_start: Mapped[time | None] = mapped_column(Time)
    sms_window_end: Mapped[time | None] = mapped_column(Time)
    sms_sender: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    days_off: Mapped[list[DayOff]] = relationship(back_populates="clinic", cascade="all, delete-orphan")


class DayOff(Base):
    __tablename__ = "days_off"
    __table_args__ = (UniqueConstraint("clinic_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(200), default="")

    clinic: Mapped[Clinic] = relationship(back_populates="days_off")


class StaffRole(enum.StrEnum):
    RECEPTIONIST = "receptionist"
    DOCTOR = "doctor"
    MARKETING = "marketing"
    ADMIN = "admin"


class Staff(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    role: Mapped[StaffRole] = mapped_column(str_enum(StaffRole, "staff_role"))
    login: Mapped[str | None] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str] = mapped_column(String(100))
    first_name: Mapped[str] = mapped_column(String(100))
    patronymic: Mapped[str] = mapped_column(String(100), default="")
    locale: Mapped[str] = mapped_column(String(8), default="ru")
    sip_extension: Mapped[str | None] = mapped_column(String(32), index=True)
    # The desk's browser phone (SIP over WebSocket or a Twilio identity), sealed with
    # core/secret_box: it holds the SIP password. None: the desk has no browser phone.
    softphone_sealed: Mapped[str | None] = mapped_column(Text)
    specialties: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Set when an administrator chose the password (a new account, a reset): until the staff
    # member picks their own, the temporary one opens nothing but /account/password.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    schedules: Mapped[list[DoctorSchedule]] = relationship(
        back_populates="doctor", cascade="all, delete-orphan"
    )

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)


class StaffClinic(Base):
    """A further clinic a staff member works in (a network admin, a receptionist covering two
    locations); their own `Staff.clinic_id` is always one of theirs."""

    __tablename__ = "staff_clinics"

    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"), primary_key=True,
                                           index=True)


class DoctorSchedule(Base):
    """A doctor's weekly working window; several rows per weekday allow split shifts."""

    __tablename__ = "doctor_schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    doctor_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int] = mapped_column(Integer)  # 0 = Monday
    starts: Mapped[time] = mapped_column(Time)
    ends: Mapped[time] = mapped_column(Time)
    slot_minutes: Mapped[int] = mapped_column(Integer, default=30)

    doctor: Mapped[Staff] = relationship(back_populates="schedules")


class AbsenceKind(enum.StrEnum):
    VACATION = "vacation"
    SICK_LEAVE = "sick_leave"
    OTHER = "other"


class DoctorAbsence(Base):
    """Whole days a doctor does not work (vacation, sick leave): no slot is offered or booked in
    them. Days, not times, in the clinic's calendar: that is how leave is granted and entered."""

    __tablename__ = "doctor_absences"
    __table_args__ = (CheckConstraint("ends_on >= starts_on", name="ordered"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    doctor_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)  # inclusive
    kind: Mapped[AbsenceKind] = mapped_column(str_enum(AbsenceKind, "absence_kind"))
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
