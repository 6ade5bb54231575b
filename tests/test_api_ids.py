"""Found by the API fuzz: ids past 64 bits and non-object bodies are answered 4xx, never 500."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from tests import api_world
from tests import desk_world as w
from tests.conftest import app_settings
from tests.factories import signed_in

HUGE = 10**30


@pytest.fixture
def settings(sqlite_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    return app_settings(sqlite_url, redis_url, tmp_path, GENERIC_SECRET=w.SECRET)


@pytest.mark.parametrize(("method", "url", "body", "status"), [
    ("GET", f"/api/calls/{HUGE}", None, 404),
    ("POST", f"/api/campaigns/tasks/{HUGE}/outcome", {"outcome": "busy"}, 404),
    ("GET", f"/api/calls?patient={HUGE}", None, 400),
    ("GET", f"/api/calls/1/script?doctor_id={HUGE}", None, 400),
    ("GET", f"/api/analytics/summary?number={HUGE}", None, 400),
    ("GET", "/api/analytics/summary?channel=%C2%B2", None, 400),  # "²" is a digit int() refuses
    ("PATCH", "/api/calls/1", {"patient_id": HUGE}, 400),
    ("POST", "/api/scripts/preview", {"scenario": "first_time", "clinic_id": HUGE}, 400),
    ("POST", "/api/desk/calls/1/patient", {"patient_id": -HUGE}, 400),
    ("POST", "/api/desk/unlock", [[{}, True]], 403),
])
def test_out_of_range_ids_and_odd_bodies(client: Any, session: Session, method: str, url: str,
                                         body: Any, status: int) -> None:
    api_world.build(client, session)
    signed_in(client, session, role="admin")
    response = client.open(url, method=method, json=body)
    assert response.status_code == status, response.get_data(as_text=True)
    assert set(response.get_json()) >= {"error", "message"}
