"""Per-trunk pacing shared by every process through Redis: calls per second and open channels.

Calls-per-second is a reservation schedule: each dial reserves the next free slot (1/cps apart,
on Redis's clock) and sleeps until it, which spreads the calls evenly (`wait_for_slot`; texts
use it alone). A thread on a busy machine may wake late, or be held up between the decision and
its packet, and leave right beside a call that was on time; so a call (`slot`) also checks in
with the log of calls started just before it goes, and reports once it has gone. At most
`limit` calls may start in any second (one in 1 / cps seconds below 1 CPS): a call that
checked in but has not reported yet counts as leaving now, a reported one from when it
reported, which is after its packet left. So the calls never go above the limit in any second,
however many dialers dial and however late any of them runs. Channels are leases with an
expiry, so a killed dialer frees its channel later on its own.
"""

from __future__ import annotations

import math
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

# KEYS[1] = calls reported started, KEYS[2] = calls checked in, not yet reported (each a sorted
# set of tokens by microsecond); ARGV = limit, window, how long a check-in may stay unreported,
# token. Returns microseconds to wait (0: checked in, the call may start now).
_CHECK_IN = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local window, unreported = tonumber(ARGV[2]), tonumber(ARGV[3])
-- A check-in never reported (its dialer died) counts as started when it lapsed.
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - unreported, 'WITHSCORES')
for i = 1, #lapsed, 2 do
    redis.call('ZADD', KEYS[1], tonumber(lapsed[i + 1]) + unreported, lapsed[i])
    redis.call('ZREM', KEYS[2], lapsed[i])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) + redis.call('ZCARD', KEYS[2]) < tonumber(ARGV[1]) then
    redis.call('ZADD', KEYS[2], now, ARGV[4])
    for _, key in ipairs(KEYS) do
        redis.call('PEXPIRE', key, math.ceil((window + unreported) / 1000) + 1000)
    end
    return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #oldest == 0 then
    return 5000  -- the window holds only calls about to report: look again shortly
end
return math.max(1, tonumber(oldest[2]) + window - now)
"""

# KEYS = as _CHECK_IN; ARGV[1] = token. The call has gone: it counts from now.
_REPORT = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
if redis.call('ZREM', KEYS[2], ARGV[1]) == 1 then
    redis.call('ZADD', KEYS[1], now, ARGV[1])
end
return 0
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


UNREPORTED_SECONDS = 10


class NoChannel(Exception):
    """Every channel of the trunk stayed busy for the whole wait."""


class Pacer:
    def __init__(self, connection: redis.Redis, trunk: str, cps: float, channels: int,
                 lease_seconds: int = 600, margin: float = 0.03) -> None:
        self.connection = connection
        self.slot_key = f"callcenter:pace:{trunk}:slot"
        self.log_keys = [f"callcenter:pace:{trunk}:started", f"callcenter:pace:{trunk}:starting"]
        self.lease_key = f"callcenter:pace:{trunk}:channels"
        # Slots `margin` under the limit: for `wait_for_slot` alone, a text may leave up to 30 ms
        # late (a busy CPU) and still no 1-second window holds more than the limit.
        self.interval_us = int(1_000_000 / cps * (1 + margin))
        self.limit = max(1, math.floor(cps))
        # The log's window is `margin` longer than a second too: a call's packet may reach the
        # far end that much later than its neighbour's and still be counted in its own second.
        self.window_us = int(1_000_000 * max(1.0, 1 / cps) * (1 + margin))
        self.channels = channels
        self.lease_us = lease_seconds * 1_000_000
        self._reserve = connection.register_script(_RESERVE)
        self._check_in = connection.register_script(_CHECK_IN)
        self._report = connection.register_script(_REPORT)
        self._lease = connection.register_script(_LEASE)

    def wait_for_slot(self) -> float:
        """Block until this caller's dial slot; returns the seconds waited."""
        wait_us = int(self._reserve(keys=[self.slot_key], args=[self.interval_us]))
        if wait_us > 0:
            time.sleep(wait_us / 1_000_000)
        return wait_us / 1_000_000

    @contextmanager
    def slot(self) -> Iterator[float]:
        """Wait for this call's slot, then start the call inside the block: no window of the
        limit's length ever holds more calls than the limit. Yields the seconds waited."""
        started = time.monotonic()
        self.wait_for_slot()
        token = uuid.uuid4().hex
        while wait_us := int(self._check_in(keys=self.log_keys, args=[
                self.limit, self.window_us, UNREPORTED_SECONDS * 1_000_000, token])):
            time.sleep(wait_us / 1_000_000)
        try:
            yield time.monotonic() - started
        finally:
            with suppress(redis.RedisError):  # unreported, it counts as started when it lapses
                self._report(keys=self.log_keys, args=[token])

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

