"""File imports as RQ jobs: queued from the admin page, run by a worker, followed by a progress
bar and cancellable between two batches.

Progress and the cancel request go through Redis, not the database: a dry run holds one open
transaction for the whole file, and on SQLite a second connection writing progress beside it
would wait for that transaction's lock.
"""

from __future__ import annotations

import functools
import logging

import redis
from rq import Queue
from sqlalchemy.orm import Session

from callcenter.core.config import load_config
from callcenter.core.inputs import InputError
from callcenter.core.models import Clinic, ImportJob, Staff, utcnow
from callcenter.core.runtime import Runtime
from callcenter.exchange.importer import Cancelled, Result, run_import
from callcenter.exchange.tables import read_table

log = logging.getLogger(__name__)
QUEUE = "default"
KEY_TTL = 24 * 3600
OPEN_STATES = ("queued", "running")


def _progress_key(job_id: int) -> str:
    return f"callcenter:import:{job_id}:progress"


def _cancel_key(job_id: int) -> str:
    return f"callcenter:import:{job_id}:cancel"


@functools.cache
def worker_runtime() -> Runtime:
    """This worker process's handles, made on first use (after RQ forked the job's process)."""
    return Runtime.from_config(load_config())


def start(session: Session, connection: redis.Redis, job: ImportJob, *, dry_run: bool) -> None:
    """Queue the job (again: a dry run's file can then be imported for real)."""
    job.dry_run, job.state, job.cancel_requested = dry_run, "queued", False
    job.rows_done, job.counts, job.report, job.refused_file, job.error = 0, {}, [], None, ""
    job.finished_at = None
    session.commit()
    connection.delete(_cancel_key(job.id), _progress_key(job.id))
    Queue(QUEUE, connection=connection).enqueue(run_job, job.id, job_timeout=4 * 3600,
                                                result_ttl=KEY_TTL)


def cancel(session: Session, connection: redis.Redis, job: ImportJob) -> None:
    """Ask the running job to stop after its current batch; a queued one never starts."""
    if job.state not in OPEN_STATES:
        return
    job.cancel_requested = True
    if job.state == "queued":
        job.state, job.finished_at = "cancelled", utcnow()
    session.commit()
    connection.set(_cancel_key(job.id), "1", ex=KEY_TTL)


def progress(connection: redis.Redis, job: ImportJob) -> tuple[int, int]:
    """(rows done, rows in all) as the worker last reported them."""
    if job.state == "running":
        raw = connection.get(_progress_key(job.id))
        if raw:
            done, total = raw.decode().split("/")
            return int(done), int(total)
    return job.rows_done, job.rows_total


def run_job(job_id: int) -> str:
    """The worker's side: import the job's file, recording the outcome on the job."""
    runtime = worker_runtime()
    connection = runtime.redis
    with runtime.sessions() as session:
        job = session.get(ImportJob, job_id)
        if job is None or job.state != "queued" or job.cancel_requested:
            return "skipped"
        job.state = "running"
        session.commit()
        clinic = session.get(Clinic, job.clinic_id)
        staff = session.get(Staff, job.created_by_id) if job.created_by_id else None

        def report(done: int, total: int) -> bool:
            connection.set(_progress_key(job_id), f"{done}/{total}", ex=KEY_TTL)
            return not connection.exists(_cancel_key(job_id))

        try:
            table = read_table(job.content, job.filename)
            result = run_import(session, clinic, job.kind, table, job.columns or None,
                                dry_run=job.dry_run, locale=staff.locale if staff else "en",
                                progress=report, staff_id=job.created_by_id, via="job")
        except Cancelled as stopped:
            return _finish(session, job_id, "cancelled", stopped.result)
        except InputError as exc:
            return _finish(session, job_id, "failed", None, f"{exc.field}: {exc.message}")
        except Exception:
            log.exception("import job %s failed", job_id)
            _finish(session, job_id, "failed", None, "internal error: see the worker's log")
            raise
        return _finish(session, job_id, "done", result)


def _finish(session: Session, job_id: int, state: str, result: Result | None,
            error: str = "") -> str:
    session.rollback()
    job = session.get(ImportJob, job_id)
    assert job is not None
    job.state, job.error, job.finished_at = state, error, utcnow()
    if result is not None:
        job.rows_total = result.total
        job.rows_done = sum(result.counts.values())
        job.counts = dict(result.counts)
        job.report = [list(entry) for entry in result.report]
        job.refused_file = result.refused_file
    session.commit()
    return state
