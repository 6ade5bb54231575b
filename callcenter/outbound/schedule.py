"""The outbound schedule, on RQ's own cron scheduler, run inside the worker processes.

RQ's CronScheduler enqueues `plan_campaigns` every PLAN_SECONDS; the job itself decides, on each
clinic's own clock, which lists are due (RQ cron strings follow the machine's local time, which
is not the clinics'). Every worker keeps a scheduler thread on standby; one of them leads, holding
a lease in Redis that it renews on each of the scheduler's heartbeats. If the leader dies (even by
SIGKILL) its lease runs out and another worker takes over; the plan job also locks per clinic,
so an overlap during a hand-over is harmless.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis
from rq.cron import CronScheduler
from rq.exceptions import StopRequested

from callcenter.outbound.jobs import plan_campaigns

log = logging.getLogger(__name__)
LEADER_KEY = "callcenter:schedule:leader"
# Extend the lease only if we still hold it.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


class _LeaderScheduler(CronScheduler):
    """RQ's cron loop in a worker thread (the worker owns the signals), renewing the lead."""

    def __init__(self, connection: redis.Redis, lease_seconds: int) -> None:
        super().__init__(connection=connection)
        self.lease_seconds = lease_seconds
        self._renew = connection.register_script(_RENEW)

    def _install_signal_handlers(self) -> None:
        return None

    def heartbeat(self) -> None:
        super().heartbeat()
        if not self._renew(keys=[LEADER_KEY], args=[self.name, self.lease_seconds]):
            log.info("schedule: another worker leads now")
            raise StopRequested()


def _run(connection: redis.Redis, interval: int, extra: Sequence[Callable[[], Any]]) -> None:
    # The scheduler heartbeats at least once per interval (and at most every 60 s).
    lease = min(interval, 60) * 2 + 10
    while True:
        scheduler = _LeaderScheduler(connection, lease)
        try:
            if connection.set(LEADER_KEY, scheduler.name, nx=True, ex=lease):
                scheduler.register(plan_campaigns, "default", interval=interval, job_timeout=600,
                                   result_ttl=600, name="callcenter.plan_campaigns")
                for job in extra:
                    scheduler.register(job, "default", interval=interval, job_timeout=600,
                                       result_ttl=600, name=f"{job.__module__}.{job.__name__}")
                scheduler.start()  # returns when the lead is lost
            else:
                time.sleep(min(interval, 5))
        except redis.RedisError as exc:
            # Redis restarted or is unreachable: stand by until it answers again.
            log.warning("schedule: Redis unavailable (%s); retrying", type(exc).__name__)
            time.sleep(1)


def start_schedule(connection: redis.Redis, config: dict[str, Any],
                   extra: Sequence[Callable[[], Any]] = ()) -> threading.Thread:
    """This worker's scheduler thread: it leads, or stands by to take over. `extra` are other
    features' periodic jobs (the composition root names them), run on the same interval."""
    thread = threading.Thread(target=_run, args=(connection, config["PLAN_SECONDS"], tuple(extra)),
                              name="callcenter-schedule", daemon=True)
    thread.start()
    return thread
