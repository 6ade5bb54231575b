"""Requests per minute from one webhook source address, checked before anything is stored.

Every accepted request is stored as the record of what the PBX sent, rejected ones included, so
a flood from one address would fill the database; the limit sits in front of the store. The
default (6000 a minute) is far above what one PBX sends, so only a flood meets it, and a refused
sender gets 429 with Retry-After, which PBXs treat as "deliver again later".

The count is shared by every web process through Redis, but not asked for every webhook: a
process reserves a block of the window's allowance at a time (INCRBY, about a hundredth of the
limit) and spends it locally; a round trip per webhook was a sixth of a webhook's CPU. The limit
stays exact from above (a block reaching past the limit is granted only up to it), and a process
that was refused remembers it until the window ends, so a flood costs no round trips either. What
blocks cost is on the other side: a process may be refused while another still holds an unspent
block (at most processes × block hits early in a window). A small limit has blocks of one: exact.

When Redis is unreachable the check fails open: refusing calls because a counter is missing
would lose real calls, the one thing this service must not do. After a Redis error the check is
skipped for a few seconds so an outage does not add a connect timeout to every webhook.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import redis

from callcenter.core.ratelimit import Limit, RedisCounters, seconds_left, window_key

log = logging.getLogger(__name__)
PAUSE_AFTER_ERROR = 10.0
BLOCK_SHARE = 100  # a block is this fraction of the limit
MOST_BLOCK = 100
MOST_SOURCES = 100_000  # addresses remembered per window: a flood of them must not grow memory
REFUSED = -1


class SourceRate:
    def __init__(self, per_minute: int, connect: Callable[[], redis.Redis | None]) -> None:
        self.limit = Limit("webhook", per_minute, 60)
        self.block = max(1, min(MOST_BLOCK, per_minute // BLOCK_SHARE))
        self._connect = connect
        self._paused_until = 0.0
        self._lock = threading.Lock()
        self._window = -1
        self._left: dict[str, int] = {}  # this window: hits left in this process's block, or REFUSED

    def wait(self, source: str, now: float) -> int | None:
        """Seconds the source must wait when over its rate, else None (also when Redis is down)."""
        if now < self._paused_until:
            return None
        source = source or "unknown"
        window = int(now // self.limit.window)
        with self._lock:
            if window != self._window or len(self._left) >= MOST_SOURCES:
                self._window, self._left = window, {}
            left = self._left.get(source, 0)
            if left > 0:
                self._left[source] = left - 1
                return None
        if left == REFUSED:
            return seconds_left(self.limit, now)
        try:
            client = self._connect()
            if client is None:
                return None
            count = RedisCounters(client).add(window_key(self.limit, source, now),
                                              self.limit.window, self.block)
        except redis.RedisError as exc:
            self._paused_until = now + PAUSE_AFTER_ERROR
            log.warning("webhook rate not checked, Redis unavailable: %s", type(exc).__name__)
            return None
        # This block holds the window's hits count - block + 1 .. count; those up to the limit count.
        granted = max(0, min(count, self.limit.limit) - (count - self.block))
        with self._lock:
            if window == self._window:
                self._left[source] = (max(self._left.get(source, 0), 0) + granted - 1
                                      if granted else REFUSED)
        if granted:
            return None
        # A process remembers a refusal until the window ends: this logs once per window.
        log.warning("webhooks from %s over %s a minute: refusing for %s s", source,
                    self.limit.limit, seconds_left(self.limit, now))
        return seconds_left(self.limit, now)
