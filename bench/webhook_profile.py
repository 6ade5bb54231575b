"""Where a webhook's time goes: the pipeline in one process under cProfile, statements counted.

    python -m bench webhook_profile [--db sqlite|postgresql] [--patients 100000] [--requests 3000]
                                    [--top 30]

The same signed generic events as `bench webhook_throughput` (ringing, answered, ended of distinct
calls), posted through the Flask app in this process (no HTTP server, no wrk), after a warm-up.
Prints the CPU per webhook without the profiler and the part of it spent holding the write guard
(SQLite's one writer), then under cProfile: the process CPU per webhook, the SQL statements per
webhook by event kind (SQLAlchemy's `before_cursor_execute` plus the statements `core.driver_sql`
runs on the bare cursor), the statements themselves by count, and the functions that take the
time (own time, then cumulative).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bench.population import populate
from bench.services import private_services
from bench.webhook_throughput import SECRET, _requests
from callcenter import create_app
from callcenter.core import driver_sql, migrate

WARM_UP = 150


class Statements:
    """Counts the SQL statements the engine sends, by their text with literals and lists folded."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self.total = 0

    def __call__(self, statement: str) -> None:
        self.total += 1
        folded = re.sub(r"\s+", " ", statement)
        self.seen[re.sub(r"\((?:[^()]|\([^()]*\))*\)", "(…)", folded)[:150]] += 1


def _profile(url: str, redis_url: str, args: argparse.Namespace, folder: Path) -> None:
    migrate.upgrade(url)
    populate(url, args.patients, 50)
    app = create_app({"DATABASE_URL": url, "REDIS_URL": redis_url, "INSTANCE_DIR": str(folder),
                      "SECRET_KEY": "bench", "GENERIC_SECRET": SECRET, "LOG_LEVEL": "WARNING",
                      "WEBHOOK_RATE": 100_000_000})
    statements = Statements()
    event.listen(app.extensions["callcenter"].engine, "before_cursor_execute",
                 lambda _conn, _cursor, statement, *_args: statements(statement))
    # The hot path's statements run on the driver's cursor, which SQLAlchemy's events do not see:
    # count them where they are run (SQLite's own trace repeats a statement per trigger).
    run = driver_sql.Statement._run

    def counted(self: driver_sql.Statement, conn: Any, plan: Any, params: Any) -> Any:
        statements(plan.sql)
        return run(self, conn, plan, params)

    driver_sql.Statement._run = counted  # type: ignore[method-assign]
    client = app.test_client()
    requests = _requests(WARM_UP + args.requests, args.patients, 50)

    def post(body: str, headers: dict[str, str]) -> None:
        answer = client.post("/webhooks/generic", data=body, headers=headers)
        if answer.status_code != 204:
            raise RuntimeError(f"webhook answered {answer.status_code}: {answer.get_data(as_text=True)}")

    for body, headers in requests[:WARM_UP]:
        post(body, headers)
    _time_unprofiled(app.extensions["callcenter"], post, requests[WARM_UP:WARM_UP + args.requests])
    requests = _requests(WARM_UP + args.requests, args.patients, 50, run=1)  # new calls again
    by_kind: dict[str, list[int]] = {}
    statements.seen.clear()
    profiler = cProfile.Profile()
    cpu_started, wall_started = time.process_time(), time.perf_counter()
    profiler.enable()
    for body, headers in requests[WARM_UP:]:
        before = statements.total
        post(body, headers)
        by_kind.setdefault(json.loads(body)["event"], []).append(statements.total - before)
    profiler.disable()
    cpu, wall = time.process_time() - cpu_started, time.perf_counter() - wall_started
    count = len(requests) - WARM_UP
    load = "/".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"\n{count} webhooks in one process: {1000 * cpu / count:.2f} ms CPU and "
          f"{1000 * wall / count:.2f} ms wall each, under cProfile (load average {load})")
    print("SQL statements per webhook: " + ", ".join(
        f"{kind} {sum(counts) / len(counts):.1f}" for kind, counts in by_kind.items()))
    print("\nStatements by count (per webhook):")
    for text, seen in statements.seen.most_common(20):
        print(f"  {seen / count:5.2f}  {text}")
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(args.top)
        print(f"\nBy {order}:\n" + out.getvalue().split("\n\n", 2)[-1])
    app.extensions["callcenter"].close()


def _time_unprofiled(runtime: Any, post: Any, requests: list[tuple[str, dict[str, str]]]) -> None:
    """CPU per webhook without the profiler, and the part of it spent holding the database's
    write guard. On SQLite that part is the pipeline's ceiling: the guard admits one writer at a
    time across every process, so no number of threads or processes passes 1 / (time held)."""
    held = [0.0, 0.0]  # thread CPU, wall
    guard = runtime.write_guard

    @contextlib.contextmanager
    def timed() -> Any:
        with guard():
            cpu, wall = time.thread_time(), time.perf_counter()
            try:
                yield
            finally:
                held[0] += time.thread_time() - cpu
                held[1] += time.perf_counter() - wall

    runtime.write_guard = timed
    cpu_started = time.thread_time()
    try:
        for body, headers in requests:
            post(body, headers)
    finally:
        del runtime.write_guard
    cpu, count = time.thread_time() - cpu_started, len(requests)
    print(f"\n{count} webhooks in one process, no profiler: {1000 * cpu / count:.3f} ms CPU each "
          f"(the test client's own work included), {1000 * held[0] / count:.3f} ms CPU "
          f"({1000 * held[1] / count:.3f} ms wall) of it holding the write guard "
          f"(load average {'/'.join(f'{v:.1f}' for v in os.getloadavg())})")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench webhook_profile", description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args(argv)
    with private_services("webhook_profile", args.db) as (url, redis_url, folder):
        _profile(url, redis_url, args, folder)
    return 0
