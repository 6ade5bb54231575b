"""Two years of a clinic network's calls and bookings for `python -m bench analytics_queries`.

Rows are made day by day and streamed into the database (COPY on PostgreSQL, executemany on
SQLite), so ten million calls take a few hundred megabytes, not the tens of gigabytes a list of
tuples would. Each clinic has its own patients, numbers, receptionists, doctors and time zone;
per clinic, call ids follow time, first-time flags are consistent, missed calls are often called
back by the clinic's next outbound call, and bookings are tied to answered calls.
"""

from __future__ import annotations

import heapq
import random
import sqlite3
import time
from array import array
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from bench.population import patient_phone, populate
from callcenter.analytics import Filters
from callcenter.analytics.rolled import fresh
from callcenter.core import migrate
from callcenter.core.db import make_engine, make_session_factory
from callcenter.core.models import AnalyticsDirty, Patient, Staff, StaffRole, TrackingNumber

ZONE = ZoneInfo("Europe/Moscow")
# A network spans the country: clinic n lives in ZONES[n % len(ZONES)], the first in Moscow.
ZONES = ("Europe/Moscow", "Asia/Yekaterinburg", "Europe/Samara", "Asia/Novosibirsk",
         "Europe/Kaliningrad", "Asia/Krasnoyarsk", "Asia/Omsk", "Europe/Volgograd",
         "Asia/Irkutsk", "Asia/Vladivostok")
FIRST_DAY = date(2025, 1, 1)
DAYS = 730
LAST_DAY = FIRST_DAY + timedelta(days=DAYS - 1)
RECEPTIONISTS = 8
DOCTORS = 4
NUMBERS = 40
NEW_CALLERS = 400_000  # the pool of numbers a clinic's not-yet-patients call from
TASKS = 60_000  # dial tasks per clinic
# Hour-of-day weights (clinic clock) for when calls start: busy mornings and early evenings.
HOUR_WEIGHTS = [0, 0, 0, 0, 0, 0, 0, 1, 6, 10, 11, 10, 8, 7, 8, 8, 9, 9, 7, 5, 3, 1, 0, 0]
HOURS = list(accumulate(HOUR_WEIGHTS))
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
WAITING = object()  # a missed call's call-back, until the clinic's next outbound call


@dataclass
class World:
    """One clinic of the network and what its generated rows refer to."""

    clinic_id: int
    tz: ZoneInfo
    numbers: list[tuple[int, str, int | None]]  # id, e164, channel id
    receptionists: list[int]
    doctors: list[int]
    first_patient: int
    patients: int
    first_phone: int  # patient i's mobile is patient_phone(first_phone + i)
    new_caller_base: int  # the clinic's not-yet-patients: +7903 numbers from here on
    # Answered calls with a patient, for bookings: call id, patient index, answered at (µs).
    answered: tuple[array[int], array[int], array[int]] = field(
        default_factory=lambda: (array("q"), array("q"), array("q")))


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if n < total % parts else 0) for n in range(parts)]


def _setup(url: str, patients: int, clinics: int) -> list[World]:
    migrate.upgrade(url)
    worlds = []
    first_phone = 0
    for n, count in enumerate(_split(patients, clinics)):
        zone = ZONES[n % len(ZONES)]
        clinic_id = populate(url, count, NUMBERS, name=f"Bench clinic {n + 1}" if n else "Bench clinic",
                             timezone=zone, first_phone=first_phone, first_number=n * NUMBERS)
        worlds.append(_staff(url, clinic_id, ZoneInfo(zone), count, first_phone, n * NEW_CALLERS))
        first_phone += count
    return worlds


def _staff(url: str, clinic_id: int, tz: ZoneInfo, patients: int, first_phone: int,
           new_caller_base: int) -> World:
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
        first_patient = session.scalar(select(func.min(Patient.id)).where(Patient.clinic_id == clinic_id))
    engine.dispose()
    return World(clinic_id, tz, numbers, [s.id for s in staff[:RECEPTIONISTS]],
                 [s.id for s in staff[RECEPTIONISTS:]], int(first_patient or 1), patients,
                 first_phone, new_caller_base)


def _instant(rng: random.Random, day: date, tz: ZoneInfo) -> datetime:
    hour = rng.choices(range(24), cum_weights=HOURS)[0]
    local = datetime(day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60),
                     rng.randrange(1_000_000), tzinfo=tz)
    return local.astimezone(UTC)


def _micros(instant: datetime) -> int:
    return (instant - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _daily(rng: random.Random, count: int) -> list[int]:
    """How many of `count` calls fall on each day, each call's day drawn uniformly."""
    days = [0] * DAYS
    for _ in range(count):
        days[rng.randrange(DAYS)] += 1
    return days


def _call(rng: random.Random, world: World, index: int, started: datetime, seen: bytearray) -> list[Any]:
    outbound = rng.random() < 0.1
    kind_roll = rng.random()
    patient = None
    if kind_roll < 0.05 and not outbound:
        caller = None
        first_time = False
    elif kind_roll < 0.30:
        newcomer = rng.randrange(NEW_CALLERS)
        caller = f"+7903{world.new_caller_base + newcomer:07d}"
        first_time = not outbound and not seen[newcomer]
        seen[newcomer] = 1
    else:
        patient = rng.randrange(world.patients)
        caller = patient_phone(world.first_phone + patient)
        first_time = False
    number = None if outbound or rng.random() < 0.1 else rng.choice(world.numbers)
    answered = rng.random() < (0.7 if outbound else 0.85)
    agent = rng.choice(world.receptionists) if answered or outbound or rng.random() < 0.5 else None
    answered_at = started + timedelta(seconds=rng.randint(2, 25)) if answered else None
    ended = (answered_at or started) + timedelta(seconds=rng.randint(20, 600))
    heard = None
    if first_time and answered and rng.random() < 0.6:
        heard = number[2] if number and rng.random() < 0.7 else rng.choice(world.numbers)[2]
    status = "completed" if answered else ("failed" if outbound else "missed")
    if patient is not None and answered_at is not None:
        for column, value in zip(world.answered, (index, patient, _micros(answered_at)), strict=True):
            column.append(value)
    return [
        index, world.clinic_id, "bench", f"b{index}", "outbound" if outbound else "inbound",
        caller, caller or "", number[1] if number else None, number[0] if number else None,
        number[2] if number else None, world.first_patient + patient if patient is not None else None,
        "hidden" if caller is None else ("repeat" if patient is not None else "new"),
        first_time, agent, started, started, answered_at, ended,
        int((ended - answered_at).total_seconds()) if answered_at else None, status, heard, "", "",
        None, None, ended,
    ]


def calls(rng: random.Random, worlds: Sequence[World], count: int) -> Iterator[tuple[Any, ...]]:
    """The network's calls, day by day: each day's calls of every clinic merged in time order."""
    per_day = [_daily(rng, n) for n in _split(count, len(worlds))]
    seen = [bytearray(NEW_CALLERS) for _ in worlds]
    waiting: list[list[list[Any]]] = [[] for _ in worlds]
    # A call waiting for its call-back is held back, and the calls after it, so ids stay in order.
    held: deque[list[Any]] = deque()
    index = 0
    for offset in range(DAYS):
        day = FIRST_DAY + timedelta(days=offset)
        for started, n in heapq.merge(*(sorted((_instant(rng, day, w.tz), n)
                                               for _ in range(per_day[n][offset]))
                                        for n, w in enumerate(worlds))):
            index += 1
            row = _call(rng, worlds[n], index, started, seen[n])
            if row[4] == "outbound":
                for missed in waiting[n]:
                    missed[23], missed[24] = started, index
                waiting[n].clear()
            elif row[19] == "missed" and rng.random() < 0.6:
                row[23] = row[24] = WAITING
                waiting[n].append(row)
            held.append(row)
            while held and held[0][23] is not WAITING:
                yield tuple(held.popleft())
    for row in held:  # no outbound call came after these
        if row[23] is WAITING:
            row[23] = row[24] = None
        yield tuple(row)


def appointments(rng: random.Random, worlds: Sequence[World], count: int) -> Iterator[tuple[Any, ...]]:
    """Bookings made on a call, a few days after one, or at the front desk; the clinics in turn."""
    today = datetime(LAST_DAY.year, LAST_DAY.month, LAST_DAY.day, tzinfo=UTC)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for index in range(1, count + 1):
        world = worlds[(index - 1) % len(worlds)]
        call_ids, patients, answered_at = world.answered
        roll = rng.random() if call_ids else 1.0
        direct = None
        if roll < 0.8:
            pick = rng.randrange(len(call_ids))
            patient = world.first_patient + patients[pick]
            answered = epoch + timedelta(microseconds=answered_at[pick])
            if roll < 0.45:
                direct, created = call_ids[pick], answered + timedelta(minutes=2)
            else:
                created = answered + timedelta(days=rng.uniform(0.1, 20))
        else:
            patient = world.first_patient + rng.randrange(world.patients)
            created = _instant(rng, FIRST_DAY + timedelta(days=rng.randrange(DAYS)), world.tz)
        starts = created + timedelta(days=rng.randint(1, 30), hours=rng.randint(0, 5))
        if starts > today:
            status = rng.choice(["booked", "confirmed", "call_back"])
        else:
            status = rng.choices(["completed", "arrived", "no_show", "cancelled", "rescheduled"],
                                 [60, 10, 13, 12, 5])[0]
        price = rng.randrange(1000, 20000, 500) if status == "completed" and rng.random() < 0.7 else None
        yield (index, world.clinic_id, patient, rng.choice(world.doctors), starts,
               starts + timedelta(minutes=30), "consultation", status, price, direct, "",
               created, created)


def tasks(rng: random.Random, worlds: Sequence[World]) -> Iterator[tuple[Any, ...]]:
    for world in worlds:
        keys: set[tuple[int, str, date]] = set()
        while len(keys) < TASKS:
            patient = world.first_patient + rng.randrange(world.patients)
            purpose = rng.choice(PURPOSES)
            due = FIRST_DAY + timedelta(days=rng.randrange(DAYS))
            if (patient, purpose, due) in keys:
                continue
            keys.add((patient, purpose, due))
            made = datetime(due.year, due.month, due.day, 6, tzinfo=UTC)
            yield (world.clinic_id, patient, purpose, due, 50, "done", 1, rng.choice(RESULTS), "",
                   made, made)


def family_phones(worlds: Sequence[World]) -> Iterator[tuple[int, str, str]]:
    """Every 25th patient also answers on the previous patient's number: a family number."""
    for world in worlds:
        for index in range(25, world.patients, 25):
            yield (world.first_patient + index, patient_phone(world.first_phone + index - 1), "family")


def _sqlite_value(value: Any) -> Any:
    # The text form SQLAlchemy's SQLite DateTime writes, so range comparisons stay textual.
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return value


def bulk_insert(url: str, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> None:
    """Stream `rows` into `table`. On PostgreSQL the secondary indexes are built afterwards and
    neither triggers nor foreign-key checks fire (as pg_restore loads): row by row, ten million
    calls kept nine indexes, seven foreign keys and the analytics trigger busy for each row."""
    parsed = make_url(url)
    names = ", ".join(columns)
    if parsed.get_backend_name() == "sqlite":
        with sqlite3.connect(parsed.database or "") as conn:
            conn.executemany(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})",
                             ([_sqlite_value(v) for v in row] for row in rows))
        return
    import psycopg

    dsn = parsed.set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(dsn) as conn:
        # The indexes no constraint owns: dropped for the load, made again from their definitions.
        indexes = conn.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)", (table,)).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        conn.execute("SET session_replication_role = replica")
        with conn.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.execute("SET maintenance_work_mem = '512MB'")
        for _, definition in indexes:
            conn.execute(definition)


def build(url: str, calls_count: int, appointments_count: int, patients: int,
          clinics: int = 1) -> tuple[list[World], float, float]:
    """The network, seconds to load it, seconds to build its roll-ups."""
    started = time.perf_counter()
    rng = random.Random(20261122)
    worlds = _setup(url, patients, clinics)
    bulk_insert(url, "calls", CALL_COLUMNS, calls(rng, worlds, calls_count))
    bulk_insert(url, "appointments", APPOINTMENT_COLUMNS, appointments(rng, worlds, appointments_count))
    bulk_insert(url, "patient_phones", ("patient_id", "e164", "label"), family_phones(worlds))
    bulk_insert(url, "dial_tasks", TASK_COLUMNS, tasks(rng, worlds))
    for world in worlds:  # the answered calls were for the bookings only
        world.answered = (array("q"), array("q"), array("q"))
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
        # A bulk load marks every row (SQLite) or none (PostgreSQL): one clinic-wide mark each
        # rebuilds a clinic in one pass.
        conn.execute(AnalyticsDirty.__table__.delete())
        conn.execute(AnalyticsDirty.__table__.insert(), [{"clinic_id": w.clinic_id} for w in worlds])
    loaded = time.perf_counter() - started
    with make_session_factory(engine)() as session:
        for world in worlds:
            fresh(session, Filters(clinic_id=world.clinic_id, tz=world.tz, start=LAST_DAY, end=LAST_DAY))
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()
    return worlds, loaded, time.perf_counter() - started - loaded
