"""The production shape for real: PostgreSQL and a Redis server by URL, gunicorn serving the web,
two `python worker.py` processes sharing the queue; a webhook is taken and queued work is done."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from redis import Redis
from rq import Queue, Worker

from tests.services import ROOT, PostgresServer, RedisServer
from tests.test_faults import SECRET, _counts, _event, _serve, post


def _health(base: str) -> dict:
    with urllib.request.urlopen(base + "/healthz", timeout=10) as response:
        return json.loads(response.read())


def test_gunicorn_and_two_workers_on_postgresql(postgres_server: PostgresServer,
                                                redis_server: RedisServer, redis_url: str,
                                                tmp_path: Path) -> None:
    database = postgres_server.create_database("production_path")
    env = {**os.environ, "DATABASE_URL": database, "REDIS_URL": redis_url,
           "CALLCENTER_GENERIC_SECRET": SECRET, "CALLCENTER_INSTANCE_DIR": str(tmp_path),
           "CALLCENTER_SECRET_KEY": "prod-path", "CALLCENTER_ENV": "production",
           "PYTHONPATH": str(ROOT)}
    workers = [subprocess.Popen([sys.executable, str(ROOT / "worker.py")], env=env, cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for _ in range(2)]
    try:
        with _serve(database, redis_url, tmp_path) as app:
            assert post(app.base, _event("prod-1", "ringing"))[0] == 204
            assert post(app.base, _event("prod-1", "ended", 20))[0] == 204
            deadline = time.monotonic() + 60
            health = _health(app.base)
            while health["workers"] < 2 and time.monotonic() < deadline:
                time.sleep(0.5)
                health = _health(app.base)
            assert health["status"] == "ok" and health["workers"] == 2, health
            # Work queued through Redis is taken by whichever of the two workers is free.
            connection = Redis.from_url(redis_url)
            queue = Queue("default", connection=connection)
            jobs = [queue.enqueue("os.getpid") for _ in range(20)]
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not all(j.get_status(refresh=True) == "finished"
                                                          for j in jobs):
                time.sleep(0.2)
            assert all(job.get_status(refresh=True) == "finished" for job in jobs)
            assert len(Worker.all(connection=connection)) == 2
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(timeout=30)
    counts = _counts(database)
    assert counts["calls"] == 1 and counts["events"] == 2

