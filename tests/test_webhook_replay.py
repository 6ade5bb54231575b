"""Captured webhooks re-sent with what their signature does not cover changed: no call is created
or altered (docs/security.md, "Webhook signatures and replay").

One test per finding: Mango verified a url-encoded body but parsed a multipart one; Zadarma's
signature leaves pbx_call_id, the event type and the outcome uncovered; and for every provider
without a signed time stamp (Twilio, Zadarma, Mango, Yeastar, 3CX) a captured request re-sent
with one uncovered part changed is refused or changes nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core.models import Call, RawState, RawWebhook
from tests.conftest import PAYLOADS, app_settings
from tests.dialects import SECRETS, Signed, signed_requests, zadarma_signature
from tests.test_pbx_calls_end_to_end import PUBLIC, TOKEN
from tests.test_replay_order import twilio

COLUMNS = ("provider", "provider_call_id", "direction", "status", "caller", "dialed", "extension",
           "duration", "recording_url", "started_at", "answered_at", "ended_at")
Request = tuple[str, bytes, dict[str, str]]


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    return app_settings(database_url, redis_url, tmp_path, **SECRETS, TWILIO_AUTH_TOKEN=TOKEN,
                        PUBLIC_URL=PUBLIC, TWILIO_RING="sip:101@clinic-desk.sip.twilio.com")


def _send(client: Any, path: str, body: bytes, headers: dict[str, str]) -> Any:
    # input_stream: exactly these bytes (the test client would re-encode a multipart body).
    return client.post(path, input_stream=io.BytesIO(body), content_length=len(body),
                       headers=headers)


def _calls(session: Session) -> list[tuple]:
    session.expire_all()
    return [(*(getattr(c, name) for name in COLUMNS), len(c.events))
            for c in session.scalars(select(Call).order_by(Call.provider, Call.provider_call_id))]


def _post_all(client: Any, requests: list[Request]) -> None:
    for path, body, headers in requests:
        response = _send(client, path, body, headers)
        assert response.status_code in (200, 204), (path, response.get_data(as_text=True))


# --- Mango: what the sign covers is what is parsed -------------------------------------------

def _mango_form(text: str) -> bytes:
    key, salt = SECRETS["MANGO_API_KEY"], SECRETS["MANGO_SALT"]
    digest = hashlib.sha256((key + text + salt).encode()).hexdigest()
    return urlencode({"vpbx_api_key": key, "sign": digest, "json": text}).encode()


def test_mango_signed_ping_with_an_appended_multipart_summary_stores_no_call(client: Any,
                                                                             session: Session) -> None:
    """The finding: a url-encoded reading saw the signed ping, a multipart reading the forgery."""
    summary = json.loads((PAYLOADS / "mango" / "reference" / "events_summary.doc.json")
                         .read_text())["examples"]["1_inbound_answered_by_ext_123"]
    forged = json.dumps(summary, separators=(",", ":")).encode()
    body = (_mango_form(json.dumps({"ping": "1"}))
            + b'&x=\r\n--B\r\nContent-Disposition: form-data; name="json"\r\n\r\n'
            + forged + b"\r\n--B--\r\n")
    path = "/webhooks/mango/events/summary"
    multipart = _send(client, path, body, {"Content-Type": "multipart/form-data; boundary=B"})
    assert multipart.status_code == 403 and "Content-Type" in multipart.json["message"]
    # Read as the form it is, the signed `json` is the ping: not a summary, nothing stored.
    form = _send(client, path, body, {"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 400 and form.json["field"] == "entry_id"
    assert _calls(session) == []


# --- Zadarma: binding what the Signature leaves out ------------------------------------------

START = {"event": "NOTIFY_START", "call_start": "2024-05-01 13:00:00", "pbx_call_id": "in_real",
         "caller_id": "79001234567", "called_did": "74951234567"}
FORM_TYPE = {"Content-Type": "application/x-www-form-urlencoded"}


def _zadarma(client: Any, form: dict[str, str], signature: str | None = None) -> Any:
    proof = signature or zadarma_signature(form, SECRETS["ZADARMA_SECRET"])
    return _send(client, "/webhooks/zadarma", urlencode(form).encode(),
                 {**FORM_TYPE, "Signature": proof})


def _refused(response: Any, field: str) -> None:
    assert response.status_code == 403, response.get_data(as_text=True)
    assert response.json["error"] == "replay_refused" and response.json["field"] == field


def test_zadarma_captured_signature_with_a_new_call_id_and_notify_end_is_refused(
        client: Any, session: Session) -> None:
    """The finding: START's signature replayed as NOTIFY_END of a made-up pbx_call_id."""
    assert _zadarma(client, START).status_code == 200
    before = _calls(session)
    captured = zadarma_signature(START, SECRETS["ZADARMA_SECRET"])
    forged = {**START, "event": "NOTIFY_END", "pbx_call_id": "in_forged", "internal": "101",
              "duration": "600", "disposition": "answered", "status_code": "16"}
    _refused(_zadarma(client, forged, captured), "pbx_call_id")
    assert _calls(session) == before
    rejected = session.scalars(select(RawWebhook).where(RawWebhook.state == RawState.REJECTED)).one()
    assert rejected.error.startswith("binding: pbx_call_id")


def test_zadarma_signed_fields_re_cut_into_other_values_are_refused(client: Any,
                                                                   session: Session) -> None:
    """Zadarma concatenates without separators: the same signed string, another caller."""
    assert _zadarma(client, START).status_code == 200
    before = _calls(session)
    captured = zadarma_signature(START, SECRETS["ZADARMA_SECRET"])
    re_cut = {**START, "caller_id": "7900123456", "called_did": "774951234567"}
    assert zadarma_signature(re_cut, SECRETS["ZADARMA_SECRET"]) == captured
    _refused(_zadarma(client, re_cut, captured), "pbx_call_id")
    _refused(_zadarma(client, {**re_cut, "pbx_call_id": "in_other"}, captured), "pbx_call_id")
    assert _calls(session) == before


def test_zadarma_another_calls_signature_cannot_be_applied_to_this_call(client: Any,
                                                                       session: Session) -> None:
    """A valid signature of other facts (another caller) does not fit a call already established."""
    assert _zadarma(client, START).status_code == 200
    before = _calls(session)
    other = {**START, "caller_id": "79005550000", "event": "NOTIFY_END", "duration": "0",
             "disposition": "busy"}
    _refused(_zadarma(client, other), "pbx_call_id")
    assert _calls(session) == before


def test_zadarma_first_end_is_the_outcome_and_a_different_one_is_refused(client: Any,
                                                                       session: Session) -> None:
    end = {**START, "event": "NOTIFY_END", "internal": "", "duration": "0",
           "disposition": "no answer", "status_code": "19", "is_recorded": "0",
           "call_id_with_rec": ""}
    assert _zadarma(client, START).status_code == 200
    assert _zadarma(client, end).status_code == 200
    assert _zadarma(client, end).status_code == 200  # a redelivery is the same outcome
    before = _calls(session)
    assert before[0][3] == "missed"
    answered = {**end, "internal": "101", "duration": "600", "disposition": "answered",
                "status_code": "16"}
    _refused(_zadarma(client, answered), "disposition")
    assert _calls(session) == before


# --- Every provider without a signed time: one uncovered part changed -------------------------

def _signed(provider: str) -> list[Request]:
    requests: list[Signed] = signed_requests(provider, "inbound_answered", datetime.now(UTC))
    return [(r.path, r.body, r.headers) for r in requests]


def _with(request: Request, body: bytes | None = None, path: str | None = None,
          **headers: str) -> Request:
    old_path, old_body, old_headers = request
    return (path or old_path, old_body if body is None else body, {**old_headers, **headers})


def _form_changed(request: Request, **changes: str) -> Request:
    form = dict(parse_qsl(request[1].decode(), keep_blank_values=True))
    return _with(request, body=urlencode({**form, **changes}).encode())


def _twilio_variants() -> tuple[list[Request], list[tuple[Request, int]]]:
    flow = twilio("answered")
    status = next(r for r in flow if r[0].endswith("/status"))
    return flow, [
        (_with(status, path=status[0] + "?CallSid=CAforged"), 403),  # the URL is signed
        (_with(status, body=status[1] + b"&From=%2B79990000000"), 400),  # a key sent twice
        (_form_changed(status, CallStatus="busy"), 403),
        (_with(status, **{"Content-Type": "application/json"}), 400),
    ]


def _zadarma_variants() -> tuple[list[Request], list[tuple[Request, int]]]:
    flow = _signed("zadarma")
    answer = next(r for r in flow if b"NOTIFY_ANSWER" in r[1])
    end = next(r for r in flow if b"NOTIFY_END" in r[1])
    return flow, [
        (_form_changed(end, pbx_call_id="in_forged"), 403),
        (_form_changed(end, duration="9999"), 403),
        (_form_changed(end, disposition="busy"), 403),
        (_form_changed(end, call_id_with_rec="1714557600.9"), 403),
        (_form_changed(answer, internal="102"), 200),  # unsigned and not read: changes nothing
        (_form_changed(answer, event="NOTIFY_INTERNAL"), 403),  # signs other fields
        (_with(end, **{"Content-Type": "multipart/form-data; boundary=x"}), 400),
    ]


def _mango_variants() -> tuple[list[Request], list[tuple[Request, int]]]:
    flow = _signed("mango")
    summary = next(r for r in flow if r[0].endswith("/summary"))
    leg = flow[0]
    return flow, [
        (_with(leg, path="/webhooks/mango/events/summary"), 400),  # the path is not signed
        (_with(summary, path="/webhooks/mango/events/call"), 400),
        (_with(summary, body=summary[1] + b"&entry_id=forged"), 200),  # not read
        (_with(summary, body=summary[1] + b"&json=%7B%7D"), 403),  # `json` twice: no one proof
        (_with(summary, **{"Content-Type": "application/json"}), 403),
    ]


def _yeastar_variants() -> tuple[list[Request], list[tuple[Request, int]]]:
    flow = _signed("yeastar")
    cdr = flow[-1]
    return flow, [
        (_with(cdr, path=cdr[0] + "?call_id=1714557600.999"), 200),  # the query is not read
        (_with(cdr, body=cdr[1].replace(b"ANSWERED", b"NO ANSWER")), 403),
        (_with(cdr, **{"Content-Type": "text/plain"}), 400),
    ]


def _threecx_variants() -> tuple[list[Request], list[tuple[Request, int]]]:
    flow = _signed("3cx")
    report = flow[0]
    key_in_query = (report[0] + f"?key={SECRETS['3CX_SECRET']}", report[1],
                    {k: v for k, v in report[2].items() if k != "X-Api-Key"})
    return flow, [
        (_form_changed(report, call_type="Missed"), 403),
        (_form_changed(report, duration="00:00:05"), 403),
        (_form_changed(report, agent="102"), 403),
        (key_in_query, 403),
        (_with(report, **{"Content-Type": "multipart/form-data; boundary=x"}), 400),
    ]


VARIANTS: dict[str, Callable[[], tuple[list[Request], list[tuple[Request, int]]]]] = {
    "twilio": _twilio_variants, "zadarma": _zadarma_variants, "mango": _mango_variants,
    "yeastar": _yeastar_variants, "3cx": _threecx_variants,
}


@pytest.mark.parametrize("provider", sorted(VARIANTS))
def test_a_captured_request_with_one_uncovered_part_changed_changes_no_call(
        provider: str, client: Any, session: Session) -> None:
    flow, variants = VARIANTS[provider]()
    _post_all(client, flow)
    recorded = _calls(session)
    assert len(recorded) == 1
    for (path, body, headers), status in variants:
        response = _send(client, path, body, headers)
        assert response.status_code in ((200, 204) if status == 200 else (status,)), (
            path, body[-80:], response.get_data(as_text=True))
        assert _calls(session) == recorded, (path, body[-80:])
    _post_all(client, flow)  # and the exact requests again: the same call, nothing added
    assert _calls(session) == recorded

