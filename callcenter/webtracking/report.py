"""Website calls for the marketing manager: the funnel by source, medium, campaign, keyword or
landing page (first or last touch) down to booked and arrived visits and revenue, and each
pool's health (numbers in use at the peak, visitors who got the fallback, a recommended size)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from callcenter.core.models import (
    Appointment,
    AppointmentStatus,
    Call,
    CallStatus,
    WebCallLink,
    WebLease,
    WebPool,
    WebVisit,
)

DIMENSIONS = {"source": "utm_source", "medium": "utm_medium", "campaign": "utm_campaign",
              "keyword": "utm_term", "landing": "landing_url"}
TOUCHES = ("last", "first")
UNKNOWN = "unknown visitor"  # a call to a pool number no visit held at the time
# Add numbers when the pool is regularly this full at its peak (reference notes §2.5).
TARGET_USE = 0.75
ARRIVED = (AppointmentStatus.ARRIVED, AppointmentStatus.COMPLETED)


@dataclass
class FunnelRow:
    key: str
    calls: int = 0
    answered: int = 0
    booked: int = 0
    arrived: int = 0
    revenue: Decimal = Decimal(0)


def funnel(session: Session, clinic_id: int, start: datetime, end: datetime, dimension: str,
           touch: str = "last") -> list[FunnelRow]:
    """Website calls that started in [start, end), grouped; most calls first, unknown last."""
    column = DIMENSIONS[dimension]
    visit = aliased(WebVisit)
    link_visit = WebCallLink.visit_id if touch == "last" else WebCallLink.first_visit_id
    calls = session.execute(
        select(Call.id, Call.status, getattr(visit, column), WebCallLink.visit_id)
        .join(WebCallLink, WebCallLink.call_id == Call.id)
        .outerjoin(visit, visit.id == link_visit)
        .where(Call.clinic_id == clinic_id, Call.started_at >= start, Call.started_at < end)).all()
    rows: dict[str, FunnelRow] = {}
    by_call: dict[int, FunnelRow] = {}
    for call_id, status, value, tied_visit in calls:
        key = UNKNOWN if tied_visit is None else (value or "(none)")
        row = rows.setdefault(key, FunnelRow(key))
        row.calls += 1
        row.answered += status in (CallStatus.ANSWERED, CallStatus.COMPLETED)
        by_call[call_id] = row
    if by_call:
        for call_id, status, price in session.execute(
                select(Appointment.created_by_call_id, Appointment.status, Appointment.price)
                .where(Appointment.created_by_call_id.in_(list(by_call)),
                       Appointment.status != AppointmentStatus.CANCELLED)).all():
            row = by_call[call_id]
            row.booked += 1
            if status in ARRIVED:
                row.arrived += 1
                row.revenue += price or 0
    return sorted(rows.values(), key=lambda r: (r.key == UNKNOWN, -r.calls, r.key))


@dataclass(frozen=True)
class PoolHealth:
    pool: WebPool
    numbers: int
    visits: int  # visits shown a pool number
    fallback_visits: int  # visits shown the fallback because the pool was full
    peak_in_use: int
    peak_demand: int  # visitors wanting a number at once, the fallback ones included
    recommended: int


def _peak(spans: list[tuple[datetime, datetime]]) -> int:
    edges = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
    peak = level = 0
    for _, step in edges:
        level += step
        peak = max(peak, level)
    return peak


def pool_health(session: Session, clinic_id: int, start: datetime, end: datetime) -> list[PoolHealth]:
    out = []
    for pool in session.scalars(select(WebPool).where(WebPool.clinic_id == clinic_id)
                                .order_by(WebPool.name)):
        leases = session.execute(select(WebLease.started_at, WebLease.expires_at, WebLease.fallback)
                                 .where(WebLease.pool_id == pool.id, WebLease.started_at < end,
                                        WebLease.expires_at >= start)).all()
        held = [(a, b) for a, b, fallback in leases if not fallback]
        demand = _peak([(a, b) for a, b, _ in leases])
        out.append(PoolHealth(pool, len(pool.numbers), len(held), len(leases) - len(held),
                              _peak(held), demand,
                              math.ceil(demand / TARGET_USE) if demand else len(pool.numbers)))
    return out
