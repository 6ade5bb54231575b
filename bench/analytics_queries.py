"""Dashboard queries on a large clinic: every report of /marketing, timed on SQLite and PostgreSQL.

    python -m bench analytics_queries [--db sqlite|postgresql|both] [--calls 1000000]
                                      [--appointments 300000] [--patients 150000] [--repeat 5]

Builds two years of history by bulk insert (executemany on SQLite, COPY on PostgreSQL) into a
database migrated to head (so the indexes are the ones production has), runs ANALYZE as
autovacuum / `PRAGMA optimize` would, builds the roll-ups (timed: what migration 0032 or a bulk
import costs once), then times each report for several periods: the dashboard's default 30 days,
a quarter by week, a year by month and an arbitrary 200 days by week. Figures: median and worst
of --repeat runs after one warm-up (database page cache warm, no result caching anywhere),
against the same report computed from the raw rows in the same run (the baseline, one run), and
what a read pays to bring the roll-ups up to date after calls changed today.
"""

from __future__ import annotations

import argparse
import bisect
import os
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, text, update
from sqlalchemy.engine import make_url

from bench.population import patient_phone, populate
from bench.table import print_table
from callcenter.analytics import RAW_BUILDS, REPORTS, Filters, Granularity
from callcenter.analytics.rolled import fresh
from callcenter.core import migrate
from callcenter.core.db import make_engine, make_session_factory
from callcenter.core.models import AnalyticsDirty, Call, Staff, StaffRole, TrackingNumber
from tests.services import PostgresServer, postgres_bindir

ZONE = ZoneInfo("Europe/Moscow")
FIRST_DAY = date(2025, 1, 1)
DAYS = 730
LAST_DAY = FIRST_DAY + timedelta(days=DAYS - 1)
RECEPTIONISTS = 8
DOCTORS = 4
NUMBERS = 40
# Hour-of-day weights (clinic clock) for when calls start: busy mornings and early evenings.
HOUR_WEIGHTS = [0, 0, 0, 0, 0, 0, 0, 1, 6, 10, 11, 10, 8, 7, 8, 8, 9, 9, 7, 5, 3, 1, 0, 0]
RESULTS = ["confirmed", "acknowledged", "reschedule", "cancel", "no_answer", "busy", "", "booked"]
PURPOSES = ["confirmation", "recall", "follow_up", "no_show", "missed_call"]
CALL_COLUMNS = ("id", "clinic_id", "provider", "provider_call_id", "direction", "caller",
                "caller_raw", "dialed", "tracking_number_id", "channel_id", "patient_id",
                "caller_kind", "first_time", "agent_id", "started_at", "ringing_at", "answered_at",
                "ended_at", "duration", "status", "heard_from_channel_id", "heard_from_note", "notes",
                "callback_done_at", "callback_call_id", "updated_at")
APPOINTMENT_COLUMNS = ("id", "clinic_id", "patient_id", "doctor_id", "starts_at", "ends_at",
                       "service", "status", "price", "created_by_call_id", "notes", "created_at",
                       "updated_at")
TASK_COLUMNS = ("clinic_id", "patient_id", "purpose", "due_date", "priority", "state", "attempts",
                "result", "notes", "created_at", "updated_at")


@dataclass
class World:
    clinic_id: int
    numbers: list[tuple[int, str, int | None]]  # id, e164, channel id
    receptionists: list[int]
    doctors: list[int]
    first_patient: int


def _setup(url: str, patients: int) -> World:
    migrate.upgrade(url)
    clinic_id = populate(url, patients, NUMBERS)
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        staff = [Staff(clinic_id=clinic_id, role=StaffRole.RECEPTIONIST, first_name=f"Desk{i}",
                       last_name="Bench", sip_extension=str(100 + i)) for i in range(RECEPTIONISTS)]
        staff += [Staff(clinic_id=clinic_id, role=StaffRole.DOCTOR, first_name=f"Doc{i}",
                        last_name="Bench") for i in range(DOCTORS)]
        session.add_all(staff)
        session.commit()
        numbers = [(n.id, n.e164, n.channel_id) for n in session.scalars(
            select(TrackingNumber).where(TrackingNumber.clinic_id == clinic_id)
            .order_by(TrackingNumber.id))]
        first_patient = session.scalar(text("SELECT MIN(id) FROM patients"))
    engine.dispose()
    return World(clinic_id, numbers, [s.id for s in staff[:RECEPTIONISTS]],
                 [s.id for s in staff[RECEPTIONISTS:]], int(first_patient or 1))


def _instant(rng: random.Random, day: date) -> datetime:
    hour = rng.choices(range(24), HOUR_WEIGHTS)[0]
    local = datetime(day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60),
                     rng.randrange(1_000_000), tzinfo=ZONE)
    return local.astimezone(UTC)


def _calls(rng: random.Random, world: World, count: int, patients: int) -> list[tuple[Any, ...]]:
    """Calls in time order with consistent first-time flags and call-backs of missed calls."""
    starts = sorted(_instant(rng, FIRST_DAY + timedelta(days=rng.randrange(DAYS)))
                    for _ in range(count))
    seen: set[str] = set()
    rows: list[list[Any]] = []
    outbound_ids: list[int] = []
    for index, started in enumerate(starts, 1):
        outbound = rng.random() < 0.1
        kind_roll = rng.random()
        patient = None
        if kind_roll < 0.05 and not outbound:
            caller = None
        elif kind_roll < 0.30:
            caller = f"+7903{rng.randrange(400_000):07d}"
        else:
            patient = rng.randrange(patients)
            caller = patient_phone(patient)
        number = None if outbound or rng.random() < 0.1 else rng.choice(world.numbers)
        first_time = caller is not None and patient is None and caller not in seen and not outbound
        if caller:
            seen.add(caller)
        answered = rng.random() < (0.7 if outbound else 0.85)
        agent = rng.choice(world.receptionists) if answered or outbound or rng.random() < 0.5 else None
        answered_at = started + timedelta(seconds=rng.randint(2, 25)) if answered else None
        ended = (answered_at or started) + timedelta(seconds=rng.randint(20, 600))
        heard = None
        if first_time and answered and rng.random() < 0.6:
            heard = number[2] if number and rng.random() < 0.7 else rng.choice(world.numbers)[2]
        status = "completed" if answered else ("failed" if outbound else "missed")
        rows.append([
            index, world.clinic_id, "bench", f"b{index}", "outbound" if outbound else "inbound",
            caller, caller or "", number[1] if number else None, number[0] if number else None,
            number[2] if number else None,
            world.first_patient + patient if patient is not None else None,
            "hidden" if caller is None else ("repeat" if patient is not None else "new"),
            first_time, agent, started, started, answered_at, ended,
            int((ended - answered_at).total_seconds()) if answered_at else None, status, heard, "", "",
            None, None, ended,
        ])
        if outbound:
            outbound_ids.append(index)
    for row in rows:  # a missed call is called back by the next outbound call, often
        if row[19] == "missed" and rng.random() < 0.6:
            later = bisect.bisect_right(outbound_ids, row[0])
            if later < len(outbound_ids):
                back = rows[outbound_ids[later] - 1]
                row[23], row[24] = back[14], back[0]
    return [tuple(r) for r in rows]


def _appointments(rng: random.Random, world: World, calls: Sequence[tuple[Any, ...]], count: int,
                  patients: int) -> list[tuple[Any, ...]]:
    """Bookings made on a call, a few days after one, or at the front desk."""
    answered = [c for c in calls if c[10] is not None and c[16] is not None]
    today = datetime(LAST_DAY.year, LAST_DAY.month, LAST_DAY.day, tzinfo=UTC)
    rows = []
    for index in range(1, count + 1):
        roll = rng.random()
        direct = None
        if roll < 0.45:
            call = rng.choice(answered)
            direct, patient, created = call[0], call[10], call[16] + timedelta(minutes=2)
        elif roll < 0.8:
            call = rng.choice(answered)
            patient, created = call[10], call[16] + timedelta(days=rng.uniform(0.1, 20))
        else:
            patient = world.first_patient + rng.randrange(patients)
            created = _instant(rng, FIRST_DAY + timedelta(days=rng.randrange(DAYS)))
        starts = created + timedelta(days=rng.randint(1, 30), hours=rng.randint(0, 5))
        if starts > today:
            status = rng.choice(["booked", "confirmed", "call_back"])
        else:
            status = rng.choices(["completed", "arrived", "no_show", "cancelled", "rescheduled"],
                                 [60, 10, 13, 12, 5])[0]
        price = rng.randrange(1000, 20000, 500) if status == "completed" and rng.random() < 0.7 else None
        rows.append((index, world.clinic_id, patient, rng.choice(world.doctors), starts,
                     starts + timedelta(minutes=30), "consultation", status, price, direct, "",
                     created, created))
    return rows


def _tasks(rng: random.Random, world: World, count: int, patients: int) -> list[tuple[Any, ...]]:
    keys: set[tuple[int, str, date]] = set()
    rows = []
    while len(rows) < count:
        patient = world.first_patient + rng.randrange(patients)
        purpose = rng.choice(PURPOSES)
        due = FIRST_DAY + timedelta(days=rng.randrange(DAYS))
        if (patient, purpose, due) in keys:
            continue
        keys.add((patient, purpose, due))
        made = datetime(due.year, due.month, due.day, 6, tzinfo=UTC)
        rows.append((world.clinic_id, patient, purpose, due, 50, "done", 1, rng.choice(RESULTS),
                     "", made, made))
    return rows


def _sqlite_value(value: Any) -> Any:
    # The text form SQLAlchemy's SQLite DateTime writes, so range comparisons stay textual.
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _bulk_insert(url: str, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    parsed = make_url(url)
    names = ", ".join(columns)
    if parsed.get_backend_name() == "sqlite":
        with sqlite3.connect(parsed.database or "") as conn:
            conn.executemany(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})",
                             ([_sqlite_value(v) for v in row] for row in rows))
        return
    import psycopg

    dsn = parsed.set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(dsn) as conn, conn.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _family_phones(world: World, patients: int) -> Iterator[tuple[int, str, str]]:
    """Every 25th patient also answers on the previous patient's number: a family number."""
    for index in range(25, patients, 25):
        yield (world.first_patient + index, patient_phone(index - 1), "family")


def build(url: str, calls: int, appointments: int, patients: int) -> tuple[World, float, float]:
    """The world, seconds to load it, seconds to build its roll-ups."""
    started = time.perf_counter()
    rng = random.Random(20261122)
    world = _setup(url, patients)
    call_rows = _calls(rng, world, calls, patients)
    _bulk_insert(url, "calls", CALL_COLUMNS, call_rows)
    _bulk_insert(url, "appointments", APPOINTMENT_COLUMNS,
                 _appointments(rng, world, call_rows, appointments, patients))
    _bulk_insert(url, "patient_phones", ("patient_id", "e164", "label"),
                 list(_family_phones(world, patients)))
    _bulk_insert(url, "dial_tasks", TASK_COLUMNS, _tasks(rng, world, 60_000, patients))
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
        # A bulk load marked every row; one clinic-wide mark rebuilds it in one pass instead.
        conn.execute(AnalyticsDirty.__table__.delete())
        conn.execute(AnalyticsDirty.__table__.insert().values(clinic_id=world.clinic_id))
    loaded = time.perf_counter() - started
    with make_session_factory(engine)() as session:
        fresh(session, Filters(clinic_id=world.clinic_id, tz=ZONE, start=LAST_DAY, end=LAST_DAY))
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()
    return world, loaded, time.perf_counter() - started - loaded


PERIODS = (
    ("30 days, by day", LAST_DAY - timedelta(days=29), LAST_DAY, Granularity.DAY),
    ("quarter, by week", LAST_DAY - timedelta(days=90), LAST_DAY, Granularity.WEEK),
    ("year, by month", LAST_DAY - timedelta(days=364), LAST_DAY, Granularity.MONTH),
    ("200 days, by week", LAST_DAY - timedelta(days=500), LAST_DAY - timedelta(days=301),
     Granularity.WEEK),
)
Figures = tuple[str, str, float, float, float]


def _timed(build: Any, session: Any, flt: Filters, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        build(session, flt)
        times.append((time.perf_counter() - began) * 1000)
    return times


def measure(url: str, world: World, repeat: int) -> list[Figures]:
    """(period, report, median ms, worst ms, raw-row baseline ms) for every report and period."""
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    out = []
    for label, start, end, granularity in PERIODS:
        flt = Filters(clinic_id=world.clinic_id, tz=ZONE, start=start, end=end,
                      granularity=granularity)
        for name, report in REPORTS.items():
            with sessions() as session:
                report.build(session, flt)  # warm-up
                times = _timed(report.build, session, flt, repeat)
                baseline = _timed(RAW_BUILDS[name], session, flt, 1)[0]
            out.append((label, name, statistics.median(times), max(times), baseline))
    # The machine may be shared: the load average tells how much to trust the figures.
    print(f"{make_url(url).get_backend_name()}: measured, load average {os.getloadavg()[0]:.1f}")
    print(f"  bringing the roll-ups up to date after 50 calls of the last day changed: "
          f"{_refresh_after_changes(engine, world):.0f} ms")
    engine.dispose()
    return out


def _refresh_after_changes(engine: Any, world: World) -> float:
    """What the first read after a burst of webhooks pays: the last day's roll-ups recomputed."""
    last = datetime(LAST_DAY.year, LAST_DAY.month, LAST_DAY.day, tzinfo=ZONE).astimezone(UTC)
    with make_session_factory(engine)() as session:
        ids = session.scalars(select(Call.id).where(Call.started_at >= last).limit(50)).all()
        session.execute(update(Call).where(Call.id.in_(ids)).values(status="missed"))
        session.commit()
        began = time.perf_counter()
        fresh(session, Filters(clinic_id=world.clinic_id, tz=ZONE, start=LAST_DAY, end=LAST_DAY))
        return (time.perf_counter() - began) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench analytics_queries")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--appointments", type=int, default=300_000)
    parser.add_argument("--patients", type=int, default=150_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    results: dict[str, list[Figures]] = {}
    with tempfile.TemporaryDirectory(prefix="cc-bench-analytics-") as folder:
        if args.db in ("sqlite", "both"):
            url = f"sqlite:///{Path(folder) / 'bench.db'}"
            results["SQLite"] = _run(url, "sqlite", args)
        if args.db in ("postgresql", "both"):
            bindir = postgres_bindir()
            if bindir is None:
                print("postgresql: no server binaries (apt-get install postgresql); skipped")
            else:
                server = PostgresServer(bindir)
                server.init()
                server.start()
                try:
                    url = server.create_database("bench_analytics")
                    results["PostgreSQL"] = _run(url, "postgresql", args)
                finally:
                    server.cleanup()
    engines = list(results)
    rows = []
    for index, (period, name, *_) in enumerate(next(iter(results.values()), [])):
        cells: list[object] = [period, name]
        for engine_name in engines:
            _, _, median, worst, baseline = results[engine_name][index]
            cells += [round(median, 1), round(worst, 1), round(baseline, 1)]
        rows.append(cells)
    headers = ["period", "report"] + [f"{e} {m} ms" for e in engines
                                      for m in ("median", "worst", "raw rows")]
    print_table(headers, rows, title=f"{args.calls:,} calls, {args.appointments:,} appointments")
    return 0


def _run(url: str, name: str, args: argparse.Namespace) -> list[Figures]:
    world, loaded, rolled = build(url, args.calls, args.appointments, args.patients)
    print(f"{name}: loaded in {loaded:.0f} s, roll-ups built in {rolled:.1f} s "
          f"(load average {os.getloadavg()[0]:.1f})")
    return measure(url, world, args.repeat)
