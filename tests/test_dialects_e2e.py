"""Recorded PBX sequences posted through the real route into the database: exactly the right calls.

Every provider's calls, replayed twice and in a shuffled order, must leave the same call rows as
one orderly delivery, and every stored raw webhook must be processed.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.models import Call, RawState, RawWebhook
from tests.conftest import app_settings

from .dialects import PROVIDERS, SECRETS, Signed, scenario, scenarios, sign

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
