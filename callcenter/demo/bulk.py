"""The one way the demo writes rows: in bulk, with primary keys numbered here.

Every part of the demo links its rows to rows of other parts (calls to patients, appointments
to calls, ...) by id; numbering them before the insert lets those links be built in memory.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session


def insert_numbered(session: Session, model: type[Any], rows: list[dict[str, Any]]) -> list[int]:
    """Bulk insert with primary keys numbered here, so links need no RETURNING round trip.

    RETURNING in bulk goes row by row on SQLite; numbering from max(id) is safe because the
    demo loads into a database nobody else is writing to at that moment.
    """
    first = (session.scalar(select(func.max(model.id))) or 0) + 1
    ids = list(range(first, first + len(rows)))
    if not rows:
        return ids
    session.execute(insert(model), [{**row, "id": id_} for id_, row in zip(ids, rows, strict=True)])
    if session.get_bind().dialect.name == "postgresql":
        # Explicit keys leave the serial sequence behind; live inserts must continue after them.
        session.execute(text("SELECT setval(pg_get_serial_sequence(:table, 'id'), :last)"),
                        {"table": model.__tablename__, "last": ids[-1]})
    return ids
