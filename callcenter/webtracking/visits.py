"""A website visitor asks for a number: the visit as the snippet read it, the pool's rules on
which traffic it serves, the lease (leases.py) and its history in the database."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from callcenter.core.inputs import InputError, text
from callcenter.core.models import TrackingNumber, WebLease, WebPool, WebPoolNumber, WebVisit
from callcenter.webtracking.leases import Leaser

VISITOR = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
PAID_MEDIUMS = frozenset({"cpc", "ppc", "paid", "cpm", "cpa", "paidsearch", "paid_search"})
# How often the page renews its lease, against the pool's hold of minutes.
RENEW_SECONDS = 60
# The snippet's body: {"visitor", "visit", "landing_url", "referrer", "utm": {...},
# "click_ids": {...}, "analytics_ids": {...}} (payloads/browser/visit_capture in the reference).
GROUPS = {"utm": ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"),
          "click_ids": ("gclid", "gbraid", "wbraid", "yclid"),
          "analytics_ids": ("ym_client_id", "ga_client_id")}


@dataclass(frozen=True)
class Facts:
    """What the snippet read of the visit; absent values are ""."""

    visitor: str
    visit_id: int | None = None
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    utm_term: str = ""
    utm_content: str = ""
    gclid: str = ""
    gbraid: str = ""
    wbraid: str = ""
    yclid: str = ""
    ym_client_id: str = ""
    ga_client_id: str = ""
    referrer: str = ""
    landing_url: str = ""

    @property
    def paid(self) -> bool:
        return bool(self.gclid or self.gbraid or self.wbraid or self.yclid
                    or self.utm_medium.lower() in PAID_MEDIUMS)


def _optional(column: Any, value: Any, field: str) -> str:
    return "" if value is None else text(column, value, field).strip()


def read_facts(body: Any) -> Facts:
    """The snippet's JSON body as Facts; an InputError naming the first bad field."""
    if not isinstance(body, dict):
        raise InputError("body", "expected a JSON object")
    visitor = body.get("visitor")
    if not isinstance(visitor, str) or not VISITOR.match(visitor):
        raise InputError("visitor", "8 to 64 Latin letters, digits, - or _")
    visit = body.get("visit")
    if visit is not None and (not isinstance(visit, int) or isinstance(visit, bool)
                              or not 0 < visit < 2**31):
        raise InputError("visit", "expected a visit id")
    values: dict[str, str] = {}
    for group, names in GROUPS.items():
        part = body.get(group) or {}
        if not isinstance(part, dict):
            raise InputError(group, "expected a JSON object")
        for name in names:
            values[name] = _optional(getattr(WebVisit, name), part.get(name), f"{group}.{name}")
    for name in ("referrer", "landing_url"):
        values[name] = _optional(getattr(WebVisit, name), body.get(name), name)
    return Facts(visitor=visitor, visit_id=visit, **values)


def serves(pool: WebPool, facts: Facts) -> bool:
    """Whether the pool gives this visit a number of its own (else it sees the fallback)."""
    if pool.serves == "paid":
        return facts.paid
    if pool.serves == "sources":
        return facts.utm_source.lower() in {s.lower() for s in pool.sources}
    return True


def _in_use(pool: WebPool) -> Any:
    return (select(TrackingNumber.e164)
            .join(WebPoolNumber, WebPoolNumber.tracking_number_id == TrackingNumber.id)
            .where(WebPoolNumber.pool_id == pool.id, TrackingNumber.active.is_(True)))


def pool_numbers(session: Session, pool: WebPool) -> list[str]:
    """The pool's numbers still advertised, in a fixed order."""
    return list(session.scalars(_in_use(pool).order_by(TrackingNumber.e164)))


def pool_version(session: Session, pool: WebPool) -> str:
    """Changes when an admin edits the pool or retires or reinstates one of its numbers."""
    count = session.scalar(select(func.count()).select_from(_in_use(pool).subquery()))
    return f"{pool.updated_at.timestamp()}:{count}"


@dataclass(frozen=True)
class Answer:
    number: str  # E.164
    visit_id: int | None  # None: traffic the pool does not serve
    fallback: bool
    renew_seconds: int


def _visit(session: Session, pool: WebPool, facts: Facts, now: datetime) -> WebVisit:
    if facts.visit_id is not None:
        known = session.get(WebVisit, facts.visit_id)
        if known is not None and known.pool_id == pool.id and known.visitor == facts.visitor:
            return known
    visit = WebVisit(clinic_id=pool.clinic_id, pool_id=pool.id, started_at=now,
                     **{f.name: getattr(facts, f.name) for f in fields(Facts) if f.name != "visit_id"})
    session.add(visit)
    session.flush()
    return visit


def request_number(session: Session, leaser: Leaser, pool: WebPool, facts: Facts,
                   now: datetime) -> Answer:
    """The number this visit is shown now, leased or renewed; the caller commits."""
    fallback = pool.fallback.e164
    if not pool.active or not serves(pool, facts):
        return Answer(fallback, None, True, 0)
    first = facts.visit_id is None
    visit = _visit(session, pool, facts, now)
    hold = pool.hold_minutes * 60
    taken = leaser.take(pool.id, pool_version(session, pool), lambda: pool_numbers(session, pool),
                        facts.visitor, now.timestamp(), hold)
    until = now + timedelta(seconds=hold)
    if taken.e164 is None:
        if first:  # counted once per visit, not on every renewal
            session.add(WebLease(clinic_id=pool.clinic_id, pool_id=pool.id, visit_id=visit.id,
                                 visitor=facts.visitor, e164=fallback, fallback=True,
                                 started_at=now, renewed_at=now, expires_at=until))
        return Answer(fallback, visit.id, True, RENEW_SECONDS)
    renewed = 0
    if not taken.new:
        latest = (select(func.max(WebLease.id)).where(
            WebLease.pool_id == pool.id, WebLease.visitor == facts.visitor,
            WebLease.e164 == taken.e164).scalar_subquery())
        renewed = session.execute(
            update(WebLease).where(WebLease.id == latest)
            .values(renewed_at=now, expires_at=until, visit_id=visit.id)
            .execution_options(synchronize_session=False)).rowcount
    if not renewed:
        session.add(WebLease(clinic_id=pool.clinic_id, pool_id=pool.id, visit_id=visit.id,
                             visitor=facts.visitor, e164=taken.e164, started_at=now,
                             renewed_at=now, expires_at=until))
    return Answer(taken.e164, visit.id, False, RENEW_SECONDS)
