"""The provider's rate limit, shared by every sender through Redis, counted the way it counts.

Text providers limit messages per calendar second ("30 per second"): the 31st request that
arrives within one second is refused (Twilio 429, SMSC error 4). A schedule of evenly spaced
slots with a safety margin either wastes capacity or, with no margin, lets a slot that leaves a
few milliseconds late land in the next second beside that second's full share. So the slots are
laid out per calendar second on Redis's clock (which the provider's NTP clock matches): the
second's share, `per_window`, spaced evenly over its first part, and the last part of every
second is a guard that a request handed over late still arrives within. A sender that missed
its slot takes the next free one of the same second, even if that is now, so a slow sender
leaves no hole for the others to fill (a second nobody asked for until midway starts at its
next slot, not with a burst of the slots already past); once the second's share is granted or its guard has
begun, the next slot is in the next second. The long-run rate is exactly the limit.
"""

from __future__ import annotations

import math
import time

import redis

# KEYS[1] = the window hash; ARGV = window µs, permits per window, first-slot offset µs, spacing µs,
# last grant µs (offset in the window after which nothing more is granted in it).
# Returns the granted slot and Redis's now, both in µs.
_GRANT = """
local parts = redis.call('TIME')
local now = tonumber(parts[1]) * 1000000 + tonumber(parts[2])
local size = tonumber(ARGV[1])
local permits = tonumber(ARGV[2])
local offset, spacing, last = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local current = math.floor(now / size)
local window = tonumber(redis.call('HGET', KEYS[1], 'w') or '0')
local granted = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
if window < current then
    -- nobody asked for this second yet: its slots already past are not owed to anyone
    window = current
    granted = math.max(0, math.ceil((now - current * size - offset) / spacing))
end
local slot
while true do
    if granted >= permits then
        window, granted = window + 1, 0
    end
    slot = window * size + offset + granted * spacing
    if slot >= now then
        break
    end
    if now <= window * size + last then
        slot = now
        break
    end
    window, granted = window + 1, 0
end
redis.call('HSET', KEYS[1], 'w', string.format('%d', window), 'n', granted + 1)
redis.call('PEXPIRE', KEYS[1], math.ceil((slot - now) / 1000) + 2 * math.ceil(size / 1000) + 1000)
return {slot, now}
"""


class SendRate:
    """`rate` sends per second at most in every calendar second (every `1/rate` s below 1/s)."""

    def __init__(self, connection: redis.Redis, name: str, rate: float, guard: float = 0.12) -> None:
        window_s = 1 if rate >= 1 else math.ceil(1 / rate)
        self.permits = max(1, math.floor(rate * window_s + 1e-9))
        self.window_us = window_s * 1_000_000
        # A request needs a moment from our grant to the provider's stamp: the first slot is
        # just past the second's start and the guard keeps the second's end clear.
        self.offset_us = 2_000
        self.last_us = int(self.window_us * (1 - guard))
        self.spacing_us = (self.last_us - self.offset_us) // self.permits
        self.key = f"callcenter:rate:{name}"
        self._grant = connection.register_script(_GRANT)

    def grant(self) -> tuple[int, int]:
        """The next free slot and Redis's clock now, in µs since the epoch."""
        slot, now = self._grant(keys=[self.key], args=[
            self.window_us, self.permits, self.offset_us, self.spacing_us, self.last_us])
        return int(slot), int(now)

    def wait(self) -> float:
        """Block until this sender's slot; returns the seconds waited. A sender that wakes too
        late (a starved CPU) to hand its text over before the guard gives the slot up and takes
        another: an unused slot only wastes capacity, a late one could overfill the next second."""
        begun = time.monotonic()
        while True:
            slot, now = self.grant()
            if slot > now:
                time.sleep((slot - now) / 1_000_000)
            # Our clock against Redis's: the same machine, or both kept by NTP.
            late = time.time() * 1_000_000 - slot
            if slot % self.window_us + max(late, 0) <= self.last_us:
                return time.monotonic() - begun
