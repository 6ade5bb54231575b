"""Who viewed or changed what: the audit trail medical data requires."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.core.models.base import Base, UTCDateTime, utcnow


class AuditLog(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_object", "object_type", "object_id"),
                      Index("ix_audit_log_clinic_at", "clinic_id", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    # The clinic whose record it concerns (else the staff member's own); NULL only for rows no
    # clinic can claim, which only an admin of every clinic sees (clinic_scope).
    clinic_id: Mapped[int | None] = mapped_column(ForeignKey("clinics.id"))
    action: Mapped[str] = mapped_column(String(40))  # view_patient, play_recording, export...
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(64), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    remote_addr: Mapped[str] = mapped_column(String(64), default="")
