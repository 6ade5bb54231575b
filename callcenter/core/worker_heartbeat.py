"""How often RQ workers beat, and which of them count as alive.

An idle worker waits on its queues for worker_ttl - 15 s and then beats; with rq's default
(420 s) a healthy idle worker would look dead to /healthz for minutes, so ours beat every 30 s.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import redis
from rq import Worker

HEARTBEAT_SECONDS = 30
WORKER_TTL = HEARTBEAT_SECONDS + 15
ALIVE_WITHIN = timedelta(seconds=2 * HEARTBEAT_SECONDS)


def live_workers(connection: redis.Redis, now: datetime) -> tuple[int, int]:
    """(workers whose last heartbeat is within ALIVE_WITHIN of now, workers registered)."""
    workers = Worker.all(connection=connection)
    alive = [w for w in workers if w.last_heartbeat and now - w.last_heartbeat <= ALIVE_WITHIN]
    return len(alive), len(workers)
