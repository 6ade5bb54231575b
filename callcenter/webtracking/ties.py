"""Inbound calls to pool numbers tied to the website visit that held the number when the call
rang, read after the fact from the call log: the inbound pipeline knows nothing of websites
(imports point down), and the lease history in the database says who held a number when.

A call is tied once (`web_call_links`): to the lease active at its ring time, else to the lease of
that number that ended at most the pool's grace minutes before; with neither it is "website,
unknown visitor" (visit None). Static numbers are never in a pool and are left as they are.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from callcenter.core.models import (
    Call,
    CallDirection,
    TrackingNumber,
    WebCallLink,
    WebLease,
    WebPool,
    WebPoolNumber,
    WebVisit,
)
from callcenter.webtracking.pools import GRACE_MINUTES

# Calls this old and still untied are left alone (a number added to a pool later would otherwise
# claim its whole past as "unknown website visitors").
LOOK_BACK = timedelta(days=2)


def lease_at(session: Session, e164: str, ring: datetime, grace_minutes: int) -> WebLease | None:
    """The lease of the number that the call ringing at `ring` belongs to."""
    # Only the latest lease begun before the ring can hold it: a number is leased to one visitor
    # at a time, so every earlier lease of it ended before that one began.
    lease = session.scalars(
        select(WebLease).where(WebLease.e164 == e164, WebLease.fallback.is_(False),
                               WebLease.started_at <= ring,
                               WebLease.expires_at >= ring - timedelta(minutes=GRACE_MINUTES[1]))
        .order_by(WebLease.started_at.desc(), WebLease.id.desc()).limit(1)).first()
    if lease is None or lease.expires_at + timedelta(minutes=grace_minutes) < ring:
        return None
    return lease


def first_visit(session: Session, clinic_id: int, visitor: str) -> WebVisit | None:
    return session.scalars(select(WebVisit).where(WebVisit.clinic_id == clinic_id,
                                                  WebVisit.visitor == visitor)
                           .order_by(WebVisit.started_at, WebVisit.id).limit(1)).first()


def tie_calls(session: Session, now: datetime) -> int:
    """Tie every untied inbound call to a pool number; how many were tied. The caller commits."""
    pools = dict(session.execute(
        select(TrackingNumber.e164, WebPool).join(
            WebPoolNumber, WebPoolNumber.tracking_number_id == TrackingNumber.id)
        .join(WebPool, WebPool.id == WebPoolNumber.pool_id)).all())
    if not pools:
        return 0
    # By the pools' clinics and the start: read through the calls' (clinic, start) index instead
    # of every call the installation ever took, every minute.
    calls = session.scalars(select(Call).where(
        Call.clinic_id.in_({pool.clinic_id for pool in pools.values()}),
        Call.direction == CallDirection.INBOUND, Call.dialed.in_(list(pools)),
        Call.started_at >= now - LOOK_BACK,
        ~exists().where(WebCallLink.call_id == Call.id)).order_by(Call.id))
    tied = 0
    for call in calls:
        pool = pools[call.dialed]  # type: ignore[index]  # dialed is one of the pool numbers
        if pool.clinic_id != call.clinic_id:
            continue
        lease = lease_at(session, call.dialed or "", call.ringing_at or call.started_at,
                         pool.grace_minutes)
        visit = session.get(WebVisit, lease.visit_id) if lease else None
        first = first_visit(session, call.clinic_id, visit.visitor) if visit else None
        session.add(WebCallLink(call_id=call.id, clinic_id=call.clinic_id, pool_id=pool.id,
                                visit_id=visit.id if visit else None,
                                first_visit_id=first.id if first else None,
                                lease_id=lease.id if lease else None, tied_at=now))
        tied += 1
    session.flush()
    return tied
