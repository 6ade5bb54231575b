"""Worker processes: the RQ queues, the dialer beside them, and how each is started.

`python worker.py` works the RQ queues (forking a work horse per job, so a big list build or
import gives its memory back) and, for the `dial` queue, starts the long-lived dialer as its
child process (`callcenter dialer`: threads, no fork per call; outbound/dial_service.py).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from contextlib import suppress
from functools import partial
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from rq import Queue, Worker
from rq.exceptions import StopRequested

from callcenter.core.processes import die_with_parent, forks_die_with_this_process
from callcenter.core.worker_heartbeat import WORKER_TTL

# Texts before the planners: a planning round every PLAN_SECONDS must not starve them. "dial" is
# not an RQ queue: it stands for the dialer (outbound/dial_queue.py).
QUEUES = ("callbacks", "sms", "default", "dial")
DIAL = "dial"
# A stopping dialer finishes the calls it is on (at most a ring and a talk time) first.
DIALER_STOP_SECONDS = 120.0

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

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        # RQ installs its signal handlers only after registering this worker and starting its
        # scheduler process (seconds on a busy machine): a stop in between ended the process by
        # Python's default, leaving the worker registered and counted alive by /healthz for a
        # minute. Until RQ's handlers are in, a stop is noted, and RQ's loop ends on it at once.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._note_stop)
        super().bootstrap(*args, **kwargs)

    def _note_stop(self, _signum: int, _frame: Any) -> None:
        type(self).stop_requested = True
        self._stop_requested = True


def run_dialer(burst: bool = False) -> None:
    """The dialer in this process until SIGTERM or Ctrl+C (each call under way ends first)."""
    from callcenter.outbound.dial_service import serve_dials

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    serve_dials(stop, burst=burst)


class _DialerChild:
    """`callcenter dialer` beside this worker, started again if it dies, stopped with it.

    It stays in the worker's process group, so whatever stops the group stops it too, and the
    parent-death signal ends it if the worker is killed outright."""

    def __init__(self) -> None:
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # no new dialer once stopping has begun
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._keep, name="dialer-child", daemon=True)
        self._thread.start()

    def _keep(self) -> None:
        while True:
            with self._lock:
                if self._stopping.is_set():
                    return
                # The parent-death signal follows this thread, which lives as long as the dialer.
                self._proc = proc = subprocess.Popen([sys.executable, "-m", "callcenter.cli", "dialer"],
                                                     preexec_fn=partial(die_with_parent, os.getpid()))
            code = proc.wait()
            if not self._stopping.is_set():
                log.warning("worker: the dialer exited (%s); starting it again", code)
                self._stopping.wait(1)

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            proc = self._proc
        if proc is not None and proc.poll() is None:
            with suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(DIALER_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._thread.join(5)


def run_worker(config: dict[str, Any], queue_names: Sequence[str] = QUEUES, burst: bool = False) -> bool:
    """Work the queues in priority order until stopped (or until empty, with burst)."""
    rq_names = [name for name in queue_names if name != DIAL]
    if not rq_names:
        run_dialer(burst)
        return True
    # RQ forks a work horse per job and a scheduler process: if this worker is killed outright,
    # they must not run on.
    forks_die_with_this_process()
    dialer = _DialerChild() if DIAL in queue_names and not burst else None
    try:
        worked = _run_rq(config, rq_names, burst)
    finally:
        if dialer is not None:
            dialer.stop()
    if DIAL in queue_names and burst:
        run_dialer(burst=True)
    return worked


def _run_rq(config: dict[str, Any], queue_names: Sequence[str], burst: bool) -> bool:
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
