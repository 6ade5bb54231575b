"""Data exchange with the clinic's own record system: which of our rows stands for which of
theirs, saved column mappings, and file imports run in the background."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.core.models.base import Base, UTCDateTime, utcnow


class ExternalRef(Base):
    """Their id → our row, per clinic and kind (patient, doctor, service, appointment,
    treatment). One table rather than a column on each model: the record system's ids are its
    business, and a re-import finds every row it wrote by one indexed lookup."""

    __tablename__ = "external_refs"
    # Their id → ours for upserts; ours → theirs for the FHIR write-back and the events of a
    # card edited here.
    __table_args__ = (UniqueConstraint("clinic_id", "kind", "external_id"),
                      Index("ix_external_refs_local", "clinic_id", "kind", "local_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(100))
    local_id: Mapped[int] = mapped_column(Integer)
    # A hash of the record as last written: an unchanged row is recognised without loading ours.
    digest: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ImportProfile(Base):
    """A saved column mapping ("IDENT patients"): file header → our field."""

    __tablename__ = "import_profiles"
    __table_args__ = (UniqueConstraint("clinic_id", "kind", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(80))
    columns: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ImportJob(Base):
    """One uploaded file and what became of it. The file itself is kept in the row so the web
    process and whichever worker runs the job read the same bytes."""

    __tablename__ = "import_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str] = mapped_column(String(200))
    # Deferred, as is the refused file: a list of jobs must not read every upload.
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    columns: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=True)
    # uploaded → queued → running → done | failed | cancelled
    state: Mapped[str] = mapped_column(String(16), default="uploaded")
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    # The first rows' outcomes for the dry-run view: [[row, outcome, field, reason], …].
    report: Mapped[list[Any]] = mapped_column(JSON, default=list)
    refused_file: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    error: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class IntegrationToken(Base):
    """A connector's key to the sync API: one clinic, some scopes, revocable. Only a hash is
    kept; the token itself is shown once, when made. Not a staff session: it opens no page."""

    __tablename__ = "integration_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    # SHA-256 of the token: 256 random bits need no slow hash to resist guessing.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))  # how lists and logs name it
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class IdempotentRequest(Base):
    """A sync request made with an Idempotency-Key and the answer it got, written in the same
    transaction as its changes: a retry gets the same answer and changes nothing."""

    __tablename__ = "idempotent_requests"
    __table_args__ = (UniqueConstraint("clinic_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class EventReceiver(Base):
    """Where a clinic's own system takes our events (one URL per clinic) and the secret their
    signatures are made with, sealed (core.secret_box) like a PBX account's."""

    __tablename__ = "event_receivers"

    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"), primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    sealed_secret: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxEvent(Base):
    """A change the clinic's system hears of, written in the transaction of the change itself,
    so an event exists exactly when its change does. Sent by the worker (when the clinic has a
    receiver) and read by the sync API's changes feed; `id` orders both, `uid` is the event id
    a receiver dedupes by.

    state: pending → sending (claimed by a worker) → delivered | failed (gave up), or `held`
    when the clinic had no receiver at the time (the feed still has it)."""

    __tablename__ = "outbox_events"
    __table_args__ = (UniqueConstraint("clinic_id", "dedupe_key"),
                      Index("ix_outbox_events_feed", "clinic_id", "xid", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    # The writing transaction's id on PostgreSQL (pg_current_xact_id), 0 on SQLite: the changes
    # feed is ordered by (xid, id) and shows only transactions older than every one still
    # running, so an event committed late is never passed over (see exchange.feed).
    xid: Mapped[int] = mapped_column(BigInteger, default=0)
    # An event that must exist once whoever computes it and however often ("recall:<patient>:<due>").
    dedupe_key: Mapped[str | None] = mapped_column(String(80))
    # Events of one patient are delivered in order: a failing one holds back the later ones.
    patient_id: Mapped[int | None] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    state: Mapped[str] = mapped_column(String(12), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EventAttempt(Base):
    """One try at delivering an event and what the receiver answered: the admin's delivery log."""

    __tablename__ = "event_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("outbox_events.id", ondelete="CASCADE"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)  # None: no answer at all
    response: Mapped[str] = mapped_column(String(300), default="")


class FhirConnection(Base):
    """A clinic's FHIR R4 server: where it is, the bearer token (sealed like a PBX account's
    settings), how far the pulls have read, and how the last one went (for the admin page).

    `cursors` holds, per resource type, the newest `meta.lastUpdated` a successful pull saw: the
    server's own clock, so the next pull asks `_lastUpdated=ge…` without trusting ours.
    `outbox_cursor` is the last outbox event the status write-back looked at."""

    __tablename__ = "fhir_connections"

    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"), primary_key=True)
    base_url: Mapped[str] = mapped_column(String(500))
    sealed_token: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    pull_minutes: Mapped[int] = mapped_column(Integer, default=15)  # 0: only by hand
    cursors: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    outbox_cursor: Mapped[int] = mapped_column(Integer, default=0)
    # never → running → ok | failed
    pull_state: Mapped[str] = mapped_column(String(12), default="never")
    pull_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pull_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pull_counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The first refusals of the last pull: [[resource type, id, field, reason], …].
    pull_refusals: Mapped[list[Any]] = mapped_column(JSON, default=list)
    pull_error: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FhirWriteback(Base):
    """A visit whose status the FHIR server must learn: one row per visit, set pending again by
    each change, so the worker always writes the visit's status as it is now (in order, once).

    state: pending → done | failed (given up, or refused by the server)."""

    __tablename__ = "fhir_writebacks"
    __table_args__ = (UniqueConstraint("clinic_id", "appointment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointments.id", ondelete="CASCADE"))
    fhir_id: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(12), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)  # None: no answer at all
    written: Mapped[str] = mapped_column(String(40), default="")  # what the server now says
    version: Mapped[str] = mapped_column(String(64), default="")
    message: Mapped[str] = mapped_column(String(300), default="")
