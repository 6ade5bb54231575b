"""Web call tracking on both databases: the pool an admin sets up, the number endpoint the site
snippet calls (CORS, rate limit, bad input), leases (distinct, renewed, released, LRU reuse,
fallback counted, atomic under concurrent clients), calls tied to the visit that held the
number, and the website funnel."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
import redis as redis_lib
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter import create_app
from callcenter.core.models import (
    AuditLog,
    WebCallLink,
    WebLease,
    WebPool,
)
from callcenter.inbound.calls import record_call_event
from callcenter.webtracking.leases import SEQUENCES, Ask, Leaser
from callcenter.webtracking.records import flush
from callcenter.webtracking.report import funnel, pool_health
from callcenter.webtracking.ties import tie_calls
from callcenter.webtracking.visits import read_facts, request_number
from tests import desk_world as w
from tests import factories as f
from tests.conftest import app_settings
from tests.webtracking_world import FALLBACK, POOL, SITE, ask, make_pool, numbers, pool_form
from webhooks import CallEventKind as K

T0 = f.T0


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Any) -> dict[str, Any]:
    return app_settings(database_url, redis_url, tmp_path, GENERIC_SECRET=w.SECRET, LOCALE="en")


def test_admin_sets_up_a_pool_and_the_page_gives_the_tag(client: Any, session: Session) -> None:
    pool = make_pool(client, session)
    assert pool.sites == [SITE, "https://www.clinic.example"]
    assert sorted(n.number.e164 for n in pool.numbers) == list(POOL)
    assert pool.fallback.e164 == FALLBACK and (pool.hold_minutes, pool.grace_minutes) == (5, 3)
    page = client.get("/admin/webtracking").get_data(as_text=True)
    assert f'data-pool=&#34;{pool.key}&#34;' in page and "/static/webtracking.js" in page
    # Edited: one number out, paid traffic only.
    edited = client.post(f"/admin/webtracking/pools/{pool.id}", data=pool_form(
        [pool.numbers[0].number], pool.fallback, serves="paid"))
    assert edited.status_code == 302
    session.expire_all()
    assert [n.number.e164 for n in pool.numbers] == [POOL[0]] and pool.serves == "paid"
    assert session.scalars(select(AuditLog.action)).all()[-2:] == ["create_web_pool", "edit_web_pool"]


@pytest.mark.parametrize(("change", "field"), [
    ({"sites": ""}, "sites"),
    ({"sites": "clinic.example/contacts"}, "sites"),
    ({"name": " "}, "name"),
    ({"number_ids": []}, "number_ids"),
    ({"number_ids": ["999999"]}, "number_ids"),
    ({"fallback_number_id": ""}, "fallback_number_id"),
    ({"serves": "sources", "sources": ""}, "sources"),
    ({"serves": "everyone"}, "serves"),
    ({"hold_minutes": "0"}, "hold_minutes"),
    ({"grace_minutes": "61"}, "grace_minutes"),
])
def test_a_bad_pool_form_names_the_field_and_saves_nothing(client: Any, session: Session,
                                                           change: dict[str, Any], field: str) -> None:
    clinic = f.clinic(session)
    f.signed_in(client, session, role="admin", clinic_row=clinic, extension=None, locale="ru")
    pool, fallback = numbers(session, clinic)
    answer = client.post("/admin/webtracking/pools", data={**pool_form(pool, fallback, **change),
                                                           "clinic_id": clinic.id})
    assert answer.status_code == 400
    assert f'data-field="{field}"' in answer.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(WebPool)) == 0


def test_a_pool_number_cannot_also_be_the_fallback_or_in_two_pools(client: Any, session: Session) -> None:
    pool = make_pool(client, session)
    numbers_ = [n.number for n in pool.numbers]
    clash = client.post("/admin/webtracking/pools", data={**pool_form(numbers_, numbers_[0])})
    assert clash.status_code == 400 and 'data-field="number_ids"' in clash.get_data(as_text=True)


def test_visitors_get_their_own_numbers_then_the_fallback_counted(app: Any, client: Any,
                                                                   session: Session) -> None:
    pool = make_pool(client, session)
    redis = app.extensions["callcenter"].redis
    first = ask(client, pool.key, "visitor-aaaa", utm={"utm_source": "yandex", "utm_campaign": "implants"},
                click_ids={"yclid": "123"}, landing_url=f"{SITE}/implants")
    assert first.status_code == 200, first.get_data(as_text=True)
    assert first.headers["Access-Control-Allow-Origin"] == SITE and "Set-Cookie" not in first.headers
    a = first.get_json()
    assert a["number"] in POOL and a["fallback"] is False and a["original"] == FALLBACK
    assert a["national_digits"] == 10 and a["renew_seconds"] == 60
    b = ask(client, pool.key, "visitor-bbbb", utm={"utm_source": "google"}).get_json()
    assert {a["number"], b["number"]} == set(POOL)
    renewed = ask(client, pool.key, "visitor-aaaa", visit=a["visit"]).get_json()
    assert (renewed["number"], renewed["visit"]) == (a["number"], a["visit"])
    full = ask(client, pool.key, "visitor-cccc").get_json()
    assert (full["number"], full["fallback"]) == (FALLBACK, True)
    again = ask(client, pool.key, "visitor-cccc", visit=full["visit"]).get_json()
    assert again["number"] == FALLBACK  # still full; counted once per visit, not per renewal
    assert session.scalar(select(func.count()).select_from(WebLease)) == 0  # in Redis until flushed
    assert flush(session, redis) == 7  # 3 visits, 2 leases and a fallback begun, a renewal
    session.expire_all()
    leases = session.scalars(select(WebLease).order_by(WebLease.id)).all()
    assert [(x.visitor, x.fallback) for x in leases] == [
        ("visitor-aaaa", False), ("visitor-bbbb", False), ("visitor-cccc", True)]
    health = pool_health(session, pool.clinic_id, T0 - timedelta(days=3650), T0 + timedelta(days=3650))
    assert [(h.numbers, h.visits, h.fallback_visits, h.peak_in_use, h.peak_demand, h.recommended)
            for h in health] == [(2, 2, 1, 2, 3, 4)]


def test_the_endpoint_refuses_other_sites_and_bad_input(client: Any, session: Session) -> None:
    pool = make_pool(client, session)
    other = ask(client, pool.key, "visitor-aaaa", origin="https://evil.example")
    assert other.status_code == 403 and other.get_json()["field"] == "Origin"
    assert "Access-Control-Allow-Origin" not in other.headers
    preflight = client.options(f"/wt/{pool.key}/number", headers={"Origin": SITE})
    assert preflight.status_code == 204 and preflight.headers["Access-Control-Allow-Origin"] == SITE
    assert client.post("/wt/nosuchpool/number", json={}, headers={"Origin": SITE}).status_code == 404
    for body, field in [({"visitor": "short"}, "visitor"), ({"visitor": "x" * 65}, "visitor"),
                        ({"visitor": "visitor-aaaa", "utm": {"utm_source": 5}}, "utm.utm_source"),
                        ({"visitor": "visitor-aaaa", "utm": "yandex"}, "utm"),
                        ({"visitor": "visitor-aaaa", "visit": "1"}, "visit"),
                        ({"visitor": "visitor-aaaa", "landing_url": "x" * 501}, "landing_url"),
                        ({"visitor": "visitor-aaaa", "referrer": "a\x00b"}, "referrer")]:
        answer = client.post(f"/wt/{pool.key}/number", json=body, headers={"Origin": SITE})
        assert answer.status_code == 400 and answer.get_json()["field"] == field, body
    garbage = client.post(f"/wt/{pool.key}/number", data=b"\xff{", headers={"Origin": SITE})
    assert garbage.status_code == 400 and garbage.get_json()["field"] == "body"
    assert session.scalar(select(func.count()).select_from(WebLease)) == 0


def test_the_endpoint_answers_like_every_other_route(client: Any, session: Session) -> None:
    """Served in front of Flask, it still gives what the app-wide hooks give every answer."""
    pool = make_pool(client, session)
    answer = client.post(f"/wt/{pool.key}/number", json={"visitor": "visitor-aaaa"},
                         headers={"Origin": SITE, "X-Request-Id": "proxy-id.42"})
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
    assert answer.headers["X-Request-Id"] == "proxy-id.42"
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in answer.headers["Content-Security-Policy"]
    assert answer.get_json()["national_digits"] == 10  # +7 495 …: the part a site's format keeps
    odd = ask(client, pool.key, "visitor-aaaa")  # no id of the proxy's: one of ours
    assert len(odd.headers["X-Request-Id"]) == 16
    wrong = client.get(f"/wt/{pool.key}/number", headers={"Origin": SITE})
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "POST, OPTIONS"
    assert wrong.get_json()["error"] == "method_not_allowed"
    big = client.post(f"/wt/{pool.key}/number", headers={"Origin": SITE},
                      data=b'{"visitor": "visitor-aaaa", "referrer": "' + b"x" * 9000 + b'"}')
    assert big.status_code == 413 and big.get_json()["field"] == "body"
    assert client.get("/wt/x/y/number").status_code == 404  # not the endpoint's path: Flask's 404


def test_ids_go_on_from_the_database_when_redis_lost_its_counters(app: Any, client: Any,
                                                                  session: Session) -> None:
    pool = make_pool(client, session)
    first = ask(client, pool.key, "visitor-aaaa").get_json()["visit"]
    redis = app.extensions["callcenter"].redis
    flush(session, redis)
    redis.delete(*SEQUENCES)  # a new or wiped Redis: the records are in the database
    second = ask(client, pool.key, "visitor-bbbb").get_json()["visit"]
    assert second > first
    flush(session, redis)
    assert session.scalar(select(func.count()).select_from(WebLease)) == 2


def test_behind_a_trusted_proxy_the_clients_address_is_rate_limited(
        database_url: str, redis_url: str, tmp_path: Any) -> None:
    app = create_app(app_settings(database_url, redis_url, tmp_path, WEBTRACKING_RATE=1,
                                  TRUSTED_PROXIES=1))
    try:
        client, session = app.test_client(), app.extensions["callcenter"].sessions()
        pool = make_pool(client, session)

        def from_(address: str, visitor: str) -> int:
            return client.post(f"/wt/{pool.key}/number", json={"visitor": visitor},
                               headers={"Origin": SITE, "X-Forwarded-For": address}).status_code

        assert [from_("203.0.113.7", "visitor-aaaa"), from_("203.0.113.8", "visitor-bbbb"),
                from_("203.0.113.7", "visitor-cccc")] == [200, 200, 429]
        session.close()
    finally:
        app.extensions["callcenter"].close()


def test_the_endpoint_is_rate_limited_per_address(database_url: str, redis_url: str, tmp_path: Any) -> None:
    app = create_app(app_settings(database_url, redis_url, tmp_path, WEBTRACKING_RATE=3))
    try:
        client, session = app.test_client(), app.extensions["callcenter"].sessions()
        pool = make_pool(client, session)
        codes = [ask(client, pool.key, f"visitor-{i:04}").status_code for i in range(4)]
        assert codes == [200, 200, 200, 429]
        refused = ask(client, pool.key, "visitor-9999")
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.headers["Access-Control-Allow-Origin"] == SITE  # the snippet may read it
        session.close()
    finally:
        app.extensions["callcenter"].close()


def test_leases_expire_after_the_hold_and_return_least_recently_used_first(app: Any, client: Any,
                                                                         session: Session) -> None:
    pool = make_pool(client, session)
    leaser = Leaser(app.extensions["callcenter"].redis)

    def take(visitor: str, minutes: float) -> str:
        answer = request_number(session, leaser, pool, read_facts({"visitor": visitor}),
                                T0 + timedelta(minutes=minutes))
        return answer.number

    a, b = take("visitor-aaaa", 0), take("visitor-bbbb", 1)
    assert take("visitor-aaaa", 4) == a  # renewed at 4: held until 9
    # At 7 b's lease (1 + 5) has run out: the newcomer gets b's number, a keeps its own.
    assert take("visitor-cccc", 7) == b and take("visitor-aaaa", 7.5) == a
    # At 20 both ran out (a at 12.5, c at 12): the one released first (c's) goes out first.
    assert take("visitor-dddd", 20) == b and take("visitor-eeee", 20) == a


def test_concurrent_clients_never_hold_one_number(redis_url: str) -> None:
    client = redis_lib.Redis.from_url(redis_url)
    pool = [f"+7495222{i:04}" for i in range(10)]
    leaser = Leaser(client)
    got: dict[str, str | None] = {}
    start = threading.Barrier(40)

    def visit(i: int) -> None:
        start.wait()
        ask_ = Ask(77, 1, "v1", f"visitor-{i:04}", None, "{}", "+74950000000", 1000.0, 300)
        got[f"visitor-{i:04}"] = leaser.take(ask_, lambda: pool, lambda: (0, 0)).e164

    threads = [threading.Thread(target=visit, args=(i,)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    held = [n for n in got.values() if n is not None]
    assert len(got) == 40 and sorted(held) == pool  # every number once, nobody twice
    assert leaser.in_use(77, 1000.0) == 10
    client.close()


def _call(session: Session, call_id: str, number: str, minutes: float, **kw: Any) -> int:
    event = f.event(K.RINGING, seconds=int(minutes * 60), call_id=call_id, dialed=number,
                    provider="generic", **kw)
    change = record_call_event(session, event, config={"TIMEZONE": "Europe/Moscow", "REGION": "RU",
                                                       "ATTRIBUTION_DAYS": 14})
    session.commit()
    return change.call_id


def test_a_call_is_tied_to_the_visit_holding_the_number_when_it_rang(app: Any, client: Any,
                                                                     session: Session) -> None:
    pool = make_pool(client, session)  # hold 5, grace 3
    leaser = Leaser(app.extensions["callcenter"].redis)
    facts = {"visitor": "visitor-aaaa", "utm": {"utm_source": "google", "utm_medium": "cpc",
                                                 "utm_campaign": "implants", "utm_term": "dental implant"},
             "click_ids": {"gclid": "Cj0-first"}, "landing_url": f"{SITE}/implants"}
    first = request_number(session, leaser, pool, read_facts(facts), T0)
    # The same visitor back a day later from another campaign: the first touch is kept.
    later = T0 + timedelta(days=1)
    facts2 = {**facts, "utm": {"utm_source": "yandex", "utm_campaign": "crowns"}, "click_ids": {}}
    second = request_number(session, leaser, pool, read_facts(facts2), later)
    flush(session, leaser.client)
    day = 24 * 60
    during = _call(session, "c-during", second.number, day + 2)
    in_grace = _call(session, "c-grace", second.number, day + 5 + 2)  # ended at +5, grace 3
    too_late = _call(session, "c-late", second.number, day + 5 + 4)
    nobody = _call(session, "c-nobody", next(n for n in POOL if n != second.number), day + 1)
    static = _call(session, "c-static", FALLBACK, day + 1)
    tied = tie_calls(session, later + timedelta(hours=1))
    session.commit()
    links = {link.call_id: link for link in session.scalars(select(WebCallLink))}
    assert tied == 4 and static not in links  # the static number is not the pool's
    assert links[during].visit_id == second.visit_id and links[during].first_visit_id == first.visit_id
    assert links[in_grace].visit_id == second.visit_id
    assert links[too_late].visit_id is None and links[nobody].visit_id is None
    assert tie_calls(session, later + timedelta(hours=1)) == 0  # tied once
    span = (T0 - timedelta(days=1), T0 + timedelta(days=3))
    last = funnel(session, pool.clinic_id, *span, "campaign", "last")
    assert [(r.key, r.calls) for r in last] == [("crowns", 2), ("unknown visitor", 2)]
    first_touch = funnel(session, pool.clinic_id, *span, "keyword", "first")
    assert [(r.key, r.calls) for r in first_touch] == [("dental implant", 2), ("unknown visitor", 2)]


def test_the_report_page_ties_calls_and_shows_the_funnel(client: Any, session: Session) -> None:
    pool = make_pool(client, session)
    answer = ask(client, pool.key, "visitor-aaaa", utm={"utm_source": "google", "utm_campaign": "implants"},
                 click_ids={"gclid": "Cj0-page"}).get_json()
    body, headers = w.webhook("web-1", "ringing", to=answer["number"])
    assert client.post("/webhooks/generic", data=body, headers=headers).status_code == 204
    page = client.get("/marketing/web?by=campaign")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'data-key="implants"' in text and 'id="pool-health"' in text
    assert client.get("/marketing/web?by=colour").status_code == 400
    assert client.get("/marketing/web?from=yesterday").get_json()["field"] == "from"


def test_the_marketing_page_leads_to_the_website_funnel_and_its_csv(client: Any, session: Session) -> None:
    pool = make_pool(client, session)
    answer = ask(client, pool.key, "visitor-aaaa", utm={"utm_source": "google", "utm_campaign": "implants"},
                 click_ids={"gclid": "Cj0-csv"}).get_json()
    body, headers = w.webhook("web-csv", "ringing", to=answer["number"])
    assert client.post("/webhooks/generic", data=body, headers=headers).status_code == 204
    dashboard = client.get("/marketing").get_data(as_text=True)
    assert 'id="web-calls"' in dashboard and 'href="/marketing/web?by=campaign&amp;from=' in dashboard
    csv_link = dashboard.split('href="/marketing/web/funnel.csv?by=campaign')[1].split('"')[0]
    got = client.get("/marketing/web/funnel.csv?by=campaign" + csv_link.replace("&amp;", "&"))
    assert got.status_code == 200 and got.mimetype == "text/csv"
    lines = got.get_data(as_text=True).splitlines()
    assert lines[:2] == ["campaign,calls,answered,booked,arrived,revenue", "implants,1,0,0,0,0"]
    assert lines[3].startswith("pool,numbers") and lines[4].startswith("Main site,2,1,0,")
    assert client.get("/marketing/web/funnel.csv?by=colour").get_json()["field"] == "by"
