"""How the benches' times grow with the population, so a clinic network can size its machines.

    python -m bench scale [--db sqlite|postgresql] [--sizes 10000,100000,1000000]

For each size N, on a fresh database: the analytics world of `analytics_queries` with N calls
(0.3 N appointments, 0.15 N patients): load, roll-up build, and the year view (every report, by
month) from the roll-ups against the same reports from the raw rows; then the outbound lists of
`campaign_lists` for N patients and 10 N treatments: load and all five builders. One table, one
row per size, the load average beside each.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import analytics_queries, campaign_lists
from bench.table import print_table
from callcenter.analytics import RAW_BUILDS, REPORTS, Filters, Granularity
from callcenter.core import migrate
from callcenter.core.db import make_engine, make_session_factory
from tests.services import PostgresServer, postgres_bindir

YEAR = (analytics_queries.LAST_DAY.replace(year=analytics_queries.LAST_DAY.year - 1),
        analytics_queries.LAST_DAY)


@contextmanager
def _database(db: str, name: str) -> Iterator[str]:
    if db == "sqlite":
        with tempfile.TemporaryDirectory(prefix="cc-bench-scale-") as folder:
            yield f"sqlite:///{Path(folder) / 'bench.db'}"
        return
    bindir = postgres_bindir()
    if bindir is None:
        raise SystemExit("postgresql: no server binaries (apt-get install postgresql)")
    server = PostgresServer(bindir)
    server.init()
    server.start()
    try:
        yield server.create_database(name)
    finally:
        server.cleanup()


def _year_ms(url: str, clinic: int, builds: dict[str, Callable]) -> tuple[float, float]:
    """(slowest report, all reports) of the year view, ms, after one warm-up run."""
    flt = Filters(clinic_id=clinic, tz=analytics_queries.ZONE, start=YEAR[0], end=YEAR[1],
                  granularity=Granularity.MONTH)
    engine = make_engine(url)
    times = []
    with make_session_factory(engine)() as session:
        for build in builds.values():
            build(session, flt)
            began = time.perf_counter()
            build(session, flt)
            times.append((time.perf_counter() - began) * 1000)
    engine.dispose()
    return max(times), sum(times)


def analytics_row(db: str, size: int) -> list[object]:
    with _database(db, "bench_scale_analytics") as url:
        world, loaded, rolled = analytics_queries.build(url, size, size * 3 // 10, max(size * 15 // 100, 100))
        slowest, total = _year_ms(url, world.clinic_id, {n: r.build for n, r in REPORTS.items()})
        raw_slowest, raw_total = _year_ms(url, world.clinic_id, RAW_BUILDS)
    return [f"{size:,} calls", round(loaded), round(rolled, 1), round(slowest), round(total),
            round(raw_slowest), round(raw_total), f"{os.getloadavg()[0]:.1f}"]


def lists_row(db: str, size: int) -> list[object]:
    with _database(db, "bench_scale_lists") as url:
        migrate.upgrade(url)
        # The visits in campaign_lists' proportion: 30,000 for 100,000 patients.
        loaded = campaign_lists.prepare(url, size, size * 10, max(size * 3 // 10, 100))
        rows = {row[0]: row for row in campaign_lists.measure(url, 1)}
    built, saved = rows["all five builders"], rows["all five + insert (first run)"]
    return [f"{size:,} patients, {size * 10:,} treatments", round(loaded), built[1],
            round(float(built[2])), round(float(saved[2])), f"{os.getloadavg()[0]:.1f}"]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench scale")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--only", choices=("analytics", "lists"))
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.only != "lists":
        rows = [analytics_row(args.db, size) for size in sizes]
        print_table(["calls", "load s", "roll-ups built s", "year: slowest report ms",
                     "year: all reports ms", "raw rows: slowest ms", "raw rows: all ms", "load avg"],
                    rows, title=f"Analytics by size on {args.db}")
    if args.only != "analytics":
        rows = [lists_row(args.db, size) for size in sizes]
        print_table(["population", "load s", "tasks", "all five builders ms", "all five + insert ms",
                     "load avg"], rows,
                    title=f"Outbound lists by size on {args.db}")
    return 0
