"""Portable SQL for time arithmetic on UTCDateTime columns (SQLite stores text, PostgreSQL timestamptz)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from callcenter.core.models import UTCDateTime


class epoch_seconds(FunctionElement[int]):
    """Whole seconds since 1970-01-01 UTC."""

    type = BigInteger()
    inherit_cache = True
    name = "epoch_seconds"


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element: epoch_seconds, compiler: Any, **kw: Any) -> str:
    return f"CAST(strftime('%s', {compiler.process(element.clauses, **kw)}) AS INTEGER)"


@compiles(epoch_seconds, "postgresql")
def _epoch_postgresql(element: epoch_seconds, compiler: Any, **kw: Any) -> str:
    return f"CAST(FLOOR(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})) AS BIGINT)"


class shifted(FunctionElement[Any]):
    """shifted(column, seconds): a timestamp moved by whole seconds, comparable with the column."""

    type = UTCDateTime()
    inherit_cache = True
    name = "shifted"

    def __init__(self, column: ColumnElement[Any], seconds: int) -> None:
        # A literal column (not a bound value) so the compiled SQL is cached per distinct shift.
        super().__init__(column, literal_column(str(int(seconds))))


def _parts(element: shifted, compiler: Any, **kw: Any) -> tuple[str, int]:
    column, seconds = element.clauses.clauses
    return compiler.process(column, **kw), int(seconds.name)


@compiles(shifted, "sqlite")
def _shift_sqlite(element: shifted, compiler: Any, **kw: Any) -> str:
    # SQLite keeps 'YYYY-MM-DD HH:MM:SS.ffffff' text; datetime() text compares in order with it.
    column, seconds = _parts(element, compiler, **kw)
    return f"datetime({column}, '{seconds:+d} seconds')"


@compiles(shifted, "postgresql")
def _shift_postgresql(element: shifted, compiler: Any, **kw: Any) -> str:
    column, seconds = _parts(element, compiler, **kw)
    return f"({column} + INTERVAL '{seconds:d} seconds')"
