"""The call log API: filters, one call with its events, desk edits, clear 4xx on bad input."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from callcenter.core.models import Channel
from callcenter.inbound.calls import record_call_event
from tests import factories as f
from webhooks import CallEventKind as K

CONFIG: dict[str, Any] = {"TIMEZONE": "Europe/Moscow", "LOCALE": "ru", "REGION": "RU"}


def _calls(session: Session) -> None:
    clinic = f.clinic(session)
    f.channel_number(session, clinic, "maps_listing", "+74951230001")
    f.channel_number(session, clinic, "billboard", "+74951230002")
    f.patient(session, clinic, "+79001234567")
    for ev in [
        f.event(K.RINGING, 0, call_id="a"), f.event(K.ANSWERED, 5, call_id="a", extension="101"),
        f.event(K.ENDED, 60, call_id="a"),
        f.event(K.RINGING, 100, call_id="b", caller="+79005550000", dialed="+74951230002"),
        f.event(K.MISSED, 130, call_id="b", caller="+79005550000", dialed="+74951230002"),
        f.event(K.RINGING, 200, call_id="c", dialed="+74959999999"),
    ]:
        record_call_event(session, ev, config=CONFIG)
    session.commit()


def test_list_and_filter(client, session: Session) -> None:
    _calls(session)
    f.signed_in(client, session)
    everything = client.get("/api/calls").json
    assert everything["total"] == 3
    assert [c["provider_call_id"] for c in everything["calls"]] == ["c", "b", "a"]
    assert client.get("/api/calls?status=missed").json["calls"][0]["provider_call_id"] == "b"
    assert client.get("/api/calls?channel=maps_listing").json["total"] == 1
    assert client.get("/api/calls?channel=unattributed").json["calls"][0]["provider_call_id"] == "c"
    since = "2026-03-10T07:01:00+00:00"
    assert client.get("/api/calls", query_string={"from": since}).json["total"] == 2
    patient_id = everything["calls"][2]["patient_id"]
    assert client.get(f"/api/calls?patient={patient_id}").json["total"] == 2


def test_one_call_with_events_and_edits(client, session: Session) -> None:
    _calls(session)
    session.add(Channel(code="friend", name="Friend's advice"))
    session.commit()
    f.signed_in(client, session)
    call = client.get("/api/calls?channel=maps_listing").json["calls"][0]
    detail = client.get(f"/api/calls/{call['id']}").json
    assert [e["kind"] for e in detail["events"]] == ["ringing", "answered", "ended"]
    response = client.patch(f"/api/calls/{call['id']}", json={
        "outcome": "booked", "heard_from": "friend", "heard_from_note": "neighbour", "notes": "implant"})
    assert response.status_code == 200, response.json
    assert response.json["heard_from"] == "friend" and response.json["channel"] == "maps_listing"
    assert response.json["outcome"] == "booked"


def test_bad_input_names_the_field(client, session: Session) -> None:
    _calls(session)
    f.signed_in(client, session)
    cases = [
        ("/api/calls?from=yesterday", "from"),
        ("/api/calls?from=2026-03-10T00:00:00", "from"),
        ("/api/calls?status=maybe", "status"),
        ("/api/calls?limit=-3", "limit"),
        ("/api/calls?agent=x", "agent"),
    ]
    for url, field in cases:
        response = client.get(url)
        assert response.status_code == 400 and response.json["field"] == field, url
    call_id = client.get("/api/calls").json["calls"][0]["id"]
    for body, field in [({"outcome": "great"}, "outcome"), ({"heard_from": "tv"}, "heard_from"),
                        ({"patient_id": "x"}, "patient_id"), ({"colour": 1}, "colour"),
                        ([1, 2], "body")]:
        response = client.patch(f"/api/calls/{call_id}", json=body)
        assert response.status_code == 400 and response.json["field"] == field, body
    missing = client.patch(f"/api/calls/{call_id}", json={"patient_id": 999999, "notes": "kept?"})
    assert missing.status_code == 404 and missing.json["field"] == "patient_id"
    assert client.get(f"/api/calls/{call_id}").json["notes"] != "kept?"  # nothing half-written
    assert client.get("/api/calls/999999").status_code == 404


def test_admin_assigns_an_unattributed_number(client, session: Session) -> None:
    _calls(session)
    f.signed_in(client, session, role="admin", extension=None)
    pending = client.get("/api/tracking-numbers?unattributed=1").json
    assert [n["e164"] for n in pending] == ["+74959999999"]
    moved = client.patch(f"/api/tracking-numbers/{pending[0]['id']}", json={"channel": "billboard"})
    assert moved.json["calls_updated"] == 1
    assert client.get("/api/tracking-numbers?unattributed=1").json == []
