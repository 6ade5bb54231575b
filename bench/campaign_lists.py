"""Building every outbound list for a large clinic, on SQLite.

    python -m bench campaign_lists [--patients 100000] [--treatments 1000000]
                                   [--appointments 30000] [--runs 3]

Data: one clinic (Mon–Fri), `patients` patients with a phone, `treatments` treatments spread
over the last three years (all types), `appointments` future visits over the next 60 days, a
few hundred of them tomorrow, some no-shows today and missed calls. Timed: each builder on its
own and all five together (what a daily plan run does), then the same with the inserts.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, insert, select

from bench.population import populate
from bench.table import print_table
from callcenter.core import migrate
from callcenter.core.db import make_engine, make_session_factory
from callcenter.core.models import (
    Appointment,
    AppointmentStatus,
    Call,
    CallDirection,
    CallStatus,
    Clinic,
    DialTask,
    Staff,
    StaffRole,
    Treatment,
    TreatmentType,
)
from callcenter.outbound import lists

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)  # Tuesday, 12:00 in Moscow
WEEKDAYS = {day: [["09:00", "21:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
CHUNK = 20000


def load(url: str, patients: int, treatments: int, appointments: int, seed: int = 11) -> None:
    rng = random.Random(seed)
    populate(url, patients, numbers=10)
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        clinic = session.scalars(select(Clinic)).one()
        clinic.opening_hours = WEEKDAYS
        doctor = Staff(clinic_id=clinic.id, role=StaffRole.DOCTOR, first_name="D", last_name="Bench")
        session.add(doctor)
        session.flush()
        kinds = list(TreatmentType)
        today = date(2026, 3, 10)
        for offset in range(0, treatments, CHUNK):
            session.execute(insert(Treatment), [
                {"clinic_id": clinic.id, "patient_id": rng.randint(1, patients), "doctor_id": doctor.id,
                 "type": rng.choice(kinds), "performed_on": today - timedelta(days=rng.randint(0, 3 * 365)),
                 "notes": ""}
                for _ in range(min(CHUNK, treatments - offset))
            ])
        rows = []
        for index in range(appointments):
            tomorrow = index < appointments // 60  # about one day's worth
            starts = NOW + timedelta(days=1 if tomorrow else rng.randint(1, 60),
                                     minutes=rng.randint(-180, 480))
            rows.append({"clinic_id": clinic.id, "patient_id": rng.randint(1, patients),
                         "doctor_id": doctor.id, "starts_at": starts, "ends_at": starts + timedelta(minutes=30),
                         "service": "", "status": AppointmentStatus.BOOKED, "notes": "",
                         "created_at": NOW - timedelta(days=rng.randint(1, 30)), "updated_at": NOW})
        for index in range(40):
            starts = NOW - timedelta(hours=2, minutes=index)
            rows.append({"clinic_id": clinic.id, "patient_id": rng.randint(1, patients),
                         "doctor_id": doctor.id, "starts_at": starts, "ends_at": starts + timedelta(minutes=30),
                         "service": "", "status": AppointmentStatus.NO_SHOW, "notes": "",
                         "created_at": NOW - timedelta(days=5), "updated_at": NOW})
        session.execute(insert(Appointment), rows)
        session.execute(insert(Call), [
            {"clinic_id": clinic.id, "provider": "bench", "provider_call_id": f"missed-{i}",
             "direction": CallDirection.INBOUND, "caller": f"+7916{rng.randint(0, patients - 1):07d}",
             "caller_raw": "", "status": CallStatus.MISSED, "started_at": NOW - timedelta(minutes=i),
             "heard_from_note": "", "notes": "", "updated_at": NOW}
            for i in range(200)
        ])
        session.commit()
    engine.dispose()


def _forget_tasks(url: str) -> None:
    """A kept database starts each run without the tasks a previous run inserted."""
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(delete(DialTask))
    engine.dispose()


def measure(url: str, runs: int) -> list[list[object]]:
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    rows: list[list[object]] = []
    with sessions() as session:
        clinic = session.scalars(select(Clinic)).one()
        for purpose, build in lists.BUILDERS.items():
            times, count = [], 0
            for _ in range(runs):
                started = time.perf_counter()
                count = len(build(session, clinic, NOW, lists.DEFAULT_SETTINGS))
                times.append(time.perf_counter() - started)
            rows.append([purpose.value, count, min(times) * 1000])
        times, total = [], 0
        for _ in range(runs):
            started = time.perf_counter()
            total = sum(len(b(session, clinic, NOW, lists.DEFAULT_SETTINGS)) for b in lists.BUILDERS.values())
            times.append(time.perf_counter() - started)
        rows.append(["all five builders", total, min(times) * 1000])
        started = time.perf_counter()
        added = 0
        for build in lists.BUILDERS.values():
            added += lists.save_new(session, build(session, clinic, NOW, lists.DEFAULT_SETTINGS), {})
        session.commit()
        rows.append(["all five + insert (first run)", added, (time.perf_counter() - started) * 1000])
        started = time.perf_counter()
        again = sum(lists.save_new(session, b(session, clinic, NOW, lists.DEFAULT_SETTINGS), {})
                    for b in lists.BUILDERS.values())
        session.commit()
        rows.append(["all five + insert (re-run)", again, (time.perf_counter() - started) * 1000])
    engine.dispose()
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench campaign_lists")
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--treatments", type=int, default=1_000_000)
    parser.add_argument("--appointments", type=int, default=30_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="load into this SQLite file once and reuse it")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cc-bench-lists-") as folder:
        path = args.keep or Path(folder) / "bench.db"
        url = f"sqlite:///{path}"
        if not path.exists():
            migrate.upgrade(url)
            started = time.perf_counter()
            load(url, args.patients, args.treatments, args.appointments)
            print(f"loaded {args.patients:,} patients, {args.treatments:,} treatments, "
                  f"{args.appointments:,} future visits in {time.perf_counter() - started:.0f} s")
        else:
            migrate.upgrade(url)
            _forget_tasks(url)
        rows = measure(url, args.runs)
    print_table(["list", "tasks", "ms (best of runs)"], rows,
                title=f"Outbound lists on SQLite, {NOW:%Y-%m-%d %H:%M} UTC (target: all ≤ 5000 ms)")
    return 0
