"""/healthz counts live RQ workers by their heartbeats: a real `python worker.py` started and stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib

from callcenter.core.models import utcnow
from callcenter.core.worker_heartbeat import ALIVE_WITHIN, WORKER_TTL, live_workers
from tests.conftest import app_settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def settings(sqlite_url: str, redis_url: str, tmp_path) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return app_settings(sqlite_url, redis_url, tmp_path)


@pytest.fixture
def start_worker(settings: dict[str, Any], tmp_path) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
        env.update({"REDIS_URL": settings["REDIS_URL"], "DATABASE_URL": settings["DATABASE_URL"],
                    "CALLCENTER_INSTANCE_DIR": str(tmp_path), "CALLCENTER_SECRET_KEY": "x"})
        proc = subprocess.Popen([sys.executable, str(ROOT / "worker.py"), "callbacks"], env=env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def _health_until(client: Any, workers: int, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get("/healthz")
        if response.json["workers"] == workers or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def test_no_worker_is_degraded_but_the_web_stays_in_service(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json["status"] == "degraded"
    assert response.json["workers"] == 0 and response.json["checks"]["workers"].startswith("none alive")
    assert client.get("/healthz?strict=1").status_code == 503


def test_a_running_worker_counts_and_a_stopped_one_no_longer(client, start_worker) -> None:
    proc = start_worker()
    response = _health_until(client, 1)
    assert response.status_code == 200 and response.json == {
        "status": "ok", "workers": 1, "checks": {"database": "ok", "redis": "ok", "workers": "ok"}}
    assert client.get("/healthz?strict=1").status_code == 200
    proc.send_signal(signal.SIGTERM)  # a clean stop takes the worker off the register
    proc.wait(timeout=30)
    assert _health_until(client, 0).json["checks"]["workers"].startswith("none alive: 0 registered")


def test_a_killed_worker_stays_registered_and_goes_stale(client, start_worker, settings) -> None:
    proc = start_worker()
    assert _health_until(client, 1).json["workers"] == 1
    proc.kill()  # no chance to deregister: only its heartbeat tells it is gone
    proc.wait(timeout=10)
    connection = redis_lib.Redis.from_url(settings["REDIS_URL"])
    now = utcnow()
    assert live_workers(connection, now) == (1, 1)
    assert live_workers(connection, now + ALIVE_WITHIN + timedelta(seconds=1)) == (0, 1)
    (key,) = connection.keys("rq:worker:*")
    assert 0 < connection.ttl(key) <= WORKER_TTL + 60  # and rq drops the registration soon after
    connection.close()


def test_a_misspelt_queue_is_refused_in_one_line(redis_url: str, tmp_path: Path) -> None:
    """`python worker.py dail` used to listen on a queue nobody fills while nothing dialed."""
    env = {**os.environ, "REDIS_URL": redis_url, "CALLCENTER_INSTANCE_DIR": str(tmp_path),
           "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "worker.py"), "default", "dail"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == "Error: unknown queue 'dail': one of callbacks, sms, default, dial"
    assert done.stdout == ""
