"""Which pool number a website visitor holds: leased atomically in Redis, least recently used
first, released `hold` seconds after the page last renewed it.

One Lua script per request does the whole step (expire what ran out, renew the visitor's own
number, else take the free number released longest ago), so two visitors can never hold one
number: Redis runs a script alone. Per pool, under `callcenter:wt:<pool>:`:
  exp   sorted set   number -> lease expiry (ms)
  who   hash         number -> visitor
  has   hash         visitor -> number
  free  sorted set   number -> when its last lease ended (ms): the lowest goes out first
  ver   string       the version of the pool's numbers last synced (an admin edit changes it);
                     the numbers travel only when it differs, so a request stays small
The database keeps the history (web_leases) that calls are tied to; Redis only decides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import redis

PREFIX = "callcenter:wt:"

_TAKE = """
local exp, who, has, free, ver = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local visitor, now, hold, version = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local function release(n, at)
  local v = redis.call('HGET', who, n)
  if v then redis.call('HDEL', has, v) end
  redis.call('HDEL', who, n)
  redis.call('ZREM', exp, n)
  if at then redis.call('ZADD', free, at, n) end
end
if redis.call('GET', ver) ~= version then
  if #ARGV < 5 then return {false, -1} end
  local want = {}
  for i = 5, #ARGV do want[ARGV[i]] = true end
  for _, n in ipairs(redis.call('ZRANGE', free, 0, -1)) do
    if not want[n] then redis.call('ZREM', free, n) end
  end
  for _, n in ipairs(redis.call('ZRANGE', exp, 0, -1)) do
    if not want[n] then release(n, nil) end
  end
  for i = 5, #ARGV do
    local n = ARGV[i]
    if not redis.call('ZSCORE', exp, n) and not redis.call('ZSCORE', free, n) then
      redis.call('ZADD', free, 0, n)
    end
  end
  redis.call('SET', ver, version)
end
local ended = redis.call('ZRANGEBYSCORE', exp, '-inf', now, 'WITHSCORES')
for i = 1, #ended, 2 do release(ended[i], ended[i + 1]) end
local held = redis.call('HGET', has, visitor)
if held then
  redis.call('ZADD', exp, now + hold, held)
  return {held, 0}
end
local pick = redis.call('ZRANGE', free, 0, 0)
if #pick == 0 then return {false, 0} end
local n = pick[1]
redis.call('ZREM', free, n)
redis.call('ZADD', exp, now + hold, n)
redis.call('HSET', who, n, visitor)
redis.call('HSET', has, visitor, n)
return {n, 1}
"""

_IN_USE = """
return redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[1], '+inf')
"""


@dataclass(frozen=True)
class Taken:
    e164: str | None  # None: every number is leased (show the fallback)
    new: bool  # a lease just begun, not a renewal


def _keys(pool_id: int) -> list[str]:
    base = f"{PREFIX}{pool_id}:"
    return [base + part for part in ("exp", "who", "has", "free", "ver")]


class Leaser:
    """The pool leases of one Redis; safe to share between threads."""

    def __init__(self, client: redis.Redis) -> None:
        self._take = client.register_script(_TAKE)
        self._in_use = client.register_script(_IN_USE)

    def take(self, pool_id: int, version: str, numbers: Callable[[], list[str]], visitor: str,
             now: float, hold_seconds: int) -> Taken:
        """Renew the visitor's number or lease them one. `version` names the pool's numbers as
        they are now; `numbers()` reads them, asked only when Redis holds another version."""
        args = [visitor, int(now * 1000), hold_seconds * 1000, version]
        number, new = self._take(keys=_keys(pool_id), args=args)
        if new == -1:
            number, new = self._take(keys=_keys(pool_id), args=[*args, *numbers()])
        if number is None:
            return Taken(None, False)
        return Taken(number.decode() if isinstance(number, bytes) else str(number), bool(new))

    def in_use(self, pool_id: int, now: float) -> int:
        return int(self._in_use(keys=[_keys(pool_id)[0]], args=[int(now * 1000)]))
