"""The webhook route's edges: unknown provider, oversized body, database down — always JSON, never 500."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.models import RawState, RawWebhook
from tests.conftest import app_settings


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return app_settings(database_url, redis_url, tmp_path, MAX_WEBHOOK_BYTES=1024)


def test_unknown_provider_is_404_and_kept(client, session: Session) -> None:
    response = client.post("/webhooks/nosuchpbx", data=b"x=1")
    assert response.status_code == 404 and response.json["error"] == "unknown_provider"
    raw = session.scalars(select(RawWebhook)).one()
    assert raw.state == RawState.REJECTED and raw.body == b"x=1"


def test_oversized_body_is_413(client) -> None:
    response = client.post("/webhooks/generic", data=b"x" * 2048, content_type="application/json")
    assert response.status_code == 413 and response.json["error"] == "payload_too_large"


def test_database_down_answers_503_so_the_pbx_retries(redis_url: str, tmp_path) -> None:
    from callcenter import create_app

    broken = app_settings(f"sqlite:///{tmp_path}/missing/dir/../../nope/x.db", redis_url, tmp_path)
    app = create_app(broken)
    response = app.test_client().post("/webhooks/generic", data=b"{}", content_type="application/json")
    assert response.status_code == 503 and response.json["error"] == "database_unavailable"
    assert response.headers["Retry-After"] == "5"
