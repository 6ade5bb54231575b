"""Outbound work: campaigns, dialing tasks, their attempts, and who asked not to be called."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.core.models.base import Base, UTCDateTime, str_enum, utcnow
from callcenter.core.models.patients import Patient


class TaskPurpose(enum.StrEnum):
    CONFIRMATION = "confirmation"
    FOLLOW_UP = "follow_up"
    RECALL = "recall"
    NO_SHOW = "no_show"
    MISSED_CALL = "missed_call"
    RESCHEDULE = "reschedule"  # desk task: patient asked to move the visit
    CALL_BACK = "call_back"  # desk task: agreed call-back after a cancellation
    GAP_FILL = "gap_fill"  # desk task: offer a freed slot (the task's appointment) to a due patient


class CampaignState(enum.StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    FINISHED = "finished"


class DialMode(enum.StrEnum):
    TWILIO = "twilio"
    SIP = "sip"
    PREVIEW = "preview"  # the list is handed to a receptionist


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    purpose: Mapped[TaskPurpose] = mapped_column(str_enum(TaskPurpose, "task_purpose"))
    mode: Mapped[DialMode] = mapped_column(str_enum(DialMode, "dial_mode"), default=DialMode.PREVIEW)
    state: Mapped[CampaignState] = mapped_column(
        str_enum(CampaignState, "campaign_state"), default=CampaignState.RUNNING
    )
    name: Mapped[str] = mapped_column(String(200), default="")
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Why the worker paused it (outbound.dial_reasons: the line refused us or its dialer cannot
    # start); cleared on resume.
    stop_reason: Mapped[str] = mapped_column(String(40), default="", server_default="")
    stop_status: Mapped[int | None] = mapped_column(Integer)


class TaskState(enum.StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    FAILED = "failed"  # attempts exhausted
    CANCELLED = "cancelled"  # no longer needed (patient booked, opted out)


class DialTask(Base):
    __tablename__ = "dial_tasks"
    __table_args__ = (
        UniqueConstraint("patient_id", "purpose", "due_date"),
        Index("ix_dial_tasks_state_due", "state", "due_date"),
        Index("ix_dial_tasks_state_next", "state", "next_attempt_at"),
        Index("ix_dial_tasks_clinic_due", "clinic_id", "due_date"),  # analytics: campaign figures
        Index("ix_dial_tasks_appointment", "appointment_id"),  # analytics: visits confirmed by call
        # The lists' "already listed" (index-only) and "this missed call has its task" (0037).
        Index("ix_dial_tasks_clinic_purpose_due", "clinic_id", "purpose", "due_date", "patient_id"),
        Index("ix_dial_tasks_call", "call_id", postgresql_where=text("call_id IS NOT NULL"),
              sqlite_where=text("call_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), index=True)
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"))
    purpose: Mapped[TaskPurpose] = mapped_column(str_enum(TaskPurpose, "task_purpose"))
    due_date: Mapped[date] = mapped_column(Date)
    phone: Mapped[str | None] = mapped_column(String(20))
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id"))
    treatment_id: Mapped[int | None] = mapped_column(ForeignKey("treatments.id"))
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"))
    priority: Mapped[int] = mapped_column(Integer, default=50)  # lower = sooner
    state: Mapped[TaskState] = mapped_column(str_enum(TaskState, "task_state"), default=TaskState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Past this moment the task is no longer worth calling (the visit is tomorrow morning...).
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[str] = mapped_column(String(40), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    patient: Mapped[Patient | None] = relationship()
    attempts_log: Mapped[list[DialAttempt]] = relationship(back_populates="task")


class DialAttempt(Base):
    """One dialing attempt; (task, number) unique, so a crashed worker cannot dial it twice."""

    __tablename__ = "dial_attempts"
    __table_args__ = (UniqueConstraint("task_id", "attempt_no"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("dial_tasks.id"))
    attempt_no: Mapped[int] = mapped_column(Integer)
    mode: Mapped[DialMode] = mapped_column(str_enum(DialMode, "dial_mode"))
    phone: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(24), default="claimed")
    provider_call_id: Mapped[str | None] = mapped_column(String(128))
    result: Mapped[str] = mapped_column(String(40), default="")
    digits: Mapped[str] = mapped_column(String(16), default="")
    # Why it reached nobody (outbound.dial_reasons), and the PBX's SIP status when it sent one.
    reason: Mapped[str] = mapped_column(String(40), default="", server_default="")
    sip_status: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    task: Mapped[DialTask] = relationship(back_populates="attempts_log")


class OptOut(Base):
    __tablename__ = "opt_outs"

    id: Mapped[int] = mapped_column(primary_key=True)
    e164: Mapped[str | None] = mapped_column(String(20), index=True)
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    scope: Mapped[str] = mapped_column(String(24), default="all")  # all | marketing
    source: Mapped[str] = mapped_column(String(40), default="desk")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The clinic that must not call; NULL (rows older than clinics had lists) binds every clinic.
    clinic_id: Mapped[int | None] = mapped_column(ForeignKey("clinics.id"), index=True)
    reason: Mapped[str] = mapped_column(String(300), default="")
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
