"""Which pool number a website visitor holds: leased atomically in Redis, least recently used
first, released `hold` seconds after the page last renewed it; and the visit and its lease
recorded in Redis for the worker to write to the database (records.py), so a number request
never waits for the database.

One Lua script per request, the request's only round trip to Redis, does the whole step (check
that the web process's copy of the pool is current and the address within its rate, expire what
ran out, find or begin the visit,
renew the visitor's own number, else take the free number released longest ago, append what
happened to the records stream), so two visitors can never hold one number and nothing is
recorded that did not happen: Redis runs a script alone. Per pool, under `callcenter:wt:<pool>:`:
  exp   sorted set   number -> lease expiry (ms)
  who   hash         number -> visitor
  has   hash         visitor -> number
  lid   hash         number -> the id of its current lease (web_leases.id)
  free  sorted set   number -> when its last lease ended (ms): the lowest goes out first
  ver   string       the version of the pool's numbers last synced (an admin edit changes it);
                     the numbers travel only when it differs, so a request stays small
  visit:<visitor>    string: the visitor's current visit id, kept a day past the last request
Visit and lease ids come from the counters `callcenter:wt:seq:visit|lease`, begun at the
database's highest ids; the records stream is `callcenter:wt:records`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import redis

PREFIX = "callcenter:wt:"
RECORDS = PREFIX + "records"
SEQUENCES = (PREFIX + "seq:visit", PREFIX + "seq:lease")
VISIT_MEMORY_MS = 24 * 3600 * 1000

_TAKE = """
local exp, who, has, free, ver, lid, vkey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local vseq, lseq, records, config, counter = KEYS[8], KEYS[9], KEYS[10], KEYS[11], KEYS[12]
local visitor, now, hold, version = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local known, record, pool, fallback, clinic = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local config_seen, limit, window = ARGV[10], tonumber(ARGV[11]), tonumber(ARGV[12])
-- the web process's copy of the pool is current (the address's rate is counted below, once)
if config_seen ~= '*' and (redis.call('GET', config) or '') ~= config_seen then return {false, -4, false} end
if redis.call('EXISTS', vseq) == 0 or redis.call('EXISTS', lseq) == 0 then return {false, -2, false} end
local function release(n, at)
  local v = redis.call('HGET', who, n)
  if v then redis.call('HDEL', has, v) end
  redis.call('HDEL', who, n)
  redis.call('HDEL', lid, n)
  redis.call('ZREM', exp, n)
  if at then redis.call('ZADD', free, at, n) end
end
if redis.call('GET', ver) ~= version then
  if #ARGV < 13 then return {false, -1, false} end
  local want = {}
  for i = 13, #ARGV do want[ARGV[i]] = true end
  for _, n in ipairs(redis.call('ZRANGE', free, 0, -1)) do
    if not want[n] then redis.call('ZREM', free, n) end
  end
  for _, n in ipairs(redis.call('ZRANGE', exp, 0, -1)) do
    if not want[n] then release(n, nil) end
  end
  for i = 13, #ARGV do
    local n = ARGV[i]
    if not redis.call('ZSCORE', exp, n) and not redis.call('ZSCORE', free, n) then
      redis.call('ZADD', free, 0, n)
    end
  end
  redis.call('SET', ver, version)
end
if limit > 0 then
  local count = redis.call('INCR', counter)
  if count == 1 then redis.call('EXPIRE', counter, window + 1) end
  if count > limit then return {false, -3, count} end
end
local ended = redis.call('ZRANGEBYSCORE', exp, '-inf', now, 'WITHSCORES')
for i = 1, #ended, 2 do release(ended[i], ended[i + 1]) end
local visit = redis.call('GET', vkey)
local first = known == '' or visit ~= known
if first then
  visit = tostring(redis.call('INCR', vseq))
  redis.call('XADD', records, '*', 'k', 'visit', 'id', visit, 'pool', pool, 'at', now, 'v', record)
end
redis.call('SET', vkey, visit, 'PX', hold + VISIT_MEMORY)
local expires = now + hold
local function lease(n, e164, kind)
  local id = tostring(redis.call('INCR', lseq))
  if n then redis.call('HSET', lid, n, id) end
  redis.call('XADD', records, '*', 'k', kind, 'id', id, 'pool', pool, 'clinic', clinic,
             'visit', visit, 'visitor', visitor, 'e164', e164, 'at', now, 'until', expires)
end
local held = redis.call('HGET', has, visitor)
if held then
  redis.call('ZADD', exp, expires, held)
  local id = redis.call('HGET', lid, held)
  if id then
    redis.call('XADD', records, '*', 'k', 'renew', 'id', id, 'pool', pool, 'visit', visit,
               'at', now, 'until', expires)
  else
    lease(held, held, 'lease')
  end
  return {held, 0, visit}
end
local pick = redis.call('ZRANGE', free, 0, 0)
if #pick == 0 then
  if first then lease(nil, fallback, 'fallback') end  -- counted once per visit, not per renewal
  return {false, 0, visit}
end
local n = pick[1]
redis.call('ZREM', free, n)
redis.call('ZADD', exp, expires, n)
redis.call('HSET', who, n, visitor)
redis.call('HSET', has, visitor, n)
lease(n, n, 'lease')
return {n, 1, visit}
""".replace("VISIT_MEMORY", str(VISIT_MEMORY_MS))

_IN_USE = """
return redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[1], '+inf')
"""


@dataclass(frozen=True)
class Taken:
    e164: str | None  # None: every number is leased (show the fallback)
    new: bool  # a lease just begun, not a renewal
    visit_id: int


class Stale(Exception):
    """The pool changed since the web process read it: read it again, then ask again."""


class Throttled(Exception):
    """The address is over its rate; nothing was leased or recorded."""


@dataclass(frozen=True)
class Gate:
    """What a request must pass before it leases: the pool version this process holds ('*':
    any), and the address's rate counter (limit 0: none)."""

    config_key: str = ""
    config_seen: str = "*"
    counter: str = ""
    limit: int = 0
    window: int = 60


OPEN = Gate()


@dataclass(frozen=True)
class Ask:
    """One number request as the lease script needs it."""

    pool_id: int
    clinic_id: int
    version: str  # names the pool's numbers as they are now
    visitor: str
    visit_id: int | None  # the visit the page says it is in (None: a new one)
    record: str  # the new visit's fields (JSON), written only when a visit begins
    fallback: str  # E.164: recorded for a visit that finds every number leased
    now: float
    hold_seconds: int
    gate: Gate = OPEN


def _keys(pool_id: int, visitor: str = "", gate: Gate = OPEN) -> list[str]:
    base = f"{PREFIX}{pool_id}:"
    return [*(base + part for part in ("exp", "who", "has", "free", "ver", "lid")),
            f"{base}visit:{visitor}", *SEQUENCES, RECORDS, gate.config_key or base + "none",
            gate.counter or base + "none"]


class Leaser:
    """The pool leases of one Redis; safe to share between threads."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._take = client.register_script(_TAKE)
        self._in_use = client.register_script(_IN_USE)

    def take(self, ask: Ask, numbers: Callable[[], list[str]],
             last_ids: Callable[[], tuple[int, int]]) -> Taken:
        """Renew the visitor's number or lease them one, recording the visit and the lease.
        `numbers()` reads the pool's numbers, asked only when Redis holds another version;
        `last_ids()` the database's highest visit and lease ids, asked only when Redis has lost
        its counters (a new or wiped Redis). Raises Stale or Throttled when the gate is shut."""
        gate = ask.gate
        args = [ask.visitor, int(ask.now * 1000), ask.hold_seconds * 1000, ask.version,
                "" if ask.visit_id is None else str(ask.visit_id), ask.record, ask.pool_id,
                ask.fallback, ask.clinic_id, gate.config_seen, gate.limit, gate.window]
        keys = _keys(ask.pool_id, ask.visitor, gate)
        number, new, visit = self._take(keys=keys, args=args)
        if new == -4:
            raise Stale(ask.pool_id)
        if new == -3:
            raise Throttled(visit)
        if new == -2:
            for key, last in zip(SEQUENCES, last_ids(), strict=True):
                self.client.set(key, last, nx=True)
            number, new, visit = self._take(keys=keys, args=args)
        if new == -1:
            number, new, visit = self._take(keys=keys, args=[*args, *numbers()])
        e164 = None if number is None else number.decode() if isinstance(number, bytes) else str(number)
        return Taken(e164, bool(new), int(visit))

    def in_use(self, pool_id: int, now: float) -> int:
        return int(self._in_use(keys=[_keys(pool_id)[0]], args=[int(now * 1000)]))
