"""What every `callcenter` command shares: one-line failures (exit code 2), the settings, and a
database session whose connection problems end in one line instead of a traceback."""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from callcenter.core.config import ConfigError, load_config


class UsageFailure(click.ClickException):
    """One-line failure; exit code 2 like click's own usage errors."""

    exit_code = 2


def settings(override: dict[str, Any] | None = None) -> dict[str, Any]:
    try:
        return load_config(override=override)
    except ConfigError as exc:
        raise UsageFailure(str(exc)) from None


NOT_SET_UP = "DATABASE_URL: the database has no tables yet: run `callcenter db upgrade`"


def _missing_table(exc: DBAPIError) -> bool:
    """A new database nobody upgraded: SQLite says "no such table", PostgreSQL SQLSTATE 42P01."""
    return (getattr(exc.orig, "sqlstate", None) == "42P01"
            or str(exc.orig).startswith("no such table"))


def with_database(action: Any) -> Any:
    try:
        return action()
    except (OperationalError, ProgrammingError) as exc:
        if _missing_table(exc):
            raise UsageFailure(NOT_SET_UP) from None
        if isinstance(exc, ProgrammingError):
            raise  # a fault of ours, not of the setup: the traceback is for us
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise UsageFailure(f"DATABASE_URL: cannot use the database: {reason}") from None


def in_session(action: Any) -> Any:
    from callcenter.core.db import make_engine, make_session_factory, session_scope

    config = settings()
    engine = make_engine(config["DATABASE_URL"])
    try:
        with session_scope(make_session_factory(engine)) as session:
            return with_database(lambda: action(session))
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()
