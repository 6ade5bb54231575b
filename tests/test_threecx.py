"""3CX: the journaling adapter, the ring-time contact lookup, and the template that ties them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core.models import AuditLog
from tests import factories as f
from tests.conftest import app_settings
from tests.dialects import ADAPTER_SETTINGS, SECRETS
from webhooks import CallEventKind, Direction, InboundRequest, PayloadError, SignatureError
from webhooks.threecx import ThreeCXAdapter, seconds

ADAPTER = ThreeCXAdapter()
TEMPLATE = Path(__file__).parent.parent / "integrations" / "3cx" / "callcenter.xml"
KEY = {"X-Api-Key": SECRETS["3CX_SECRET"]}


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    return app_settings(database_url, redis_url, tmp_path, **{"3CX_SECRET": SECRETS["3CX_SECRET"]},
                        PUBLIC_URL="https://clinic.example")


def _journal(fields: dict[str, str], headers: dict[str, str] | None = None,
             query: str = "") -> InboundRequest:
    return InboundRequest(provider="3cx", subpath="", method="POST", url="https://x/",
                          headers=KEY if headers is None else headers,
                          body=urlencode(fields).encode(), query=query)


CALL = {"call_type": "Outbound", "number": "+79001234567", "agent": "102", "duration": "00:00:40",
        "start_utc": "2024-05-01T10:00:00Z", "end_utc": "2024-05-01T10:00:55Z"}


def test_key_in_the_query_string_is_not_accepted() -> None:
    """Query strings land in access logs and the stored raw request: the key travels as a header."""
    with pytest.raises(SignatureError):
        ADAPTER.verify(_journal(CALL, headers={}, query=f"key={SECRETS['3CX_SECRET']}"),
                       ADAPTER_SETTINGS)
    ADAPTER.verify(_journal(CALL), ADAPTER_SETTINGS)


def test_outbound_journal_entry_is_one_complete_call() -> None:
    events = ADAPTER.parse(_journal(CALL), ADAPTER_SETTINGS)
    assert [e.kind for e in events] == [CallEventKind.RINGING, CallEventKind.ANSWERED,
                                        CallEventKind.ENDED]
    assert {e.direction for e in events} == {Direction.OUTBOUND}
    assert events[0].dialed == "+79001234567" and events[0].caller is None
    assert events[2].duration == 40 and events[2].extension == "102"
    assert (events[2].occurred_at - events[1].occurred_at).total_seconds() == 40


def test_not_answered_outbound_has_no_answer() -> None:
    events = ADAPTER.parse(_journal({**CALL, "call_type": "Notanswered"}), ADAPTER_SETTINGS)
    assert [e.kind for e in events] == [CallEventKind.RINGING, CallEventKind.MISSED]


def test_json_journal_is_read_too() -> None:
    import json

    request = InboundRequest(provider="3cx", subpath="", method="POST", url="https://x/",
                             headers={**KEY, "Content-Type": "application/json"},
                             body=json.dumps(CALL).encode())
    assert len(ADAPTER.parse(request, ADAPTER_SETTINGS)) == 3


@pytest.mark.parametrize(("text", "expected"), [("95", 95), ("00:01:35", 95),
                                                ("1:02:03", 3723), ("1.00:00:01", 86401),
                                                ("00:01:35.4410000", 95)])
def test_duration_formats(text: str, expected: int) -> None:
    assert seconds(text) == expected


@pytest.mark.parametrize("text", ["1:75:00", "abc", "-5"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(PayloadError):
        seconds(text)


def test_end_before_start_is_refused() -> None:
    with pytest.raises(PayloadError):
        ADAPTER.parse(_journal({**CALL, "end_utc": "2024-05-01T09:00:00Z"}), ADAPTER_SETTINGS)


def test_lookup_names_the_one_patient_and_audits_masked(client, session: Session) -> None:
    clinic = f.clinic(session)
    patient = f.patient(session, clinic, "+79001234567", first_name="Olga", last_name="Smirnova")
    session.commit()
    response = client.get("/3cx/lookup?number=+79001234567", headers=KEY)
    assert response.status_code == 200
    assert response.json == {
        "id": str(patient.id), "first_name": "Olga", "last_name": "Smirnova",
        "phone": "+79001234567", "matches": 1,
        "contact_url": f"https://clinic.example/desk/patients/{patient.id}",
    }
    row = session.scalars(select(AuditLog)).one()
    assert (row.action, row.object_id, row.staff_id) == ("lookup", str(patient.id), None)
    assert row.details["by"] == "3cx" and "1234567" not in str(row.details)


def test_lookup_of_a_shared_or_unknown_number_names_nobody(client, session: Session) -> None:
    clinic = f.clinic(session)
    f.patient(session, clinic, "+79001112233", first_name="Anna")
    f.patient(session, clinic, "+79001112233", first_name="Pavel")
    session.commit()
    shared = client.get("/3cx/lookup", query_string={"number": "89001112233"}, headers=KEY)
    unknown = client.get("/3cx/lookup", query_string={"number": "+79990000000"}, headers=KEY)
    assert shared.json == {"matches": 2} and unknown.json == {"matches": 0}
    assert len(session.scalars(select(AuditLog)).all()) == 2


def test_lookup_refuses_a_wrong_key_and_names_a_missing_number(client) -> None:
    assert client.get("/3cx/lookup?number=1", headers={"X-Api-Key": "x"}).status_code == 403
    # The right key, but in the query string (access logs keep it): refused like a wrong one.
    in_query = client.get("/3cx/lookup", query_string={"number": "1", "key": SECRETS["3CX_SECRET"]})
    assert in_query.status_code == 403
    missing = client.get("/3cx/lookup", headers=KEY)
    assert missing.status_code == 400 and missing.json["field"] == "number"


def test_template_asks_for_what_our_endpoints_read() -> None:
    root = ET.parse(TEMPLATE).getroot()
    lookup, journal = root.find("Scenarios").findall("Scenario")
    assert lookup.get("Id") == "" and journal.get("Id") == "ReportCall"
    assert lookup.find("Request").get("Url").endswith("/3cx/lookup?number=[Number]")
    assert journal.find("Request").get("Url").endswith("/webhooks/3cx")
    paths = {v.get("Path") for v in lookup.find("Variables")}
    assert paths == {"id", "first_name", "last_name", "phone", "contact_url"}
    posted = {v.get("Key"): v.text for v in journal.find("Request/PostValues")}
    events = ADAPTER.parse(_journal({k: CALL.get(k, "") for k in posted}), ADAPTER_SETTINGS)
    assert len(events) == 3
    for scenario in (lookup, journal):
        assert scenario.find("Request/Headers/Value").get("Key") == "X-Api-Key"
