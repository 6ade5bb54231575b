"""Password guessing brakes: failed sign-ins counted per login name and per client address.

Counted in Redis so every web process sees the same figures. When Redis is unreachable the
counts fall back to this process's memory rather than failing open: an attacker must not be able
to switch the brake off by overloading Redis, and a per-process count (N processes allow N times
the limit) still bounds guessing. Nor do we fail closed: staff must still be able to sign in
while Redis is being repaired.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import redis
from flask import current_app

from callcenter.core.ratelimit import (
    Counters,
    Limit,
    MemoryCounters,
    RedisCounters,
    check,
    hit,
    reset,
)
from callcenter.core.web import runtime

log = logging.getLogger(__name__)
T = TypeVar("T")


class LoginThrottle:
    """Per name: a few guesses at one account. Per address: more, since a clinic's desks often
    share one NAT address and one receptionist's typos must not lock out the others."""

    def __init__(self, per_name: Limit, per_address: Limit,
                 connect: Callable[[], redis.Redis | None]) -> None:
        self.per_name, self.per_address = per_name, per_address
        self._connect = connect
        self._memory = MemoryCounters()

    def _subjects(self, login: str, address: str) -> list[tuple[Limit, str]]:
        return [(self.per_name, login.strip().casefold()[:80]), (self.per_address, address[:64])]

    def refused(self, login: str, address: str, now: float) -> int | None:
        """Seconds to wait when this name or address has used up its failures, else None."""
        verdicts = self._run(lambda c: [check(c, limit, s, now)
                                        for limit, s in self._subjects(login, address)], now)
        waits = [v.retry_after for v in verdicts if not v.allowed]
        return max(waits) if waits else None

    def failed(self, login: str, address: str, now: float) -> None:
        self._run(lambda c: [hit(c, limit, s, now) for limit, s in self._subjects(login, address)], now)

    def succeeded(self, login: str, now: float) -> None:
        """A right password clears the name's count; the address keeps its count (a guesser who
        owns one account must not reset the brake on the others)."""
        limit, name = self._subjects(login, "")[0]
        self._run(lambda c: reset(c, limit, name, now), now)

    def _run(self, action: Callable[[Counters], T], now: float) -> T:
        try:
            client = self._connect()
            if client is not None:
                return action(RedisCounters(client))
        except redis.RedisError as exc:
            log.warning("login throttle: Redis unavailable (%s), counting in this process",
                        type(exc).__name__)
        self._memory.forget_before(self.per_name, now)
        self._memory.forget_before(self.per_address, now)
        return action(self._memory)


def shared() -> LoginThrottle:
    """Failed-password counters shared by sign-in and the desk's unlock (same password)."""
    extensions = current_app.extensions
    if "login_throttle" not in extensions:
        config = current_app.config
        window = config["LOGIN_WINDOW"]
        extensions["login_throttle"] = LoginThrottle(
            Limit("login-name", config["LOGIN_FAILURES"], window),
            Limit("login-address", config["LOGIN_ADDRESS_FAILURES"], window),
            lambda: runtime().redis if config["REDIS_URL"] else None)
    return extensions["login_throttle"]
