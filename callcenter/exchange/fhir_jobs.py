"""The FHIR connector's runs: a pull (queued by the admin's button or when the clinic's interval
has passed, run by the worker or by `callcenter fhir pull`) and the scheduled round that writes
visit statuses back. A pull is claimed on the connection's row first, so two never run at once
for a clinic, whoever started them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from typing import Any

import redis
from rq import Queue
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from callcenter.core.models import Clinic, FhirConnection, utcnow
from callcenter.exchange.fhir_client import FhirClient, FhirError, open_token
from callcenter.exchange.fhir_pull import pull
from callcenter.exchange.fhir_writeback import collect, deliver
from callcenter.exchange.jobs import worker_runtime

log = logging.getLogger(__name__)
QUEUE = "default"
STALE = timedelta(hours=4)  # a pull "running" longer died with its worker
Guard = Callable[[], AbstractContextManager[object]]


def client_for(connection: FhirConnection, secret_key: str) -> FhirClient:
    token = open_token(secret_key, connection.sealed_token)
    if token is None:
        raise FhirError("the token was saved under another CALLCENTER_SECRET_KEY: enter it again")
    return FhirClient(connection.base_url, token)


def _claim(session: Session, clinic_id: int, now: datetime) -> bool:
    claimed = session.execute(
        update(FhirConnection).where(
            FhirConnection.clinic_id == clinic_id,
            or_(FhirConnection.pull_state != "running", FhirConnection.pull_started_at < now - STALE))
        .values(pull_state="running", pull_started_at=now)
        .execution_options(synchronize_session=False))
    session.commit()
    return claimed.rowcount == 1  # type: ignore[attr-defined]


def run_pull(session: Session, clinic_id: int, config: dict[str, Any], *,
             clock: Callable[[], datetime] = utcnow, guard: Guard = nullcontext,
             via: str = "job") -> FhirConnection | None:
    """Pull for the clinic and record the outcome on its connection; None when another pull
    of it is running."""
    with guard():
        if not _claim(session, clinic_id, clock()):
            return None
    connection = session.get(FhirConnection, clinic_id)
    clinic = session.get(Clinic, clinic_id)
    assert connection is not None and clinic is not None
    session.refresh(connection)
    state, error, result = "failed", "", None
    try:
        client = client_for(connection, config["SECRET_KEY"])
        result = pull(session, clinic, client, dict(connection.cursors or {}), now=clock(),
                      guard=guard, locale=clinic.locale or "en", via=via)
        state = "ok"
    except FhirError as exc:
        error = exc.message
    except Exception:
        log.exception("FHIR pull of clinic %s failed", clinic_id)
        error = "internal error: see the worker's log"
        raise
    finally:
        with guard():
            session.rollback()
            connection = session.get(FhirConnection, clinic_id)
            assert connection is not None
            connection.pull_state, connection.pull_error = state, error[:1000]
            connection.pull_finished_at = clock()
            if result is not None:
                connection.cursors = result.cursors
                connection.pull_counts = result.counts
                connection.pull_refusals = result.refusals
            session.commit()
    return connection


def queue_pull(connection: redis.Redis, clinic_id: int) -> None:
    """Ask a worker to pull for the clinic; the caller has checked the connection exists."""
    Queue(QUEUE, connection=connection).enqueue(pull_job, clinic_id, job_timeout=int(STALE.total_seconds()),
                                                result_ttl=3600)


def pull_job(clinic_id: int) -> str:
    rt = worker_runtime()
    with rt.sessions() as session:
        done = run_pull(session, clinic_id, rt.config, guard=rt.write_guard)
        return "busy" if done is None else done.pull_state


def _pull_due(connection: FhirConnection, now: datetime) -> bool:
    if connection.pull_minutes <= 0 or connection.pull_state == "running":
        return False
    last = connection.pull_started_at
    return last is None or now - last >= timedelta(minutes=connection.pull_minutes)


def fhir_round() -> dict[str, int]:
    """The scheduled job: write back the visits changed since the last round, and queue the
    pulls that are due, for every clinic with a FHIR server."""
    rt = worker_runtime()
    totals = {"written": 0, "failed": 0, "pulls": 0}
    with rt.sessions() as session:
        for connection in session.scalars(select(FhirConnection).where(
                FhirConnection.enabled.is_(True))).all():
            with rt.write_guard():
                collect(session, connection, utcnow())
                session.commit()
            try:
                client = client_for(connection, rt.config["SECRET_KEY"])
            except FhirError:
                continue  # the page says so; nothing can be written without the token
            for name, count in deliver(session, connection, client, rt.config, utcnow,
                                       rt.write_guard).items():
                totals[name] += count
            if _pull_due(connection, utcnow()):
                # Marked as started now: the next round must not queue it again meanwhile.
                with rt.write_guard():
                    connection.pull_started_at = utcnow()
                    session.commit()
                queue_pull(rt.redis, connection.clinic_id)
                totals["pulls"] += 1
    return totals
