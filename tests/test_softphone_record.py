"""What the browser phone reports about its calls, on both databases: logged through the same
ingest path as the PBX's webhooks, onto the PBX's call when there is one (one call, not two), a
retried post adding nothing, bad input answered 400 naming the field, and another clinic's call
404 like a missing one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.core.models import Call, CallDirection, CallEventRecord, CallStatus
from callcenter.desk import softphone
from tests import clinic_pair as cp
from tests import desk_world as w
from tests import factories as f
from tests.conftest import app_settings

SIP_CALL_ID = "3c26ad1f9e0b4a2c@pbx.example.org"


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    return app_settings(database_url, redis_url, tmp_path, GENERIC_SECRET=w.SECRET)


@pytest.fixture
def world(session: Session) -> w.World:
    return w.build(session)


@pytest.fixture
def desk(client: Any, session: Session, world: w.World) -> Any:
    f.open_session(client, session, world.anna)
    return client


def _report(desk: Any, **fields: Any) -> Any:
    body = {"kind": "answered", "sip_call_id": SIP_CALL_ID, "direction": "inbound", **fields}
    # As the browser's JSON.stringify sends it: a lone surrogate travels as the escape \ud800.
    return desk.post("/api/desk/softphone/events", data=json.dumps(body), content_type="application/json")


def _events(session: Session, call_id: int) -> list[str]:
    session.expire_all()
    return list(session.scalars(select(CallEventRecord.kind).where(CallEventRecord.call_id == call_id)
                                .order_by(CallEventRecord.id)))


def _calls(session: Session) -> list[Call]:
    session.expire_all()
    return list(session.scalars(select(Call).order_by(Call.id)))


def test_a_retried_post_adds_nothing(app: Any, desk: Any, session: Session, world: w.World) -> None:
    first = _report(desk, number=w.MARIA_PHONE)
    assert first.status_code == 200
    call_id = first.get_json()["call_id"]
    assert _report(desk, number=w.MARIA_PHONE).get_json() == {"call_id": call_id}
    # The domain function itself, as every caller reaches it: the same event id, nothing new.
    runtime = app.extensions["callcenter"]
    again = softphone.record(runtime, world.anna, softphone.Report(
        kind="answered", sip_call_id=SIP_CALL_ID, direction="inbound", number=w.MARIA_PHONE))
    assert again == call_id
    assert _events(session, call_id) == ["answered"]
    assert [c.id for c in _calls(session)] == [call_id]
    call = _calls(session)[0]
    assert (call.provider, call.provider_call_id, call.caller) == ("softphone", SIP_CALL_ID, w.MARIA_PHONE)
    assert (call.status, call.extension, call.clinic_id) == (CallStatus.ANSWERED, "101", world.clinic.id)
    assert _report(desk, kind="ended", number=w.MARIA_PHONE).status_code == 200
    assert _events(session, call_id) == ["answered", "ended"]
    assert _calls(session)[0].status is CallStatus.COMPLETED


def test_an_event_keyed_by_the_sip_call_id_lands_on_the_pbxs_call(desk: Any, session: Session) -> None:
    # A PBX that reports SIP Call-IDs (Kamailio, FreeSWITCH, Asterisk's CHANNEL(pjsip,call-id)).
    cp.post(desk, SIP_CALL_ID, "ringing", extension="101")
    (pbx_call,) = _calls(session)
    answered = _report(desk, number=w.MARIA_PHONE)
    assert answered.get_json() == {"call_id": pbx_call.id}
    # The PBX's own answer and hang-up come too, in whatever order: still the one call.
    cp.post(desk, SIP_CALL_ID, "answered", extension="101")
    assert _report(desk, kind="ended").get_json() == {"call_id": pbx_call.id}
    cp.post(desk, SIP_CALL_ID, "ended", extension="101")
    calls = _calls(session)
    assert [c.id for c in calls] == [pbx_call.id]
    assert (calls[0].provider, calls[0].status, calls[0].extension) == ("generic", CallStatus.COMPLETED, "101")
    assert "answered" in _events(session, pbx_call.id)


def test_a_ringing_phone_is_the_pop_of_the_same_caller(desk: Any, session: Session) -> None:
    """The PBX names its call by its own id (an Asterisk uniqueid), not by the SIP Call-ID: the
    browser's ringing line is the call ringing from the same number, and the page then names it."""
    cp.post(desk, "1733041234.77", "ringing", extension="101")
    (pbx_call,) = _calls(session)
    assert _report(desk, kind="ringing", number="8 916 111-22-33").get_json() == {"call_id": pbx_call.id}
    assert _report(desk, kind="answered", call_id=pbx_call.id).get_json() == {"call_id": pbx_call.id}
    assert [c.id for c in _calls(session)] == [pbx_call.id]
    assert _calls(session)[0].status is CallStatus.ANSWERED


def test_an_outbound_call_from_the_browser_is_one_call_with_the_clinics_caller_id(
        desk: Any, session: Session, world: w.World) -> None:
    world.clinic.caller_id = w.TRACKED
    session.commit()
    for kind in ("answered", "ended"):
        assert _report(desk, kind=kind, direction="outbound", number=w.STRANGER_PHONE).status_code == 200
    (call,) = _calls(session)
    assert (call.direction, call.dialed, call.caller) == (CallDirection.OUTBOUND, w.STRANGER_PHONE, w.TRACKED)
    assert call.status is CallStatus.COMPLETED


@pytest.mark.parametrize(("change", "field"), [
    ({"kind": "exploded"}, "kind"),
    ({"kind": 7}, "kind"),
    ({"direction": "sideways"}, "direction"),
    ({"sip_call_id": ""}, "sip_call_id"),
    ({"sip_call_id": "x" * 129}, "sip_call_id"),
    ({"sip_call_id": None}, "sip_call_id"),
    ({"sip_call_id": "a\x00b"}, "sip_call_id"),
    ({"call_id": "twelve"}, "call_id"),
    ({"call_id": 2**63}, "call_id"),
    ({"number": "+7\ud800"}, "number"),
    ({"target": "1" * 40}, "target"),
])
def test_bad_input_is_400_naming_the_field_and_writes_nothing(desk: Any, session: Session,
                                                              change: dict[str, Any], field: str) -> None:
    answer = _report(desk, **{"number": w.MARIA_PHONE, **change})
    assert answer.status_code == 400, answer.get_json()
    body = answer.get_json()
    assert body["field"] == field and body["error"] and body["message"]
    assert _calls(session) == []
    assert session.scalar(select(func.count(CallEventRecord.id))) == 0


def test_another_clinics_call_is_404_like_a_missing_one(app: Any, session: Session) -> None:
    pair = cp.build(app, session)
    desk = pair.clients_b["receptionist"]
    a_call = pair.a_ids["call_id"]
    before = _events(session, a_call)
    foreign = desk.post("/api/desk/softphone/events", json={
        "kind": "ended", "sip_call_id": SIP_CALL_ID, "direction": "inbound", "call_id": a_call})
    missing = desk.post("/api/desk/softphone/events", json={
        "kind": "ended", "sip_call_id": SIP_CALL_ID, "direction": "inbound", "call_id": 987654})
    assert foreign.status_code == missing.status_code == 404
    assert foreign.get_json() == missing.get_json()
    assert foreign.get_json()["field"] == "call_id"
    assert _events(session, a_call) == before
