"""Text messages: the outbox the worker sends from and the replies that come back, one table."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.core.models.base import Base, UTCDateTime, str_enum, utcnow


class MessagePurpose(enum.StrEnum):
    CONFIRMATION = "confirmation"  # the reminder before a visit, answered "yes" / "no"
    TEXT_BACK = "text_back"  # after a missed call
    AFTER_CARE = "after_care"  # instructions on the day of a treatment
    RECALL = "recall"  # invitation for a check-up, two dates offered
    RATING = "rating"  # after a completed visit: "how satisfied were you, 1 to 5"
    DESK = "desk"  # written by a receptionist on the patient's card
    REPLY = "reply"  # an incoming message


class MessageStatus(enum.StrEnum):
    QUEUED = "queued"  # stored, waiting for the worker (or for the messaging window)
    SENDING = "sending"  # claimed by a worker; the provider may or may not have it
    SENT = "sent"  # the provider (or the carrier) took it
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"  # the carrier gave up
    FAILED = "failed"  # never reached the carrier (refused, attempts used up)
    CANCELLED = "cancelled"  # no longer to be sent: opted out, the visit moved
    RECEIVED = "received"  # incoming


FINAL_STATUSES = frozenset({MessageStatus.DELIVERED, MessageStatus.UNDELIVERED, MessageStatus.FAILED,
                            MessageStatus.CANCELLED, MessageStatus.RECEIVED})


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        # One reminder per (purpose, patient, visit), one text-back per number per day: the key
        # makes a second enqueue of the same message a no-op whichever path tries it.
        UniqueConstraint("clinic_id", "dedupe_key"),
        UniqueConstraint("provider", "provider_message_id"),
        Index("ix_messages_status_next", "status", "next_attempt_at"),
        Index("ix_messages_phone_created", "phone", "created_at"),
        Index("ix_messages_clinic_created", "clinic_id", "created_at"),
        Index("ix_messages_appointment", "appointment_id"),  # analytics: visits confirmed by text
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    direction: Mapped[str] = mapped_column(String(8))  # outbound | inbound
    purpose: Mapped[MessagePurpose] = mapped_column(str_enum(MessagePurpose, "message_purpose"))
    phone: Mapped[str] = mapped_column(String(20))  # the patient's side, E.164
    sender: Mapped[str] = mapped_column(String(20), default="")  # our number or sender name
    body: Mapped[str] = mapped_column(Text)
    dedupe_key: Mapped[str | None] = mapped_column(String(120))
    provider: Mapped[str] = mapped_column(String(16))
    provider_message_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[MessageStatus] = mapped_column(str_enum(MessageStatus, "message_status"))
    error: Mapped[str] = mapped_column(String(200), default="")
    segments: Mapped[int] = mapped_column(Integer, default=1)
    cost: Mapped[Decimal | None] = mapped_column(Numeric(10, 4))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What a reply was read as (confirm, decline, opt_out, unknown); empty for outbound.
    reading: Mapped[str] = mapped_column(String(16), default="")
    # An incoming message waits on the desk until someone has read it.
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
