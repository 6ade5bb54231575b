"""RQ worker processes: the queues and how a worker is started."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import redis
from rq import Queue, Worker

from .worker_heartbeat import WORKER_TTL

QUEUES = ("callbacks", "default", "dial")

log = logging.getLogger(__name__)


def connect(config: dict[str, Any]) -> redis.Redis:
    if not config["REDIS_URL"]:
        raise RuntimeError("REDIS_URL is not set: a worker needs the web's Redis")
    return redis.Redis.from_url(config["REDIS_URL"])


def run_worker(config: dict[str, Any], queue_names: Sequence[str] = QUEUES, burst: bool = False) -> bool:
    """Work the queues in priority order until stopped (or until empty, with burst)."""
    connection = connect(config)
    queues = [Queue(name, connection=connection) for name in queue_names]
    if not burst:
        from .campaigns.schedule import start_schedule

        start_schedule(connect(config), config)
    while True:
        try:
            worker = Worker(queues, connection=connection, worker_ttl=WORKER_TTL)
            log.info("worker %s on queues %s", worker.name, ", ".join(queue_names))
            return worker.work(burst=burst, with_scheduler=True)
        except redis.ConnectionError as exc:
            # RQ gives up when Redis goes away outside its dequeue wait (a restart): start over.
            log.warning("worker: lost Redis (%s); starting again in a second", exc)
            time.sleep(1)
