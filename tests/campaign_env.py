"""Shared set-up for the campaign tests: real worker processes, the app on a real port, a clinic."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from callcenter.core.models import Appointment, Clinic, Staff, StaffRole
from tests import factories as f

ROOT = Path(__file__).resolve().parent.parent
ALL_WEEK = {day: [["08:00", "20:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
TZ = "Europe/Moscow"


def worker_env(database_url: str, redis_url: str, instance: Path, **settings: str) -> dict[str, str]:
    """The environment of a `python worker.py` process: whatever time the test runs, calls are allowed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CALLCENTER_", "TWILIO_"))}
    env.update({
        "DATABASE_URL": database_url, "REDIS_URL": redis_url,
        "CALLCENTER_INSTANCE_DIR": str(instance), "CALLCENTER_SECRET_KEY": "test-secret",
        "CALLCENTER_TIMEZONE": TZ, "CALLCENTER_LOG_LEVEL": "INFO",
        "CALLCENTER_CALL_HOURS": "00:00-24:00", "CALLCENTER_CONFIRM_WINDOW": "00:00-24:00",
        "CALLCENTER_LISTS_AT": "00:00", "CALLCENTER_PLAN_SECONDS": "1",
        "CALLCENTER_DIAL_REQUEUE_AFTER": "3", "CALLCENTER_DIAL_ATTEMPT_TIMEOUT": "20",
    })
    env.update(settings)
    return env


def start_worker(env: dict[str, str], log: Path, *queues: str) -> subprocess.Popen[bytes]:
    """`python worker.py`, in its own process group so a crash test can kill it with its children."""
    handle = log.open("ab")
    return subprocess.Popen([sys.executable, str(ROOT / "worker.py"), *queues], env=env, cwd=ROOT,
                            stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)


def _descendants(pid: int) -> list[int]:
    """Child processes, recursively (RQ's work horse runs in a process group of its own)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def kill_hard(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the worker and every process it started, mid-whatever they were doing."""
    for pid in [*_descendants(proc.pid), proc.pid]:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=30)


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)  # warm shutdown: the current call finishes first
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
    if proc.poll() is None:
        kill_hard(proc)


@contextmanager
def served(app: Any) -> Iterator[str]:
    """The Flask app on a real loopback port (the fake Twilio posts callbacks to it)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def wait_until(predicate: Callable[[], bool], timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s: {message}")


def clinic_with_visits(session: Session, phones: list[str], now: datetime | None = None,
                       language: str = "ru") -> tuple[Clinic, list[Appointment]]:
    """A clinic open every day and one visit tomorrow per phone, booked days ago."""
    clinic = f.clinic(session, opening_hours=ALL_WEEK, timezone=TZ)
    doctor = Staff(clinic_id=clinic.id, role=StaffRole.DOCTOR, first_name="Olga", last_name="Doc")
    session.add(doctor)
    session.flush()
    now = now or datetime.now(UTC)
    tomorrow = now.astimezone(ZoneInfo(TZ)).date() + timedelta(days=1)
    visits = []
    for index, phone in enumerate(phones):
        patient = f.patient(session, clinic, phone, preferred_language=language)
        starts = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 9, 0, tzinfo=ZoneInfo(TZ)) + timedelta(
            minutes=5 * (index % 120))  # all within tomorrow's opening hours
        visit = Appointment(clinic_id=clinic.id, patient_id=patient.id, doctor_id=doctor.id,
                            starts_at=starts.astimezone(UTC), ends_at=(starts + timedelta(minutes=30)).astimezone(UTC),
                            created_at=now - timedelta(days=3))
        session.add(visit)
        visits.append(visit)
    session.commit()
    return clinic, visits
