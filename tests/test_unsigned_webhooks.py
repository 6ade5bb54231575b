"""No unsigned mode: every adapter, with its secret unset or set, refuses a request that is not signed.

The one documented exception is Zadarma's URL check (GET ?zd_echo=...), which only echoes.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.core.models import Call, RawState, RawWebhook
from callcenter.inbound.webhook_secrets import SIGNING_SETTINGS, provider_status
from tests.conftest import app_settings
from webhooks import ADAPTERS

ROOT = Path(__file__).resolve().parent.parent
ALL_SECRETS = {
    "ZADARMA_SECRET": "z-secret", "MANGO_API_KEY": "m-key", "MANGO_SALT": "m-salt",
    "YEASTAR_SECRET": "y-secret", "TELNYX_PUBLIC_KEY": base64.b64encode(
        bytes(SigningKey(b"k" * 32).verify_key)).decode(),
    "3CX_SECRET": "3cx-secret", "TWILIO_AUTH_TOKEN": "t-token", "ASTERISK_SECRET": "a-secret",
    "GENERIC_SECRET": "g-secret",
}
# Bodies a real sender of each kind would post, minus the signature (each names a caller).
UNSIGNED = [
    ("form", "application/x-www-form-urlencoded",
     b"event=NOTIFY_START&call_start=2026-03-10+10:00:00&pbx_call_id=in_1&caller_id=79001234567"
     b"&called_did=74951234567&CallSid=CA1&From=%2B79001234567&To=%2B74951234567&CallStatus=ringing"),
    ("json", "application/json",
     b'{"call_id":"x1","event":"ringing","direction":"inbound","from":"+79001234567",'
     b'"to":"+74951234567","timestamp":"2026-03-10T10:00:00+03:00"}'),
]
SUBPATHS = {"twilio": "voice", "mango": "events/call"}


@pytest.fixture(params=["no secrets", "all secrets"])
def settings(request: pytest.FixtureRequest, database_url: str, redis_url: str, tmp_path) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    extra = ALL_SECRETS if request.param == "all secrets" else {}
    return app_settings(database_url, redis_url, tmp_path, **extra)


def test_every_registered_adapter_has_its_signing_settings_listed() -> None:
    assert set(SIGNING_SETTINGS) == set(ADAPTERS)
    assert all(provider_status(ALL_SECRETS).values())
    assert not any(provider_status({}).values())


@pytest.mark.parametrize("provider", sorted(ADAPTERS))
def test_unsigned_requests_are_refused_by_every_adapter(provider: str, client, session: Session) -> None:
    path = f"/webhooks/{provider}" + (f"/{SUBPATHS[provider]}" if provider in SUBPATHS else "")
    for _, content_type, body in UNSIGNED:
        response = client.post(path, data=body, content_type=content_type)
        assert response.status_code == 403, (provider, response.status_code, response.json)
        assert response.json["error"] == "bad_signature"
    assert client.get(path + "?caller_id=79001234567").status_code == 403
    assert session.scalar(select(func.count(Call.id))) == 0
    states = set(session.scalars(select(RawWebhook.state)))
    assert states == {RawState.REJECTED}  # kept for security review, applied to nothing


def test_zadarma_url_check_is_the_one_unsigned_request_answered(client, session: Session) -> None:
    response = client.get("/webhooks/zadarma?zd_echo=Ab12cd")
    assert response.status_code == 200 and response.get_data(as_text=True) == "Ab12cd"
    assert session.scalar(select(func.count(Call.id))) == 0


def test_unsigned_twilio_outbound_callbacks_and_3cx_lookups_are_refused(client) -> None:
    for step in ("twiml", "gather", "status"):
        response = client.post(f"/webhooks/twilio/outbound/1/{step}", data={"CallStatus": "completed"})
        assert response.status_code == 403
    assert client.get("/3cx/lookup?number=%2B79001234567").status_code == 403


def test_check_config_lists_which_providers_are_signed(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
    env.update({"CALLCENTER_INSTANCE_DIR": str(tmp_path), "CALLCENTER_ZADARMA_SECRET": "z"})
    result = subprocess.run([sys.executable, "-m", "callcenter.cli", "check-config"], env=env,
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith("webhooks/")}
    assert set(lines) == {f"webhooks/{name}" for name in ADAPTERS}
    assert lines["webhooks/zadarma"].endswith("signed")
    assert lines["webhooks/twilio"].endswith("refuses every request")
