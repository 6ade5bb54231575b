"""Dialer pacing against sipp: achieved calls per second under a CPS limit, never above it, and
how soon each task reaches its final state after its call ended.

    python -m bench dial_pacing [--calls 150] [--cps 5 30] [--channels 20] [--workers 2] [--busy]

Real pieces: Redis, SQLite, `python worker.py dial default` processes dialing over SIP (pyVoIP),
sipp as the PBX and the patients' phones (each answers, then hangs up). The INVITE and BYE times
are taken from sipp's own message trace; a task's final time is its row's last update. The
limiter is pacing.Pacer, shared by all workers through Redis. `--busy` runs CPU burners beside
it until the load average is about 4 (`--load`), the way other work on a shared machine does.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from bisect import bisect_left
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from bench.memory import Sampler
from bench.table import print_table
from callcenter.core import migrate
from callcenter.core.db import make_engine, make_session_factory
from callcenter.core.models import DialAttempt, DialTask, TaskState
from tests.campaign_env import clinic_with_visits, start_worker, stop_worker, worker_env
from tests.services import RedisServer, redis_binary
from tests.sipp import scenarios
from tests.sipp.phone import SippPhone, sipp_binary

FINAL = (TaskState.DONE, TaskState.FAILED, TaskState.CANCELLED)
BURN = "import os\nos.nice(1)\nwhile True:\n    pass\n"


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


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))] if ordered else 0.0


def call_ends(phone: SippPhone) -> dict[str, datetime]:
    """Each call's end (its first BYE either way) in UTC, by SIP Call-ID."""
    ends: dict[str, datetime] = {}
    for direction in ("message sent", "message received"):
        for stamp, _, call_id in phone.requests_with_call_id("BYE", direction):
            moment = stamp.astimezone(UTC)  # sipp stamps its trace in local time
            if call_id not in ends or moment < ends[call_id]:
                ends[call_id] = moment
    return ends


def final_lags(sessions: object, phone: SippPhone) -> list[float]:
    """Seconds from each call's end to its task's final state."""
    ends = call_ends(phone)
    with sessions() as session:  # type: ignore[operator]
        rows = session.execute(select(DialAttempt.provider_call_id, DialTask.updated_at)
                               .join(DialTask, DialTask.id == DialAttempt.task_id)
                               .where(DialTask.state.in_(FINAL))).all()
    lags = []
    for provider_call_id, final_at in rows:
        sip_call_id = (provider_call_id or "").split(":", 1)[-1]
        if sip_call_id in ends:
            lags.append((final_at - ends[sip_call_id]).total_seconds())
    return lags


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


@contextmanager
def busy_machine(target: float) -> Iterator[None]:
    """Other work beside the run: CPU burners enough that, with what else runs now, `target`
    processes want the CPU, then a wait until the 1-minute load average shows it. The count is
    taken from the processes running this instant (/proc/loadavg), not from the load average,
    which lags: topping up while it climbed started 6 burners for a target of 4 and put the
    load at 7–10 once the run's own processes joined."""
    running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0]) - 1  # not this one
    count = max(1, round(target) - running)
    burners = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(count)]
    try:
        deadline = time.monotonic() + 120
        while os.getloadavg()[0] < target * 0.9 and time.monotonic() < deadline:
            time.sleep(5)
        print(f"busy: {len(burners)} CPU burners, load average {load()}", flush=True)
        yield
    finally:
        for burner in burners:
            burner.kill()
            with suppress(subprocess.TimeoutExpired):
                burner.wait(timeout=10)


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
    load_before = load()
    procs = [start_worker(env, folder / f"worker{i}.log", "dial", "default") for i in range(workers)]
    samplers = [Sampler(proc.pid, "worker") for proc in procs]
    for sampler in samplers:
        sampler.start()
    try:
        deadline = time.monotonic() + calls / cps * 3 + 180
        while time.monotonic() < deadline:
            with sessions() as session:
                states = session.scalars(select(DialTask.state)).all()
            if len(states) == calls and all(s in FINAL for s in states):
                break
            time.sleep(1)
        load_after = load()
    finally:
        for sampler in samplers:
            sampler.stop.set()
        for proc in procs:
            stop_worker(proc)
        phone.stop()
        redis_server.cleanup()
    lags = final_lags(sessions, phone)
    engine.dispose()
    stamps = sorted(t for t, _ in phone.received("INVITE"))
    times = [(t - stamps[0]).total_seconds() for t in stamps]
    achieved = (len(times) - 1) / times[-1] if len(times) > 1 and times[-1] > 0 else 0.0
    return [cps, channels, workers, len(times), round(times[-1], 2) if times else 0, f"{achieved:.3f}",
            f"{(achieved - cps) / cps * 100:+.1f} %", max_in_second(times), max_in_window(times),
            peak_concurrency(phone), len(lags),
            " / ".join(f"{percentile(lags, q):.2f}" for q in (0.5, 0.95, 1.0)),
            " / ".join(f"{max(s.peaks.get(name, 0.0) for s in samplers):.0f}"
                       for name in ("worker", "dialer", "worker's forks (job, scheduler)")),
            f"{load_before} → {load_after}"]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench dial_pacing")
    parser.add_argument("--calls", type=int, default=0, help="default: 30 seconds' worth at each CPS")
    parser.add_argument("--cps", type=float, nargs="+", default=[5.0, 30.0])
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--busy", action="store_true", help="CPU burners beside the run")
    parser.add_argument("--load", type=float, default=4.0, help="the load average --busy aims at")
    args = parser.parse_args(argv)
    rows = []
    with busy_machine(args.load) if args.busy else nullcontext():
        for cps in args.cps:
            with tempfile.TemporaryDirectory(prefix="cc-bench-pacing-") as folder:
                rows.append(run(args.calls or max(int(cps * 30), 50), cps, args.channels, args.workers,
                                Path(folder)))
            print(rows[-1], flush=True)
    print_table(["CPS limit", "channels", "workers", "INVITEs", "first→last s", "achieved CPS",
                 "vs limit", "max per second", "max in any sliding 1 s", "peak calls up",
                 "tasks timed", "final after call end p50 / p95 / max s",
                 "peak RSS MB worker / dialer / forks", "load average"], rows,
                title="SIP dialer pacing against sipp (target: within 3 % of the limit, never above; "
                      f"final state ≤ 5 s after the call){' with CPU burners' if args.busy else ''}")
    return 0
