"""Faults caused for real: Redis down, PostgreSQL down, the same webhook ten times at once.

The app runs under gunicorn with two worker processes; the database and Redis are real servers
that these tests stop and start. Each test counts requests sent and calls lost (must be 0).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from sqlalchemy import func, select

from callcenter.core import migrate
from callcenter.core.db import make_engine, make_session_factory
from callcenter.core.models import Call, CallEventRecord, RawState, RawWebhook
from tests.conftest import running_postgres, running_redis
from tests.services import Gunicorn, PostgresServer, RedisServer
from webhooks.hmac_signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

SECRET = "fault-secret"


def _event(call_id: str, event: str, offset: int = 0) -> bytes:
    return json.dumps({"call_id": call_id, "event": event, "from": "+79001234567",
                       "to": "+74951230001", "extension": "101",
                       "timestamp": int(time.time()) + offset}).encode()


def post(base: str, body: bytes) -> tuple[int, dict[str, Any]]:
    now = int(time.time())
    request = urllib.request.Request(
        base + "/webhooks/generic", data=body, method="POST",
        headers={"Content-Type": "application/json", TIMESTAMP_HEADER: str(now),
                 SIGNATURE_HEADER: sign(SECRET, now, body)})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, {**dict(exc.headers), "body": exc.read().decode()}


def _counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        counts = {
            "calls": session.scalar(select(func.count(Call.id))),
            "events": session.scalar(select(func.count(CallEventRecord.id))),
            "raw": session.scalar(select(func.count(RawWebhook.id))),
            "raw_processed": session.scalar(select(func.count(RawWebhook.id))
                                            .where(RawWebhook.state == RawState.PROCESSED)),
        }
    engine.dispose()
    return counts


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    yield from running_redis()


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    yield from running_postgres()


def _serve(database_url: str, redis_url: str, tmp_path: Path) -> Gunicorn:
    migrate.upgrade(database_url)
    return Gunicorn("callcenter.wsgi:app", {
        "DATABASE_URL": database_url, "REDIS_URL": redis_url, "CALLCENTER_GENERIC_SECRET": SECRET,
        "CALLCENTER_INSTANCE_DIR": str(tmp_path), "CALLCENTER_SECRET_KEY": "faults",
        "CALLCENTER_LOG_LEVEL": "WARNING"}, workers=2, threads=8)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_same_webhook_ten_times_concurrently_is_one_call(backend: str, own_redis: RedisServer,
                                                        tmp_path: Path, request: Any) -> None:
    if backend == "postgresql":
        url = request.getfixturevalue("own_postgres").create_database("dupes")
    else:
        url = f"sqlite:///{tmp_path / 'dupes.db'}"
    with _serve(url, own_redis.url, tmp_path) as app:
        for round_no in range(5):
            body = _event(f"dup-{round_no}", "ringing")
            with ThreadPoolExecutor(10) as pool:
                statuses = list(pool.map(lambda same: post(app.base, same)[0], [body] * 10))
            assert statuses == [204] * 10
    counts = _counts(url)
    assert counts == {"calls": 5, "events": 5, "raw": 50, "raw_processed": 50}


def test_redis_down_calls_are_still_logged_and_pops_resume(own_redis: RedisServer,
                                                          tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'redis-down.db'}"
    with _serve(url, own_redis.url, tmp_path) as app:
        assert post(app.base, _event("r1", "ringing"))[0] == 204
        own_redis.stop()
        sent_while_down = [post(app.base, _event(f"r{n}", "ringing")) for n in range(2, 12)]
        assert [status for status, _ in sent_while_down] == [204] * 10
        own_redis.start()
        assert post(app.base, _event("r12", "ringing"))[0] == 204
        stream = redis_lib.Redis.from_url(own_redis.url).xrange("desk:events")
    assert _counts(url)["calls"] == 12  # nothing lost while Redis was away
    assert [json.loads(fields[b"data"])["event"] for _id, fields in stream] == ["ringing"]


def test_database_down_answers_503_then_recovers_by_itself(own_redis: RedisServer,
                                                           own_postgres: PostgresServer,
                                                           tmp_path: Path) -> None:
    url = own_postgres.create_database("outage")
    with _serve(url, own_redis.url, tmp_path) as app:
        assert post(app.base, _event("p1", "ringing"))[0] == 204
        own_postgres.stop()
        try:
            status, headers = post(app.base, _event("p1", "answered", 5))
            assert status == 503, headers
            assert json.loads(headers["body"])["error"] == "database_unavailable"
            assert headers["Retry-After"] == "5"
        finally:
            own_postgres.start()
        # The PBX retries: the service must take it without a restart.
        deadline = time.monotonic() + 30
        status = 0
        while time.monotonic() < deadline and status != 204:
            status = post(app.base, _event("p1", "answered", 5))[0]
            if status != 204:
                time.sleep(0.5)
        assert status == 204
    counts = _counts(url)
    assert counts["calls"] == 1 and counts["events"] == 2  # the refused delivery left no trace
    assert counts["raw"] == counts["raw_processed"] == 2
