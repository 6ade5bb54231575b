"""The changes feed's order and cursor.

Events get their `id` from a sequence when they are written, but become visible when their
transaction commits, and on PostgreSQL transactions commit in any order: a feed that handed out
"everything after id N" would step past an event with a lower id whose transaction was still
running, and that event would never be read. So on PostgreSQL the feed is ordered by the writing
transaction's id (`xid`, from pg_current_xact_id()) and then `id`, and shows only events of
transactions older than every transaction still running (`pg_snapshot_xmin` of the current
snapshot): those have all committed or rolled back, so nothing can appear behind the cursor
later. Any transaction still running, wherever it is, holds the feed at its start until it ends.

SQLite has one writer at a time: an event's id is taken under the write lock and committed
before the next writer starts, so ids are committed in order; `xid` is 0 there and the order is
the id alone.

The cursor is "<xid>-<id>" of the last event read: opaque to clients, who pass back `next`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import BigInteger, Text, cast, func, select, tuple_
from sqlalchemy.orm import Session

from callcenter.core.inputs import InputError
from callcenter.core.models import OutboxEvent

CURSOR = re.compile(r"([0-9]{1,19})-([0-9]{1,18})")
START = "0-0"


@dataclass(frozen=True)
class Page:
    events: list[OutboxEvent]
    next: str
    more: bool


def parse_cursor(value: str) -> tuple[int, int]:
    """(xid, id) of a cursor this API gave; empty: before the first event."""
    found = CURSOR.fullmatch(value.strip() or START)
    if found is None:
        raise InputError("since", "not a cursor this API gave")
    return int(found[1]), int(found[2])


def cursor_of(event: OutboxEvent) -> str:
    return f"{event.xid}-{event.id}"


def changes(session: Session, clinic_id: int, since: str, limit: int) -> Page:
    """The clinic's events after the cursor, oldest first, `limit` at most."""
    after = parse_cursor(since)
    query = (select(OutboxEvent)
             .where(OutboxEvent.clinic_id == clinic_id,
                    tuple_(OutboxEvent.xid, OutboxEvent.id) > tuple_(*after))
             .order_by(OutboxEvent.xid, OutboxEvent.id).limit(limit + 1))
    if session.get_bind().dialect.name == "postgresql":
        horizon = cast(cast(func.pg_snapshot_xmin(func.pg_current_snapshot()), Text), BigInteger)
        query = query.where(OutboxEvent.xid < horizon)
    rows = session.scalars(query).all()
    shown = list(rows[:limit])
    return Page(shown, cursor_of(shown[-1]) if shown else (since.strip() or START),
                len(rows) > limit)
