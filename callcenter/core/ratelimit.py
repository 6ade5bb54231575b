"""Fixed-window request counters in Redis, with a per-process fallback for when Redis is down.

A fixed window (one Redis key per subject and window, INCR + EXPIRE in one round trip) is enough
here: it costs O(1) memory per subject even at thousands of webhooks a minute, and its known
weakness, a burst of up to twice the limit across a window boundary, does not help a password
guesser (10 guesses in 5 minutes instead of 5) nor lets a flood through.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Protocol

import redis

PREFIX = "callcenter:rl:"


@dataclass(frozen=True)
class Limit:
    """At most `limit` hits per `window` seconds for each subject, under this name."""

    name: str
    limit: int
    window: int


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    count: int
    retry_after: int  # seconds until the window that refused the hit ends


class Counters(Protocol):
    def add(self, key: str, window: int, amount: int = 1) -> int:
        """Count `amount` hits in the key's current window; the new count."""

    def get(self, key: str) -> int:
        """Hits so far in the key's current window."""

    def clear(self, key: str) -> None:
        """Forget the key's current window."""


def window_key(limit: Limit, subject: str, now: float) -> str:
    return f"{PREFIX}{limit.name}:{subject}:{int(now // limit.window)}"


def seconds_left(limit: Limit, now: float) -> int:
    return max(1, math.ceil(limit.window - now % limit.window))


# INCR and EXPIRE in one script: one command each way, where MULTI/INCR/EXPIRE/EXEC cost a
# third more CPU in the client (measured: 56 vs 86 µs), on every webhook.
_ADD = ("local count = redis.call('INCRBY', KEYS[1], ARGV[2]) "
        "redis.call('EXPIRE', KEYS[1], ARGV[1]) return count")


class RedisCounters:
    """Counters shared by every web process through Redis."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def add(self, key: str, window: int, amount: int = 1) -> int:
        return int(self.client.register_script(_ADD)(keys=[key], args=[window + 1, amount]))

    def get(self, key: str) -> int:
        return int(self.client.get(key) or 0)

    def clear(self, key: str) -> None:
        self.client.delete(key)


class MemoryCounters:
    """This process's own counters: the login fallback when Redis is unreachable."""

    MAX_KEYS = 100_000  # a flood of invented names must not grow memory without bound

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, key: str, window: int, amount: int = 1) -> int:
        with self._lock:
            if key not in self._counts and len(self._counts) >= self.MAX_KEYS:
                self._counts.clear()
            self._counts[key] = self._counts.get(key, 0) + amount
            return self._counts[key]

    def get(self, key: str) -> int:
        with self._lock:
            return self._counts.get(key, 0)

    def clear(self, key: str) -> None:
        with self._lock:
            self._counts.pop(key, None)

    def forget_before(self, limit: Limit, now: float) -> None:
        """Drop windows of this limit that have ended."""
        current = int(now // limit.window)
        marker = f"{PREFIX}{limit.name}:"
        with self._lock:
            for key in [k for k in self._counts if k.startswith(marker)]:
                if int(key.rsplit(":", 1)[1]) < current:
                    del self._counts[key]


def hit(counters: Counters, limit: Limit, subject: str, now: float) -> Verdict:
    """Count a hit and say whether it is within the limit."""
    count = counters.add(window_key(limit, subject, now), limit.window)
    return Verdict(count <= limit.limit, count, seconds_left(limit, now))


def check(counters: Counters, limit: Limit, subject: str, now: float) -> Verdict:
    """Whether one more hit would be allowed, without counting it."""
    count = counters.get(window_key(limit, subject, now))
    return Verdict(count < limit.limit, count, seconds_left(limit, now))


def reset(counters: Counters, limit: Limit, subject: str, now: float) -> None:
    counters.clear(window_key(limit, subject, now))
