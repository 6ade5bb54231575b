"""A clinic's whole record system imported from CSV files, then the same files again.

    python -m bench import [--scale 1.0] [--db sqlite|postgresql|both] [--profile]

At scale 1: 100,000 patients (150,000 phones, families sharing a number), 300,000 visits and
200,000 treatments, with 20 doctors; the patients' file is Windows-1251 with `;` as Russian
exports are, the visits' UTF-8 with a BOM as Excel writes it. Everything goes through what
`callcenter import` runs (tables.read_table, importer.run_import, batches of 2,000 per
transaction). Each database runs in its own process so that its peak RSS is the job's own.

The baseline, measured in the same run on the same database: the same patients and phones
inserted bare (SQLAlchemy Core executemany, no parsing, no lookups), so that the import's
seconds can be read against what the machine manages at that moment.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import io
import multiprocessing
import os
import pstats
import random
import resource
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import event, insert, select

from bench.table import print_table
from callcenter.core import migrate
from callcenter.core.db import make_engine, make_session_factory
from callcenter.core.models import Clinic, Patient, PatientPhone
from callcenter.exchange.importer import run_import
from callcenter.exchange.tables import read_table
from tests import factories as f
from tests.services import PostgresServer, postgres_bindir

KINDS = ("doctors", "patients", "appointments", "treatments")
DOCTORS = 20
TODAY = date(2026, 3, 1)
LAST = ("Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов", "Михайлов",
        "Новиков", "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов", "Егоров")
FIRST_M = ("Александр", "Дмитрий", "Максим", "Сергей", "Андрей", "Алексей", "Артём", "Илья")
FIRST_F = ("Анна", "Мария", "Елена", "Ольга", "Наталья", "Татьяна", "Ирина", "Екатерина")
PATRONYMIC = ("Александров", "Дмитриев", "Сергеев", "Андреев", "Иванов", "Петров", "Николаев")
PAST = ("завершен", "завершен", "завершен", "неявка", "отменен")
FUTURE = ("записан", "подтвержден")
TREATMENTS = ("пломба", "чистка", "удаление зуба", "лечение каналов", "коронка", "имплантация")


def _csv(path: Path, rows: list[list[Any]], encoding: str, delimiter: str) -> None:
    out = io.StringIO(newline="")
    csv.writer(out, delimiter=delimiter).writerows(rows)
    path.write_bytes(out.getvalue().encode(encoding))


def _mobile(n: int) -> str:
    digits = f"{9160000000 + n * 7:010d}"
    return f"8 ({digits[:3]}) {digits[3:6]}-{digits[6:8]}-{digits[8:]}"


def generate(folder: Path, patients: int, visits: int, treatments: int) -> dict[str, int]:
    """The four files, the same for the same sizes; returns the phones written."""
    rng = random.Random(20260301)
    _csv(folder / "doctors.csv", [["ID врача", "ФИО", "Специальность"]] + [
        [f"D-{n}", f"{LAST[n % len(LAST)]}а {FIRST_F[n % 8]} Сергеевна",
         "Терапевт" if n % 2 else "Хирург"] for n in range(DOCTORS)], "utf-8", ",")
    rows: list[list[Any]] = [["Код пациента", "Фамилия", "Имя", "Отчество", "Дата рождения", "Пол",
                              "Мобильный", "Домашний телефон", "Семейный телефон",
                              "Согласие на звонки", "Примечание"]]
    phones = 0
    for n in range(patients):
        male = rng.random() < 0.45
        last = LAST[rng.randrange(len(LAST))] + ("" if male else "а")
        born = date(1940, 1, 1) + timedelta(days=rng.randrange(365 * 70))
        home = f"+7 495 {n % 1000:03d}-{n // 1000 % 100:02d}-{n % 97:02d}" if n % 4 == 1 else ""
        family = _mobile(n - 1) if n % 4 == 2 else ""  # answers on a relative's mobile
        phones += 1 + bool(home) + bool(family)
        rows.append([f"P-{n}", last, rng.choice(FIRST_M if male else FIRST_F),
                     rng.choice(PATRONYMIC) + ("ич" if male else "на"), born.strftime("%d.%m.%Y"),
                     "м" if male else "ж", _mobile(n), home, family, "да" if n % 10 else "нет",
                     "аллергия на лидокаин" if n % 50 == 0 else ""])
    _csv(folder / "patients.csv", rows, "cp1251", ";")
    rows = [["ID визита", "Код пациента", "Код врача", "Дата", "Время", "Длительность",
             "Услуга", "Статус"]]
    for n in range(visits):
        day = TODAY + timedelta(days=rng.randrange(-365, 60))
        rows.append([f"V-{n}", f"P-{rng.randrange(patients)}", f"D-{rng.randrange(DOCTORS)}",
                     day.strftime("%d.%m.%Y"), f"{rng.randrange(9, 20)}:{rng.choice(('00', '30'))}",
                     rng.choice((30, 60)), rng.choice(("Осмотр", "Лечение", "Гигиена")),
                     rng.choice(PAST if day < TODAY else FUTURE)])
    _csv(folder / "appointments.csv", rows, "utf-8-sig", ",")
    rows = [["ID лечения", "Код пациента", "Код врача", "ID визита", "Вид лечения", "Дата"]]
    for n in range(treatments):
        visit = rng.randrange(visits)
        rows.append([f"T-{n}", f"P-{rng.randrange(patients)}", f"D-{rng.randrange(DOCTORS)}",
                     f"V-{visit}" if n % 2 else "", rng.choice(TREATMENTS),
                     (TODAY - timedelta(days=rng.randrange(1, 700))).strftime("%d.%m.%Y")])
    _csv(folder / "treatments.csv", rows, "utf-8", ";")
    return {"phones": phones}


def _import_all(sessions: Any, clinic_id: int, folder: Path,
                backends: set[int]) -> list[tuple[Any, ...]]:
    out = []
    for kind in KINDS:
        started, cpu = time.perf_counter(), _cpu(backends)
        table = read_table(folder / f"{kind}.csv", f"{kind}.csv")
        with sessions() as session:
            result = run_import(session, session.get(Clinic, clinic_id), kind, table, via="cli")
        out.append((kind, time.perf_counter() - started, result.total, result.counts, _peak_mb(),
                    _cpu(backends) - cpu))
        del table, result
    return out


def _cpu(backends: set[int]) -> float:
    """CPU seconds of this process and of the PostgreSQL backends serving it: on a shared,
    loaded machine the wall clock says how long the others let us run, this what we needed."""
    spent = time.process_time()
    for pid in backends:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        spent += times.user + times.system
    return spent


def _peak_mb() -> float:
    """This process's own peak RSS. Not getrusage's ru_maxrss: Linux carries that across fork
    and exec, so a spawned child starts with its parent's peak (the generator's, which holds
    every row of a file while writing it)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _bare(sessions: Any, clinic_id: int, folder: Path) -> tuple[float, int]:
    """The baseline: the patients' rows and phones inserted bare, 500 a transaction."""
    with (folder / "patients.csv").open(encoding="cp1251", newline="") as fh:
        rows = list(csv.reader(fh, delimiter=";"))[1:]
    started = time.perf_counter()
    for at in range(0, len(rows), 500):
        chunk = rows[at:at + 500]
        with sessions() as session:
            ids = session.scalars(insert(Patient).returning(Patient.id), [
                {"clinic_id": clinic_id, "last_name": r[1], "first_name": r[2], "patronymic": r[3]}
                for r in chunk]).all()
            session.execute(insert(PatientPhone), [
                {"patient_id": pid, "e164": "+7" + "".join(c for c in r[6] if c.isdigit())[1:],
                 "label": "mobile"} for pid, r in zip(ids, chunk, strict=True)])
            session.commit()
    return time.perf_counter() - started, len(rows)


def job(url: str, folder: Path, profile: bool, results: Any) -> None:
    """One database's run, in a process of its own (its peak RSS is the job's)."""
    migrate.upgrade(url)
    engine = make_engine(url)
    backends: set[int] = set()
    if engine.dialect.name == "postgresql":
        @event.listens_for(engine, "connect")
        def _backend(connection: Any, _record: Any) -> None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                backends.add(cursor.fetchone()[0])
    sessions = make_session_factory(engine)
    with sessions() as session:
        clinic_id, bare_clinic = f.clinic(session).id, f.clinic(session, name="bare").id
        session.commit()
    load = [os.getloadavg()[0]]
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    first = _import_all(sessions, clinic_id, folder, backends)
    if profiler:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
    load.append(os.getloadavg()[0])
    again = _import_all(sessions, clinic_id, folder, backends)
    load.append(os.getloadavg()[0])
    peak = _peak_mb()  # the import's own: the baseline below reads a whole file too
    bare_seconds, bare_rows = _bare(sessions, bare_clinic, folder)
    load.append(os.getloadavg()[0])
    with sessions() as session:
        phones = len(session.scalars(select(PatientPhone.id).join(Patient).where(
            Patient.clinic_id == clinic_id)).all())
    engine.dispose()
    results.put({"first": first, "again": again, "bare": (bare_seconds, bare_rows),
                 "phones": phones, "load": load,
                 "rss_mb": peak})


def _run(url: str, folder: Path, profile: bool) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=job, args=(url, folder, profile, results))
    process.start()
    outcome = results.get()
    process.join()
    return outcome


def _report(name: str, run: dict[str, Any]) -> None:
    rows: list[list[object]] = []
    for label, phase in (("first import", run["first"]), ("re-import", run["again"])):
        for kind, seconds, total, counts, peak, cpu in phase:
            rows.append([label, kind, total, round(seconds, 1), round(cpu, 1),
                         round(total / seconds), counts["created"], counts["updated"],
                         counts["unchanged"], counts["refused"], round(peak)])
        rows.append([label, "all", sum(p[2] for p in phase), round(sum(p[1] for p in phase), 1),
                     round(sum(p[5] for p in phase), 1), "", "", "", "", "", ""])
    bare_seconds, bare_rows = run["bare"]
    rows.append(["baseline", "patients + mobiles bare", bare_rows, round(bare_seconds, 1), "",
                 round(bare_rows / bare_seconds), "", "", "", "", ""])
    load = " → ".join(f"{x:.1f}" for x in run["load"])
    print_table(["phase", "file", "rows", "s", "CPU s", "rows/s", "created", "updated", "unchanged",
                 "refused", "peak RSS MB so far"], rows,
                title=f"{name}: {run['phones']:,} phones stored; the import's peak RSS "
                      f"{run['rss_mb']:.0f} MB; load average {load} (before the first import, "
                      "after it, after the re-import, after the baseline)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench import")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="1.0 = 100,000 patients, 300,000 visits, 200,000 treatments")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--profile", action="store_true", help="cProfile the first import")
    args = parser.parse_args(argv)
    patients = int(100_000 * args.scale)
    with tempfile.TemporaryDirectory(prefix="cc-bench-import-") as name:
        folder = Path(name)
        started = time.perf_counter()
        written = generate(folder, patients, int(300_000 * args.scale), int(200_000 * args.scale))
        print(f"files: {patients:,} patients ({written['phones']:,} phones), "
              f"{int(300_000 * args.scale):,} visits, {int(200_000 * args.scale):,} treatments, "
              f"written in {time.perf_counter() - started:.0f} s")
        if args.db in ("sqlite", "both"):
            _report("SQLite", _run(f"sqlite:///{folder / 'bench.db'}", folder, args.profile))
        if args.db in ("postgresql", "both"):
            bindir = postgres_bindir()
            if bindir is None:
                print("postgresql: no server binaries (apt-get install postgresql); skipped")
            else:
                server = PostgresServer(bindir)
                server.init()
                server.start()
                try:
                    url = server.create_database("bench_import")
                    _report("PostgreSQL", _run(url, folder, args.profile))
                finally:
                    server.cleanup()
    return 0
