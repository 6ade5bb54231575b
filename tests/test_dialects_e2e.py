"""Recorded PBX sequences posted through the real route into the database: exactly the right calls.

Every provider's calls, replayed twice and in a shuffled order, must leave the same call rows as
one orderly delivery, and every stored raw webhook must be processed.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core.models import Call, RawState, RawWebhook
from tests.conftest import app_settings
from tests.dialects import (
    PROVIDERS,
    SECRETS,
    Signed,
    body_signature,
    scenario,
    scenarios,
    sign,
    zadarma_signature,
)

FIELDS = ("provider_call_id", "direction", "status", "caller", "dialed", "extension", "duration",
          "recording_url", "started_at", "answered_at", "ended_at")


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    return app_settings(database_url, redis_url, tmp_path, **SECRETS)


def _requests(provider: str) -> list[Signed]:
    now = datetime.now(UTC)  # Telnyx refuses time stamps outside the replay window
    return [sign(provider, step, now) for name in scenarios(provider)
            for step in scenario(provider, name)["requests"]]


def _expected(provider: str) -> list[dict[str, Any]]:
    rows = [row for name in scenarios(provider) for row in scenario(provider, name)["expect"]]
    return sorted(rows, key=lambda row: row["provider_call_id"])


def _post(client: Any, requests: list[Signed]) -> None:
    for request in requests:
        response = client.open(request.path, method=request.method, data=request.body,
                               headers=request.headers)
        assert response.status_code == 200, (request.path, response.get_data(as_text=True))


def _calls(session: Session, provider: str) -> list[dict[str, Any]]:
    session.expire_all()
    rows = []
    for call in session.scalars(select(Call).where(Call.provider == provider)
                                .order_by(Call.provider_call_id)):
        row = {name: getattr(call, name) for name in FIELDS}
        for name in ("started_at", "answered_at", "ended_at"):
            row[name] = row[name].isoformat() if row[name] else None
        row["direction"], row["status"] = str(call.direction), str(call.status)
        rows.append(row)
    return rows


def _all_processed(session: Session, provider: str) -> bool:
    states = session.scalars(select(RawWebhook.state).where(RawWebhook.provider == provider))
    return set(states) == {RawState.PROCESSED}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_recorded_calls_land_as_exactly_the_right_calls(provider: str, client, session) -> None:
    _post(client, _requests(provider))
    assert _calls(session, provider) == _expected(provider)
    assert _all_processed(session, provider)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_replayed_twice_and_shuffled_gives_the_same_calls(provider: str, client, session) -> None:
    doubled = _requests(provider) * 2
    random.Random(f"{provider}-6").shuffle(doubled)
    _post(client, doubled)
    assert _calls(session, provider) == _expected(provider)
    assert _all_processed(session, provider)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_tampered_request_changes_nothing(provider: str, client, session) -> None:
    first = _requests(provider)[0]
    forged = {**first.headers, "X-Api-Key": "guess"} if provider == "3cx" else first.headers
    body = first.body if provider == "3cx" else first.body.replace(b"7900", b"7911", 1)
    response = client.open(first.path, method="POST", data=body, headers=forged)
    assert response.status_code == 403 and response.json["error"] == "bad_signature"
    assert _calls(session, provider) == []


def test_zadarma_url_check_is_echoed_through_the_route(client) -> None:
    response = client.get("/webhooks/zadarma?zd_echo=a1B2c3")
    assert response.status_code == 200 and response.get_data(as_text=True) == "a1B2c3"


def _signed_garbage(provider: str, payload: bytes, text: str) -> tuple[str, bytes, dict[str, str]]:
    """An arbitrary payload carrying a valid proof, so it reaches the adapter's parser."""
    if provider == "mango":
        key, salt = SECRETS["MANGO_API_KEY"], SECRETS["MANGO_SALT"]
        digest = hashlib.sha256((key + text + salt).encode()).hexdigest()
        body = urlencode({"vpbx_api_key": key, "sign": digest, "json": text}).encode()
        return "/webhooks/mango/events/call", body, {}
    if provider == "zadarma":
        form = {"event": "NOTIFY_START", "call_start": text, "pbx_call_id": text[:8],
                "caller_id": text[::2], "called_did": ""}
        return "/webhooks/zadarma", urlencode(form).encode(), {
            "Signature": zadarma_signature(form, SECRETS["ZADARMA_SECRET"])}
    if provider == "3cx":
        return "/webhooks/3cx", payload, {"X-Api-Key": SECRETS["3CX_SECRET"]}
    return f"/webhooks/{provider}", payload, body_signature(provider, payload, datetime.now(UTC))


@pytest.mark.parametrize("provider", PROVIDERS)
@hypothesis_settings(max_examples=25, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture,
                                            HealthCheck.too_slow])
@given(payload=st.binary(max_size=300) | st.builds(
    lambda v: json.dumps(v).encode(), st.recursive(
        st.none() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
            st.sampled_from(["type", "msg", "data", "call_type", "payload", "event_type"]),
            inner, max_size=4), max_leaves=8)),
       text=st.text(max_size=60))
def test_signed_garbage_through_the_route_is_200_or_400(provider: str, payload: bytes, text: str,
                                                        client) -> None:
    path, body, headers = _signed_garbage(provider, payload, text)
    response = client.post(path, data=body, headers=headers)
    assert response.status_code in (200, 400), response.get_data(as_text=True)
    if response.status_code == 400:
        assert response.json["error"] == "invalid_payload" and response.json["field"]
