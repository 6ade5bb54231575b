"""The visits and leases recorded in Redis by the number endpoint, written to the database in
batches by the worker (and by whatever reads them first: the report page, the tie of calls).

Each entry of the records stream is one thing that happened, with the ids Redis gave it: a visit
begun, a lease begun (or the fallback shown to a visit that found the pool full), a lease
renewed. An entry leaves the stream only after the transaction that wrote it committed, and
writing one twice changes nothing (rows by their id, insert-or-ignore; a renewal only moves an
expiry later), so a worker killed midway loses nothing and doubles nothing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import redis
from sqlalchemy import bindparam, text, update
from sqlalchemy.orm import Session

from callcenter.core.db import insert_ignoring_conflicts
from callcenter.core.models import WebLease, WebVisit
from callcenter.webtracking.leases import RECORDS

BATCH = 2000
_VISIT_FIELDS = frozenset(c.key for c in WebVisit.__table__.columns) - {"id", "pool_id", "started_at"}


def _moment(ms: bytes | str) -> datetime:
    return datetime.fromtimestamp(int(ms) / 1000, UTC)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _rows(entries: list[tuple[Any, dict[bytes, bytes]]]) -> tuple[list[dict[str, Any]], ...]:
    visits: list[dict[str, Any]] = []
    leases: list[dict[str, Any]] = []
    renewals: dict[int, dict[str, Any]] = {}
    for _id, raw in entries:
        entry = {_text(k): _text(v) for k, v in raw.items()}
        kind, at = entry["k"], _moment(entry["at"])
        if kind == "visit":
            facts = json.loads(entry["v"])
            visits.append({"id": int(entry["id"]), "pool_id": int(entry["pool"]), "started_at": at,
                           **{k: v for k, v in facts.items() if k in _VISIT_FIELDS}})
            continue
        until = _moment(entry["until"])
        if kind == "renew":  # the latest renewal of a lease in the batch is the one that counts
            renewals[int(entry["id"])] = {"lease": int(entry["id"]), "visit": int(entry["visit"]),
                                          "at": at, "until": until}
            continue
        leases.append({"id": int(entry["id"]), "pool_id": int(entry["pool"]),
                       "clinic_id": int(entry["clinic"]),
                       "visit_id": int(entry["visit"]), "visitor": entry["visitor"],
                       "e164": entry["e164"], "fallback": kind == "fallback", "started_at": at,
                       "renewed_at": at, "expires_at": until})
    return visits, leases, list(renewals.values())


def _write(session: Session, entries: list[tuple[Any, dict[bytes, bytes]]]) -> None:
    visits, leases, renewals = _rows(entries)
    if visits:
        session.execute(insert_ignoring_conflicts(session, WebVisit), visits)
    if leases:
        session.execute(insert_ignoring_conflicts(session, WebLease), leases)
    if renewals:
        table = WebLease.__table__
        session.connection().execute(
            update(table).where(table.c.id == bindparam("lease"),
                                table.c.expires_at < bindparam("until"))
            .values(renewed_at=bindparam("at"), expires_at=bindparam("until"),
                    visit_id=bindparam("visit")), renewals)
    if session.get_bind().dialect.name == "postgresql" and (visits or leases):
        # Ids come from Redis: the tables' own sequences are moved past them for any other writer.
        for name in ("web_visits", "web_leases"):
            session.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                 f"(SELECT coalesce(max(id), 1) FROM {name}))"))


def flush(session: Session, client: redis.Redis, batch: int = BATCH) -> int:
    """Write every recorded visit and lease to the database; how many entries. Commits."""
    done = 0
    while True:
        entries = client.xrange(RECORDS, count=batch)
        if not entries:
            return done
        _write(session, entries)
        session.commit()
        client.xdel(RECORDS, *(entry_id for entry_id, _ in entries))
        done += len(entries)
