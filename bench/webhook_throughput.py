"""Webhook pipeline vs a bare insert endpoint, side by side, same load tool (wrk), same gunicorn.

    python -m bench webhook_throughput [--db sqlite|postgresql|both] [--patients 100000]
                                       [--numbers 50] [--duration 15] [--connections 4,16]

Each POST to the pipeline is a distinct signed generic-webhook event (ringing, answered, ended of
distinct calls from real patients' numbers to the 50 tracking numbers), so every request does the
full work: verify, store raw, apply, match, attribute, publish. The baseline is a Flask endpoint
that inserts one row per POST. Each is measured at every connection count given; beside
requests/s and latency it prints the server's CPU per request: the CPU time of the gunicorn
master and workers (/proc/<pid>/stat, user + system) over the run, divided by the requests
answered. Needs `wrk` (apt-get install wrk).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.population import patient_phone, populate, tracking_number
from bench.table import print_table
from callcenter.core import migrate
from callcenter.core.db import make_engine, make_session_factory
from callcenter.core.models import Call, RawState, RawWebhook
from tests.services import Gunicorn, PostgresServer, RedisServer, postgres_bindir, redis_binary
from webhooks.hmac_signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

SECRET = "bench-secret"
EVENTS = ("ringing", "answered", "ended")


def _requests(count: int, patients: int, numbers: int,
              run: int = 0) -> list[tuple[str, dict[str, str]]]:
    """Pre-signed generic webhook requests: (body, headers); each run's calls are its own."""
    rng = random.Random(11 + run)
    now = int(time.time())
    out = []
    for call in range(count // len(EVENTS) + 1):
        caller = patient_phone(rng.randrange(patients))
        dialed = tracking_number(rng.randrange(numbers))
        for step, event in enumerate(EVENTS):
            payload = {"call_id": f"bench-{run}-{call}", "event": event, "direction": "inbound",
                       "from": caller, "to": dialed, "extension": "101",
                       "timestamp": now + step * 30}
            if event == "ended":
                payload["duration"] = 60
            body = json.dumps(payload, separators=(",", ":"))
            headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: str(now),
                       SIGNATURE_HEADER: sign(SECRET, now, body.encode())}
            out.append((body, headers))
    return out[:count]


LUA_TEMPLATE = """
-- Requests are read from a data file (one per line: headers JSON-free as name=value pairs joined
-- by \\t, then the body): a table literal of tens of thousands of entries exceeds LuaJIT's
-- constant limits.
local reqs = {}
for line in io.lines("%(data)s") do
  local fields = {}
  for field in string.gmatch(line, "[^\\t]+") do table.insert(fields, field) end
  local headers = {}
  for i = 1, #fields - 1 do
    local name, value = string.match(fields[i], "^([^=]+)=(.*)$")
    headers[name] = value
  end
  table.insert(reqs, { headers = headers, body = fields[#fields] })
end
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
local counter = 0
function request()
  -- thread t sends requests t, t+T, t+2T... so no two threads repeat one
  local index = (tid + counter * %(threads)d) %% #reqs + 1
  counter = counter + 1
  local r = reqs[index]
  return wrk.format("POST", "%(path)s", r.headers, r.body)
end
"""


def _lua(path: str, requests: list[tuple[str, dict[str, str]]], folder: Path, threads: int) -> Path:
    """A wrk script cycling through pre-signed requests kept in a data file beside it."""
    stem = path.strip("/").replace("/", "_")
    data = folder / f"{stem}.requests"
    with data.open("w") as out:
        for body, headers in requests:
            fields = [f"{name}={value}" for name, value in headers.items()]
            out.write("\t".join([*fields, body]) + "\n")
    script = folder / f"{stem}.lua"
    script.write_text(LUA_TEMPLATE % {"data": data, "threads": threads, "path": path})
    return script


def _cpu_seconds(master: int) -> float:
    """User + system CPU of a gunicorn master and its live workers so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    total = 0
    for pid in [str(master), *children]:
        # Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def _load() -> str:
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def _wrk(url: str, script: Path, duration: int, connections: int, threads: int,
         server: int) -> dict[str, float]:
    """wrk's figures, plus the server's CPU ms per request and the load average around the run."""
    load_before = _load()
    cpu_before = _cpu_seconds(server)
    result = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--latency",
         "-s", str(script), url],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"wrk against {url} exited with {result.returncode}: "
                           f"{(result.stderr or result.stdout).strip()[-2000:]}")
    cpu = _cpu_seconds(server) - cpu_before
    out = result.stdout
    figures: dict[str, Any] = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for pct in ("50", "90", "99"):
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(match.group(1)), match.group(2)
        figures[f"p{pct}"] = value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    total = re.search(r"(\d+) requests in", out)
    figures["requests"] = float(total.group(1)) if total else 0.0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    figures["errors"] = float(non2xx.group(1)) if non2xx else 0.0
    figures["cpu_ms"] = 1000 * cpu / figures["requests"] if figures["requests"] else 0.0
    figures["load"] = f"{load_before} → {_load()}"
    return figures


def _measure(backend: str, url_for: dict[str, str], redis_url: str, args: argparse.Namespace,
             folder: Path) -> list[list[object]]:
    migrate.upgrade(url_for["app"])
    started = time.monotonic()
    populate(url_for["app"], args.patients, args.numbers)
    print(f"[{backend}] populated {args.patients:,} patients, {args.numbers} numbers "
          f"in {time.monotonic() - started:.1f} s", flush=True)
    expected = int(args.duration * 3000) + 5000
    runs = {connections: _requests(expected, args.patients, args.numbers, run)
            for run, connections in enumerate(args.connections)}
    threads = 2
    bare_fig: dict[int, dict[str, Any]] = {}
    with Gunicorn("bench.bare_app:app", {"DATABASE_URL": url_for["bare"]}) as bare:
        for connections, requests in runs.items():
            bare_reqs = [(body, {"Content-Type": "application/json"}) for body, _ in requests[:2000]]
            bare_fig[connections] = _wrk(bare.base + "/bare", _lua("/bare", bare_reqs, folder, threads),
                                         args.duration, connections, threads, bare.proc.pid)
    env = {"DATABASE_URL": url_for["app"], "REDIS_URL": redis_url,
           "CALLCENTER_GENERIC_SECRET": SECRET, "CALLCENTER_INSTANCE_DIR": str(folder),
           "CALLCENTER_LOG_LEVEL": "WARNING", "CALLCENTER_SECRET_KEY": "bench",
           # All load comes from one address, as from one PBX; the per-source limit is not measured.
           "CALLCENTER_WEBHOOK_RATE": "100000000"}
    app_fig: dict[int, dict[str, Any]] = {}
    with Gunicorn("callcenter.wsgi:app", env) as app:
        for connections, requests in runs.items():
            app_fig[connections] = _wrk(
                app.base + "/webhooks/generic", _lua("/webhooks/generic", requests, folder, threads),
                args.duration, connections, threads, app.proc.pid)
    engine = make_engine(url_for["app"])
    with make_session_factory(engine)() as session:
        calls = session.scalar(select(func.count(Call.id)))
        failed = session.scalar(select(func.count(RawWebhook.id))
                                .where(RawWebhook.state != RawState.PROCESSED))
        first_error = session.scalar(select(RawWebhook.error)
                                     .where(RawWebhook.state != RawState.PROCESSED).limit(1))
    engine.dispose()
    rows = []
    for connections in runs:
        bare_row, app_row = bare_fig[connections], app_fig[connections]
        ratio = 100.0 * app_row["rps"] / bare_row["rps"]
        for name, fig, share in (("bare insert", bare_row, "100 %"),
                                 ("webhook pipeline", app_row, f"{ratio:.0f} %")):
            rows.append([backend, name, connections, fig["rps"], fig["p50"], fig["p90"], fig["p99"],
                         int(fig["errors"]), f"{fig['cpu_ms']:.2f}", share, fig["load"]])
    print(f"[{backend}] pipeline stored {calls:,} calls; raw webhooks not processed: {failed}"
          + (f" (first error: {first_error})" if failed else ""), flush=True)
    if any(app_fig[c]["requests"] > len(runs[c]) for c in runs):
        print(f"[{backend}] note: wrk sent more requests than were prepared; the rest were "
              "redeliveries (dedupe path)")
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench webhook_throughput")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--numbers", type=int, default=50)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", default="4,16",
                        help="wrk connection counts, comma-separated: one run each")
    args = parser.parse_args(argv)
    args.connections = [int(count) for count in args.connections.split(",")]
    if not shutil.which("wrk"):
        print("bench webhook_throughput: wrk not found (apt-get install wrk)")
        return 2
    binary, _origin = redis_binary()
    redis = RedisServer(binary)  # type: ignore[arg-type]
    redis.start()
    rows: list[list[object]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="cc-bench-") as tmp:
            folder = Path(tmp)
            if args.db in ("sqlite", "both"):
                rows += _measure("sqlite", {"app": f"sqlite:///{folder}/app.db",
                                            "bare": f"sqlite:///{folder}/bare.db"},
                                 redis.url, args, folder)
            if args.db in ("postgresql", "both"):
                bindir = postgres_bindir()
                if bindir is None:
                    print("PostgreSQL binaries not found: skipping the PostgreSQL run")
                else:
                    pg = PostgresServer(bindir)
                    pg.init()
                    pg.start()
                    try:
                        rows += _measure("postgresql", {"app": pg.create_database("bench_app"),
                                                        "bare": pg.create_database("bench_bare")},
                                         redis.url, args, folder)
                    finally:
                        pg.cleanup()
    finally:
        redis.cleanup()
    print_table(["db", "endpoint", "connections", "requests/s", "p50 ms", "p90 ms", "p99 ms",
                 "non-2xx", "server CPU ms/request", "vs bare", "load average (1/5/15 min)"],
                rows, title=f"Webhook throughput: gunicorn 2 workers x 4 threads, wrk 2 threads, "
                            f"{args.duration} s per run, "
                            f"{args.patients:,} patients, {args.numbers} tracking numbers")
    return 0
