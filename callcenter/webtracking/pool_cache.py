"""Pools as the number endpoint reads them: held in each web process, so a number request does
not wait for the database.

A pool's settings and numbers are read once and kept; every change that could alter them (a pool
saved, a tracking number retired, reinstated or renumbered) bumps a version in Redis from the
session that committed it (`watch`). A request hands the version its copy was read under to the
lease script, which refuses it when Redis holds another (leases.Stale): the process reads the
pool again and asks again, so no extra round trip is spent on the check. A refusal (unknown
key, a site not in the list) looks at the version before it answers. A change made behind the
application's back (SQL by hand) is seen within TTL seconds all the same.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import redis
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from callcenter.core import clinic_scope
from callcenter.core.models import TrackingNumber, WebPool, WebPoolNumber
from callcenter.core.phones import national_digits

log = logging.getLogger(__name__)
VERSION = "callcenter:wt:config"
TTL = 30.0
MAX_ENTRIES = 10_000  # unknown keys are remembered too: a flood of invented ones is bounded
WATCHED = (WebPool, WebPoolNumber, TrackingNumber)


@dataclass(frozen=True)
class PoolConfig:
    id: int
    clinic_id: int
    key: str
    sites: frozenset[str]
    serves: str
    sources: tuple[str, ...]
    fallback: str  # E.164
    fallback_digits: int  # how many of its trailing digits the national number is
    hold_minutes: int
    active: bool
    numbers: tuple[str, ...]  # the pool's numbers still advertised, in a fixed order
    version: str  # changes when an admin edits the pool or retires or reinstates a number
    seen: str = "*"  # the cache version it was read under ('*': not from the cache)


def _in_use(pool_id: int) -> Any:
    return (select(TrackingNumber.e164)
            .join(WebPoolNumber, WebPoolNumber.tracking_number_id == TrackingNumber.id)
            .where(WebPoolNumber.pool_id == pool_id, TrackingNumber.active.is_(True)))


def pool_config(session: Session, pool: WebPool) -> PoolConfig:
    numbers = tuple(session.scalars(_in_use(pool.id).order_by(TrackingNumber.e164)))
    return PoolConfig(pool.id, pool.clinic_id, pool.key, frozenset(pool.sites), pool.serves,
                      tuple(pool.sources), pool.fallback.e164,
                      national_digits(pool.fallback.e164), pool.hold_minutes, pool.active,
                      numbers, f"{pool.updated_at.timestamp()}:{len(numbers)}")


def load(session: Session, key: str) -> PoolConfig | None:
    """The pool the snippet names by its public key; None when there is none."""
    pool = session.scalars(select(WebPool).where(WebPool.key == key[:32])
                           .execution_options(**clinic_scope.PAST_SCOPE)).first()
    if pool is None:
        return None
    clinic_scope.restrict(session, clinic_scope.Scope(frozenset({pool.clinic_id})))
    return pool_config(session, pool)


class PoolCache:
    """One web process's pools by key; safe to share between threads (a race reads twice)."""

    def __init__(self, client: redis.Redis, ttl: float = TTL) -> None:
        self.client = client
        self.ttl = ttl
        self.seen = ""  # the version what is held was read under ("" = never bumped)
        self._entries: dict[str, tuple[float, PoolConfig | None]] = {}
        self.refresh()

    def refresh(self) -> None:
        """Drop what is held if the version moved on."""
        raw = self.client.get(VERSION)
        seen = raw.decode() if isinstance(raw, bytes) else ""
        if seen != self.seen:
            self._entries, self.seen = {}, seen

    def get(self, key: str, read: Callable[[str], PoolConfig | None]) -> PoolConfig | None:
        now = time.monotonic()
        held = self._entries.get(key)
        if held is not None and now - held[0] < self.ttl:
            return held[1]
        seen = self.seen  # before reading: a change during the read makes the copy stale, not new
        config = read(key)
        if config is not None:
            config = replace(config, seen=seen)
        if len(self._entries) >= MAX_ENTRIES:
            self._entries = {}
        self._entries[key] = (now, config)
        return config


def bump(client: redis.Redis) -> None:
    client.incr(VERSION)


def watch(factory: sessionmaker[Session], client: Callable[[], redis.Redis]) -> None:
    """Bump the version after any commit of these sessions that wrote a pool or a number."""

    @event.listens_for(factory, "after_flush")
    def _noticed(session: Session, _context: Any) -> None:
        if any(isinstance(row, WATCHED) for row in (*session.new, *session.dirty, *session.deleted)):
            session.info["webtracking.pools_changed"] = True

    @event.listens_for(factory, "after_commit")
    def _committed(session: Session) -> None:
        if session.info.pop("webtracking.pools_changed", False):
            try:
                bump(client())
            except (redis.RedisError, RuntimeError) as exc:  # the TTL catches up; the commit stands
                log.warning("web pools: version not bumped (%s)", exc)

    @event.listens_for(factory, "after_rollback")
    def _rolled_back(session: Session) -> None:
        session.info.pop("webtracking.pools_changed", None)
