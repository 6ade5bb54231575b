"""The long-lived dialer: threads that take attempts off the dial queue and dial them.

One process dials up to DIAL_CHANNELS calls at once, each in a thread of its own, all through
this process's one SIP registration (or Twilio client). Nothing is forked or registered per
call: a forked job per dial, registering and unregistering around each call, could not keep up
with a 5 CPS limit on a busy machine. Pacing and channels stay shared by every dialer process
through Redis (`pacing.Pacer`), so any number of dialers together never exceed the trunk's
limits.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import suppress

import redis

from callcenter.core.config import load_config
from callcenter.core.runtime import Runtime
from callcenter.outbound import dial_queue
from callcenter.outbound.dialing import Dialers, dial_attempt

log = logging.getLogger(__name__)
MOST_THREADS = 100
TAKE_SECONDS = 1.0  # how long a thread waits on an empty queue before looking at `stop` again
RENEW_SECONDS = dial_queue.LEASE_SECONDS / 3


class _Held:
    """The queue entries this process is dialing, whose leases it keeps renewing."""

    def __init__(self) -> None:
        self._names: set[str] = set()
        self._lock = threading.Lock()

    def add(self, name: str) -> None:
        with self._lock:
            self._names.add(name)

    def discard(self, name: str) -> None:
        with self._lock:
            self._names.discard(name)

    def names(self) -> list[str]:
        with self._lock:
            return list(self._names)


def serve_dials(stop: threading.Event, burst: bool = False) -> None:
    """Dial queued attempts until `stop` is set (each thread finishes its call first), or with
    `burst` until the queue is empty. Unregisters before returning."""
    config = load_config()
    count = max(1, min(int(config["DIAL_CHANNELS"]), MOST_THREADS))
    # A database connection for each thread, kept: no connection opened and closed per call.
    rt = Runtime.from_config(config, pool_size=count, max_overflow=count)
    dialers = Dialers(rt)
    held = _Held()
    threads = [threading.Thread(target=_work, args=(stop, burst, dialers, held), name=f"dialer-{n}",
                                daemon=True) for n in range(count)]
    for thread in threads:
        thread.start()
    log.info("dialer: %d lines", count)
    renew_at = time.monotonic() + RENEW_SECONDS
    try:
        while any(thread.is_alive() for thread in threads):
            if stop.is_set():
                time.sleep(0.2)  # the threads are finishing their calls
            else:
                stop.wait(0.5)
            if time.monotonic() >= renew_at:
                renew_at = time.monotonic() + RENEW_SECONDS
                with suppress(redis.RedisError):
                    dial_queue.renew(rt.redis, held.names())
    finally:
        dialers.close()
        rt.close()
    log.info("dialer: stopped")


def _work(stop: threading.Event, burst: bool, dialers: Dialers, held: _Held) -> None:
    connection = dialers.rt.redis
    while not stop.is_set():
        try:
            name = dial_queue.take(connection, TAKE_SECONDS)
        except redis.RedisError as exc:
            log.warning("dialer: Redis unavailable (%s); retrying", type(exc).__name__)
            stop.wait(1)
            continue
        if name is None:
            if burst:
                return
            continue
        held.add(name)
        try:
            task_id, attempt_no = dial_queue.parse(name)
            log.info("dialer: attempt %s: %s", name, dial_attempt(task_id, attempt_no, dialers))
        except Exception:
            # The database or Redis failed under the dial: the attempt is closed by the plan
            # job (claimed) or queued again (not yet claimed). Pause rather than spin.
            log.exception("dialer: attempt %s failed", name)
            stop.wait(1)
        finally:
            held.discard(name)
            with suppress(redis.RedisError):
                dial_queue.release(connection, name)
