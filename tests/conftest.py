"""Fixtures: real Redis, real SQLite and PostgreSQL, the app on top of them.

A missing system service skips with its reason on a bare machine; with CI=true it fails here,
and tests/ci_gate.py fails any other skip.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from sqlalchemy import text
from sqlalchemy.orm import Session

from callcenter import create_app
from callcenter.core import migrate
from callcenter.core.db import make_engine
from callcenter.core.models import Base
from callcenter.inbound import webhook_front

# The hook is registered by being a name in this module (pytest scans conftest for hooks).
from tests.ci_gate import IN_CI, pytest_runtest_makereport  # noqa: F401
from tests.compiled_once import install as compile_once
from tests.services import PostgresServer, RedisServer, postgres_bindir, redis_binary

PAYLOADS = Path(__file__).parent / "payloads"
compile_once()


def require(condition: object, reason: str) -> None:
    """Skip visibly when a service is missing; in CI a missing service is a failure."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    yield from running_redis()


def running_redis() -> Iterator[RedisServer]:
    """A Redis server of the caller's own (for a fixture to yield from)."""
    binary, origin = redis_binary()
    require(binary, "no redis-server binary (apt-get install redis-server)")
    if IN_CI:
        require(origin == "system", "CI must test against Debian's redis-server")
    server = RedisServer(binary)  # type: ignore[arg-type]
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    if redis_server.proc is None:  # a fault test stopped it
        redis_server.start()
    client = redis_lib.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    yield redis_server.url


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    yield from running_postgres()


def running_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster of the caller's own, which it may stop and start."""
    bindir = postgres_bindir()
    require(bindir, "PostgreSQL server binaries not found (apt-get install postgresql)")
    server = PostgresServer(bindir)  # type: ignore[arg-type]
    server.init()
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="session")
def _migrated_postgresql(postgres_server: PostgresServer) -> str:
    url = postgres_server.create_database("callcenter_test")
    migrate.upgrade(url)
    return url


def _wipe(url: str) -> None:
    engine = make_engine(url)
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # DELETE, not TRUNCATE: a test leaves a few rows in a few of the 58 tables, and
            # TRUNCATE makes new files for every table and index (360 ms a test against 17 ms).
            # The replica role turns off the foreign-key and roll-up triggers, so order and
            # cycles (calls ↔ visits) do not matter; the used sequences restart as TRUNCATE's
            # RESTART IDENTITY did.
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.exec_driver_sql("; ".join(f"DELETE FROM {table}" for table in tables))
            used = conn.execute(text("SELECT schemaname, sequencename FROM pg_sequences "
                                     "WHERE last_value IS NOT NULL")).all()
            if used:
                conn.exec_driver_sql("; ".join(f'ALTER SEQUENCE "{schema}"."{name}" RESTART'
                                               for schema, name in used))
        else:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test that takes this runs on both databases, starting from empty tables."""
    url = request.getfixturevalue(f"_migrated_{request.param}")
    _wipe(url)
    yield url


@pytest.fixture
def sqlite_url(_migrated_sqlite: str) -> str:
    _wipe(_migrated_sqlite)
    return _migrated_sqlite


def every_route(app: Any) -> list[Any]:
    """Flask's routes and the webhooks answered in front of it (inbound.webhook_front)."""
    return [*app.url_map.iter_rules(), *webhook_front.ROUTES.iter_rules()]


def app_settings(database_url: str, redis_url: str, instance: Path, **extra: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "INSTANCE_DIR": str(instance),
        "SECRET_KEY": "test-secret",
        "TIMEZONE": "Europe/Moscow",
        "LOCALE": "ru",
        "REGION": "RU",
    }
    settings.update(extra)
    return settings


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    """Override this in a test module to add provider secrets and the like."""
    return app_settings(database_url, redis_url, tmp_path)


@pytest.fixture
def app(settings: dict[str, Any]) -> Iterator[Any]:
    application = create_app(settings)
    yield application
    application.extensions["callcenter"].close()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def session(app: Any) -> Iterator[Session]:
    db_session = app.extensions["callcenter"].sessions()
    yield db_session
    db_session.close()
