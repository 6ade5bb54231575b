"""Number requests from the site snippet: leases per second, latency, double assignments.

    python -m bench webtracking_leases [--db sqlite|postgresql] [--pool 20000] [--seconds 10]
                                       [--workers 2] [--threads 4] [--connections 16]
                                       [--rate 1050] [--paced-connections 64]

Two layers, same private Redis:
1. the lease itself (leases.Leaser: one Lua script per request), from `--threads` Python threads,
   every request a new visitor of a pool large enough that none falls back;
2. the whole endpoint, POST /wt/<key>/number under gunicorn (`--workers` gthread workers × 8
   threads) driven by wrk: flat out over `--connections` connections, an ad burst of new
   visitors for `--seconds` (each gets a number of a `--pool` pool: a visit and a lease recorded
   in Redis), then returning visitors (the first thousand of them again, each a new page view
   keeping its number) for as long; then new visitors arriving at `--rate` a second (each of
   `--paced-connections` visitors in flight waits a random time before the next request), whose
   latency is the target's: flat out, the latency is mostly the queue wrk itself keeps full. Then the records are written to the database as the worker does
   (records.flush, timed), and the lease history is checked: two visitors never held one number
   at once. The load average is printed beside the figures; the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import redis
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from bench.table import print_table
from bench.webhook_throughput import _wrk
from callcenter.core import migrate
from callcenter.core.db import make_engine, make_session_factory
from callcenter.core.models import Channel, Clinic, Staff, StaffRole, TrackingNumber, WebLease
from callcenter.webtracking.leases import RECORDS, Ask, Leaser
from callcenter.webtracking.pools import PoolForm, pool_values, save_pool
from callcenter.webtracking.records import flush
from tests.services import Gunicorn, PostgresServer, RedisServer, postgres_bindir, redis_binary

SITE = "https://clinic.example"
# wrk's script: each request a visitor of its own (`%(prefix)s<thread>-<n>`), or one of the
# first `%(cycle)d` again when cycle > 0 (returning visitors). With think > 0 each connection
# waits a random time (exponential, mean `think` ms) before its next request: many independent
# visitors arriving at a steady rate, rather than as many requests as the server can answer.
LUA = """
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
local counter = 0
function request()
  counter = counter + 1
  local n = counter
  if %(cycle)d > 0 then n = counter %% %(cycle)d end
  local body = '{"visitor":"%(prefix)s' .. tid .. '-' .. n .. '-visitor","utm":{"utm_source":"google",' ..
    '"utm_medium":"cpc","utm_campaign":"burst"},"click_ids":{"gclid":"Cj0-' .. n .. '"},' ..
    '"landing_url":"https://clinic.example/implants"}'
  return wrk.format("POST", "%(path)s", {["Origin"] = "%(site)s", ["Content-Type"] = "text/plain"}, body)
end
if %(think)f > 0 then
  function delay()
    return -math.log(1 - math.random()) * %(think)f
  end
end
"""


def _figures(name: str, latencies: list[float], seconds: float, refused: int = 0) -> list[object]:
    ordered = sorted(latencies)
    p = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return [name, len(ordered), len(ordered) / seconds, p(0.5), p(0.99), ordered[-1] * 1000, refused]


def _run(threads: int, work: Callable[[int, int], None], count: int) -> tuple[list[float], float]:
    """`count` calls of work(thread, i) spread over threads; their latencies and the wall time."""
    latencies: list[list[float]] = [[] for _ in range(threads)]

    def loop(t: int) -> None:
        for i in range(t, count, threads):
            start = time.perf_counter()
            work(t, i)
            latencies[t].append(time.perf_counter() - start)

    begin = time.perf_counter()
    pool = [threading.Thread(target=loop, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return [x for part in latencies for x in part], time.perf_counter() - begin


def _lease_layer(redis_url: str, threads: int) -> list[object]:
    leaser = Leaser(redis.Redis.from_url(redis_url))
    numbers = [f"+7499{i:07d}" for i in range(20_000)]
    held: dict[int, str | None] = {}

    def ask(visitor: str) -> Ask:
        return Ask(999, 1, "v1", visitor, None, "{}", "+74990000000", 1000.0, 300)

    def work(_t: int, i: int) -> None:
        held[i] = leaser.take(ask(f"bench-{i:08d}"), lambda: numbers, lambda: (0, 0)).e164

    leaser.take(ask("warm-up-visitor"), lambda: numbers, lambda: (0, 0))
    latencies, seconds = _run(threads, work, 15_000)
    taken = [n for n in held.values() if n]
    assert len(taken) == len(set(taken)), "a number was leased twice"
    leaser.client.delete(RECORDS)  # of a pool that is not in the database
    return _figures("lease (Redis Lua), Python threads", latencies, seconds)


def _set_up(url: str, pool_size: int) -> str:
    migrate.upgrade(url)
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        clinic = Clinic(name="Bench", timezone="Europe/Moscow", locale="en", region="RU")
        channel = Channel(code="website", name="Website")
        session.add_all([clinic, channel])
        session.flush()
        session.add(Staff(clinic_id=clinic.id, role=StaffRole.ADMIN, login="bench", first_name="B",
                          last_name="Admin"))
        rows = [TrackingNumber(clinic_id=clinic.id, e164=f"+7495{i:07d}", channel_id=channel.id)
                for i in range(pool_size + 1)]
        session.add_all(rows)
        session.flush()
        form = PoolForm(name="Site", sites=SITE, number_ids=[str(r.id) for r in rows[1:]],
                        fallback_number_id=str(rows[0].id), hold_minutes="5", grace_minutes="3")
        values, problems = pool_values(session, form, clinic, None)
        assert values is not None, problems
        key = save_pool(session, clinic, None, values).key
        session.commit()
    engine.dispose()
    return key


def _overlaps(url: str) -> int:
    """Pairs of leases of one number to two visitors that overlap in time."""
    engine = make_engine(url)
    other = aliased(WebLease)
    with make_session_factory(engine)() as session:
        count = session.scalar(select(func.count()).select_from(WebLease).join(
            other, (other.e164 == WebLease.e164) & (other.id > WebLease.id)
            & (other.visitor != WebLease.visitor) & (other.started_at < WebLease.expires_at)
            & (WebLease.started_at < other.expires_at))
            .where(WebLease.fallback.is_(False), other.fallback.is_(False))) or 0
    engine.dispose()
    return count


def _script(folder: Path, key: str, prefix: str, cycle: int, think: float = 0.0) -> Path:
    script = folder / f"{prefix}.lua"
    script.write_text(LUA % {"prefix": prefix, "cycle": cycle, "path": f"/wt/{key}/number", "site": SITE,
                             "think": think})
    return script


def _http_layer(url: str, redis_url: str, args: argparse.Namespace,
                folder: Path) -> tuple[list[list[object]], int, str]:
    key = _set_up(url, args.pool)
    env = {"DATABASE_URL": url, "REDIS_URL": redis_url, "CALLCENTER_SECRET_KEY": "bench",
           "CALLCENTER_WEBTRACKING_RATE": "100000000", "CALLCENTER_LOG_LEVEL": "WARNING"}
    rows: list[list[object]] = []
    with Gunicorn("callcenter.wsgi:app", env, workers=args.workers, threads=8) as server:
        target = f"{server.base}/wt/{key}/number"
        _wrk(target, _script(folder, key, "warm", 50), 2, 4, 1, server.proc.pid)  # each worker reads the pool once
        # As many requests as the server answers (its capacity; the latency is the queue of
        # `connections` requests), then new visitors arriving at --rate (the latency at that rate).
        paced = args.paced_connections
        think = paced * 1000 / args.rate
        for name, prefix, cycle, connections, wait in (
                ("endpoint: new visitors (ad burst), flat out", "n", 0, args.connections, 0.0),
                ("endpoint: returning visitors, flat out", "n", 1000, args.connections, 0.0),
                (f"endpoint: new visitors arriving at {args.rate:,}/s", "p", 0, paced, think)):
            load = os.getloadavg()[0]
            fig = _wrk(target, _script(folder, key, prefix, cycle, wait), args.seconds, connections,
                       args.threads, server.proc.pid)
            rows.append([name, int(fig["requests"]), fig["rps"], fig["p50"], fig["p99"],
                         int(fig["errors"]), round(fig["cpu_ms"], 2),
                         f"{load:.1f} → {os.getloadavg()[0]:.1f}"])
    engine = make_engine(url)
    client = redis.Redis.from_url(redis_url)
    waiting = client.xlen(RECORDS)
    begin = time.perf_counter()
    with make_session_factory(engine)() as session:
        written = flush(session, client)
    took = time.perf_counter() - begin
    engine.dispose()
    note = (f"records waiting in Redis after the run: {waiting:,}; written to the database by "
            f"records.flush in {took:.1f} s ({written / took if took else 0:,.0f} per second)")
    return rows, _overlaps(url), note


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench webtracking_leases")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pool", type=int, default=20_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4, help="wrk threads (and lease-layer threads)")
    parser.add_argument("--connections", type=int, default=16, help="of the flat-out runs")
    parser.add_argument("--rate", type=int, default=1050,
                        help="new visitors per second offered in the paced run (a little over the "
                             "1,000/s target: the think time does not count the answer's own time)")
    parser.add_argument("--paced-connections", type=int, default=64,
                        help="visitors in flight in the paced run")
    args = parser.parse_args(argv)
    binary, _origin = redis_binary()
    if not binary or not shutil.which("wrk"):
        print("bench webtracking_leases: needs redis-server and wrk (apt-get install wrk)")
        return 1
    redis_server = RedisServer(binary)
    redis_server.start()
    postgres = None
    folder = Path(tempfile.mkdtemp(prefix="cc-wt-"))
    try:
        load = os.getloadavg()[0]
        rows = [[*_lease_layer(redis_server.url, args.threads)[:5], 0, "",
                 f"{load:.1f} → {os.getloadavg()[0]:.1f}"]]
        if args.db == "postgresql":
            bindir = postgres_bindir()
            if not bindir:
                print("bench webtracking_leases: no PostgreSQL binaries")
                return 1
            postgres = PostgresServer(bindir)
            postgres.init()
            postgres.start()
            url = postgres.create_database("bench_webtracking")
        else:
            url = f"sqlite:///{folder / 'bench.db'}"
        http_rows, overlaps, note = _http_layer(url, redis_server.url, args, folder)
        rows += http_rows
    finally:
        redis_server.cleanup()
        if postgres is not None:
            postgres.cleanup()
        shutil.rmtree(folder, ignore_errors=True)
    print_table(("layer", "requests", "per second", "p50 ms", "p99 ms", "non-2xx",
                 "server CPU ms / request", "load avg"), rows,
                title=f"web tracking number requests ({args.db}; gunicorn {args.workers} workers × 8 "
                      f"threads, wrk {args.threads} threads × {args.connections} connections flat out, "
                      f"{args.paced_connections} paced); "
                      "target ≥ 1,000/s, p99 ≤ 20 ms, 0 double assignments")
    print(note)
    print(f"double assignments (overlapping leases of one number to two visitors): {overlaps}")
    return 0 if overlaps == 0 else 1
