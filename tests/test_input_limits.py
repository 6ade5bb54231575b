"""Input that used to answer 500 (or was stored whole) gets a 4xx naming the field, on both databases.

Webhooks: what a call's columns cannot hold is refused at parse (400, raw row `invalid`); a
failure while applying keeps the raw row `failed` and still answers the PBX; re-processing never
answers 500 and `reprocess-failed` goes through every row. Limits: size and the sender's rate come
before any write on every webhook route, a refused body is kept cut short, and one request
carries at most MAX_WEBHOOK_EVENTS events. API: text is checked against its column, ids against
the 32-bit id range.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from callcenter import create_app
from callcenter.core.models import Call, CallEventRecord, Patient, RawState, RawWebhook, utcnow
from tests import api_world
from tests import desk_world as w
from tests.conftest import app_settings
from tests.factories import signed_in
from webhooks import ADAPTERS
from webhooks.hmac_signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

PUBLIC = "https://clinic.example"
TOKEN = "t-token"
REVIEW_BYTES = 4096  # the default of CALLCENTER_REVIEW_BODY_BYTES
MAX_BYTES = 262144  # the default of CALLCENTER_MAX_WEBHOOK_BYTES
SUBPATHS = {"twilio": "voice", "mango": "events/call"}


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    return app_settings(database_url, redis_url, tmp_path, GENERIC_SECRET=w.SECRET,
                        TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_URL=PUBLIC)


def _event(call_id: str = "lim-1", **fields: Any) -> dict[str, Any]:
    return {"call_id": call_id, "event": "ringing", "direction": "inbound", "from": w.MARIA_PHONE,
            "to": w.TRACKED, "timestamp": time.time(), **fields}


def _signed(body: bytes, stamp: int | None = None) -> dict[str, str]:
    stamp = stamp or int(time.time())
    return {"Content-Type": "application/json", TIMESTAMP_HEADER: str(stamp),
            SIGNATURE_HEADER: sign(w.SECRET, stamp, body)}


def _generic(client: Any, payload: Any) -> Any:
    body = json.dumps(payload).encode()  # ensure_ascii: a lone surrogate travels as "\ud800"
    return client.post("/webhooks/generic", data=body, headers=_signed(body))


def _twilio(client: Any, subpath: str, form: dict[str, str]) -> Any:
    signature = RequestValidator(TOKEN).compute_signature(f"{PUBLIC}/webhooks/twilio/{subpath}", form)
    return client.post(f"/webhooks/twilio/{subpath}", data=urlencode(form),
                       content_type="application/x-www-form-urlencoded",
                       headers={"X-Twilio-Signature": signature})


def _raws(session: Session) -> list[RawWebhook]:
    session.expire_all()
    return list(session.scalars(select(RawWebhook).order_by(RawWebhook.id)))


def _calls(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count(Call.id))) or 0


# --- webhook fields the columns cannot hold -------------------------------------------------------

@pytest.mark.parametrize(("fields", "named"), [
    ({"from": "\ud800"}, "from"),  # a lone surrogate: SQLite's driver cannot encode it
    ({"call_id": "c\x00"}, "call_id"),  # PostgreSQL refuses NUL in text
    ({"extension": "1\x0001"}, "extension"),
    ({"event_id": "e\udfff"}, "event_id"),
])
def test_generic_fields_no_database_can_hold_are_refused(client: Any, session: Session,
                                                         fields: dict[str, str], named: str) -> None:
    response = _generic(client, _event(**fields))
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.json["error"] == "invalid_payload" and response.json["field"] == named
    (raw,) = _raws(session)
    assert raw.state == RawState.INVALID and raw.id == response.json["raw_id"]
    assert _calls(session) == 0


@pytest.mark.parametrize("call_sid", ["CA" + "x" * 127, "CA\x001"])
def test_twilio_call_sid_too_long_or_with_nul_is_refused(client: Any, session: Session,
                                                          call_sid: str) -> None:
    response = _twilio(client, "voice", {"CallSid": call_sid, "From": w.MARIA_PHONE, "To": w.TRACKED,
                                         "CallStatus": "ringing", "Direction": "inbound"})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.json["field"] == "CallSid"
    (raw,) = _raws(session)
    assert raw.state == RawState.INVALID and _calls(session) == 0


def test_unsigned_post_to_a_nul_path_is_kept_as_rejected(client: Any, session: Session) -> None:
    response = client.post("/webhooks/twilio/%00", data=b"CallSid=CA1")
    assert response.status_code == 403 and response.json["error"] == "bad_signature"
    (raw,) = _raws(session)
    assert raw.state == RawState.REJECTED and raw.path == "\\x00"


# --- a failure while applying: the raw row kept `failed`, the PBX answered ----------------------

@pytest.fixture
def refusing_events(session: Session) -> Iterator[None]:
    """A database that refuses one event (a trigger): the kind of failure no parse check sees."""
    if session.get_bind().dialect.name == "postgresql":
        statements = ["CREATE FUNCTION refuse_boom() RETURNS trigger AS $$ BEGIN "
                      "IF NEW.dedupe_key LIKE '%boom%' THEN RAISE EXCEPTION 'refused by the test'; "
                      "END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
                      "CREATE TRIGGER refuse_boom BEFORE INSERT ON call_events FOR EACH ROW "
                      "EXECUTE FUNCTION refuse_boom()"]
        cleanup = ["DROP TRIGGER refuse_boom ON call_events", "DROP FUNCTION refuse_boom()"]
    else:
        statements = ["CREATE TRIGGER refuse_boom BEFORE INSERT ON call_events "
                      "WHEN NEW.dedupe_key LIKE '%boom%' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"]
        cleanup = ["DROP TRIGGER refuse_boom"]
    for statement in statements:
        session.execute(text(statement))
    session.commit()
    yield
    session.rollback()
    for statement in cleanup:
        session.execute(text(statement))
    session.commit()


def test_a_failed_apply_keeps_the_raw_row_failed_and_answers_the_pbx(
        client: Any, session: Session, refusing_events: None) -> None:
    response = _generic(client, [_event("ok-1", event_id="fine"), _event("ok-1", event_id="boom")])
    assert response.status_code == 204  # the PBX gets its usual answer, the phone keeps ringing
    (raw,) = _raws(session)
    assert raw.state == RawState.FAILED and "refused by the test" in raw.error
    assert _calls(session) == 0  # the savepoint took the first event back too

    voice = _twilio(client, "voice", {"CallSid": "CAboom", "From": w.MARIA_PHONE, "To": w.TRACKED,
                                      "CallStatus": "ringing", "Direction": "inbound"})
    assert voice.status_code == 200 and "<Response" in voice.get_data(as_text=True)
    assert [r.state for r in _raws(session)] == [RawState.FAILED, RawState.FAILED]


def test_reprocessing_a_failing_row_reports_the_failure(client: Any, session: Session,
                                                        refusing_events: None) -> None:
    signed_in(client, session, role="admin")
    _generic(client, _event(event_id="boom"))
    (raw,) = _raws(session)
    response = client.post(f"/api/webhooks/raw/{raw.id}/reprocess")
    assert response.status_code == 200
    assert response.json["error"]["error"] == "apply_failed"
    assert "refused by the test" in response.json["error"]["message"]
    (raw,) = _raws(session)
    assert raw.state == RawState.FAILED and raw.attempts == 2


def _stored_as_failed(session: Session, payload: Any) -> int:
    """A row an older version left `failed` (stored whole, signed, received now)."""
    body = json.dumps(payload).encode()
    raw = RawWebhook(provider="generic", path="", method="POST", query="", headers=_signed(body),
                     body=body, remote_addr="192.0.2.1", state=RawState.FAILED,
                     error="UnicodeEncodeError", attempts=1, received_at=utcnow())
    session.add(raw)
    session.commit()
    return raw.id


def test_reprocess_failed_goes_through_every_row(client: Any, session: Session,
                                                 refusing_events: None) -> None:
    signed_in(client, session, role="admin")
    surrogate = _stored_as_failed(session, _event("old-1", **{"from": "\ud800"}))
    boom = _stored_as_failed(session, _event("old-2", event_id="boom"))
    good = _stored_as_failed(session, _event("old-3"))
    response = client.post("/api/webhooks/raw/reprocess-failed")
    assert response.status_code == 200, response.get_data(as_text=True)
    results = {r["id"]: r for r in response.json["results"]}
    assert response.json["reprocessed"] == 3 and set(results) == {surrogate, boom, good}
    assert results[surrogate]["status"] == 400 and results[surrogate]["error"]["field"] == "from"
    assert results[boom]["error"]["error"] == "apply_failed"
    assert results[good]["error"] is None and len(results[good]["calls"]) == 1
    states = {r.id: r.state for r in _raws(session)}
    assert states == {surrogate: RawState.INVALID, boom: RawState.FAILED, good: RawState.PROCESSED}


# --- limits before storage ------------------------------------------------------------------------

STORING_ROUTES = [f"/webhooks/{name}" + (f"/{SUBPATHS[name]}" if name in SUBPATHS else "")
                  for name in sorted(ADAPTERS)] + ["/webhooks/twilio/outbound/1/status"]
OUTBOUND_STEPS = ["/webhooks/twilio/outbound/1/twiml", "/webhooks/twilio/outbound/1/gather"]


def _post(client: Any, path: str, body: bytes, address: str = "198.51.100.9") -> Any:
    return client.post(path, input_stream=io.BytesIO(body), content_length=len(body),
                       content_type="application/x-www-form-urlencoded",
                       environ_base={"REMOTE_ADDR": address})


@pytest.mark.parametrize("path", STORING_ROUTES + OUTBOUND_STEPS)
def test_unsigned_oversize_posts_are_refused_before_any_write(client: Any, session: Session,
                                                              path: str) -> None:
    huge = _post(client, path, b"CallStatus=completed&x=" + b"a" * 900_000)
    assert huge.status_code == 413 and huge.json["error"] == "payload_too_large"
    assert _raws(session) == []
    large = b"CallStatus=completed&x=" + b"a" * (MAX_BYTES - 100)
    refused = _post(client, path, large)
    assert refused.status_code == 403, refused.get_data(as_text=True)
    stored = _raws(session)
    if path in OUTBOUND_STEPS:
        assert stored == []  # their signature is checked before anything is stored
    else:
        (raw,) = stored
        assert raw.state == RawState.REJECTED and raw.body == large[:REVIEW_BYTES]


def test_the_rate_limit_covers_the_outbound_callbacks(settings: dict[str, Any], session: Session) -> None:
    app = create_app({**settings, "WEBHOOK_RATE": 3})
    try:
        client = app.test_client()
        codes = [_post(client, "/webhooks/twilio/outbound/1/status", b"CallStatus=completed").status_code
                 for _ in range(5)]
        assert codes == [403, 403, 403, 429, 429]
        assert len(_raws(session)) == 3
        assert _post(client, "/webhooks/twilio/outbound/1/twiml", b"").status_code == 429
    finally:
        app.extensions["callcenter"].close()


def test_one_request_carries_at_most_the_event_limit(client: Any, session: Session) -> None:
    events = [_event("many", event_id=f"e{n}", timestamp=time.time() + n) for n in range(1500)]
    response = _generic(client, events)
    assert response.status_code == 413 and response.json["error"] == "too_many_events"
    (raw,) = _raws(session)
    assert raw.state == RawState.INVALID and len(raw.body) == REVIEW_BYTES
    assert _calls(session) == 0
    assert _generic(client, events[:100]).status_code == 204
    assert session.scalar(select(func.count(CallEventRecord.id))) == 100


# --- the API: text against its column, ids against the id range ----------------------------------

@pytest.fixture
def world(client: Any, session: Session) -> tuple[w.World, int]:
    desk = api_world.build(client, session)
    signed_in(client, session, role="admin")
    call_id = session.scalars(select(Call.id).where(Call.caller == w.STRANGER_PHONE)).one()
    return desk, call_id


def _send(client: Any, method: str, url: str, body: Any) -> Any:
    """JSON as a browser sends it: a lone surrogate escaped as \\ud800 (the test client's own
    encoder would refuse to send it)."""
    data = None if body is None else json.dumps(body)
    return client.open(url, method=method, data=data, content_type="application/json")


@pytest.mark.parametrize(("body", "named"), [
    ({"first_name": "Ann", "language": "klingon-x"}, "language"),  # VARCHAR(8) on PostgreSQL
    ({"first_name": "Ann", "notes": "a\x00b"}, "notes"),
    ({"first_name": "Ann\ud800"}, "first_name"),
    ({"first_name": "A" * 101}, "first_name"),
    ({"first_name": 5}, "first_name"),
])
def test_new_patient_text_is_checked_against_its_columns(client: Any, session: Session, world: Any,
                                                         body: dict[str, Any], named: str) -> None:
    _, call_id = world
    before = session.scalar(select(func.count(Patient.id)))
    response = _send(client, "POST", f"/api/desk/calls/{call_id}/new-patient", body)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.json["field"] == named
    assert session.scalar(select(func.count(Patient.id))) == before


@pytest.mark.parametrize(("method", "url", "body", "named"), [
    ("POST", "/api/desk/calls/{call}/wrap-up", {"notes": "x\x00"}, "notes"),
    ("POST", "/api/desk/calls/{call}/wrap-up", {"heard_from": "maps\x00"}, "heard_from"),
    ("POST", "/api/desk/calls/{call}/wrap-up", {"heard_from": None, "heard_from_note": "n" * 201},
     "heard_from_note"),
    ("PATCH", "/api/calls/{call}", {"notes": "\udc00"}, "notes"),
    ("PATCH", "/api/calls/{call}", {"notes": "n" * 5001}, "notes"),
    ("PATCH", "/api/calls/{call}", {"heard_from": "\x00"}, "heard_from"),
    ("PATCH", "/api/calls/{call}", {"\ud800": 1}, "\\ud800"),
    ("GET", "/api/calls?channel=%00", None, "channel"),
    ("PATCH", "/api/tracking-numbers/{number}", {"channel": None, "label": "\x00"}, "label"),
    ("PATCH", "/api/tracking-numbers/{number}", {"channel": "c\x00"}, "channel"),
])
def test_call_edits_refuse_text_their_columns_cannot_hold(client: Any, session: Session, world: Any,
                                                          method: str, url: str, body: Any,
                                                          named: str) -> None:
    _, call_id = world
    number_id = session.execute(text("SELECT min(id) FROM tracking_numbers")).scalar_one()
    response = _send(client, method, url.format(call=call_id, number=number_id), body)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.json["field"] == named


def test_ids_beyond_the_id_columns_are_404_on_every_id_route(app: Any, client: Any,
                                                              session: Session, world: Any) -> None:
    routes = [(rule, method) for rule in app.url_map.iter_rules() if "<int:" in str(rule.rule)
              for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})]
    assert len(routes) > 15
    for big in (2**31, 2**63, 10**30):
        for rule, method in routes:
            url = str(rule.rule)
            for name in rule.arguments:
                url = url.replace(f"<int:{name}>", str(big))
            response = client.open(url, method=method, json={})
            if url.startswith("/webhooks/"):
                # No outbound route matches, so the catch-all takes it: Twilio knows no such path.
                assert response.status_code in (403, 404) and response.is_json, (method, url)
            else:
                assert response.status_code == 404, (method, url, response.get_data(as_text=True))
