"""Per-process handles the app and the worker share: database sessions and the Redis connection."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from .db import make_engine, make_session_factory


@dataclass
class Runtime:
    config: dict[str, Any]
    engine: Engine
    sessions: sessionmaker[Session]
    _redis: redis.Redis | None = field(default=None, repr=False)
    _sqlite_writer: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Runtime:
        engine = make_engine(config["DATABASE_URL"])
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
        """SQLite has one writer at a time: queue this process's writers on a lock rather than in
        SQLite's busy handler, whose back-off sleeps (up to 100 ms) dominate latency under load."""
        return self._sqlite_writer if self.engine.dialect.name == "sqlite" else nullcontext()

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()
        self.engine.dispose()
