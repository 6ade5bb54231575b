"""RQ worker processes: the queues and how a worker is started."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from rq import Queue, Worker
from rq.exceptions import StopRequested

from callcenter.core.processes import forks_die_with_this_process
from callcenter.core.worker_heartbeat import WORKER_TTL

# Texts before the planners: a planning round every PLAN_SECONDS must not starve them.
QUEUES = ("callbacks", "sms", "default", "dial")

log = logging.getLogger(__name__)


def connect(config: dict[str, Any]) -> redis.Redis:
    if not config["REDIS_URL"]:
        raise RuntimeError("REDIS_URL is not set: a worker needs the web's Redis")
    # redis-py's default retries every command three times with back-off up to 10 s: with Redis
    # gone, RQ's shutdown (a handful of commands) then took longer than a service manager waits.
    # One quick retry rides out a blip; RQ's loop and run_worker reconnect after longer outages.
    return redis.Redis.from_url(config["REDIS_URL"], socket_connect_timeout=5,
                                retry=Retry(ExponentialBackoff(cap=0.5, base=0.1), 1))


class _Worker(Worker):
    """RQ's worker, remembering that a stop was asked for (its handler raises out of whatever
    runs, which with Redis gone may be a Redis error rather than RQ's StopRequested)."""

    stop_requested = False

    def request_stop(self, signum, frame):  # type: ignore[no-untyped-def]
        type(self).stop_requested = True
        super().request_stop(signum, frame)


def run_worker(config: dict[str, Any], queue_names: Sequence[str] = QUEUES, burst: bool = False) -> bool:
    """Work the queues in priority order until stopped (or until empty, with burst)."""
    # RQ forks a work horse per job and a scheduler process: if this worker is killed outright,
    # they must not run on (an orphaned horse would go on dialing a task already queued again).
    forks_die_with_this_process()
    connection = connect(config)
    queues = [Queue(name, connection=connection) for name in queue_names]
    if not burst:
        from callcenter.analytics.jobs import refresh_rollups
        from callcenter.exchange.event_jobs import send_events
        from callcenter.exchange.fhir_jobs import fhir_round
        from callcenter.messaging.planner import plan_messages
        from callcenter.outbound.schedule import start_schedule
        from callcenter.webtracking.jobs import track_and_upload

        start_schedule(connect(config), config, extra=(plan_messages, track_and_upload, send_events,
                                                          fhir_round, refresh_rollups))
    try:
        while not _Worker.stop_requested:
            try:
                worker = _Worker(queues, connection=connection, worker_ttl=WORKER_TTL)
                log.info("worker %s on queues %s", worker.name, ", ".join(queue_names))
                return worker.work(burst=burst, with_scheduler=True)
            except redis.ConnectionError as exc:
                if _Worker.stop_requested:
                    break
                # RQ gives up when Redis goes away outside its dequeue wait (a restart): start over.
                log.warning("worker: lost Redis (%s); starting again in a second", exc)
                time.sleep(1)
    except StopRequested:  # the stop arrived between two workers, while waiting for Redis
        pass
    log.info("worker: stopped without Redis")
    return False
