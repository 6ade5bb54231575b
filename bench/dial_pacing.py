"""Dialer pacing against sipp: achieved calls per second under a CPS limit, never above it.

    python -m bench dial_pacing [--calls 150] [--cps 5] [--channels 20] [--workers 16]

Real pieces: Redis, SQLite, `python worker.py` processes dialing over SIP (pyVoIP), sipp as the
PBX and the patients' phones (each answers, then hangs up). The INVITE times are taken from
sipp's own message trace. The limiter is pacing.Pacer, shared by all workers through Redis.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from bisect import bisect_left
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from bench.table import print_table
from callcenter.core import migrate
from callcenter.core.db import make_engine, make_session_factory
from callcenter.core.models import DialTask, TaskState
from tests.campaign_env import clinic_with_visits, start_worker, stop_worker, worker_env
from tests.services import RedisServer, redis_binary
from tests.sipp import scenarios
from tests.sipp.phone import SippPhone, sipp_binary

FINAL = (TaskState.DONE, TaskState.FAILED, TaskState.CANCELLED)


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """Most INVITEs inside any window of `window` seconds (half-open, sliding over every start)."""
    return max((bisect_left(times, t + window) - i for i, t in enumerate(times)), default=0)


def max_in_second(times: list[float]) -> int:
    """Most INVITEs in one whole second counted from the first (how a carrier's meter would see it)."""
    buckets: dict[int, int] = {}
    for t in times:
        buckets[int(t)] = buckets.get(int(t), 0) + 1
    return max(buckets.values(), default=0)


def peak_concurrency(phone: SippPhone) -> int:
    """Most calls between their INVITE and BYE at once, from sipp's trace."""
    invites = [t for t, _ in phone.received("INVITE")]
    byes = [t for t, _ in phone.received("BYE") + phone.sent("BYE")]
    events = sorted([(t, 1) for t in invites] + [(t, -1) for t in byes])
    peak = current = 0
    for _, step in events:
        current += step
        peak = max(peak, current)
    return peak


def run(calls: int, cps: float, channels: int, workers: int, folder: Path) -> list[object]:
    binary, _ = redis_binary()
    if binary is None or sipp_binary() is None or shutil.which("espeak-ng") is None:
        raise SystemExit("needs redis-server, sipp (sip-tester), espeak-ng and sox")
    redis_server = RedisServer(binary)
    redis_server.start()
    url = f"sqlite:///{folder / 'pacing.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with sessions() as session:
        clinic_with_visits(session, [f"+7903{n:07d}" for n in range(calls)])
    # Patients answer and hang up at once: short calls, so the limiter is what binds, not the
    # call length; one attempt each, so every INVITE is a first attempt.
    phone = SippPhone(scenarios.hangs_up_early(), folder, "patients").start()
    env = worker_env(url, redis_server.url, folder, CALLCENTER_DIAL_MODE="sip",
                     CALLCENTER_SIP_SERVER="127.0.0.1", CALLCENTER_SIP_PORT=str(phone.port),
                     CALLCENTER_SIP_USER="201", CALLCENTER_DIAL_CPS=str(cps),
                     CALLCENTER_DIAL_CHANNELS=str(channels), CALLCENTER_DIAL_REQUEUE_AFTER="120",
                     CALLCENTER_DIAL_ATTEMPT_TIMEOUT="120", CALLCENTER_DIAL_MAX_ATTEMPTS="1",
                     CALLCENTER_LOG_LEVEL="WARNING")
    procs = [start_worker(env, folder / f"worker{i}.log", "dial", "default") for i in range(workers)]
    try:
        deadline = time.monotonic() + calls / cps * 3 + 120
        while time.monotonic() < deadline:
            with sessions() as session:
                states = session.scalars(select(DialTask.state)).all()
            if len(states) == calls and all(s in FINAL for s in states):
                break
            time.sleep(1)
    finally:
        for proc in procs:
            stop_worker(proc)
        phone.stop()
        redis_server.cleanup()
        engine.dispose()
    stamps = sorted(t for t, _ in phone.received("INVITE"))
    times = [(t - stamps[0]).total_seconds() for t in stamps]
    achieved = (len(times) - 1) / times[-1] if len(times) > 1 and times[-1] > 0 else 0.0
    return [cps, channels, workers, len(times), round(times[-1], 2) if times else 0, f"{achieved:.3f}",
            f"{(achieved - cps) / cps * 100:+.1f} %", max_in_second(times), max_in_window(times),
            peak_concurrency(phone),
            _started(stamps)]


def _started(stamps: list[datetime]) -> str:
    return stamps[0].strftime("%H:%M:%S") if stamps else "-"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench dial_pacing")
    parser.add_argument("--calls", type=int, default=150)
    parser.add_argument("--cps", type=float, default=5.0)
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cc-bench-pacing-") as folder:
        row = run(args.calls, args.cps, args.channels, args.workers, Path(folder))
    print_table(["CPS limit", "channels", "workers", "INVITEs", "first→last s", "achieved CPS",
                 "vs limit", "max per second", "max in any sliding 1 s", "peak calls up", "started"], [row],
                title="SIP dialer pacing against sipp (target: within 5 % of the limit, never above)")
    return 0
