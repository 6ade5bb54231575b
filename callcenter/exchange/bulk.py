"""New rows of an import written straight through the driver, a batch at a time.

SQLAlchemy's Core insert runs every value of every row through its bind processors and builds
a parameter dict per row: at 30 µs a row, most of what a first import spent outside parsing.
Here each column's value is converted once by what SQLAlchemy itself would have sent (its own
bind processor, remembered per distinct value for enums and dates) — except our UTC datetimes
on SQLite, formatted directly into the very string SQLAlchemy's SQLite DATETIME stores — and the
rows go to the driver's cursor on the session's own connection, inside its transaction:
multi-row `INSERT … VALUES` on SQLite, `COPY … FROM STDIN` on PostgreSQL. A test reads rows
written both ways back and compares them, on both databases.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from itertools import chain
from operator import itemgetter
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from callcenter.core.driver_sql import converter, same

Convert = Callable[[Any], Any]
# SQLite: rows per INSERT statement. A table with a trigger (the analytics marks on visits and
# phones) makes SQLite keep a statement journal for each statement, a copy of every page the
# statement changes, so that one statement can be undone alone: one statement per row copied
# each row's table and index pages (visits: 42 µs a row, 22 µs without the trigger); one
# statement for a few hundred rows copies each page once (22 µs). The trigger still fires for
# every row. Past a few hundred rows a statement gains nothing more.
ROWS_PER_STATEMENT = 250
PARAMETERS = 32766  # SQLite's default bound on a statement's parameters (since 3.32)


def insert(session: Session, table: Table, rows: Sequence[dict[str, Any]],
           ids: Sequence[int] | None = None, shared: Mapping[str, Any] | None = None) -> None:
    """Insert the rows (every row with the keys of the first) and the `shared` values every row
    has (converted once); with `ids`, under those ids."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    names = list(rows[0])
    values = _values(table, names, rows, dialect, shared or {})
    if ids is not None:
        names.append("id")
        values = [(*row, new) for row, new in zip(values, ids, strict=True)]
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if dialect.name == "postgresql":
            with cursor.copy(f"COPY {_name(table, dialect)} ({_columns(names, dialect)}) "
                             "FROM STDIN") as copy:
                for row in values:
                    copy.write_row(row)
        else:
            _insert_rows(cursor, table, names, dialect, values)
    finally:
        cursor.close()


def insert_returning_ids(session: Session, table: Table, rows: Sequence[dict[str, Any]],
                         shared: Mapping[str, Any] | None = None) -> list[int]:
    """Insert the rows (SQLite); their new ids in the rows' order. SQLite gives a new row the
    largest id + 1 (sqlite.org/autoinc.html) and the first insert takes the database's write
    lock until the transaction ends, so the first row's id and the count tell every id; the
    largest id afterwards is checked against them."""
    if not rows:
        return []
    connection = session.connection()
    dialect = connection.dialect
    names = list(rows[0])
    values = _values(table, names, rows, dialect, shared or {})
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(_statement(table, tuple(names), dialect), values[0])
        first = cursor.lastrowid
        _insert_rows(cursor, table, names, dialect, values[1:])
        cursor.execute(f"SELECT max(id) FROM {_name(table, dialect)}")
        last = cursor.fetchone()[0]
    finally:
        cursor.close()
    if last != first + len(values) - 1:
        raise RuntimeError(f"{table.name}: ids {first}..{last} for {len(values)} new rows")
    return list(range(first, last + 1))


def _values(table: Table, names: list[str], rows: Sequence[dict[str, Any]], dialect: Dialect,
            shared: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """The rows' values in the order of `names`, which grows by the shared columns and then by
    the columns left out that have a default on our side (given as SQLAlchemy's insert would give
    it, once per batch: one transaction, one "now")."""
    names += list(shared)
    convert, defaults = _plan(table, tuple(names), dialect)
    names += [name for name, _default in defaults]
    count = len(rows)
    # Column by column: map() runs each column's converter without a Python loop per value.
    columns = [[c(shared[name])] * count if name in shared
               else list(map(itemgetter(name), rows)) if c is same
               else list(map(c, map(itemgetter(name), rows))) for c, name in convert]
    columns += [[default()] * count for _name, default in defaults]
    return list(zip(*columns, strict=True))


@lru_cache(maxsize=64)
def _plan(table: Table, names: tuple[str, ...], dialect: Dialect) -> tuple[
        tuple[tuple[Convert, str], ...], tuple[tuple[str, Callable[[], Any]], ...]]:
    convert = tuple((converter(table.c[name].type, dialect), name) for name in names)
    defaults = []
    for column in table.columns:
        default = column.default
        if column.key in names or default is None or default.is_sequence:
            continue
        into = converter(column.type, dialect)
        if default.is_scalar:
            value = into(default.arg)
            defaults.append((column.key, lambda value=value: value))
        else:
            defaults.append((column.key, lambda make=default.arg, into=into: into(make(None))))
    return convert, tuple(defaults)


def _name(table: Table, dialect: Dialect) -> str:
    return dialect.identifier_preparer.format_table(table)


def _columns(names: Sequence[str], dialect: Dialect) -> str:
    return ", ".join(dialect.identifier_preparer.quote(name) for name in names)


def _insert_rows(cursor: Any, table: Table, names: Sequence[str], dialect: Dialect,
                 values: Sequence[tuple[Any, ...]]) -> None:
    """SQLite: the rows in order, ROWS_PER_STATEMENT to a statement (see there)."""
    step = max(1, min(ROWS_PER_STATEMENT, PARAMETERS // len(names)))
    names = tuple(names)
    for at in range(0, len(values), step):
        part = values[at:at + step]
        cursor.execute(_statement(table, names, dialect, len(part)),
                       list(chain.from_iterable(part)))


@lru_cache(maxsize=64)
def _statement(table: Table, names: Sequence[str], dialect: Dialect, rows: int = 1) -> str:
    marks = ", ".join("?" if dialect.paramstyle == "qmark" else "%s" for _name in names)
    return (f"INSERT INTO {_name(table, dialect)} ({_columns(names, dialect)}) VALUES "
            + ", ".join([f"({marks})"] * rows))
