"""The outbound schedule, on RQ's own cron scheduler, run inside a worker process.

RQ's CronScheduler enqueues `plan_campaigns` every PLAN_SECONDS; the job itself decides, on each
clinic's own clock, which lists are due (RQ cron strings follow the machine's local time, which
is not the clinics'). One scheduler is enough for any number of workers: a worker starts one
only if none is alive, and the plan job locks per clinic, so a second one is harmless.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import redis
from rq.cron import CronScheduler

from .jobs import plan_campaigns

log = logging.getLogger(__name__)


class _ThreadScheduler(CronScheduler):
    """RQ's cron loop in a thread of the worker: the worker owns the process signals."""

    def _install_signal_handlers(self) -> None:
        return None


def _run(connection: redis.Redis, interval: int) -> None:
    while True:
        scheduler = _ThreadScheduler(connection=connection)
        scheduler.register(plan_campaigns, "default", interval=interval, job_timeout=600,
                           result_ttl=600, name="callcenter.plan_campaigns")
        try:
            scheduler.start()
        except redis.RedisError as exc:
            # Redis restarted or is unreachable: start over once it answers again.
            log.warning("schedule: Redis unavailable (%s); retrying", type(exc).__name__)
            time.sleep(1)


def start_schedule(connection: redis.Redis, config: dict[str, Any]) -> threading.Thread | None:
    """Start the schedule in this process unless another worker already runs one."""
    if CronScheduler.all(connection):
        return None
    thread = threading.Thread(target=_run, args=(connection, config["PLAN_SECONDS"]),
                              name="callcenter-schedule", daemon=True)
    thread.start()
    return thread
