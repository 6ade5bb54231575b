"""Sign-in brakes and the webhook flood limit, counted in a real Redis (and without one)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis as redis_lib
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.access.passwords import hash_password
from callcenter.core.models import Clinic, RawWebhook, Staff, StaffRole
from callcenter.core.ratelimit import (
    Limit,
    MemoryCounters,
    RedisCounters,
    check,
    hit,
    reset,
    window_key,
)
from callcenter.inbound.webhook_rate import SourceRate
from tests import factories as f
from tests.conftest import app_settings
from webhooks.hmac_signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

SECRET = "generic-test-secret"


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return app_settings(database_url, redis_url, tmp_path, GENERIC_SECRET=SECRET, WEBHOOK_RATE=3,
                        LOGIN_FAILURES=5, LOGIN_ADDRESS_FAILURES=8, LOGIN_WINDOW=300)


def _staff(session: Session, login: str, password: str) -> Staff:
    clinic = session.scalars(select(Clinic)).first() or f.clinic(session)
    staff = Staff(clinic_id=clinic.id, role=StaffRole.ADMIN, login=login, first_name="Olga",
                  last_name="Admin", password_hash=hash_password(password))
    session.add(staff)
    session.commit()
    return staff


def _post_login(client: Any, login: str, password: str, address: str = "10.0.0.1") -> Any:
    with client.session_transaction() as flask_session:
        flask_session["csrf"] = "tok"
    return client.post("/login", data={"login": login, "password": password, "csrf_token": "tok"},
                       environ_base={"REMOTE_ADDR": address})


# --- the counters themselves -------------------------------------------------------------------

@pytest.mark.parametrize("store", ["redis", "memory"])
def test_window_counts_refuses_and_starts_over(store: str, redis_url: str) -> None:
    client = redis_lib.Redis.from_url(redis_url)
    counters = RedisCounters(client) if store == "redis" else MemoryCounters()
    limit = Limit("t", 3, 60)
    now = 1_800_000_000.0  # start of a window (divisible by 60)
    verdicts = [hit(counters, limit, "a", now + i) for i in range(4)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert verdicts[-1].count == 4 and verdicts[-1].retry_after == 57
    assert not check(counters, limit, "a", now + 5).allowed
    assert check(counters, limit, "b", now + 5).allowed  # another subject has its own count
    assert hit(counters, limit, "a", now + 60).allowed  # the next window starts from zero
    reset(counters, limit, "a", now + 60)
    assert check(counters, limit, "a", now + 60).count == 0
    client.close()


def test_redis_windows_expire_on_their_own(redis_url: str) -> None:
    client = redis_lib.Redis.from_url(redis_url)
    hit(RedisCounters(client), Limit("t", 3, 60), "a", time.time())
    (key,) = client.keys("callcenter:rl:t:*")
    assert 0 < client.ttl(key) <= 61
    client.close()


# --- sign-in -----------------------------------------------------------------------------------

def test_five_failures_pause_that_login_even_with_the_right_password(app, session: Session) -> None:
    def guessed_then_signed_in(n: int) -> tuple[list[int], Any, Any]:
        client, login = app.test_client(), f"olga{n}"
        _staff(session, login, "right-pw")
        wrong = [_post_login(client, login, "wrong", address=f"10.1.{n}.1").status_code for _ in range(5)]
        return wrong, _post_login(client, login, "right-pw", address=f"10.2.{n}.2"), client

    wrong, response, client = _in_one_window(guessed_then_signed_in)
    assert wrong == [200] * 5
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= 300
    assert "Слишком много попыток" in response.get_data(as_text=True)
    assert "staff_id" not in _session_of(client)


def test_one_address_guessing_many_names_is_paused(app, session: Session) -> None:
    def guessed_then_signed_in(n: int) -> tuple[int, int]:
        client, login, address = app.test_client(), f"olga{n}", f"10.9.9.{n + 1}"
        _staff(session, login, "right-pw")
        for guess in range(8):
            _post_login(client, f"guess{n}-{guess}", "wrong", address=address)
        return (_post_login(client, login, "right-pw", address=address).status_code,
                _post_login(app.test_client(), login, "right-pw", address=f"10.0.7.{n + 1}").status_code)

    assert _in_one_window(guessed_then_signed_in) == (429, 302)


def test_one_receptionists_typos_do_not_lock_out_the_desk_next_to_her(app, session: Session) -> None:
    def typos_then_both_sign_in(n: int) -> tuple[int, int]:
        client, olga, nina, address = app.test_client(), f"olga{n}", f"nina{n}", f"10.0.1.{n + 1}"
        _staff(session, olga, "right-pw")
        _staff(session, nina, "her-pw")
        for _ in range(5):  # both desks sit behind the clinic's one NAT address
            _post_login(client, olga, "typo", address=address)
        return (_post_login(client, olga, "right-pw", address=address).status_code,
                _post_login(app.test_client(), nina, "her-pw", address=address).status_code)

    assert _in_one_window(typos_then_both_sign_in) == (429, 302)


def test_behind_a_trusted_proxy_the_forwarded_address_is_counted(settings, session: Session) -> None:
    from callcenter import create_app

    app = create_app({**settings, "TRUSTED_PROXIES": 1})

    def guessed_then_signed_in(n: int) -> tuple[int, int]:
        client, login = app.test_client(), f"olga{n}"
        _staff(session, login, "right-pw")
        with client.session_transaction() as flask_session:
            flask_session["csrf"] = "tok"
        guesser = {"X-Forwarded-For": f"203.0.113.{n + 10}"}
        for guess in range(8):
            client.post("/login", data={"login": f"g{n}-{guess}", "password": "x", "csrf_token": "tok"},
                        headers=guesser)
        form = {"login": login, "password": "right-pw", "csrf_token": "tok"}
        return (client.post("/login", data=form, headers=guesser).status_code,
                client.post("/login", data=form, headers={"X-Forwarded-For": f"198.51.100.{n + 1}"})
                .status_code)

    try:
        assert _in_one_window(guessed_then_signed_in) == (429, 302)
    finally:
        app.extensions["callcenter"].close()


def test_a_right_password_clears_the_names_count(client, session: Session) -> None:
    _staff(session, "olga", "right-pw")
    for _ in range(4):
        _post_login(client, "olga", "wrong", address="10.0.0.1")
    assert _post_login(client, "olga", "right-pw", address="10.0.0.2").status_code == 302
    for _ in range(4):  # four more from a third address: the name starts from zero again
        assert _post_login(client, "olga", "wrong", address="10.0.0.3").status_code == 200
    assert _post_login(client, "olga", "right-pw", address="10.0.0.4").status_code == 302


def test_failures_are_shared_by_every_web_process_through_redis(app, settings, session: Session) -> None:
    from callcenter import create_app

    other = create_app(settings)  # a second process's app: its own memory, the same Redis

    def guessed_then_signed_in(n: int) -> int:
        _staff(session, f"olga{n}", "right-pw")
        for _ in range(5):
            _post_login(other.test_client(), f"olga{n}", "wrong", address=f"10.3.{n}.1")
        return _post_login(app.test_client(), f"olga{n}", "right-pw", address=f"10.4.{n}.1").status_code

    try:
        assert _in_one_window(guessed_then_signed_in) == 429
    finally:
        other.extensions["callcenter"].close()


def _in_one_window(attempt: Any, window: int = 300) -> Any:
    """attempt(n)'s result, from a run that fits in one window of the sign-in brake's fixed
    windows: a run that straddles a boundary splits its failures between two windows (by design,
    see core/ratelimit.py), so it proves nothing and is run again in the fresh window. `n` counts
    the runs, so a repeat can use logins and addresses the first run has not counted against."""
    n = 0
    while True:
        started = int(time.time() // window)
        result = attempt(n)
        if int(time.time() // window) == started:
            return result
        n += 1


def test_redis_down_still_pauses_guessing_in_this_process(client, session: Session, redis_server) -> None:
    redis_server.stop()

    def guessed_then_signed_in(n: int) -> int:
        _staff(session, f"olga{n}", "right-pw")
        for _ in range(5):
            assert _post_login(client, f"olga{n}", "wrong", address=f"10.5.{n}.1").status_code == 200
        return _post_login(client, f"olga{n}", "right-pw", address=f"10.6.{n}.1").status_code

    assert _in_one_window(guessed_then_signed_in) == 429


def _session_of(client: Any) -> dict[str, Any]:
    with client.session_transaction() as flask_session:
        return dict(flask_session)


# --- webhooks ----------------------------------------------------------------------------------

def _signed_generic(client: Any, call_id: str, address: str) -> Any:
    body = json.dumps({"call_id": call_id, "event": "ringing", "direction": "inbound",
                       "from": "+79001234567", "to": "+74951234567",
                       "timestamp": "2026-03-10T10:00:00+03:00"}).encode()
    stamp = int(time.time())
    return client.post("/webhooks/generic", data=body, content_type="application/json",
                       headers={TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: sign(SECRET, stamp, body)},
                       environ_base={"REMOTE_ADDR": address})


def _stored(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count(RawWebhook.id))) or 0


def test_a_flood_from_one_address_is_refused_before_it_is_stored(client, session: Session) -> None:
    f.clinic(session)
    session.commit()
    assert [_signed_generic(client, f"c{n}", "192.0.2.10").status_code for n in range(3)] == [204] * 3
    refused = _signed_generic(client, "c4", "192.0.2.10")
    assert refused.status_code == 429 and refused.json["error"] == "rate_limited"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert _stored(session) == 3
    assert _signed_generic(client, "c5", "192.0.2.11").status_code == 204  # another PBX is unaffected
    assert _stored(session) == 4


def test_unsigned_floods_are_limited_too(client, session: Session) -> None:
    codes = [client.post("/webhooks/generic", data=b"{}", content_type="application/json",
                         environ_base={"REMOTE_ADDR": "198.51.100.7"}).status_code for _ in range(5)]
    assert codes == [403, 403, 403, 429, 429]
    assert _stored(session) == 3


def test_redis_down_lets_webhooks_through(client, session: Session, redis_server) -> None:
    f.clinic(session)
    session.commit()
    redis_server.stop()
    codes = [_signed_generic(client, f"c{n}", "192.0.2.10").status_code for n in range(5)]
    assert codes == [204] * 5  # counted nowhere, refused never: the calls are what matters
    assert _stored(session) == 5


def test_processes_spend_blocks_of_the_limit_and_never_exceed_it(redis_url: str) -> None:
    """Two web processes (two SourceRate) share one window through Redis in blocks: together
    they grant exactly the limit, and once refused a process asks Redis no more this window."""
    client = redis_lib.Redis.from_url(redis_url)
    first, second = (SourceRate(400, lambda: client) for _ in range(2))
    assert first.block == 4
    now = 1_000_020.0  # mid-window, so the window cannot end during the test
    verdicts = [rate.wait("192.0.2.20", now) for _ in range(500) for rate in (first, second)]
    assert sum(verdict is None for verdict in verdicts) == 400
    assert all(0 < verdict <= 60 for verdict in verdicts if verdict is not None)
    key = window_key(first.limit, "192.0.2.20", now)
    counted = int(client.get(key) or 0)
    assert counted <= 400 + 2 * first.block  # one block past the limit per process, then no more
    for rate in (first, second):
        assert rate.wait("192.0.2.20", now + 1) is not None
    assert int(client.get(key) or 0) == counted
    assert first.wait("192.0.2.21", now) is None  # another address has its own allowance
    assert first.wait("192.0.2.20", now + 60) is None  # the next window starts afresh
