"""Engine and session factory; SQLite tuned for several processes writing at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from callcenter.core.clinic_scope import install


def make_engine(url: str, **kwargs: Any) -> Engine:
    # A failed statement's error (logged, stored on a failed webhook) would otherwise list its
    # bound values: patients' names, notes and numbers.
    kwargs.setdefault("hide_parameters", True)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the web and worker processes read while one writes; FK checks are off by default.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def insert_ignoring_conflicts(bind: Session | Connection, model: Any) -> Any:
    """INSERT … ON CONFLICT DO NOTHING (a mapped class or a table) for the database of a session
    or connection (SQLite or PostgreSQL): the row yields to an identical one written earlier or
    concurrently."""
    dialect = (bind.get_bind() if isinstance(bind, Session) else bind).dialect
    builder = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
    return builder(model).on_conflict_do_nothing()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that honour a clinic scope once one is set on them (`clinic_scope.restrict`)."""
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    install(factory)
    return factory


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
