"""A pytest plugin listing the statements of our code that read a whole large table on SQLite.

    ./run test -p tests.query_plans -k "not postgresql" tests/

Every SELECT, UPDATE and DELETE a test makes through SQLAlchemy is also put through
`EXPLAIN QUERY PLAN`; a plan step "SCAN <table>" (no index) on one of the tables that grow with
a clinic's history is written, with the lines of `callcenter/` or `webhooks/` that issued it, to
`query-plans.jsonl` in the working directory (one JSON line per statement and call site; the
tests' own queries and the migrations are left out). A test database is small, so this finds
what would read every row at a clinic's size before a benchmark does: how the booking's stale
claims, the roll-ups' call-back lookup and the web-tracking job were found (docs/performance.md).
"""

from __future__ import annotations

import json
import re
import traceback
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

LARGE = {"calls", "call_events", "raw_webhooks", "patients", "patient_phones", "appointments",
         "treatments", "dial_tasks", "dial_attempts", "messages", "outbox_events", "external_refs",
         "audit_log", "web_visits", "web_leases", "booking_credits", "rollup_calls", "rollup_hours",
         "rollup_callers", "rollup_callbacks", "slot_claims"}
REPORT = Path("query-plans.jsonl")
OURS = ("/callcenter/", "/webhooks/")
_SCAN = re.compile(r"SCAN (\w+)(?: AS \w+)?$")
_seen: set[tuple[str, tuple[str, ...]]] = set()


def _call_site() -> tuple[str, ...]:
    """The lines of our code on the stack, innermost last; empty for a test's own query or a
    migration's."""
    lines = tuple(f"{frame.filename.rsplit('/', 2)[-2]}/{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}"
                  for frame in traceback.extract_stack() if any(part in frame.filename for part in OURS))
    return () if any("migrations" in line for line in lines) else lines[-3:]


@event.listens_for(Engine, "before_cursor_execute")
def _check(conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any,
           executemany: bool) -> None:
    if conn.dialect.name != "sqlite" or executemany:
        return
    if statement.lstrip()[:6].upper() not in ("SELECT", "UPDATE", "DELETE"):
        return
    where = _call_site()
    if not where or (statement, where) in _seen:
        return
    _seen.add((statement, where))
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        plan = cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters or ()).fetchall()
    finally:
        cursor.close()
    scans = [step[-1] for step in plan
             if (found := _SCAN.match(step[-1])) and found.group(1) in LARGE]
    if scans:
        with REPORT.open("a", encoding="utf-8") as report:
            report.write(json.dumps({"scans": scans, "where": where,
                                     "sql": " ".join(statement.split())}) + "\n")
