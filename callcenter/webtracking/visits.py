"""A website visitor asks for a number: the visit as the snippet read it, the pool's rules on
which traffic it serves, and the lease (leases.py), recorded in Redis for the database."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.core.inputs import InputError, limit, text_within
from callcenter.core.models import WebLease, WebPool, WebVisit
from callcenter.webtracking.leases import OPEN, Ask, Gate, Leaser
from callcenter.webtracking.pool_cache import PoolConfig, pool_config

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


# The columns' lengths, read once: through the mapped attributes they were a tenth of a number
# request's CPU.
_LIMITS = {name: limit(getattr(WebVisit, name))
           for name in (*(n for names in GROUPS.values() for n in names), "referrer", "landing_url")}


def _optional(name: str, value: Any, field: str) -> str:
    return "" if value is None else text_within(_LIMITS[name], value, field).strip()


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
            values[name] = _optional(name, part.get(name), f"{group}.{name}")
    for name in ("referrer", "landing_url"):
        values[name] = _optional(name, body.get(name), name)
    return Facts(visitor=visitor, visit_id=visit, **values)


def serves(pool: WebPool | PoolConfig, facts: Facts) -> bool:
    """Whether the pool gives this visit a number of its own (else it sees the fallback)."""
    if pool.serves == "paid":
        return facts.paid
    if pool.serves == "sources":
        return facts.utm_source.lower() in {s.lower() for s in pool.sources}
    return True


@dataclass(frozen=True)
class Answer:
    number: str  # E.164
    visit_id: int | None  # None: traffic the pool does not serve
    fallback: bool
    renew_seconds: int


def last_ids(session: Session) -> tuple[int, int]:
    """The highest visit and lease ids in the database: where Redis's counters begin."""
    return (session.scalar(select(func.max(WebVisit.id))) or 0,
            session.scalar(select(func.max(WebLease.id))) or 0)


def request_number(session: Session, leaser: Leaser, pool: WebPool | PoolConfig, facts: Facts,
                   now: datetime, gate: Gate = OPEN) -> Answer:
    """The number this visit is shown now, leased or renewed, the visit and lease recorded in
    Redis (records.flush writes them to the database). The session is read only when Redis
    has lost its id counters; a WebPool (tests, scripts) is read into its config first.
    Raises leases.Stale or leases.Throttled when the gate is shut."""
    config = pool if isinstance(pool, PoolConfig) else pool_config(session, pool)
    if not config.active or not serves(config, facts):
        return Answer(config.fallback, None, True, 0)
    record = {f.name: getattr(facts, f.name) for f in fields(Facts) if f.name != "visit_id"}
    record["clinic_id"] = config.clinic_id
    taken = leaser.take(Ask(config.id, config.clinic_id, config.version, facts.visitor, facts.visit_id,
                            json.dumps(record, separators=(",", ":")), config.fallback,
                            now.timestamp(), config.hold_minutes * 60, gate),
                        lambda: list(config.numbers), lambda: last_ids(session))
    if taken.e164 is None:
        return Answer(config.fallback, taken.visit_id, True, RENEW_SECONDS)
    return Answer(taken.e164, taken.visit_id, False, RENEW_SECONDS)
