"""A clinic's number pools as an admin sets them up: the rules of the form, and the snippet tag.

The numbers are the clinic's own tracking numbers (connected to the PBX, with their channel), so
a call to a pool number is an ordinary call first; a number lends itself to one pool at most.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core.inputs import InputError, text
from callcenter.core.models import Clinic, TrackingNumber, WebPool, WebPoolNumber

SERVES = ("all", "paid", "sources")
HOLD_MINUTES = (1, 120)
GRACE_MINUTES = (0, 60)


@dataclass
class PoolForm:
    name: str = ""
    sites: str = ""
    serves: str = "all"
    sources: str = ""
    fallback_number_id: str = ""
    number_ids: list[str] = field(default_factory=list)
    hold_minutes: str = "5"
    grace_minutes: str = "3"
    active: bool = True

    @classmethod
    def read(cls, form: Any) -> PoolForm:
        return cls(str(form.get("name", "")), str(form.get("sites", "")),
                   str(form.get("serves", "all")), str(form.get("sources", "")),
                   str(form.get("fallback_number_id", "")), list(form.getlist("number_ids")),
                   str(form.get("hold_minutes", "")), str(form.get("grace_minutes", "")),
                   form.get("active") in ("1", "on", "true"))

    @classmethod
    def of(cls, pool: WebPool) -> PoolForm:
        return cls(pool.name, "\n".join(pool.sites), pool.serves, ", ".join(pool.sources),
                   str(pool.fallback_number_id), [str(n.tracking_number_id) for n in pool.numbers],
                   str(pool.hold_minutes), str(pool.grace_minutes), pool.active)


@dataclass(frozen=True)
class PoolValues:
    name: str
    sites: list[str]
    serves: str
    sources: list[str]
    fallback: TrackingNumber
    numbers: list[TrackingNumber]
    hold_minutes: int
    grace_minutes: int
    active: bool


def origin(raw: str) -> str:
    """A site as the browser names it in Origin: scheme://host[:port], lower-case."""
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") \
            or parts.query or parts.username:
        raise InputError("sites", "{value} is not a site address like https://clinic.example",
                         value=raw.strip()[:80])
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname.lower()}{port}"


def _minutes(raw: str, name: str, bounds: tuple[int, int]) -> int:
    value = raw.strip()
    if not value.isascii() or not value.isdigit() or not bounds[0] <= int(value) <= bounds[1]:
        raise InputError(name, "a whole number from {low} to {high}", low=bounds[0], high=bounds[1])
    return int(value)


def _number(session: Session, clinic: Clinic, raw: str, name: str) -> TrackingNumber:
    row = session.get(TrackingNumber, int(raw)) if raw.isascii() and raw.isdigit() and len(raw) < 10 \
        else None
    if row is None or row.clinic_id != clinic.id or not row.active:
        raise InputError(name, "choose one of the clinic's numbers in use")
    return row


def _pool_numbers(session: Session, form: PoolForm, clinic: Clinic,
                  pool: WebPool | None) -> list[TrackingNumber]:
    numbers = [_number(session, clinic, raw, "number_ids") for raw in dict.fromkeys(form.number_ids)]
    if not numbers:
        raise InputError("number_ids", "choose at least one number for the pool")
    others = set(session.scalars(select(WebPoolNumber.tracking_number_id).where(
        WebPoolNumber.pool_id != (pool.id if pool else 0))))
    if any(n.id in others for n in numbers):
        raise InputError("number_ids", "a number already serves another pool")
    return numbers


def pool_values(session: Session, form: PoolForm, clinic: Clinic,
                pool: WebPool | None) -> tuple[PoolValues | None, dict[str, InputError]]:
    """The form's values, or None with every problem by field."""
    problems: dict[str, InputError] = {}

    def check(name: str, step: Any) -> Any:
        try:
            return step()
        except InputError as exc:
            problems.setdefault(exc.field or name, exc)
            return None

    name = check("name", lambda: text(WebPool.name, form.name, "name").strip())
    if name == "":
        problems["name"] = InputError("name", "required")
    sites = check("sites", lambda: [origin(s) for s in form.sites.split() if s.strip()])
    if sites == []:
        problems["sites"] = InputError("sites", "give at least one site address")
    if form.serves not in SERVES:
        problems["serves"] = InputError("serves", "choose which visitors get a number")
    sources = [s.strip().lower() for s in form.sources.replace("\n", ",").split(",") if s.strip()]
    if form.serves == "sources" and not sources:
        problems["sources"] = InputError("sources", "name at least one utm_source")
    if any(len(s) > 200 for s in sources):
        problems["sources"] = InputError("sources", "longer than {most} characters", most=200)
    numbers = check("number_ids", lambda: _pool_numbers(session, form, clinic, pool))
    fallback = check("fallback_number_id",
                     lambda: _number(session, clinic, form.fallback_number_id, "fallback_number_id"))
    if fallback is not None and numbers and fallback in numbers:
        problems["fallback_number_id"] = InputError(
            "fallback_number_id", "the fallback number cannot be one of the pool's")
    hold = check("hold_minutes", lambda: _minutes(form.hold_minutes, "hold_minutes", HOLD_MINUTES))
    grace = check("grace_minutes",
                  lambda: _minutes(form.grace_minutes, "grace_minutes", GRACE_MINUTES))
    if problems:
        return None, problems
    return PoolValues(name, list(dict.fromkeys(sites)), form.serves, sources, fallback, numbers,
                      hold, grace, form.active), {}


def save_pool(session: Session, clinic: Clinic, pool: WebPool | None, values: PoolValues) -> WebPool:
    if pool is None:
        pool = WebPool(clinic_id=clinic.id, key=secrets.token_urlsafe(16))
        session.add(pool)
    pool.name, pool.sites, pool.serves = values.name, values.sites, values.serves
    pool.sources = values.sources if values.serves == "sources" else []
    pool.fallback_number_id = values.fallback.id
    pool.hold_minutes, pool.grace_minutes, pool.active = (values.hold_minutes,
                                                          values.grace_minutes, values.active)
    wanted = [n.id for n in values.numbers]
    pool.numbers = [n for n in pool.numbers if n.tracking_number_id in wanted] + [
        WebPoolNumber(tracking_number_id=i) for i in wanted
        if i not in {n.tracking_number_id for n in pool.numbers}]
    session.flush()
    return pool


def snippet(service_url: str, pool: WebPool) -> str:
    """The tag the clinic pastes into its site."""
    base = service_url.rstrip("/")
    return f'<script src="{base}/static/webtracking.js" data-pool="{pool.key}" async></script>'
