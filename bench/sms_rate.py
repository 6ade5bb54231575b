"""Texts sent at the provider's rate limit, and none twice when a worker is killed mid-batch.

    python -m bench sms_rate [--count 10000] [--rate 30] [--workers 3] [--kill-at 0.3]

Real pieces: Redis, SQLite, `python worker.py` processes (the scheduler's plan_messages queues
the outbox in batches, messaging.sending sends them through the Twilio client), and the tests'
fake Twilio Messaging server, which counts what arrives per second and answers 429 above its
limit. The reminders are stored through messaging.outbox.enqueue, as the planner stores them.
When `--kill-at` of them have arrived, one worker and its work horse get SIGKILL; the others
finish, and texts it had claimed are settled by the provider lookup (sending.recover).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.table import print_table
from callcenter.core import migrate
from callcenter.core.db import make_engine, make_session_factory
from callcenter.core.models import Message, MessagePurpose, MessageStatus, utcnow
from callcenter.messaging import outbox
from tests import factories as f
from tests.campaign_env import kill_hard, start_worker, stop_worker
from tests.services import RedisServer, redis_binary
from tests.sms_env import sms_worker_env, start_fake

SENDER = "+74950000000"


def _enqueue(sessions: Any, count: int) -> None:
    config = {"SMS_PROVIDER": "twilio", "SMS_SENDER": SENDER}
    now = utcnow()
    with sessions() as session:
        clinic = f.clinic(session)
        for n in range(count):
            outbox.enqueue(session, outbox.Draft(
                clinic_id=clinic.id, purpose=MessagePurpose.CONFIRMATION, phone=f"+7903{n:07d}",
                body=f"Напоминаем о визите завтра в 10:00, номер {n}. Ответьте ДА или НЕТ.",
                dedupe_key=f"confirmation:bench:{n}"), now, config)
        session.commit()


def _statuses(sessions: Any) -> dict[str, int]:
    with sessions() as session:
        return {str(s): n for s, n in session.execute(
            select(Message.status, func.count()).group_by(Message.status))}


def run(count: int, rate: float, workers: int, kill_at: float, folder: Path) -> dict[str, Any]:
    binary, _ = redis_binary()
    if binary is None:
        raise SystemExit("needs redis-server")
    redis_server = RedisServer(binary)
    redis_server.start()
    fake = start_fake("twilio", rate_limit=rate)
    url = f"sqlite:///{folder / 'sms.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    started = time.monotonic()
    _enqueue(sessions, count)
    enqueue_seconds = time.monotonic() - started
    load_before = os.getloadavg()
    # No public URL: no status callbacks, so the figures are the sending path alone. The tests'
    # planning round every second would keep the workers busy planning (four jobs of up to a
    # second each on a loaded machine); every 10 s still settles the killed worker's texts soon.
    env = sms_worker_env(url, redis_server.url, folder, "twilio", fake, "",
                         CALLCENTER_SMS_RATE=str(rate), CALLCENTER_SMS_SEND_TIMEOUT="10",
                         CALLCENTER_PLAN_SECONDS="10", CALLCENTER_LOG_LEVEL="WARNING")
    procs = [start_worker(env, folder / f"worker{i}.log") for i in range(workers)]
    killed_claims, killed_at = -1, 0.0
    try:
        deadline = time.monotonic() + count / rate * 3 + 180
        while time.monotonic() < deadline:
            arrived = len(fake.messages)
            if killed_claims < 0 and arrived >= count * kill_at:
                kill_hard(procs[0])
                killed_at = time.time()
                killed_claims = _statuses(sessions).get(MessageStatus.SENDING.value, 0)
            if _statuses(sessions).get(MessageStatus.SENT.value, 0) >= count:
                break
            time.sleep(1)
        load_after = os.getloadavg()
    finally:
        for proc in procs[1:]:
            stop_worker(proc)
        fake.stop()
        redis_server.cleanup()
    statuses = _statuses(sessions)
    engine.dispose()
    stamps = sorted(m.created for m in fake.messages)
    span = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
    copies = Counter((m.to, m.body) for m in fake.messages)
    return {"count": count, "rate": rate, "workers": workers, "enqueue_s": enqueue_seconds,
            "arrived": len(fake.messages), "span": span, "achieved": _rate(stamps),
            "before_kill": _rate([t for t in stamps if t < killed_at]),
            "max_second": max(fake.per_second.values(), default=0),
            "refused": fake.refused_for_rate, "duplicates": sum(n - 1 for n in copies.values()),
            "claimed_at_kill": killed_claims, "statuses": statuses,
            "load": f"{load_before[0]:.1f} → {load_after[0]:.1f}"}


def _rate(stamps: list[float]) -> float:
    """Texts per second from the first to the last arrival."""
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 and stamps[-1] > stamps[0] else 0.0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench sms_rate")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=30.0, help="the provider's limit, texts/s")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--kill-at", type=float, default=0.3,
                        help="share of the texts arrived when one worker gets SIGKILL")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cc-bench-sms-") as folder:
        r = run(args.count, args.rate, args.workers, args.kill_at, Path(folder))
    print_table(
        ["texts", "limit /s", "workers", "arrived", "first→last s", "achieved /s", "vs limit",
         "before the kill /s",
         "max in one second", "refused (429)", "duplicates", "claimed at kill", "load avg"],
        [[r["count"], r["rate"], r["workers"], r["arrived"], round(r["span"], 1), f"{r['achieved']:.2f}",
          f"{(r['achieved'] - r['rate']) / r['rate'] * 100:+.1f} %",
          f"{r['before_kill']:.2f} ({(r['before_kill'] - r['rate']) / r['rate'] * 100:+.1f} %)", r["max_second"], r["refused"],
          r["duplicates"], r["claimed_at_kill"], r["load"]]],
        title="Texts to the fake Twilio Messaging at its rate limit, one worker SIGKILLed mid-batch "
              "(target: within 5 % of the limit, never above, 0 duplicates)")
    print(f"outbox afterwards: {r['statuses']}; {r['count']:,} reminders stored in {r['enqueue_s']:.1f} s; "
          f"{timedelta(seconds=round(r['span']))} of sending")
    return 0 if r["duplicates"] == 0 and r["arrived"] == r["count"] else 1
