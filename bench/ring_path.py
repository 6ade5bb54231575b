"""Latency of the two requests a PBX makes while the phone rings, one at a time, as the PBX does.

    python -m bench ring_path [--db sqlite|postgresql|both] [--patients 100000] [--requests 500]

* 3CX contact lookup: GET /3cx/lookup?number=... (one indexed query + the audit row);
* Zadarma NOTIFY_START: POST /webhooks/zadarma through the whole pipeline (raw row, verify,
  parse, call row, patient match, attribution, desk event).
Each request uses a different patient's number, against gunicorn on loopback.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import random
import statistics
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from bench.population import patient_phone, populate, tracking_number
from bench.table import print_table
from callcenter.core import migrate
from tests.services import Gunicorn, PostgresServer, RedisServer, postgres_bindir, redis_binary

KEY_3CX = "bench-3cx-key"
ZADARMA_SECRET = "bench-zadarma-secret"


def _lookup(base: str, number: str) -> urllib.request.Request:
    return urllib.request.Request(f"{base}/3cx/lookup?{urlencode({'number': number})}",
                                  headers={"X-Api-Key": KEY_3CX})


def _notify_start(base: str, number: str, index: int) -> urllib.request.Request:
    # Each call starts at its own second: Zadarma's signed facts (caller, DID, start) name one
    # call, so two calls from one number at one instant would be refused as a replay.
    start = datetime(2024, 5, 1, 13) + timedelta(seconds=index)
    form = {"event": "NOTIFY_START", "call_start": start.strftime("%Y-%m-%d %H:%M:%S"),
            "pbx_call_id": f"in_bench_{index}", "caller_id": number.lstrip("+"),
            "called_did": tracking_number(index % 50).lstrip("+")}
    signed = form["caller_id"] + form["called_did"] + form["call_start"]
    digest = hmac.new(ZADARMA_SECRET.encode(), signed.encode(), hashlib.sha1).hexdigest()
    return urllib.request.Request(
        f"{base}/webhooks/zadarma", data=urlencode(form).encode(), method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded",
                 "Signature": base64.b64encode(digest.encode()).decode()})


def _timed(requests: list[urllib.request.Request]) -> list[float]:
    times = []
    for request in requests:
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{request.full_url}: HTTP {response.status}")
        times.append((time.perf_counter() - started) * 1000)
    return times


def _row(backend: str, name: str, times: list[float]) -> list[object]:
    cuts = statistics.quantiles(times, n=100)
    return [backend, name, len(times), cuts[49], cuts[94], cuts[98], max(times)]


def _measure(backend: str, url: str, redis_url: str, args: argparse.Namespace,
             folder: Path) -> list[list[object]]:
    migrate.upgrade(url)
    populate(url, args.patients, 50)
    rng = random.Random(5)
    numbers = [patient_phone(rng.randrange(args.patients)) for _ in range(args.requests)]
    env = {"DATABASE_URL": url, "REDIS_URL": redis_url, "CALLCENTER_INSTANCE_DIR": str(folder),
           "CALLCENTER_LOG_LEVEL": "WARNING", "CALLCENTER_SECRET_KEY": "bench",
           "CALLCENTER_3CX_SECRET": KEY_3CX, "CALLCENTER_ZADARMA_SECRET": ZADARMA_SECRET}
    with Gunicorn("callcenter.wsgi:app", env) as app:
        _timed([_lookup(app.base, n) for n in numbers[:20]])  # warm the workers up
        lookups = _timed([_lookup(app.base, n) for n in numbers])
        starts = _timed([_notify_start(app.base, n, i) for i, n in enumerate(numbers)])
    return [_row(backend, "3CX lookup", lookups), _row(backend, "Zadarma NOTIFY_START", starts)]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench ring_path")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args(argv)
    binary, _origin = redis_binary()
    redis = RedisServer(binary)  # type: ignore[arg-type]
    redis.start()
    rows: list[list[object]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="cc-bench-") as tmp:
            folder = Path(tmp)
            if args.db in ("sqlite", "both"):
                rows += _measure("sqlite", f"sqlite:///{folder}/app.db", redis.url, args, folder)
            bindir = postgres_bindir() if args.db in ("postgresql", "both") else None
            if args.db != "sqlite" and bindir is None:
                print("PostgreSQL binaries not found: skipping the PostgreSQL run")
            if bindir is not None:
                pg = PostgresServer(bindir)
                pg.init()
                pg.start()
                try:
                    rows += _measure("postgresql", pg.create_database("bench_ring"), redis.url,
                                     args, folder)
                finally:
                    pg.cleanup()
    finally:
        redis.cleanup()
    print_table(["db", "request", "n", "p50 ms", "p95 ms", "p99 ms", "max ms"], rows,
                title=f"Ring-path latency, one request at a time, {args.patients:,} patients")
    return 0
