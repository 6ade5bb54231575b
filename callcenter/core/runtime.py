"""Per-process handles the app and the worker share: database sessions and the Redis connection."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, TextIO

import redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from callcenter.core.db import make_engine, make_session_factory


@dataclass
class Runtime:
    config: dict[str, Any]
    engine: Engine
    sessions: sessionmaker[Session]
    _redis: redis.Redis | None = field(default=None, repr=False)
    _sqlite_writer: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _lock_file: tuple[tuple[str, int], TextIO] | None = field(default=None, repr=False)

    @classmethod
    def from_config(cls, config: dict[str, Any], **engine_options: Any) -> Runtime:
        engine = make_engine(config["DATABASE_URL"], **engine_options)
        return cls(config=config, engine=engine, sessions=make_session_factory(engine))

    @property
    def redis(self) -> redis.Redis:
        """The shared Redis client; short timeouts so a Redis outage never stalls a webhook."""
        if self._redis is None:
            url = self.config["REDIS_URL"]
            if not url:
                raise RuntimeError("REDIS_URL is not set (callcenter serve starts an embedded one)")
            self._redis = redis.Redis.from_url(
                url, socket_timeout=2, socket_connect_timeout=2, health_check_interval=30
            )
        return self._redis

    def write_guard(self) -> AbstractContextManager[object]:
        """SQLite has one writer at a time: writers of every process queue on a lock file beside
        the database rather than in SQLite's busy handler, whose back-off sleeps (up to 100 ms
        each) made the p99 of the webhook pipeline 850 ms under two gunicorn workers."""
        path = _lock_path(self.engine)
        return nullcontext() if path is None else self._sqlite_write_lock(path)

    @contextmanager
    def _sqlite_write_lock(self, path: str) -> Iterator[None]:
        with self._sqlite_writer:
            # Opened once per process (the thread lock above serializes its threads): opening it
            # for every write was a visible part of a webhook's CPU. A forked child (an RQ work
            # horse) opens its own: a lock on an inherited descriptor would be its parent's.
            if self._lock_file is None or self._lock_file[0] != (path, os.getpid()):
                self._lock_file = ((path, os.getpid()), open(path, "a"))  # noqa: SIM115
            with _flocked(self._lock_file[1]):
                yield

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()
        if self._lock_file is not None:
            self._lock_file[1].close()
        self.engine.dispose()


def _lock_path(engine: Engine) -> str | None:
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    return None if not database or database == ":memory:" else database + ".writelock"


@contextmanager
def occasional_write_guard(engine: Engine) -> Iterator[None]:
    """The write guard for a writer without a Runtime (a report bringing the roll-ups up to
    date): the same lock file, opened for the occasion. Never from inside a Runtime's guard in
    the same thread: the two would wait on each other."""
    path = _lock_path(engine)
    if path is None:
        yield
        return
    with open(path, "a") as handle, _flocked(handle):
        yield


@contextmanager
def _flocked(handle: TextIO) -> Iterator[None]:
    fcntl.flock(handle, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
