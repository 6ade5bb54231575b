"""core.driver_sql (the webhook's statements run on the bare cursor) sends and reads back exactly
what SQLAlchemy's own execution does, and fails the way SQLAlchemy fails, on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callcenter.core.db import make_engine, make_session_factory
from callcenter.core.driver_sql import Statement
from callcenter.core.models import RawState, RawWebhook
from tests import factories as f

RAW = RawWebhook.__table__
NEW_RAW = insert(RAW).returning(RAW.c.id)
READ_RAW = select(RAW.c.state, RAW.c.headers, RAW.c.received_at, RAW.c.processed_at,
                  RAW.c.body).where(RAW.c.id == bindparam("_id"))
MARK = update(RAW).where(RAW.c.id == bindparam("_id"), RAW.c.state == RawState.RECEIVED)


@pytest.fixture
def db(database_url: str) -> Iterator[Session]:
    engine = make_engine(database_url)
    session = make_session_factory(engine)()
    yield session
    session.close()
    engine.dispose()


def _row(clinic_id: int | None, when: datetime) -> dict[str, Any]:
    return dict(provider="generic", path="a/b", method="POST", query="x=1",
                headers={"X-Signature": "ünïcode", "Empty": ""}, body=b"\x00{\"a\": 1}",
                remote_addr="192.0.2.1", state=RawState.RECEIVED, error="", attempts=1,
                received_at=when, processed_at=None, clinic_id=clinic_id)


def _stored(session: Session, raw_id: int) -> dict[str, Any]:
    """The row as the database holds it: no SQLAlchemy type on the way out."""
    names = ", ".join(c.name for c in RAW.columns if c.name not in {"id"})
    return dict(session.execute(text(f"SELECT {names} FROM raw_webhooks WHERE id = :id"),
                                {"id": raw_id}).mappings().one())


def test_rows_written_and_read_as_sqlalchemy_does(db: Session) -> None:
    clinic = f.clinic(db)
    db.commit()
    when = datetime(2026, 3, 1, 7, 0, 5, 120, tzinfo=UTC)
    conn = db.connection()
    ours = Statement(NEW_RAW).scalar(conn, _row(clinic.id, when))
    theirs = conn.execute(NEW_RAW, _row(clinic.id, when)).scalar_one()
    assert isinstance(ours, int) and ours != theirs
    assert _stored(db, ours) == _stored(db, theirs)
    read = Statement(READ_RAW)
    assert read.one_or_none(conn, {"_id": ours}) == tuple(conn.execute(READ_RAW, {"_id": theirs}).one())
    state, headers, received_at, processed_at, body = read.one_or_none(conn, {"_id": ours})
    assert (state, headers, received_at, processed_at, body) == (
        RawState.RECEIVED, {"X-Signature": "ünïcode", "Empty": ""}, when, None, b"\x00{\"a\": 1}")
    assert read.one_or_none(conn, {"_id": -1}) is None and read.scalar(conn, {"_id": -1}) is None
    # An update with a literal in its WHERE and different SET columns each time (one plan each).
    mark = Statement(MARK)
    mark.execute(conn, {"_id": ours, "state": RawState.PROCESSED, "processed_at": when})
    mark.execute(conn, {"_id": ours, "error": "never: the state is no longer received"})
    conn.execute(MARK, {"_id": theirs, "state": RawState.PROCESSED, "processed_at": when})
    assert _stored(db, ours) == _stored(db, theirs)
    db.commit()


def test_driver_errors_are_sqlalchemys_and_the_transaction_rolls_back(db: Session) -> None:
    clinic = f.clinic(db)
    db.commit()
    statement = Statement(NEW_RAW)
    first = statement.scalar(db.connection(), _row(clinic.id, datetime.now(UTC)))
    with pytest.raises(IntegrityError):
        statement.scalar(db.connection(), {**_row(clinic.id, datetime.now(UTC)), "id": first})
    db.rollback()
    assert db.get(RawWebhook, first) is None  # rolled back with the transaction


def test_a_missing_value_is_named_and_expanding_parameters_refused(db: Session) -> None:
    with pytest.raises(KeyError, match="_id"):
        Statement(READ_RAW).rows(db.connection(), {})
    listed = Statement(select(RAW.c.id).where(RAW.c.state.in_((RawState.FAILED, RawState.INVALID))))
    with pytest.raises(TypeError, match="expanding"):
        listed.rows(db.connection(), {})
