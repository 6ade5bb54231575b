"""Number requests from the site snippet: leases per second, latency, double assignments.

    python -m bench webtracking_leases [--db sqlite|postgresql] [--pool 1000] [--threads 16]
                                       [--seconds 10] [--workers 2]

Two layers, same private Redis:
1. the lease itself (leases.Leaser: one Lua script per request), from `--threads` threads in
   this process, every request a new visitor of a pool large enough that none falls back;
2. the whole endpoint, POST /wt/<key>/number under gunicorn (`--workers` gthread workers) with
   the database behind it: an ad burst of `--pool` new visitors (each gets a number: a visit row
   and a lease row written), then those visitors renewing for `--seconds`. The client is Python
   threads on the same machine, so its own cost is in the figures.
Afterwards the lease history is checked: two visitors never held one number at once.
"""

from __future__ import annotations

import argparse
import http.client
import json
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from bench.table import print_table
from callcenter.core import migrate
from callcenter.core.db import make_engine, make_session_factory
from callcenter.core.models import Channel, Clinic, Staff, StaffRole, TrackingNumber, WebLease
from callcenter.webtracking.leases import Leaser
from callcenter.webtracking.pools import PoolForm, pool_values, save_pool
from tests.services import Gunicorn, PostgresServer, RedisServer, postgres_bindir, redis_binary

SITE = "https://clinic.example"


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
    import redis

    leaser = Leaser(redis.Redis.from_url(redis_url))
    numbers = [f"+7499{i:07d}" for i in range(20_000)]
    held: dict[int, str | None] = {}

    def work(_t: int, i: int) -> None:
        held[i] = leaser.take(999, "v1", lambda: numbers, f"bench-{i:08d}", 1000.0, 300).e164

    leaser.take(999, "v1", lambda: numbers, "warm-up-visitor", 1000.0, 300)
    latencies, seconds = _run(threads, work, 15_000)
    taken = [n for n in held.values() if n]
    assert len(taken) == len(set(taken)), "a number was leased twice"
    return _figures("lease (Redis Lua)", latencies, seconds)


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


def _http_layer(url: str, redis_url: str, args: argparse.Namespace) -> tuple[list[list[object]], int]:
    key = _set_up(url, args.pool)
    env = {"DATABASE_URL": url, "REDIS_URL": redis_url, "CALLCENTER_SECRET_KEY": "bench",
           "CALLCENTER_WEBTRACKING_RATE": "100000000", "CALLCENTER_LOG_LEVEL": "WARNING"}
    visitors = [uuid.uuid4().hex for _ in range(args.pool)]
    visits: dict[str, int] = {}
    rows = []
    with Gunicorn("callcenter.wsgi:app", env, workers=args.workers, threads=8) as server:
        local = threading.local()

        def post(body: dict[str, object]) -> dict[str, object]:
            if not hasattr(local, "conn"):
                local.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            local.conn.request("POST", f"/wt/{key}/number", json.dumps(body),
                               {"Origin": SITE, "Content-Type": "text/plain"})
            answer = local.conn.getresponse()
            data = json.loads(answer.read())
            assert answer.status == 200, data
            return data

        def burst(_t: int, i: int) -> None:
            data = post({"visitor": visitors[i], "utm": {"utm_source": "google", "utm_campaign": "burst"},
                         "click_ids": {"gclid": f"Cj0-{i}"}})
            assert data["fallback"] is False, "the pool ran out in the burst"
            visits[visitors[i]] = int(data["visit"])  # type: ignore[call-overload]

        latencies, seconds = _run(args.threads, burst, args.pool)
        rows.append(_figures(f"endpoint: new visitors ({args.pool})", latencies, seconds))
        deadline = time.monotonic() + args.seconds
        renewals: list[float] = []
        begin = time.perf_counter()
        while time.monotonic() < deadline:
            part, _ = _run(args.threads, lambda _t, i: post({"visitor": visitors[i], "visit": visits[visitors[i]]}),
                           args.pool)
            renewals += part
        rows.append(_figures("endpoint: renewals", renewals, time.perf_counter() - begin))
    return rows, _overlaps(url)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench webtracking_leases")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pool", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    binary, _origin = redis_binary()
    if not binary:
        print("bench webtracking_leases: no redis-server")
        return 1
    redis_server = RedisServer(binary)
    redis_server.start()
    postgres = None
    try:
        rows = [_lease_layer(redis_server.url, args.threads)]
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
            url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='cc-wt-')) / 'bench.db'}"
        http_rows, overlaps = _http_layer(url, redis_server.url, args)
        rows += http_rows
    finally:
        redis_server.cleanup()
        if postgres is not None:
            postgres.cleanup()
    print_table(("layer", "requests", "per second", "p50 ms", "p99 ms", "max ms", "refused"), rows,
                title=f"web tracking number requests ({args.db}, {args.threads} client threads)")
    print(f"double assignments (overlapping leases of one number to two visitors): {overlaps}")
    return 0 if overlaps == 0 else 1
