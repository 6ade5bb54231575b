"""Per-trunk pacing shared by every worker through Redis: calls per second and open channels.

Calls-per-second is a reservation schedule: each dial reserves the next free slot (1/cps apart,
on Redis's clock) and sleeps until it, so the rate never goes above the limit however many
workers dial. Channels are leases with an expiry, so a killed worker frees its channel later on
its own.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import redis

# KEYS[1] = slot key; ARGV[1] = interval in microseconds. Returns microseconds to wait.
_RESERVE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local interval = tonumber(ARGV[1])
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, last + interval)
redis.call('SET', KEYS[1], string.format('%d', slot), 'PX', math.ceil((slot - now) / 1000) + 60000)
return slot - now
"""

# KEYS[1] = lease set; ARGV = capacity, token, lease microseconds. Returns 1 if leased.
_LEASE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
    return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3]) / 1000) + 1000)
return 1
"""


class NoChannel(Exception):
    """Every channel of the trunk stayed busy for the whole wait."""


class Pacer:
    def __init__(self, connection: redis.Redis, trunk: str, cps: float, channels: int,
                 lease_seconds: int = 600, margin: float = 0.03) -> None:
        self.connection = connection
        self.slot_key = f"callcenter:pace:{trunk}:slot"
        self.lease_key = f"callcenter:pace:{trunk}:channels"
        # 3 % under the limit: an INVITE may leave up to 30 ms late (a busy CPU) and still no
        # 1-second window holds more calls than the limit.
        self.interval_us = int(1_000_000 / cps * (1 + margin))
        self.channels = channels
        self.lease_us = lease_seconds * 1_000_000
        self._reserve = connection.register_script(_RESERVE)
        self._lease = connection.register_script(_LEASE)

    def wait_for_slot(self) -> float:
        """Block until this caller's dial slot; returns the seconds waited."""
        wait_us = int(self._reserve(keys=[self.slot_key], args=[self.interval_us]))
        if wait_us > 0:
            time.sleep(wait_us / 1_000_000)
        return wait_us / 1_000_000

    @contextmanager
    def channel(self, wait_seconds: float = 60.0) -> Iterator[str]:
        """Hold one of the trunk's channels for the duration of a call."""
        token = uuid.uuid4().hex
        deadline = time.monotonic() + wait_seconds
        while not self._lease(keys=[self.lease_key], args=[self.channels, token, self.lease_us]):
            if time.monotonic() >= deadline:
                raise NoChannel(f"all {self.channels} channels busy")
            time.sleep(0.05)
        try:
            yield token
        finally:
            with suppress(redis.RedisError):  # if Redis is gone, the lease expires by itself
                self.connection.zrem(self.lease_key, token)

