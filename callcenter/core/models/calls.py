"""Source channels, tracking numbers, calls, their events and the raw webhooks behind them."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.core.models.base import Base, UTCDateTime, str_enum, utcnow
from callcenter.core.models.patients import Patient

if TYPE_CHECKING:
    from callcenter.core.models.clinic import Clinic


class Channel(Base):
    """An advertising source: search ads, maps listing, billboard, referral..."""

    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Shown to the receptionist as the "how did you hear" choices.
    offered_as_answer: Mapped[bool] = mapped_column(Boolean, default=True)
    # A retired channel keeps its past calls and reports; no number can be given to it anew.
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class TrackingNumber(Base):
    """A number the clinic advertises; the number dialed tells where the caller saw it."""

    __tablename__ = "tracking_numbers"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    e164: Mapped[str] = mapped_column(String(20), unique=True)
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id"))
    label: Mapped[str] = mapped_column(String(200), default="")
    # Created automatically for an unknown dialed number; an admin assigns a channel.
    auto_created: Mapped[bool] = mapped_column(Boolean, default=False)
    # The clinic's own number (on the door, the website's contacts): it needs no channel, and
    # its calls are "main line" in the reports rather than "no tracking number".
    main_line: Mapped[bool] = mapped_column(Boolean, default=False)
    # No longer advertised; calls that still reach it are recorded and attributed as before.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    channel: Mapped[Channel | None] = relationship()


class CallDirection(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


class CallStatus(enum.StrEnum):
    RINGING = "ringing"
    ANSWERED = "answered"  # talking now
    COMPLETED = "completed"  # answered, then ended
    MISSED = "missed"  # ended without an answer
    FAILED = "failed"  # outbound: busy, unreachable, rejected


class CallerKind(enum.StrEnum):
    NEW = "new"
    REPEAT = "repeat"
    FAMILY = "family"
    HIDDEN = "hidden"
    NON_PATIENT = "non_patient"


class CallOutcome(enum.StrEnum):
    BOOKED = "booked"
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"
    INFORMATION = "information"
    COMPLAINT = "complaint"
    NON_PATIENT = "non_patient"
    WRONG_NUMBER = "wrong_number"
    CONFIRMED = "confirmed"
    NOT_REACHED = "not_reached"


class Call(Base):
    __tablename__ = "calls"
    __table_args__ = (
        UniqueConstraint("provider", "provider_call_id"),
        Index("ix_calls_clinic_started", "clinic_id", "started_at"),
        Index("ix_calls_caller_started", "caller", "started_at"),
        Index("ix_calls_channel_started", "channel_id", "started_at"),
        Index("ix_calls_status_started", "status", "started_at"),
        # The missed calls a call returned (the roll-ups' refresh, the call-back script of an
        # outbound call): without it each such question read every call. Most calls return
        # none, and a partial index costs them nothing.
        Index("ix_calls_callback", "callback_call_id",
              sqlite_where=text("callback_call_id IS NOT NULL"),
              postgresql_where=text("callback_call_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    provider: Mapped[str] = mapped_column(String(32))
    provider_call_id: Mapped[str] = mapped_column(String(128))
    direction: Mapped[CallDirection] = mapped_column(str_enum(CallDirection, "call_direction"))
    caller: Mapped[str | None] = mapped_column(String(20))  # E.164, None when hidden
    caller_raw: Mapped[str] = mapped_column(String(64), default="")
    dialed: Mapped[str | None] = mapped_column(String(20))  # E.164 of the tracking number
    tracking_number_id: Mapped[int | None] = mapped_column(ForeignKey("tracking_numbers.id"))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id"))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    caller_kind: Mapped[CallerKind] = mapped_column(
        str_enum(CallerKind, "caller_kind"), default=CallerKind.NEW
    )
    first_time: Mapped[bool] = mapped_column(Boolean, default=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    extension: Mapped[str | None] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ringing_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration: Mapped[int | None] = mapped_column(Integer)  # talk seconds
    status: Mapped[CallStatus] = mapped_column(str_enum(CallStatus, "call_status"))
    recording_url: Mapped[str | None] = mapped_column(Text)
    # The latest event's time (None on calls from before it was kept): see inbound/call_fold.py.
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[CallOutcome | None] = mapped_column(str_enum(CallOutcome, "call_outcome"))
    heard_from_channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id"))
    heard_from_note: Mapped[str] = mapped_column(String(200), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    # A missed inbound call waits here until someone calls back or the caller gets through.
    callback_done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    callback_call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    patient: Mapped[Patient | None] = relationship(foreign_keys=[patient_id])
    channel: Mapped[Channel | None] = relationship(foreign_keys=[channel_id])
    # Read-only: joined into the statement that reads a call for its card (one round trip).
    clinic: Mapped[Clinic] = relationship(foreign_keys=[clinic_id], viewonly=True)
    tracking_number: Mapped[TrackingNumber | None] = relationship(foreign_keys=[tracking_number_id],
                                                                  viewonly=True)
    heard_from_channel: Mapped[Channel | None] = relationship(foreign_keys=[heard_from_channel_id])
    candidates: Mapped[list[CallCandidate]] = relationship(cascade="all, delete-orphan")
    events: Mapped[list[CallEventRecord]] = relationship(
        cascade="all, delete-orphan", order_by="CallEventRecord.occurred_at"
    )
    drafts: Mapped[list[CallDraft]] = relationship(cascade="all, delete-orphan")


class CallDraft(Base):
    """What a receptionist typed on a call's card and has not saved yet: kept on the server, not
    in the browser, so it survives Esc, a reload, the idle lock (which clears the page) and a move
    to another computer, and never sits unencrypted in a shared computer's browser storage.
    Saving the wrap-up deletes it; erasing the patient deletes it with the call's notes."""

    __tablename__ = "call_drafts"

    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True)
    # The call's clinic, so the clinic scope filters drafts like every other clinic-owned row.
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(24), default="")
    heard_from: Mapped[str] = mapped_column(String(60), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CallCandidate(Base):
    """Every patient on a shared (family) number, for the receptionist to pick from."""

    __tablename__ = "call_candidates"

    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), primary_key=True)


class CallEventRecord(Base):
    """One normalized event applied to a call; the dedupe key makes redelivery a no-op."""

    __tablename__ = "call_events"
    __table_args__ = (UniqueConstraint("call_id", "dedupe_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    dedupe_key: Mapped[str] = mapped_column(String(200))
    raw_webhook_id: Mapped[int | None] = mapped_column(ForeignKey("raw_webhooks.id"))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RawState(enum.StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    FAILED = "failed"  # processing raised: visible to an admin, can be re-processed
    REJECTED = "rejected"  # bad signature or unknown provider: kept for security review
    INVALID = "invalid"  # authentic but malformed


class RawWebhook(Base):
    """Every webhook request exactly as received, stored before anything else is done."""

    __tablename__ = "raw_webhooks"
    __table_args__ = (Index("ix_raw_webhooks_state_received", "state", "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The clinic of the call it was applied to; None until then (rejected, invalid, failed).
    clinic_id: Mapped[int | None] = mapped_column(ForeignKey("clinics.id"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    # Set when it came to a clinic's own account URL (/webhooks/<provider>/c/<token>): that
    # account's secret verifies it again on re-processing, and its clinic owns it even if refused.
    pbx_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("pbx_accounts.id", ondelete="SET NULL"))
    path: Mapped[str] = mapped_column(String(300))
    method: Mapped[str] = mapped_column(String(8))
    query: Mapped[str] = mapped_column(Text, default="")
    headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    remote_addr: Mapped[str] = mapped_column(String(64), default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    state: Mapped[RawState] = mapped_column(str_enum(RawState, "raw_state"), default=RawState.RECEIVED)
    error: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookBinding(Base):
    """What the first accepted webhook fixed for a call, where the provider's signature leaves a
    gap (webhooks.Binding): a later request under the same key must agree with it.

    Keys and facts are stored as keyed digests: they hold phone numbers, which must not outlive
    a patient's erasure in readable form.
    """

    __tablename__ = "webhook_bindings"
    __table_args__ = (
        UniqueConstraint("provider", "scope", "key_digest"),
        Index("ix_webhook_bindings_call", "provider", "scope", "call_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(16))
    key_digest: Mapped[str] = mapped_column(String(64))
    call_key: Mapped[str] = mapped_column(String(200))
    facts_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
