"""Conversions of website calls out to the ad platforms (both databases): recorded once per
platform and kind, downloaded as each platform's import file, and uploaded to local servers that
speak the documented APIs (tests/fake_adplatforms.py): Metrica's calls CSV by id type, Google Ads
click conversions with partial failures reported row by row, and the RQ worker's retry after a
platform-level failure."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core.models import Clinic, WebAdAccount, WebConversion, utcnow
from callcenter.webtracking.jobs import track, upload_pending
from callcenter.webtracking.leases import Leaser
from callcenter.webtracking.uploads import UploadFailed
from tests import factories as f
from tests.campaign_env import start_worker, stop_worker, worker_env
from tests.conftest import app_settings
from tests.fake_adplatforms import GOOGLE, GOOGLE_CALLS, METRICA, FakeAdPlatforms
from tests.webtracking_world import CALL_CONFIG, booking, make_pool, web_call

T0 = f.T0
ADS = {"metrica_counter": "12345678", "metrica_token": "metrica-token", "google_customer": "123-456-7890",
       "google_action": "555000111", "google_developer_token": "dev-token",
       "google_client_id": "client.apps.example", "google_client_secret": "shh",
       "google_refresh_token": "refresh-1"}


@pytest.fixture
def fake() -> Iterator[FakeAdPlatforms]:
    with FakeAdPlatforms() as server:
        yield server


def _platform_settings(fake: FakeAdPlatforms) -> dict[str, Any]:
    return {"METRICA_API_URL": fake.url, "GOOGLE_ADS_API_URL": f"{fake.url}/v20",
            "GOOGLE_OAUTH_URL": f"{fake.url}/oauth/token"}


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Any, fake: FakeAdPlatforms) -> dict[str, Any]:
    return app_settings(database_url, redis_url, tmp_path, LOCALE="en", **_platform_settings(fake))


def _visits(app: Any, client: Any, session: Session, base: Any) -> dict[str, int]:
    """Four website calls with bookings, ten minutes apart (each lease long over by the next)."""
    pool = make_pool(client, session)
    clinic = session.get(Clinic, pool.clinic_id)
    leaser = Leaser(app.extensions["callcenter"].redis)
    visits = {
        "both": {"utm": {"utm_source": "google", "utm_campaign": "implants"},
                 "click_ids": {"gclid": "Cj0-good"}, "analytics_ids": {"ym_client_id": "1716200000123456789"},
                 "landing_url": "https://clinic.example/implants"},
        "yandex": {"utm": {"utm_source": "yandex"}, "click_ids": {"yclid": "998877665544"}},
        "bad": {"click_ids": {"gclid": "bad-click"}},
        "recent": {"click_ids": {"gbraid": "GB-recent"}},
    }
    calls = {}
    for i, (name, facts) in enumerate(visits.items()):
        at = base + timedelta(minutes=10 * i)
        calls[name] = web_call(session, leaser, pool, {"visitor": f"visitor-{name}0000", **facts}, at,
                               f"web-{name}", f"+7916000000{i}")
        booking(session, clinic, calls[name], at, arrived=name == "both",
                price="1500" if name == "both" else None)
    return calls


def _save_ads(client: Any, **changes: str) -> Any:
    return client.post("/admin/webtracking/ads", data={**ADS, **changes})


def test_conversions_are_recorded_exported_and_uploaded_row_by_row(
        app: Any, client: Any, session: Session, fake: FakeAdPlatforms) -> None:
    calls = _visits(app, client, session, T0)
    assert _save_ads(client, metrica_counter="12ab").status_code == 400
    assert _save_ads(client).status_code == 302
    account = session.scalars(select(WebAdAccount)).one()
    assert "metrica-token" not in account.sealed_tokens and account.google_customer == "1234567890"
    now = T0 + timedelta(hours=12)
    track(session, app.extensions["callcenter"].redis, now)
    got = {(c.platform, c.kind, c.call_id) for c in session.scalars(select(WebConversion))}
    assert got == {("metrica", "booked", calls["both"]), ("metrica", "arrived", calls["both"]),
                   ("google", "booked", calls["both"]), ("google", "arrived", calls["both"]),
                   ("metrica", "booked", calls["yandex"]), ("google", "booked", calls["bad"]),
                   ("google", "booked", calls["recent"])}
    assert track(session, app.extensions["callcenter"].redis, now) == (0, 0)  # once

    fake.google_row_errors = {"bad-click": "UNPARSEABLE_GCLID", "GB-recent": "TOO_RECENT_EVENT"}
    clinic = session.scalars(select(Clinic)).one()
    assert upload_pending(session, clinic, app.config, now) == []
    metrica = fake.requests_to(METRICA)
    assert [r.query["client_id_type"] for r in metrica] == [["CLIENT_ID"], ["YCLID"]]
    by_tag = {row["Tag"]: row for row in metrica[0].csv_rows}
    assert by_tag["arrived"]["ClientId"] == "1716200000123456789"
    assert (by_tag["arrived"]["Price"], by_tag["arrived"]["Currency"]) == ("1500.00", "RUB")
    assert by_tag["booked"]["DateTime"] == str(int((T0 + timedelta(minutes=5)).timestamp()))
    assert (by_tag["booked"]["PhoneNumber"], by_tag["booked"]["TalkDuration"],
            by_tag["booked"]["CallMissed"], by_tag["booked"]["StaticCall"]) == ("+79160000000", "120", "0", "0")
    assert metrica[1].csv_rows[0]["Yclid"] == "998877665544"
    google = fake.requests_to(GOOGLE)
    assert len(google) == 1 and google[0].headers["developer-token"] == "dev-token"
    rows = google[0].json["conversions"]
    assert {r.get("gclid") or r.get("gbraid") for r in rows} == {"Cj0-good", "bad-click", "GB-recent"}
    assert all(r["conversionAction"] == "customers/1234567890/conversionActions/555000111" for r in rows)
    assert rows[0]["conversionDateTime"] == "2026-03-10 10:05:00+03:00"  # the clinic's clock
    session.expire_all()
    state = {(c.platform, c.call_id, c.kind): (c.state, c.error.split(":")[0])
             for c in session.scalars(select(WebConversion))}
    assert state[("google", calls["bad"], "booked")] == ("rejected", "UNPARSEABLE_GCLID")
    assert state[("google", calls["recent"], "booked")] == ("pending", "TOO_RECENT_EVENT")
    assert state[("google", calls["both"], "arrived")] == ("sent", "")
    assert state[("metrica", calls["yandex"], "booked")] == ("sent", "")
    # Next run: only the row Google asked to wait for goes again, and now it is taken.
    fake.google_row_errors = {}
    assert upload_pending(session, clinic, app.config, now) == []
    assert len(fake.requests_to(METRICA)) == 2 and len(fake.requests_to(GOOGLE)) == 2
    assert [r.get("gbraid") for r in fake.requests_to(GOOGLE)[1].json["conversions"]] == ["GB-recent"]
    # A platform down: the attempt is counted, the row stays pending.
    session.expire_all()
    pending = session.get(WebConversion, 1)
    assert pending is not None
    pending.state = "pending"
    session.commit()
    fake.fail_next = [(429, "quota_requests_by_ip")]
    assert upload_pending(session, clinic, app.config, now) == [pending.platform]
    session.expire_all()
    assert (pending.state, pending.error.split(" ")[1]) == ("pending", "429")


def test_the_files_to_download_follow_each_platforms_format(app: Any, client: Any, session: Session) -> None:
    _visits(app, client, session, utcnow() - timedelta(hours=1))  # the page catches up to now
    google = client.get("/marketing/web/conversions/google.csv").get_data(as_text=True).splitlines()
    assert google[0] == "Parameters:TimeZone=Europe/Moscow"
    assert google[1] == "Google Click ID,Conversion Name,Conversion Time,Conversion Value,Conversion Currency,Order ID"
    assert sorted(line.split(",")[0] for line in google[2:]) == ["Cj0-good", "Cj0-good", "bad-click"]
    metrica = list(csv.DictReader(io.StringIO(
        client.get("/marketing/web/conversions/metrica.csv").get_data(as_text=True))))
    assert {r["ClientId"] for r in metrica} == {"1716200000123456789"} and len(metrica) == 2
    yclid = client.get("/marketing/web/conversions/metrica.csv?ids=yclid").get_data(as_text=True)
    assert yclid.startswith("Yclid,DateTime,") and "998877665544" in yclid
    assert client.get("/marketing/web/conversions/metrica.csv?ids=phone").get_json()["field"] == "ids"
    assert client.get("/marketing/web/conversions/bing.csv").status_code == 404
    # The page's table named the platform and the conversion by their codes ("metrica", "booked").
    page = client.get("/marketing/web").get_data(as_text=True)
    assert "<td>Yandex Metrica</td><td>booked</td>" in page and "<td>Google Ads</td><td>arrived</td>" in page
    assert "<td>metrica</td>" not in page and "<td>google</td>" not in page


def test_google_without_a_valid_refresh_token_fails_the_request(app: Any, client: Any, session: Session,
                                                                fake: FakeAdPlatforms) -> None:
    _visits(app, client, session, T0)
    assert _save_ads(client, google_refresh_token="revoked").status_code == 302
    track(session, app.extensions["callcenter"].redis, T0 + timedelta(hours=12))
    clinic = session.scalars(select(Clinic)).one()
    assert "google" in upload_pending(session, clinic, app.config, T0 + timedelta(hours=12))
    assert fake.requests_to(GOOGLE) == []
    with pytest.raises(UploadFailed):
        from callcenter.webtracking.uploads import google_access_token
        google_access_token(f"{fake.url}/oauth/token", {"google_refresh_token": "revoked"})


def test_the_worker_uploads_and_retries_after_a_platform_failure(
        app: Any, client: Any, session: Session, fake: FakeAdPlatforms, database_url: str,
        redis_url: str, tmp_path: Path) -> None:
    calls = _visits(app, client, session, utcnow() - timedelta(hours=1))
    assert _save_ads(client).status_code == 302
    fake.fail_next = [(503, "backend_error")]  # the first upload request of all
    env = worker_env(database_url, redis_url, tmp_path, CALLCENTER_UPLOAD_RETRY_SECONDS="1",
                     CALLCENTER_METRICA_API_URL=fake.url, CALLCENTER_GOOGLE_ADS_API_URL=f"{fake.url}/v20",
                     CALLCENTER_GOOGLE_OAUTH_URL=f"{fake.url}/oauth/token")
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            session.expire_all()
            rows = session.scalars(select(WebConversion)).all()
            if len(rows) == 7 and all(r.state != "pending" or r.error.startswith("TOO_RECENT") for r in rows) \
                    and not any(r.error.startswith("HTTP 503") for r in rows):
                break
            time.sleep(0.5)
        else:
            pytest.fail("uploads not done in 120 s:\n" + (tmp_path / "worker.log").read_text()[-3000:])
    finally:
        stop_worker(worker)
    first = fake.received[0]
    assert METRICA.match(first.path) or GOOGLE.match(first.path)
    retried = [c for c in rows if c.attempts == 2]
    assert retried and all(c.state == "sent" for c in retried)  # failed once, then went through
    assert {c.call_id for c in rows} == set(calls.values())


def test_calls_from_google_call_assets_are_call_conversions(app: Any, client: Any, session: Session,
                                                           fake: FakeAdPlatforms) -> None:
    """No click id: Google matches the caller and the call's start, as file and upload."""
    from callcenter.inbound.calls import record_call_event
    from webhooks import CallEvent, CallEventKind, Direction

    clinic = f.clinic(session)
    f.signed_in(client, session, role="admin", clinic_row=clinic, extension=None, locale="en")
    number = f.channel_number(session, clinic, "google_call_assets", "+74951110077")
    session.commit()
    calls = {}
    for name, caller in (("asset-1", "+79161112233"), ("asset-2", "+79164445566")):
        for kind, seconds in ((CallEventKind.RINGING, 0), (CallEventKind.ANSWERED, 5)):
            change = record_call_event(session, CallEvent(
                provider="generic", provider_call_id=name, kind=kind, direction=Direction.INBOUND,
                occurred_at=T0 + timedelta(seconds=seconds), caller=caller, dialed=number.e164),
                config=CALL_CONFIG)
        session.commit()
        calls[name] = change.call_id
        booking(session, clinic, change.call_id, T0, arrived=name == "asset-1",
                price="2500" if name == "asset-1" else None)
    # A code no channel has (here the channel's name) matched no call without a word: refused.
    typo = _save_ads(client, google_call_action="777000222", google_call_channel="Google call assets")
    assert typo.status_code == 400 and "no channel has this code" in typo.get_data(as_text=True)
    assert session.scalars(select(WebAdAccount)).first() is None
    assert _save_ads(client, google_call_action="777000222",
                     google_call_channel="google_call_assets").status_code == 302
    fake.google_row_errors = {"+79164445566": "UNPARSEABLE_CALLER_ID"}
    now = T0 + timedelta(hours=12)
    track(session, app.extensions["callcenter"].redis, now)
    got = sorted((c.platform, c.kind, c.call_id, c.visit_id) for c in session.scalars(select(WebConversion)))
    assert got == [("google_call", "arrived", calls["asset-1"], None),
                   ("google_call", "booked", calls["asset-1"], None),
                   ("google_call", "booked", calls["asset-2"], None)]
    page = client.get("/marketing/web/conversions/google_call.csv")
    lines = page.get_data(as_text=True).splitlines()
    assert lines[0] == "Parameters:TimeZone=Europe/Moscow"
    assert lines[1] == "Caller's Phone Number,Call Start Time,Conversion Name,Conversion Time,Conversion Value,Conversion Currency"
    assert "+79161112233,2026-03-10 10:00:00,Arrived visit,2026-03-10 10:30:00,2500.00,RUB" in lines
    assert upload_pending(session, clinic, app.config, now) == []
    [sent] = fake.requests_to(GOOGLE_CALLS)
    rows = sent.json["conversions"]
    assert {r["callerId"] for r in rows} == {"+79161112233", "+79164445566"}
    assert all(r["conversionAction"] == "customers/1234567890/conversionActions/777000222" for r in rows)
    assert rows[0]["callStartDateTime"].endswith("+03:00") and fake.requests_to(GOOGLE) == []
    states = {(c.call_id, c.kind): (c.state, c.error) for c in session.scalars(select(WebConversion))}
    assert states[(calls["asset-1"], "arrived")] == ("sent", "")
    assert states[(calls["asset-2"], "booked")][0] == "rejected"
    assert "UNPARSEABLE_CALLER_ID" in states[(calls["asset-2"], "booked")][1]
    bad = _save_ads(client, google_call_action="abc")
    assert bad.status_code == 400 and 'data-field="google_call_action"' in bad.get_data(as_text=True)


def test_a_google_click_conversion_carries_exactly_one_click_id() -> None:
    """gclid first; an iOS click's gbraid or wbraid otherwise — never two (Google refuses it)."""
    from decimal import Decimal

    from callcenter.core.models import Call, WebVisit
    from callcenter.webtracking.conversions import Item, google_conversions

    clinic = Clinic(name="C", timezone="Europe/Moscow", locale="ru", region="RU")
    call = Call(caller="+79161234567", started_at=T0)
    rows = google_conversions(clinic, "1234567890", "555", [
        Item(WebConversion(appointment_id=n, kind="booked", occurred_at=T0, value=Decimal("1")),
             WebVisit(**ids), call)
        for n, ids in enumerate([{"gclid": "G", "wbraid": "W"}, {"gclid": "", "gbraid": "GB", "wbraid": ""},
                                 {"gclid": "", "gbraid": "", "wbraid": "WB"}])])
    assert [{k: r[k] for k in ("gclid", "gbraid", "wbraid") if k in r} for r in rows] == [
        {"gclid": "G"}, {"gbraid": "GB"}, {"wbraid": "WB"}]
    assert rows[0]["conversionDateTime"] == "2026-03-10 10:00:00+03:00"
