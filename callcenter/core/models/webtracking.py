"""Web call tracking: number pools, website visits, the leases of pool numbers to visitors, calls
tied to those visits, and the conversions owed to the ad platforms.

Visits hold the marketing facts of a visit (UTM tags, click ids, analytics client ids) and a
random visitor id chosen by the site's browser: never a name or a phone number.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.core.models.base import Base, UTCDateTime, utcnow
from callcenter.core.models.calls import TrackingNumber


class WebPool(Base):
    """Numbers shown to a clinic's website visitors, one each, for the traffic it serves."""

    __tablename__ = "web_pools"

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # The snippet names its pool by this key; it is public (it is in the site's HTML).
    key: Mapped[str] = mapped_column(String(32), unique=True)
    # Origins ("https://clinic.example") allowed to ask for numbers (CORS).
    sites: Mapped[list[str]] = mapped_column(JSON, default=list)
    # all | paid (a click id or utm_medium cpc/ppc/paid) | sources (utm_source in `sources`)
    serves: Mapped[str] = mapped_column(String(16), default="all")
    sources: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Shown when every pool number is leased, and to traffic the pool does not serve.
    fallback_number_id: Mapped[int] = mapped_column(ForeignKey("tracking_numbers.id"))
    # A number stays with a visitor this long after the page last renewed it.
    hold_minutes: Mapped[int] = mapped_column(Integer, default=5)
    # A call this long after the lease ended is still the visitor's (unless leased anew).
    grace_minutes: Mapped[int] = mapped_column(Integer, default=3)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    fallback: Mapped[TrackingNumber] = relationship()
    numbers: Mapped[list[WebPoolNumber]] = relationship(cascade="all, delete-orphan",
                                                        order_by="WebPoolNumber.tracking_number_id")


class WebPoolNumber(Base):
    """A tracking number lent out by a pool; a number serves one pool at most."""

    __tablename__ = "web_pool_numbers"

    pool_id: Mapped[int] = mapped_column(ForeignKey("web_pools.id", ondelete="CASCADE"),
                                         primary_key=True)
    tracking_number_id: Mapped[int] = mapped_column(ForeignKey("tracking_numbers.id"),
                                                    primary_key=True, unique=True)

    number: Mapped[TrackingNumber] = relationship()


class WebVisit(Base):
    """One visit of a website visitor as the snippet read it (the first page of the visit)."""

    __tablename__ = "web_visits"
    __table_args__ = (Index("ix_web_visits_clinic_visitor", "clinic_id", "visitor"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    pool_id: Mapped[int] = mapped_column(ForeignKey("web_pools.id", ondelete="CASCADE"), index=True)
    visitor: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    utm_source: Mapped[str] = mapped_column(String(200), default="")
    utm_medium: Mapped[str] = mapped_column(String(200), default="")
    utm_campaign: Mapped[str] = mapped_column(String(200), default="")
    utm_term: Mapped[str] = mapped_column(String(200), default="")
    utm_content: Mapped[str] = mapped_column(String(200), default="")
    gclid: Mapped[str] = mapped_column(String(200), default="")
    gbraid: Mapped[str] = mapped_column(String(200), default="")
    wbraid: Mapped[str] = mapped_column(String(200), default="")
    yclid: Mapped[str] = mapped_column(String(200), default="")
    ym_client_id: Mapped[str] = mapped_column(String(64), default="")
    ga_client_id: Mapped[str] = mapped_column(String(64), default="")
    referrer: Mapped[str] = mapped_column(String(500), default="")
    landing_url: Mapped[str] = mapped_column(String(500), default="")


class WebLease(Base):
    """A number shown to a visit from `started_at` until `expires_at` (moved on by renewals);
    `fallback` rows record a visit that got the fallback number because the pool was full."""

    __tablename__ = "web_leases"
    __table_args__ = (Index("ix_web_leases_number_started", "e164", "started_at"),
                      Index("ix_web_leases_pool_visitor", "pool_id", "visitor"))

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    pool_id: Mapped[int] = mapped_column(ForeignKey("web_pools.id", ondelete="CASCADE"))
    visit_id: Mapped[int] = mapped_column(ForeignKey("web_visits.id", ondelete="CASCADE"), index=True)
    visitor: Mapped[str] = mapped_column(String(64))
    e164: Mapped[str] = mapped_column(String(20))
    fallback: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    renewed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebCallLink(Base):
    """An inbound call to a pool number tied to the visit that held the number when it rang
    (`visit_id` None: "website, unknown visitor"); `first_visit_id` is the visitor's first touch."""

    __tablename__ = "web_call_links"

    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"), index=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("web_pools.id", ondelete="CASCADE"))
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("web_visits.id", ondelete="SET NULL"))
    first_visit_id: Mapped[int | None] = mapped_column(ForeignKey("web_visits.id", ondelete="SET NULL"))
    lease_id: Mapped[int | None] = mapped_column(ForeignKey("web_leases.id", ondelete="SET NULL"))
    tied_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    visit: Mapped[WebVisit | None] = relationship(foreign_keys=[visit_id])
    first_visit: Mapped[WebVisit | None] = relationship(foreign_keys=[first_visit_id])


class WebAdAccount(Base):
    """Where a clinic's conversions go: a Metrica counter and a Google Ads customer and action.
    The tokens are sealed (core/secret_box.py) under CALLCENTER_SECRET_KEY."""

    __tablename__ = "web_ad_accounts"

    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"),
                                           primary_key=True)
    metrica_counter: Mapped[str] = mapped_column(String(20), default="")
    google_customer: Mapped[str] = mapped_column(String(20), default="")
    google_action: Mapped[str] = mapped_column(String(20), default="")
    # Calls from Google Ads call assets (no click id): their conversion action, and the code of
    # the channel whose numbers those calls are forwarded to.
    google_call_action: Mapped[str] = mapped_column(String(20), default="", server_default="")
    google_call_channel: Mapped[str] = mapped_column(String(64), default="", server_default="")
    sealed_tokens: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WebConversion(Base):
    """A booked or arrived visit owed to one ad platform, and how its upload went."""

    __tablename__ = "web_conversions"
    __table_args__ = (UniqueConstraint("platform", "appointment_id", "kind"),
                      Index("ix_web_conversions_state", "state", "platform"))

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(16))  # metrica | google | google_call
    kind: Mapped[str] = mapped_column(String(16))  # booked | arrived
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointments.id", ondelete="CASCADE"))
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    # None: a Google call conversion, matched by the caller and the call's start, not a visit
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("web_visits.id", ondelete="CASCADE"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    value: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    # pending → sent | rejected (the platform refused the row: fixing it is a person's job);
    # a failed request stays pending with its error, and is tried again.
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
