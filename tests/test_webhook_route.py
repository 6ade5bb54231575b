"""The webhook route's edges: unknown provider, oversized body, database down — always JSON, never 500."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core.models import Call, RawState, RawWebhook, utcnow
from tests import factories as f
from tests.conftest import app_settings
from webhooks.hmac_signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return app_settings(database_url, redis_url, tmp_path, MAX_WEBHOOK_BYTES=1024,
                        GENERIC_SECRET="generic-secret")


def test_unknown_provider_is_404_and_kept(client, session: Session) -> None:
    response = client.post("/webhooks/nosuchpbx", data=b"x=1")
    assert response.status_code == 404 and response.json["error"] == "unknown_provider"
    raw = session.scalars(select(RawWebhook)).one()
    assert raw.state == RawState.REJECTED and raw.body == b"x=1"


def test_oversized_body_is_413(client) -> None:
    response = client.post("/webhooks/generic", data=b"x" * 2048, content_type="application/json")
    assert response.status_code == 413 and response.json["error"] == "payload_too_large"


def test_database_down_answers_503_so_the_pbx_retries(redis_url: str, tmp_path, caplog) -> None:
    from callcenter import create_app

    broken = app_settings(f"sqlite:///{tmp_path}/missing/dir/../../nope/x.db", redis_url, tmp_path)
    app = create_app(broken)
    response = app.test_client().post("/webhooks/generic", data=b"{}", content_type="application/json",
                                      headers={"X-Request-Id": "pbx-7"})
    assert response.status_code == 503 and response.json["error"] == "database_unavailable"
    assert response.headers["Retry-After"] == "5" and response.headers["X-Request-Id"] == "pbx-7"
    # Answered in front of Flask: the log record still names the request.
    [logged] = [r for r in caplog.records if "webhook not stored" in r.getMessage()]
    assert logged.request_id == "pbx-7"


def test_methods_the_routes_do_not_take(client, session: Session) -> None:
    options = client.options("/webhooks/generic")
    assert options.status_code == 200 and options.headers["Allow"] == "GET, HEAD, OPTIONS, POST"
    put = client.put("/webhooks/generic/c/abc", data=b"{}")
    assert put.status_code == 405 and put.json["error"] == "method_not_allowed"
    assert put.headers["Allow"] == "GET, HEAD, OPTIONS, POST"
    assert client.post("/webhooks/").status_code == 404
    assert client.post("/webhooks/generic/").json["error"] == "not_found"
    assert session.scalars(select(RawWebhook)).all() == []  # none of them was a delivery


def test_head_is_answered_as_get_without_a_body(client, session: Session) -> None:
    head = client.head("/webhooks/nosuchpbx/status?x=1")
    assert head.status_code == 404 and head.data == b""
    assert int(head.headers["Content-Length"]) > 0 and head.headers["Cache-Control"] == "no-store"
    raw = session.scalars(select(RawWebhook)).one()
    assert (raw.method, raw.path, raw.query) == ("HEAD", "status", "x=1")


def test_failed_webhook_reprocessed_later_is_judged_as_on_arrival(client, session: Session,
                                                                  settings: dict[str, Any]) -> None:
    """An hour after arrival the signature's replay window has long passed; re-processing must
    still accept it, with the event times it had then."""
    arrived = utcnow() - timedelta(hours=1)
    stamp = int(arrived.timestamp())
    body = json.dumps({"call_id": "late-1", "event": "ringing", "from": "+79001234567",
                       "to": "+74951230001", "timestamp": stamp}).encode()
    raw = RawWebhook(provider="generic", path="", method="POST", query="", body=body,
                     headers={TIMESTAMP_HEADER: str(stamp),
                              SIGNATURE_HEADER: sign("generic-secret", stamp, body)},
                     state=RawState.FAILED, error="OperationalError: database is locked",
                     received_at=arrived)
    session.add(raw)
    session.commit()
    f.signed_in(client, session, role="admin", extension=None)
    response = client.post(f"/api/webhooks/raw/{raw.id}/reprocess")
    assert response.status_code == 200 and response.json["status"] == 204, response.json
    session.expire_all()
    assert session.get(RawWebhook, raw.id).state == RawState.PROCESSED
    call = session.scalars(select(Call)).one()
    assert abs((call.started_at - arrived).total_seconds()) < 1
