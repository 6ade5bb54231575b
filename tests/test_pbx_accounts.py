"""A clinic's own PBX account, on both databases: its URL, its sealed secret, and that what comes
through it belongs to that clinic and to no other — whatever number the request names."""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core.models import AuditLog, Call, PbxAccount, RawState, RawWebhook, utcnow
from callcenter.core.web import runtime
from callcenter.inbound import ingest, pbx_accounts
from callcenter.inbound.pbx_connections import PROVIDERS
from callcenter.inbound.webhook_secrets import SIGNING_SETTINGS
from tests import clinic_pair as cp
from tests import desk_world as w
from tests import factories as f
from tests.conftest import app_settings
from webhooks import TEST_CALLER, InboundRequest, SignatureError, get_adapter, samples
from webhooks.hmac_signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

PUBLIC = "https://clinic.example"
OWN = "clinic-b-own-generic-secret"
TELNYX_KEY = base64.b64encode(bytes(SigningKey(bytes(range(1, 33))).verify_key)).decode()
# Made-up secrets for a clinic's own account with each provider.
ACCOUNT_VALUES = {"ZADARMA_SECRET": "own-zadarma", "MANGO_API_KEY": "own-mango-key",
                  "MANGO_SALT": "own-mango-salt", "YEASTAR_SECRET": "own-yeastar-" * 3,
                  "TELNYX_PUBLIC_KEY": TELNYX_KEY, "3CX_SECRET": "own-3cx-key",
                  "TWILIO_AUTH_TOKEN": "own-twilio-token", "ASTERISK_SECRET": "own-asterisk",
                  "GENERIC_SECRET": OWN}


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    return app_settings(database_url, redis_url, tmp_path, PUBLIC_URL=PUBLIC, CLICK_TO_CALL="off",
                        GENERIC_SECRET=w.SECRET)


@pytest.fixture
def world(session: Session) -> w.World:
    return w.build(session)


@pytest.fixture
def clinic_b(session: Session) -> Any:
    clinic = f.clinic(session, name="Clinic B", timezone="Asia/Shanghai", locale="zh", region="CN")
    f.channel_number(session, clinic, "b-site", cp.B_TRACKED)
    session.commit()
    return clinic


def _generic(call_id: str, secret: str, to: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"call_id": call_id, "event": "ringing", "direction": "inbound",
                       "from": w.MARIA_PHONE, "to": to, "timestamp": time.time()}).encode()
    now = int(time.time())
    return body, {"Content-Type": "application/json", TIMESTAMP_HEADER: str(now),
                  SIGNATURE_HEADER: sign(secret, now, body)}


def _account(app: Any, session: Session, clinic_id: int, provider: str) -> PbxAccount:
    account = pbx_accounts.save(session, clinic_id, provider, ACCOUNT_VALUES, app.config["SECRET_KEY"])
    session.commit()
    return account


def test_what_an_account_lets_in_is_its_clinics_whatever_number_it_names(
        app: Any, client: Any, session: Session, world: w.World, clinic_b: Any) -> None:
    account = _account(app, session, clinic_b.id, "generic")
    url = pbx_accounts.path("generic", account.token)
    # Clinic B's PBX names clinic A's tracking number: the call is still B's, not A's.
    body, headers = _generic("shared-id", OWN, w.TRACKED)
    assert client.post(url, data=body, headers=headers).status_code == 204
    call = session.scalars(select(Call)).one()
    assert (call.clinic_id, call.provider_call_id) == (clinic_b.id, f"{account.id}:shared-id")
    assert (call.tracking_number_id, call.channel_id) == (None, None)  # not credited to A
    raw = session.scalars(select(RawWebhook)).one()
    assert (raw.pbx_account_id, raw.clinic_id, raw.state) == (account.id, clinic_b.id,
                                                              RawState.PROCESSED)
    # The same call id on the installation's URL (clinic A's PBX) is another call, A's.
    body, headers = w.webhook("shared-id", "ringing")
    assert client.post("/webhooks/generic", data=body, headers=headers).status_code == 204
    clinics = sorted(session.scalars(select(Call.clinic_id)).all())
    assert clinics == sorted([world.clinic.id, clinic_b.id])


def test_the_account_url_takes_only_the_accounts_secret(
        app: Any, client: Any, session: Session, world: w.World, clinic_b: Any) -> None:
    account = _account(app, session, clinic_b.id, "generic")
    url = pbx_accounts.path("generic", account.token)
    body, headers = w.webhook("by-installation-secret", "ringing")  # signed with A's secret
    answer = client.post(url, data=body, headers=headers)
    assert answer.status_code == 403 and answer.get_json()["error"] == "bad_signature"
    body, headers = _generic("unknown-token", OWN, cp.B_TRACKED)
    answer = client.post("/webhooks/generic/c/not-a-token", data=body, headers=headers)
    assert answer.status_code == 403 and answer.get_json()["error"] == "unknown_account"
    # Another provider's URL with this token is unknown too.
    assert client.post(f"/webhooks/asterisk/c/{account.token}", data=body,
                       headers=headers).status_code == 403
    assert session.scalars(select(Call)).all() == []
    states = session.execute(select(RawWebhook.state, RawWebhook.clinic_id)
                             .order_by(RawWebhook.id)).all()
    # Refused at B's URL: B's admin reviews it; at an unknown URL: no clinic can claim it.
    assert states == [(RawState.REJECTED, clinic_b.id), (RawState.REJECTED, None),
                      (RawState.REJECTED, None)]


def test_secrets_are_sealed_and_a_new_secret_key_makes_them_unreadable(
        app: Any, session: Session, clinic_b: Any) -> None:
    account = _account(app, session, clinic_b.id, "generic")
    assert OWN not in account.sealed_settings
    assert pbx_accounts.states(session, clinic_b.id, app.config["SECRET_KEY"])["generic"].readable
    assert not pbx_accounts.states(session, clinic_b.id, "another key")["generic"].readable
    # An account whose secret cannot be read refuses; it never falls back on another secret.
    rotated = pbx_accounts.find(session, "generic", account.token, "another key")
    assert rotated is not None and rotated.own["GENERIC_SECRET"] == ""
    body, headers = _generic("after-rotation", OWN, cp.B_TRACKED)
    request = InboundRequest("generic", "", "POST", PUBLIC, headers, body, received_at=utcnow())
    with pytest.raises(SignatureError, match="no secret configured"):
        get_adapter("generic").verify(request, rotated.settings(app.config))


def test_reprocessing_verifies_with_the_accounts_secret(
        app: Any, client: Any, session: Session, clinic_b: Any) -> None:
    account = _account(app, session, clinic_b.id, "generic")
    body, headers = _generic("again", OWN, cp.B_TRACKED)
    assert client.post(pbx_accounts.path("generic", account.token), data=body,
                       headers=headers).status_code == 204
    raw_id = session.scalar(select(RawWebhook.id))
    with app.app_context():
        result = ingest.reprocess(runtime(), raw_id)
    assert result.status == 204 and len(session.scalars(select(Call)).all()) == 1


@pytest.mark.parametrize("provider", [p.name for p in PROVIDERS])
def test_every_provider_signs_through_an_account(app: Any, client: Any, session: Session,
                                                 clinic_b: Any, provider: str) -> None:
    account = _account(app, session, clinic_b.id, provider)
    connection = pbx_accounts.find(session, provider, account.token, app.config["SECRET_KEY"])
    assert connection is not None
    ring = samples.Ring(samples.new_call_id(), cp.B_TRACKED, utcnow())
    sample = samples.ringing(provider, ring, connection.settings(app.config), PUBLIC,
                             pbx_accounts.path(provider, account.token))
    answer = client.post(sample.path, data=sample.body, headers=sample.headers, base_url=PUBLIC)
    assert answer.status_code < 300, answer.get_data(as_text=True)
    call = session.scalars(select(Call).where(Call.caller == TEST_CALLER)).one()
    assert call.clinic_id == clinic_b.id and call.provider_call_id.startswith(f"{account.id}:")
    # The installation's URL checks the installation's settings: the same request is refused.
    plain = client.post(f"/webhooks/{provider}" + (f"/{sample.subpath}" if sample.subpath else ""),
                        data=sample.body, headers=sample.headers, base_url=PUBLIC)
    assert plain.status_code == 403


def test_the_3cx_lookup_of_an_account_names_only_its_clinics_patients(
        app: Any, client: Any, session: Session, world: w.World, clinic_b: Any) -> None:
    f.patient(session, clinic_b, cp.B_PHONE, first_name="Li", last_name="Wei")
    session.commit()
    account = _account(app, session, clinic_b.id, "3cx")
    key = {"X-Api-Key": ACCOUNT_VALUES["3CX_SECRET"]}
    url = f"/3cx/lookup/c/{account.token}"
    assert client.get(f"{url}?number={cp.B_PHONE}", headers=key).get_json()["last_name"] == "Wei"
    assert client.get(f"{url}?number={w.MARIA_PHONE}", headers=key).get_json() == {"matches": 0}
    assert client.get(f"{url}?number={cp.B_PHONE}", headers={"X-Api-Key": "wrong"}).status_code == 403
    assert client.get(f"/3cx/lookup/c/nope?number={cp.B_PHONE}", headers=key).status_code == 403


def _row(page: str, provider: str) -> str:
    match = re.search(rf'<tr id="pbx-{re.escape(provider)}".*?</tr>', page, re.S)
    assert match, f"no row for {provider}"
    return match.group(0)


def test_the_admin_sets_up_tests_and_removes_a_clinics_own_account(
        app: Any, session: Session, world: w.World) -> None:
    admin = w.admin_client(app, session, world.clinic)
    missing = admin.post("/admin/pbx/mango/account", data={"MANGO_API_KEY": "k"})
    assert missing.status_code == 400
    assert 'data-field="MANGO_SALT"' in missing.get_data(as_text=True)
    assert session.scalars(select(PbxAccount)).all() == []  # nothing half-saved
    bad = admin.post("/admin/pbx/telnyx/account", data={"TELNYX_PUBLIC_KEY": "not a key"})
    assert bad.status_code == 400 and "Ed25519" in bad.get_data(as_text=True)

    saved = admin.post("/admin/pbx/generic/account", data={"GENERIC_SECRET": OWN})
    assert saved.status_code == 303
    account = session.scalars(select(PbxAccount)).one()
    page = admin.get("/admin/pbx").get_data(as_text=True)
    row = _row(page, "generic")
    assert f"{PUBLIC}/webhooks/generic/c/{account.token}" in row and 'data-secret="own"' in row
    assert OWN not in page
    # A blank field keeps the stored secret: the test call still signs with it.
    assert admin.post("/admin/pbx/generic/account", data={"GENERIC_SECRET": ""}).status_code == 303
    tested = admin.post("/admin/pbx/generic/test").get_data(as_text=True)
    assert 'data-verdict="popped"' in tested
    call = session.scalars(select(Call).where(Call.caller == TEST_CALLER)).one()
    assert call.provider_call_id.startswith(f"{account.id}:")

    assert admin.post("/admin/pbx/generic/account/remove").status_code == 303
    assert session.scalars(select(PbxAccount)).all() == []
    actions = session.scalars(select(AuditLog.action).where(AuditLog.action.like("pbx_account%"))
                              .order_by(AuditLog.id)).all()
    assert actions == ["pbx_account_save", "pbx_account_save", "pbx_account_remove"]
    assert all(OWN not in json.dumps(a.details) for a in session.scalars(select(AuditLog)))


def test_signing_settings_cover_every_provider() -> None:
    assert set(SIGNING_SETTINGS) == {p.name for p in PROVIDERS}
    assert {k for keys in SIGNING_SETTINGS.values() for k in keys} == set(ACCOUNT_VALUES)
