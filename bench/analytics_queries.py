"""Dashboard queries on a large clinic or network: every report of /marketing, timed on SQLite and
PostgreSQL.

    python -m bench analytics_queries [--db sqlite|postgresql|both] [--calls 1000000]
                                      [--appointments 300000] [--patients 150000] [--clinics 1]
                                      [--repeat 5] [--threads 2]

Builds two years of history (bench/analytics_data.py: streamed by COPY on PostgreSQL,
executemany on SQLite) into a database migrated to head (so the indexes are the ones production
has), runs ANALYZE as autovacuum / `PRAGMA optimize` would, builds the roll-ups (timed: what
migration 0032 or a bulk import costs once), then times each report for several periods: the
dashboard's default 30 days, a quarter by week, a year by month and an arbitrary 200 days by
week. Figures: median and worst of --repeat runs after one warm-up (database page cache warm, no
result caching anywhere), against the same report computed from the raw rows in the same run
(the baseline, one run), and what a read pays to bring the roll-ups up to date after calls
changed today. With --clinics N the calls, appointments and patients are shared among N clinics
of a network: the first clinic's reports are timed as above, then each report of the whole
network as the dashboard's "all clinics" view asks for it (analytics/network.py), built by
--threads threads (default 2, the app's CALLCENTER_REPORT_THREADS) against the clinics one at a
time in the same run, and the dashboard's whole page (every report at once) the same two ways.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import make_url

from bench.analytics_data import LAST_DAY, World, build
from bench.table import print_table
from callcenter.analytics import RAW_BUILDS, REPORTS, Filters, Granularity, network
from callcenter.analytics.rolled import fresh
from callcenter.core.db import make_engine, make_session_factory
from callcenter.core.models import Call
from tests.services import PostgresServer, postgres_bindir

PERIODS = (
    ("30 days, by day", LAST_DAY - timedelta(days=29), LAST_DAY, Granularity.DAY),
    ("quarter, by week", LAST_DAY - timedelta(days=90), LAST_DAY, Granularity.WEEK),
    ("year, by month", LAST_DAY - timedelta(days=364), LAST_DAY, Granularity.MONTH),
    ("200 days, by week", LAST_DAY - timedelta(days=500), LAST_DAY - timedelta(days=301),
     Granularity.WEEK),
)
# (period, report, median ms, worst ms, raw-row baseline ms or None)
Figures = tuple[str, str, float, float, float | None]


def _timed(build: Callable[[], Any], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        build()
        times.append((time.perf_counter() - began) * 1000)
    return times


def _filters(world: World, start: Any, end: Any, granularity: Granularity) -> Filters:
    return Filters(clinic_id=world.clinic_id, tz=world.tz, start=start, end=end, granularity=granularity)


def _load() -> str:
    return "load average " + " ".join(f"{n:.1f}" for n in os.getloadavg())


def measure(url: str, world: World, repeat: int) -> list[Figures]:
    """(period, report, median ms, worst ms, raw-row baseline ms) for every report and period of
    one clinic."""
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    out: list[Figures] = []
    for label, start, end, granularity in PERIODS:
        flt = _filters(world, start, end, granularity)
        for name, report in REPORTS.items():
            with sessions() as session:
                report.build(session, flt)  # warm-up
                times = _timed(partial(report.build, session, flt), repeat)
                baseline = _timed(partial(RAW_BUILDS[name], session, flt), 1)[0]
            out.append((label, name, statistics.median(times), max(times), baseline))
    # The machine may be shared: the load average tells how much to trust the figures.
    print(f"{make_url(url).get_backend_name()}: measured, {_load()}")
    print(f"  bringing the roll-ups up to date after 50 calls of the last day changed: "
          f"{_refresh_after_changes(engine, world):.0f} ms")
    engine.dispose()
    return out


def measure_network(url: str, worlds: Sequence[World], repeat: int, threads: int) -> list[Figures]:
    """The same for the whole network: each report as the dashboard builds it for "all clinics",
    each clinic's filters on its own clock (analytics/routes.py `_context`), summed; built with
    `threads` threads as the app does (CALLCENTER_REPORT_THREADS), against the clinics one after
    another in the same run (the baseline column). The row "whole page" is every report at once,
    as the dashboard asks for them; "whole page, first clinic alone" is that page for one clinic."""
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    out: list[Figures] = []
    for label, start, end, granularity in PERIODS:
        filters = [_filters(w, start, end, granularity) for w in worlds]
        for title, names, picked in ([(name, [name], filters) for name in REPORTS]
                                     + [("whole page", list(REPORTS), filters),
                                        ("whole page, first clinic alone", list(REPORTS), filters[:1])]):
            with sessions() as session:
                build = partial(network.build_many, session, names, picked, sessions, threads)
                build()  # warm-up
                one_by_one = _timed(partial(network.build_many, session, names, picked), repeat)
                times = _timed(build, repeat)
            out.append((label, title, statistics.median(times), max(times), statistics.median(one_by_one)))
        print(f"{make_url(url).get_backend_name()}: network, {label} measured, {_load()}")
    engine.dispose()
    return out


def _refresh_after_changes(engine: Any, world: World) -> float:
    """What the first read after a burst of webhooks pays: the last day's roll-ups recomputed."""
    last = datetime(LAST_DAY.year, LAST_DAY.month, LAST_DAY.day, tzinfo=world.tz)
    with make_session_factory(engine)() as session:
        ids = session.scalars(select(Call.id).where(Call.clinic_id == world.clinic_id,
                                                    Call.started_at >= last).limit(50)).all()
        session.execute(update(Call).where(Call.id.in_(ids)).values(status="missed"))
        session.commit()
        began = time.perf_counter()
        fresh(session, Filters(clinic_id=world.clinic_id, tz=world.tz, start=LAST_DAY, end=LAST_DAY))
        return (time.perf_counter() - began) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench analytics_queries")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--appointments", type=int, default=300_000)
    parser.add_argument("--patients", type=int, default=150_000)
    parser.add_argument("--clinics", type=int, default=1, help="clinics of one network sharing the rows")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2,
                        help="threads building a network's reports (CALLCENTER_REPORT_THREADS)")
    args = parser.parse_args(argv)
    results: dict[str, list[Figures]] = {}
    networks: dict[str, list[Figures]] = {}
    with tempfile.TemporaryDirectory(prefix="cc-bench-analytics-") as folder:
        if args.db in ("sqlite", "both"):
            url = f"sqlite:///{Path(folder) / 'bench.db'}"
            results["SQLite"], networks["SQLite"] = _run(url, "sqlite", args)
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
                    results["PostgreSQL"], networks["PostgreSQL"] = _run(url, "postgresql", args)
                finally:
                    server.cleanup()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of the bench process: {peak:.0f} MB")
    _print(results, networks, args)
    return 0


def _print(results: dict[str, list[Figures]], networks: dict[str, list[Figures]],
           args: argparse.Namespace) -> None:
    engines = list(results)
    rows = []
    # The network has one row more per period (the whole page): its rows are matched by name.
    clinic_rows = {e: {(p, n): figures for p, n, *figures in results[e]} for e in engines}
    network_rows = {e: {(p, n): figures for p, n, *figures in networks[e]} for e in engines}
    for period, name, *_ in max([*networks.values(), *results.values()], key=len):
        cells: list[object] = [period, name]
        for engine_name in engines:
            clinic = clinic_rows[engine_name].get((period, name))
            cells += [round(v or 0, 1) for v in clinic] if clinic else ["", "", ""]
            if network_rows[engine_name]:
                cells += [round(v or 0, 1) for v in network_rows[engine_name][(period, name)]]
        rows.append(cells)
    headers = ["period", "report"]
    for engine_name in engines:
        headers += [f"{engine_name} {m} ms" for m in ("median", "worst", "raw rows")]
        if networks[engine_name]:
            headers += [f"{engine_name} network {m} ms" for m in
                        (f"median ({args.threads} threads)", "worst", "median (one at a time)")]
    title = f"{args.calls:,} calls, {args.appointments:,} appointments"
    if args.clinics > 1:
        title += f", {args.clinics} clinics (one clinic's reports, then the network's)"
    print_table(headers, rows, title=title)


def _run(url: str, name: str, args: argparse.Namespace) -> tuple[list[Figures], list[Figures]]:
    worlds, loaded, rolled = build(url, args.calls, args.appointments, args.patients, args.clinics)
    print(f"{name}: loaded in {loaded:.0f} s, roll-ups built in {rolled:.1f} s ({_load()})")
    clinic = measure(url, worlds[0], args.repeat)
    return clinic, measure_network(url, worlds, args.repeat, args.threads) if len(worlds) > 1 else []
