"""Our visits' statuses written back to the clinic's FHIR server: arrived, no-show, cancelled,
completed, and the patient's confirmation (the patient participant `accepted`).

Every path that changes a visit (the desk, an automatic call, a text reply, the API) writes an
outbox event in its own transaction (`core.events_out`); `collect` turns the events of visits
that came from the server into one pending row per visit, and `deliver` writes each visit's
status as it is now. The write is version-aware: read the Appointment, change it, PUT it with
`If-Match` and its ETag; when someone changed it in between (409 or 412) read it again and
apply the change again. A server that is down or refuses the token is retried with backoff; a
change the server refuses (400, 404, 422, or a final state there) is given up and shown.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from callcenter.core.inputs import InputError
from callcenter.core.models import (
    Appointment,
    AppointmentStatus,
    Clinic,
    ExternalRef,
    FhirConnection,
    FhirWriteback,
    OutboxEvent,
)
from callcenter.exchange.delivery import backoff
from callcenter.exchange.fhir_client import FhirClient, FhirError
from callcenter.exchange.fhir_mapping import (
    Refused,
    appointment_cells,
    checked,
    with_status,
    written,
)
from callcenter.exchange.records import BUILDERS, Context
from callcenter.exchange.upsert import digest

EVENTS = 1000  # outbox events looked at per round
ROUND = 200  # visits written per round
CONFLICT_TRIES = 3
RETRIED = (408, 409, 412, 425, 429)  # and no answer, 401/403 (a token being renewed), 5xx


def collect(session: Session, connection: FhirConnection, now: datetime) -> int:
    """Pending rows for the visits changed since the last round that the server has; the
    caller commits."""
    events = session.execute(
        select(OutboxEvent.id, OutboxEvent.data).where(
            OutboxEvent.clinic_id == connection.clinic_id, OutboxEvent.id > connection.outbox_cursor)
        .order_by(OutboxEvent.id).limit(EVENTS)).all()
    if not events:
        return 0
    connection.outbox_cursor = events[-1].id
    visits = {int(data["id"]) for _id, data in events
              if isinstance(data, dict) and isinstance(data.get("id"), int) and "starts_at" in data}
    refs = dict(session.execute(select(ExternalRef.local_id, ExternalRef.external_id).where(
        ExternalRef.clinic_id == connection.clinic_id, ExternalRef.kind == "appointments",
        ExternalRef.local_id.in_(visits))).all()) if visits else {}
    rows = {row.appointment_id: row for row in session.scalars(select(FhirWriteback).where(
        FhirWriteback.clinic_id == connection.clinic_id, FhirWriteback.appointment_id.in_(refs)))}
    for visit_id, fhir_id in refs.items():
        row = rows.get(visit_id)
        if row is None:
            row = FhirWriteback(clinic_id=connection.clinic_id, appointment_id=visit_id)
            session.add(row)
        row.fhir_id, row.state, row.attempts = fhir_id, "pending", 0
        row.changed_at = row.next_attempt_at = now
    return len(refs)


def push(client: FhirClient, fhir_id: str, status: AppointmentStatus) -> tuple[dict[str, Any], bool]:
    """(the Appointment as the server has it now, whether we changed it)."""
    for attempt in range(CONFLICT_TRIES):
        current = client.read("Appointment", fhir_id)
        changed = with_status(current.body, status)
        if changed is None:
            return current.body, False
        checked(changed)  # never send the server what it should refuse
        version = (current.body.get("meta") or {}).get("versionId")
        etag = current.etag or (f'W/"{version}"' if version else "")
        try:
            return client.update(changed, etag).body, True
        except FhirError as exc:
            if exc.status not in (409, 412) or attempt == CONFLICT_TRIES - 1:
                raise
    raise AssertionError("unreachable")


def _mapped(clinic: Clinic, client: FhirClient, resource: dict[str, Any]) -> str | None:
    """The digest of what the server's Appointment now maps to: kept as the external id's, the
    next pull finds it unchanged rather than writing our own change back over us."""
    try:
        return digest(BUILDERS["appointments"](appointment_cells(resource, client.find),
                                               Context.of(clinic)))
    except InputError:
        return None


def _failed(row: FhirWriteback, exc: FhirError, now: datetime, config: dict[str, Any]) -> None:
    row.status_code, row.message = exc.status, exc.message[:300]
    retry = exc.status is None or exc.status in (401, 403, *RETRIED) or exc.status >= 500
    if retry and now - row.changed_at <= timedelta(hours=config["EVENTS_GIVE_UP_HOURS"]):
        row.state, row.next_attempt_at = "pending", now + backoff(row.attempts, config)
    else:
        row.state = "failed"


def deliver(session: Session, connection: FhirConnection, client: FhirClient,
            config: dict[str, Any], clock: Callable[[], datetime],
            guard: Callable[[], AbstractContextManager[object]]) -> dict[str, int]:
    """One round over the clinic's due rows, oldest change first; a server that does not answer
    ends the round (the next one tries again)."""
    counts = {"written": 0, "failed": 0}
    clinic = session.get(Clinic, connection.clinic_id)
    assert clinic is not None
    due = session.scalars(select(FhirWriteback).where(
        FhirWriteback.clinic_id == connection.clinic_id, FhirWriteback.state == "pending",
        FhirWriteback.next_attempt_at <= clock()).order_by(FhirWriteback.changed_at).limit(ROUND)).all()
    for row in due:
        visit = session.get(Appointment, row.appointment_id)
        if visit is None:
            continue
        error: FhirError | None = None
        signature = None
        try:
            resource, changed = push(client, row.fhir_id, visit.status)
            signature = _mapped(clinic, client, resource) if changed else None
        except (FhirError, Refused, InputError) as exc:
            error = exc if isinstance(exc, FhirError) else FhirError(str(exc), 422)
        now = clock()
        with guard():
            row.attempts, row.attempted_at = row.attempts + 1, now
            if error is None:
                row.state, row.status_code, row.message = "done", 200 if changed else None, ""
                row.written = written(resource)[:40]
                row.version = str((resource.get("meta") or {}).get("versionId", ""))[:64]
                if signature is not None:
                    session.execute(update(ExternalRef).where(
                        ExternalRef.clinic_id == clinic.id, ExternalRef.kind == "appointments",
                        ExternalRef.external_id == row.fhir_id).values(digest=signature))
                counts["written"] += 1
            else:
                _failed(row, error, now, config)
                counts["failed"] += 1
            session.commit()
        if error is not None and error.status is None:
            break
    return counts
