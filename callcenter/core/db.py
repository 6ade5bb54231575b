"""Engine and session factory; SQLite tuned for several processes writing at once."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, create_engine, event, func, select, text
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


def insert_new_rows(session: Session, model: Any, rows: Sequence[dict[str, Any]]) -> int:
    """Insert rows (same keys each) that yield to identical ones already there; returns how many
    were new. PostgreSQL gets one statement whose columns arrive as arrays (`unnest`): a
    thousand-row VALUES list costs ~0.5 ms a row to send, bind and plan, the arrays a tenth."""
    if not rows:
        return 0
    table = model.__table__
    if session.get_bind().dialect.name != "postgresql":
        statement = insert_ignoring_conflicts(session, table).returning(*table.primary_key.columns)
        return len(session.connection().execute(statement, list(rows)).all())
    names = list(rows[0])
    arrays = func.unnest(*(bindparam(name, [row[name] for row in rows],
                                     type_=postgresql.ARRAY(table.c[name].type)) for name in names))
    source = arrays.table_valued(*names).render_derived()
    statement = (postgresql.insert(table).from_select(names, select(*(source.c[n] for n in names)))
                 .on_conflict_do_nothing())
    return session.connection().execute(statement.execution_options(preserve_rowcount=True)).rowcount


def without_jit(session: Session) -> None:
    """On PostgreSQL, plan the rest of this transaction without JIT compilation. A statement that
    probes a few indexes for each of a hundred thousand rows is costed far above the JIT
    threshold, and compiling it took ~0.8 s: more than running it gained."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that honour a clinic scope once one is set on them (`clinic_scope.restrict`)."""
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    install(factory)
    event.listen(factory, "after_begin", _bulk_settings)
    return factory


# SQLite settings for a session marked `bulk` (an import), as (pragma, the bulk writer's value,
# SQLite's own default):
# - the page cache: its batches dirty pages all over the tables and their indexes, and with the
#   default 2 MiB they spill to the WAL in mid-batch and are read back; kept between batches,
#   the index pages stay warm;
# - the WAL checkpoint: every batch's commit writes more pages than the default 1,000, so each
#   commit also copied the WAL back into the database, an index page that every batch touches
#   once a batch; at 10,000 pages (a WAL of about 40 MB) once every few batches (the commits'
#   CPU at scale 1: 8.5-10.2 s → 7.2-7.9 s);
# - temporary storage in memory: a statement inserting a few hundred rows into a table with a
#   trigger keeps a statement journal past the 64 KiB SQLite holds in memory, so it went to a
#   temporary file and back for every statement (visits: 20.4 → 17.8 µs a row).
# A pooled connection that carried an import gets the defaults back with its next transaction
# that is not one: a web process keeps no 16 MiB per connection for page views.
BULK = "callcenter.bulk"
BULK_PRAGMAS = (("cache_size", -16384, -2000),  # KiB
                ("wal_autocheckpoint", 10000, 1000),  # pages
                ("temp_store", 2, 0))  # 2: MEMORY, 0: DEFAULT (the build's, a file here)


@contextmanager
def bulk(session: Session) -> Iterator[Session]:
    """The session writes in bulk from its transaction in progress on, until the block ends."""
    was = session.info.get(BULK, False)
    _mark(session, True)
    try:
        yield session
    finally:
        _mark(session, was)


def _mark(session: Session, on: bool) -> None:
    session.info[BULK] = on
    if session.in_transaction():
        _bulk_settings(session, None, session.connection())


def _bulk_settings(session: Session, _transaction: Any, connection: Connection) -> None:
    wanted = session.info.get(BULK, False)
    if connection.dialect.name == "sqlite" and connection.info.get(BULK, False) != wanted:
        for pragma, bulk_value, default in BULK_PRAGMAS:
            connection.exec_driver_sql(f"PRAGMA {pragma} = {bulk_value if wanted else default}")
        connection.info[BULK] = wanted


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
