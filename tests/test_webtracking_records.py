"""The number endpoint without the database, on both databases: pools read from the process's
cache (and re-read after an admin's change), visits and leases kept in Redis until a real
`python worker.py` writes them, and the call to the number then tied to the visit."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from callcenter.core.models import Call, WebCallLink, WebLease, WebVisit
from callcenter.webtracking.leases import RECORDS
from callcenter.webtracking.records import flush
from tests import desk_world as w
from tests.campaign_env import start_worker, stop_worker, worker_env
from tests.conftest import app_settings
from tests.webtracking_world import POOL, SITE, ask, make_pool, pool_form

DEADLINE = 90.0


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Any) -> dict[str, Any]:
    return app_settings(database_url, redis_url, tmp_path, GENERIC_SECRET=w.SECRET, LOCALE="en")


@contextmanager
def statements(app: Any) -> Iterator[list[str]]:
    """The SQL the app's engine runs inside the block."""
    seen: list[str] = []
    engine = app.extensions["callcenter"].engine

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def _wait_for(check: Any, what: str) -> Any:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"waited {DEADLINE:.0f} s for {what}")


def test_number_requests_touch_no_database_once_the_pool_is_read(app: Any, client: Any,
                                                                 session: Session) -> None:
    pool = make_pool(client, session)
    site = app.test_client()  # the snippet's fetch: no cookies of ours
    assert ask(site, pool.key, "visitor-warm").status_code == 200  # reads the pool once
    with statements(app) as seen:
        a = ask(site, pool.key, "visitor-aaaa", utm={"utm_source": "google"}).get_json()
        renewed = ask(site, pool.key, "visitor-aaaa", visit=a["visit"]).get_json()
        full = ask(site, pool.key, "visitor-bbbb").get_json()
    assert seen == []
    assert renewed["visit"] == a["visit"] and full["fallback"] is True
    redis = app.extensions["callcenter"].redis
    assert redis.xlen(RECORDS) > 0 and session.scalar(select(func.count()).select_from(WebVisit)) == 0


def test_an_admins_change_reaches_the_cached_pool(app: Any, client: Any, session: Session) -> None:
    pool = make_pool(client, session)
    first = ask(client, pool.key, "visitor-aaaa").get_json()
    assert first["number"] in POOL
    kept = next(n.number for n in pool.numbers if n.number.e164 != first["number"])
    # The admin takes the visitor's number out of the pool: renewing now gives the other one.
    answer = client.post(f"/admin/webtracking/pools/{pool.id}", data=pool_form([kept], pool.fallback))
    assert answer.status_code == 302
    again = ask(client, pool.key, "visitor-aaaa", visit=first["visit"]).get_json()
    assert again["number"] == kept.e164
    # Switched off: every visitor sees the fallback at once.
    client.post(f"/admin/webtracking/pools/{pool.id}", data=pool_form([kept], pool.fallback, active=""))
    off = ask(client, pool.key, "visitor-bbbb").get_json()
    assert off["fallback"] is True and off["visit"] is None


def test_the_worker_writes_the_visit_and_the_call_is_tied_to_it(app: Any, client: Any, session: Session,
                                                               database_url: str, redis_url: str,
                                                               tmp_path: Path) -> None:
    pool = make_pool(client, session)
    answer = ask(client, pool.key, "visitor-aaaa", utm={"utm_source": "google", "utm_campaign": "implants",
                                                        "utm_term": "dental implant"},
                 click_ids={"gclid": "Cj0-worker"}, landing_url=f"{SITE}/implants").get_json()
    # The call rings before any worker ran: the visit is still only in Redis.
    body, headers = w.webhook("web-worker-1", "ringing", to=answer["number"])
    assert client.post("/webhooks/generic", data=body, headers=headers).status_code == 204
    assert session.scalar(select(func.count()).select_from(WebVisit)) == 0
    worker = start_worker(worker_env(database_url, redis_url, tmp_path), tmp_path / "worker.log")
    try:
        def tied() -> WebCallLink | None:
            session.expire_all()
            call_id = session.scalar(select(Call.id).where(Call.provider_call_id == "web-worker-1"))
            return session.get(WebCallLink, call_id) if call_id else None

        link = _wait_for(tied, "the worker to write the visit and tie the call")
    finally:
        stop_worker(worker)
    assert link.visit_id == answer["visit"]
    visit = session.get(WebVisit, answer["visit"])
    assert visit is not None
    assert (visit.utm_campaign, visit.utm_term, visit.gclid, visit.landing_url) == (
        "implants", "dental implant", "Cj0-worker", f"{SITE}/implants")
    lease = session.scalars(select(WebLease)).one()
    assert (lease.visit_id, lease.e164, link.lease_id) == (visit.id, answer["number"], lease.id)
    assert app.extensions["callcenter"].redis.xlen(RECORDS) == 0


def test_records_written_twice_change_nothing(app: Any, client: Any, session: Session) -> None:
    """A worker killed after its commit but before it cleared the stream writes the batch again."""
    pool = make_pool(client, session)
    redis = app.extensions["callcenter"].redis
    a = ask(client, pool.key, "visitor-aaaa").get_json()
    ask(client, pool.key, "visitor-aaaa", visit=a["visit"])
    entries = redis.xrange(RECORDS)
    assert flush(session, redis) == 3
    for _entry_id, fields in entries:  # the same entries again
        redis.xadd(RECORDS, fields)
    assert flush(session, redis) == 3
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(WebVisit)) == 1
    lease = session.scalars(select(WebLease)).one()
    assert lease.renewed_at > lease.started_at


def test_ids_continue_from_the_database_after_redis_lost_its_counters(app: Any, client: Any,
                                                                      session: Session) -> None:
    pool = make_pool(client, session)
    redis = app.extensions["callcenter"].redis
    first = ask(client, pool.key, "visitor-aaaa").get_json()
    flush(session, redis)
    redis.flushall()  # a Redis without persistence, restarted
    second = ask(client, pool.key, "visitor-bbbb").get_json()
    assert second["visit"] > first["visit"]
    flush(session, redis)
    assert session.scalar(select(func.count()).select_from(WebVisit)) == 2
    assert session.scalar(select(func.count()).select_from(WebLease)) == 2


def test_another_process_keeps_no_stale_pool(app: Any, client: Any, session: Session,
                                            database_url: str, redis_url: str, tmp_path: Path) -> None:
    """Two web processes: the one that did not save the change still drops its copy."""
    from callcenter import create_app

    pool = make_pool(client, session)
    other = create_app(app_settings(database_url, redis_url, tmp_path / "other", LOCALE="en"))
    try:
        other_client = other.test_client()
        assert ask(other_client, pool.key, "visitor-aaaa").status_code == 200
        client.post(f"/admin/webtracking/pools/{pool.id}",
                    data=pool_form([n.number for n in pool.numbers], pool.fallback,
                                   sites="https://new.example"))
        assert ask(other_client, pool.key, "visitor-aaaa").status_code == 403
        assert ask(other_client, pool.key, "visitor-aaaa", origin="https://new.example").status_code == 200
    finally:
        other.extensions["callcenter"].close()
