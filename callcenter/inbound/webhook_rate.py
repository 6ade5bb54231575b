"""Requests per minute from one webhook source address, checked before anything is stored.

Every accepted request is stored as the record of what the PBX sent, rejected ones included, so
a flood from one address would fill the database; the limit sits in front of the store. The
default (6000 a minute) is far above what one PBX sends, so only a flood meets it, and a refused
sender gets 429 with Retry-After, which PBXs treat as "deliver again later".

When Redis is unreachable the check fails open: refusing calls because a counter is missing
would lose real calls, the one thing this service must not do. After a Redis error the check is
skipped for a few seconds so an outage does not add a connect timeout to every webhook.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis

from callcenter.core.ratelimit import Limit, RedisCounters, hit

log = logging.getLogger(__name__)
PAUSE_AFTER_ERROR = 10.0


class SourceRate:
    def __init__(self, per_minute: int, connect: Callable[[], redis.Redis | None]) -> None:
        self.limit = Limit("webhook", per_minute, 60)
        self._connect = connect
        self._paused_until = 0.0

    def wait(self, source: str, now: float) -> int | None:
        """Seconds the source must wait when over its rate, else None (also when Redis is down)."""
        if now < self._paused_until:
            return None
        try:
            client = self._connect()
            if client is None:
                return None
            verdict = hit(RedisCounters(client), self.limit, source or "unknown", now)
        except redis.RedisError as exc:
            self._paused_until = now + PAUSE_AFTER_ERROR
            log.warning("webhook rate not checked, Redis unavailable: %s", type(exc).__name__)
            return None
        if verdict.allowed:
            return None
        if verdict.count == self.limit.limit + 1:  # once per window, not once per refused request
            log.warning("webhooks from %s over %s a minute: refusing for %s s", source,
                        self.limit.limit, verdict.retry_after)
        return verdict.retry_after
