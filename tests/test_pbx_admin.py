"""/admin/pbx on both databases with real Redis: every provider's URL and secret state, the last
request received, and the test call through the real webhook route to a pop on a real desk
stream, marked as a test and left out of analytics."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from nacl.signing import SigningKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.analytics.funnel import funnel
from callcenter.analytics.periods import Filters
from callcenter.core.models import AuditLog, Call, CallEventRecord, RawState, RawWebhook, utcnow
from callcenter.inbound.pbx_connections import PROVIDERS
from tests import desk_world as w
from tests import factories as f
from tests.conftest import app_settings
from webhooks import ADAPTERS, TEST_CALLER, telnyx

PUBLIC = "https://clinic.example"
SECRETS: dict[str, Any] = {
    "GENERIC_SECRET": w.SECRET, "TWILIO_AUTH_TOKEN": "twilio-token-for-tests",
    "ZADARMA_SECRET": "zadarma-secret-for-tests", "YEASTAR_SECRET": "0123456789abcdef" * 2,
    "ASTERISK_SECRET": "asterisk-secret-for-tests", "3CX_SECRET": "3cx-key-for-tests",
    "TELNYX_PUBLIC_KEY": base64.b64encode(bytes(SigningKey(bytes(range(32))).verify_key)).decode(),
}  # Mango stays unset: its row must say what to set


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    return app_settings(database_url, redis_url, tmp_path, PUBLIC_URL=PUBLIC, CLICK_TO_CALL="off",
                        **SECRETS)


@pytest.fixture
def world(session: Session) -> w.World:
    return w.build(session)


@pytest.fixture
def admin(app: Any, session: Session, world: w.World) -> Any:
    return w.admin_client(app, session, world.clinic)


def _row(page: str, provider: str) -> str:
    match = re.search(rf'<tr id="pbx-{re.escape(provider)}".*?</tr>', page, re.S)
    assert match, f"no row for {provider}"
    return match.group(0)


def _test(admin: Any, provider: str) -> str:
    response = admin.post(f"/admin/pbx/{provider}/test")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_every_adapter_has_a_row() -> None:
    assert sorted(p.name for p in PROVIDERS) == sorted(ADAPTERS)


def test_page_lists_each_provider_with_its_url_and_secret_state(admin: Any) -> None:
    page = admin.get("/admin/pbx").get_data(as_text=True)
    for provider in PROVIDERS:
        row = _row(page, provider.name)
        for path in provider.paths:
            assert f"{PUBLIC}{path}" in row
        state = "unset" if provider.name == "mango" else "set"
        assert f'data-secret="{state}"' in row, provider.name
    assert "/webhooks/twilio/status" in _row(page, "twilio")
    assert "CALLCENTER_MANGO_API_KEY, CALLCENTER_MANGO_SALT" in _row(page, "mango")
    assert all(str(secret) not in page for secret in SECRETS.values())


@pytest.mark.parametrize("provider", ["generic", "twilio", "zadarma", "telnyx"])
def test_the_test_call_pops_a_test_card_at_the_desk(client: Any, session: Session, world: w.World,
                                                    admin: Any, provider: str) -> None:
    page = _test(admin, provider)
    assert 'data-verdict="popped"' in page and "is ringing at the desks of Улыбка" in page
    f.open_session(client, session, world.anna, csrf="t")
    _id, message = w.first_message(client, **{"Last-Event-ID": "0-0"})
    assert message["sse"] == "pop"
    card = message["card"]
    assert card["call"]["test"] is True and card["call"]["number_e164"] == TEST_CALLER
    call = session.get(Call, message["call_id"])
    assert (call.provider, call.dialed, call.caller, call.clinic_id) == (
        provider, w.TRACKED, TEST_CALLER, world.clinic.id)
    raw = session.scalar(select(RawWebhook).join(CallEventRecord,
                                                 CallEventRecord.raw_webhook_id == RawWebhook.id)
                         .where(CallEventRecord.call_id == call.id))
    assert (raw.method, raw.state, raw.clinic_id) == ("POST", RawState.PROCESSED, world.clinic.id)
    assert raw.headers["X-Callcenter-Url"].startswith(f"{PUBLIC}/webhooks/{provider}")
    audit = session.scalars(select(AuditLog).where(AuditLog.action == "pbx_test")).one()
    assert audit.details["provider"] == provider and audit.details["verdict"] == "popped"
    assert audit.clinic_id == world.clinic.id
    again = admin.get("/admin/pbx").get_data(as_text=True)
    assert 'data-state="processed"' in _row(again, provider)


def test_the_other_providers_reach_the_call_log(session: Session, world: w.World, admin: Any) -> None:
    for provider in ("yeastar", "asterisk"):
        assert 'data-verdict="popped"' in _test(admin, provider), provider
    assert 'data-verdict="logged"' in _test(admin, "3cx")  # 3CX reports finished calls only
    providers = session.scalars(select(Call.provider).where(Call.caller == TEST_CALLER)).all()
    assert sorted(providers) == ["3cx", "asterisk", "yeastar"]


def test_without_a_secret_the_button_says_what_to_set(session: Session, admin: Any) -> None:
    page = admin.get("/admin/pbx").get_data(as_text=True)
    assert ("To send a test call, set CALLCENTER_MANGO_API_KEY, CALLCENTER_MANGO_SALT first."
            in _row(page, "mango"))
    answer = _test(admin, "mango")
    assert 'data-verdict="not_set_up"' in answer
    assert "set CALLCENTER_MANGO_API_KEY, CALLCENTER_MANGO_SALT to the secret" in answer
    assert session.scalars(select(RawWebhook).where(RawWebhook.provider == "mango")).all() == []


def test_a_refused_request_shows_as_the_last_one_with_its_reason(client: Any, admin: Any) -> None:
    response = client.post("/webhooks/zadarma", data={"event": "NOTIFY_START"})
    assert response.status_code == 403
    row = _row(admin.get("/admin/pbx").get_data(as_text=True), "zadarma")
    assert 'data-state="rejected"' in row and "missing Signature header" in row
    assert "nothing received yet" in _row(admin.get("/admin/pbx").get_data(as_text=True), "yeastar")


def test_unknown_provider_is_404(admin: Any) -> None:
    assert admin.post("/admin/pbx/nosuchpbx/test").status_code == 404


def test_a_clinic_without_tracking_numbers_is_told_to_add_one(app: Any, session: Session) -> None:
    bare = f.clinic(session, name="Empty clinic")
    session.commit()
    admin = w.admin_client(app, session, bare)
    assert 'data-verdict="no_number"' in _test(admin, "generic")


def test_test_calls_stay_out_of_analytics(client: Any, session: Session, world: w.World,
                                          admin: Any) -> None:
    _test(admin, "generic")
    body, headers = w.webhook("real-1", "ringing", caller=w.MARIA_PHONE)
    assert client.post("/webhooks/generic", data=body, headers=headers).status_code == 204
    zone = ZoneInfo("Europe/Moscow")
    today = utcnow().astimezone(zone).date()
    flt = Filters(clinic_id=world.clinic.id, tz=zone, start=today - timedelta(days=1), end=today)
    assert len(session.scalars(select(Call)).all()) == 2
    assert funnel(session, flt)[None]["calls"] == 1


def test_the_telnyx_self_test_signature_covers_only_test_calls(client: Any, app: Any) -> None:
    stamp = str(int(utcnow().timestamp()))
    body = json.dumps({"data": {"event_type": "call.initiated", "id": "forged", "occurred_at":
                                utcnow().isoformat(), "payload": {
                                    "call_session_id": "s-1", "from": w.MARIA_PHONE,
                                    "to": w.TRACKED}}}).encode()
    headers = {"Content-Type": "application/json", "telnyx-timestamp": stamp,
               telnyx.SELF_TEST_HEADER: telnyx.self_test_signature(app.config, stamp, body)}
    response = client.post("/webhooks/telnyx", data=body, headers=headers)
    assert response.status_code == 403
    assert "only calls from the test number" in response.get_json()["message"]
