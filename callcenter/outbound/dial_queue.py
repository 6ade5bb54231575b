"""The queue of attempts due to be dialed, in Redis, shared by every dialer process.

The plan job pushes `task:attempt` entries (most urgent first); a dialer takes one when it has a
free line and holds a short lease on it while it dials, renewed as long as the dialer lives. An
entry is "waiting" while queued or leased, so the plan job does not queue it twice; once a
dialer dies its leases lapse within LEASE_SECONDS and the plan job queues the attempt again.
Whatever is lost here (Redis restarted, a dialer killed between taking and claiming) is only
a delay: the task stays due in the database, and the attempt's claim row keeps a duplicate
from dialing anybody.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import redis

QUEUE_KEY = "callcenter:dial:queue"
LEASE_PREFIX = "callcenter:dial:leased:"
LEASE_SECONDS = 30
# Scores order the queue by the task's priority, then by when it was queued.
_PRIORITY_WEIGHT = 10**10


def entry(task_id: int, attempt_no: int) -> str:
    return f"{task_id}:{attempt_no}"


def parse(value: str | bytes) -> tuple[int, int]:
    text = value.decode() if isinstance(value, bytes) else value
    task_id, attempt_no = text.split(":")
    return int(task_id), int(attempt_no)


def push(connection: redis.Redis, items: Iterable[tuple[int, int, int]]) -> int:
    """Queue (task id, attempt number, priority) entries not already queued; how many were new."""
    now = time.time()
    scores = {entry(task_id, attempt_no): priority * _PRIORITY_WEIGHT + now
              for task_id, attempt_no, priority in items}
    return int(connection.zadd(QUEUE_KEY, scores, nx=True)) if scores else 0


def waiting(connection: redis.Redis, task_id: int, attempt_no: int) -> bool:
    """The attempt is queued, or a live dialer has it."""
    name = entry(task_id, attempt_no)
    with connection.pipeline(transaction=False) as pipe:
        pipe.zscore(QUEUE_KEY, name)
        pipe.exists(LEASE_PREFIX + name)
        queued, leased = pipe.execute()
    return queued is not None or bool(leased)


def take(connection: redis.Redis, timeout: float) -> str | None:
    """The most urgent entry, leased to this dialer; None after `timeout` seconds of an empty queue."""
    popped = connection.bzpopmin(QUEUE_KEY, timeout=timeout)
    if popped is None:
        return None
    name = popped[1].decode() if isinstance(popped[1], bytes) else str(popped[1])
    connection.set(LEASE_PREFIX + name, "1", ex=LEASE_SECONDS)
    return name


def renew(connection: redis.Redis, names: Iterable[str]) -> None:
    """Keep this dialer's leases (it calls this well within LEASE_SECONDS)."""
    with connection.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.expire(LEASE_PREFIX + name, LEASE_SECONDS)
        pipe.execute()


def release(connection: redis.Redis, name: str) -> None:
    connection.delete(LEASE_PREFIX + name)


def pending(connection: redis.Redis) -> int:
    """Entries queued and not yet taken."""
    return int(connection.zcard(QUEUE_KEY))


def leased(connection: redis.Redis) -> int:
    """Entries some dialer holds right now."""
    return sum(1 for _ in connection.scan_iter(match=LEASE_PREFIX + "*", count=1000))
