"""The Twilio browser phone as far as it goes without Twilio's cloud (both databases): the Voice
SDK access token the desk gets, decoded and verified with the API key's secret as Twilio would;
the TwiML app's voice URL answering requests signed the way Twilio signs them; and a call the
page reports followed by Twilio's own status callback for the same CallSid, logged once.

What stays untested offline — the SDK's signalling to Twilio's edge and the media — is said in
docs/softphone.md."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from callcenter.access import softphone_accounts
from callcenter.core.models import Call, CallDirection, CallStatus, Clinic, OptOut, Staff, utcnow
from callcenter.desk import softphone
from tests import factories as f
from tests.conftest import app_settings

TOKEN = "0123456789abcdef0123456789abcdef"
ACCOUNT = "AC" + "1" * 32
API_KEY = "SK" + "2" * 32
API_SECRET = "api-key-secret-for-the-softphone-tests"
APP = "AP" + "3" * 32
PUBLIC = "https://clinic.example"
CALLER_ID = "+74951230001"
PATIENT = "+79161234567"
VOICE_URL = f"{PUBLIC}/webhooks/twilio/softphone"


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    return app_settings(database_url, redis_url, tmp_path, TWILIO_AUTH_TOKEN=TOKEN, TWILIO_ACCOUNT_SID=ACCOUNT,
                        TWILIO_API_KEY_SID=API_KEY, TWILIO_API_KEY_SECRET=API_SECRET,
                        TWILIO_TWIML_APP_SID=APP, PUBLIC_URL=PUBLIC)


@pytest.fixture
def clinic(session: Session) -> Clinic:
    row = f.clinic(session, caller_id=CALLER_ID)
    session.commit()
    return row


def _twilio_desk(session: Session, clinic: Clinic, extension: str, identity: str) -> Staff:
    staff = f.receptionist(session, clinic, extension, login=identity)
    softphone_accounts.store("test-secret", staff, softphone_accounts.Softphone("twilio", identity=identity))
    session.commit()
    return staff


@pytest.fixture
def anna(client: Any, session: Session, clinic: Clinic) -> Staff:
    staff = _twilio_desk(session, clinic, "201", "desk-anna")
    f.open_session(client, session, staff)
    return staff


def _signed(client: Any, form: dict[str, str], url: str = VOICE_URL, token: str = TOKEN) -> Any:
    signature = RequestValidator(token).compute_signature(url, form)
    return client.post(url.removeprefix(PUBLIC), data=urlencode(form),
                       content_type="application/x-www-form-urlencoded",
                       headers={"X-Twilio-Signature": signature})


def _sdk_call(to: str, **params: str) -> dict[str, str]:
    """What Twilio posts to the TwiML app's voice URL for device.connect({params: {To, ...}})."""
    return {"AccountSid": ACCOUNT, "ApplicationSid": APP, "CallSid": "CA" + "a" * 32,
            "CallStatus": "ringing", "Direction": "inbound", "From": "client:desk-anna",
            "Caller": "client:desk-anna", "To": to, "ApiVersion": "2010-04-01", **params}


def test_the_access_token_is_a_voice_grant_for_the_desks_identity(client: Any, anna: Staff) -> None:
    answer = client.post("/api/desk/softphone/token")
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    body = answer.get_json()
    assert (body["identity"], body["ttl"]) == ("desk-anna", 3600)
    header = jwt.get_unverified_header(body["token"])
    assert (header["alg"], header["cty"]) == ("HS256", "twilio-fpa;v=1")
    claims = jwt.decode(body["token"], API_SECRET, algorithms=["HS256"])  # Twilio checks with the key's secret
    assert (claims["iss"], claims["sub"]) == (API_KEY, ACCOUNT)
    issued = int(claims["jti"].removeprefix(f"{API_KEY}-"))  # Twilio's jti: the key and the issue time
    assert claims["exp"] - issued == 3600 and abs(issued - time.time()) < 600
    assert claims["grants"] == {"identity": "desk-anna", "voice": {
        "incoming": {"allow": True}, "outgoing": {"application_sid": APP}}}
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(body["token"], "another-secret-of-thirty-two-bytes!", algorithms=["HS256"])


def test_no_token_for_a_desk_without_a_twilio_phone_or_an_unset_installation(
        app: Any, client: Any, session: Session, clinic: Clinic) -> None:
    sip = f.receptionist(session, clinic, "202", login="sipdesk")
    softphone_accounts.store("test-secret", sip, softphone_accounts.Softphone(
        "sip", wss_url="wss://pbx.example.org/ws", sip_user="202", sip_domain="pbx.example.org", password="x"))
    session.commit()
    f.open_session(client, session, sip)
    refused = client.post("/api/desk/softphone/token")
    assert refused.status_code == 409 and refused.get_json()["field"] == "softphone"
    twilio_desk = _twilio_desk(session, clinic, "203", "desk-olga")
    f.open_session(client, session, twilio_desk)
    app.extensions["callcenter"].config["TWILIO_TWIML_APP_SID"] = ""  # the installation has no TwiML app yet
    unset = client.post("/api/desk/softphone/token")
    assert unset.status_code == 503 and unset.get_json()["field"] == "softphone"


def test_the_desk_page_may_connect_to_twilio_and_a_sip_desk_to_its_pbx_only(
        app: Any, client: Any, session: Session, clinic: Clinic, anna: Staff) -> None:
    policy = client.get("/desk").headers["Content-Security-Policy"]
    assert "connect-src 'self' wss://*.twilio.com https://*.twilio.com" in policy
    sip = f.receptionist(session, clinic, "202", login="sipdesk")
    softphone_accounts.store("test-secret", sip, softphone_accounts.Softphone(
        "sip", wss_url="wss://pbx.example.org:8089/ws", sip_user="202", sip_domain="pbx.example.org",
        password="x"))
    session.commit()
    other = app.test_client()
    f.open_session(other, session, sip)
    policy = other.get("/desk").headers["Content-Security-Policy"]
    assert "connect-src 'self' wss://pbx.example.org:8089;" in policy and "twilio" not in policy


def test_an_extension_rings_that_desks_twilio_client(client: Any, session: Session, clinic: Clinic,
                                                      anna: Staff) -> None:
    _twilio_desk(session, clinic, "202", "desk-olga")
    reply = ET.fromstring(_signed(client, _sdk_call("202")).data)
    dial = reply.find("Dial")
    assert dial is not None and dial.attrib["answerOnBridge"] == "true"
    assert [(c.tag, c.text) for c in dial] == [("Client", "desk-olga")]
    nobody = ET.fromstring(_signed(client, _sdk_call("299")).data)  # no Twilio desk there: no number either
    assert [c.tag for c in nobody] == ["Reject"]


def test_a_number_is_dialed_only_with_the_ticket_the_dial_rules_gave(client: Any, session: Session,
                                                                    anna: Staff) -> None:
    # Whatever the hour of this run, the patient asked us to call: the rules let the call through (audited).
    cleared = client.post("/api/desk/softphone/dial", json={"number": "8 916 123-45-67",
                                                            "asked_to_call": "patient asked to call back"})
    assert cleared.status_code == 200, cleared.get_json()
    ticket = cleared.get_json()["ticket"]
    assert cleared.get_json()["number"] == PATIENT

    reply = ET.fromstring(_signed(client, _sdk_call(PATIENT, ticket=ticket)).data)
    dial = reply.find("Dial")
    assert dial is not None and dial.attrib["callerId"] == CALLER_ID
    assert [(c.tag, c.text) for c in dial] == [("Number", PATIENT)]

    staff_id, expires, mac = ticket.split(".")
    expired = softphone.ticket("test-secret", anna.id, PATIENT, now=time.time() - 3600)
    for bad in ({}, {"ticket": ""}, {"ticket": f"{staff_id}.{expires}.{'0' * len(mac)}"},
                {"ticket": f"{int(staff_id) + 1}.{expires}.{mac}"}, {"ticket": expired},
                {"ticket": "not-a-ticket"}):
        refused = ET.fromstring(_signed(client, _sdk_call(PATIENT, **bad)).data)
        assert [c.tag for c in refused] == ["Reject"], bad
    # A ticket is for its number only.
    other = ET.fromstring(_signed(client, _sdk_call("+79031112233", ticket=ticket)).data)
    assert [c.tag for c in other] == ["Reject"]


def test_the_dial_rules_refuse_before_the_browser_dials(client: Any, session: Session, anna: Staff) -> None:
    session.add(OptOut(e164=PATIENT, scope="all", reason="asked not to be called"))
    session.commit()
    refused = client.post("/api/desk/softphone/dial", json={"number": PATIENT})
    assert refused.status_code == 409 and refused.get_json()["field"] == "number"
    undialable = client.post("/api/desk/softphone/dial", json={"number": "12"})
    assert undialable.status_code == 400 and undialable.get_json()["field"] == "number"
    missing = client.post("/api/desk/softphone/dial", json={"number": PATIENT, "task_id": 987654})
    assert missing.status_code == 404 and missing.get_json()["field"] == "task_id"


def test_a_request_twilio_did_not_sign_is_403(client: Any, anna: Staff) -> None:
    form = _sdk_call(PATIENT)
    forged = client.post("/webhooks/twilio/softphone", data=urlencode(form),
                         content_type="application/x-www-form-urlencoded",
                         headers={"X-Twilio-Signature": RequestValidator("another-token").compute_signature(
                             VOICE_URL, form)})
    assert forged.status_code == 403
    unsigned = client.post("/webhooks/twilio/softphone", data=urlencode(form),
                           content_type="application/x-www-form-urlencoded")
    assert unsigned.status_code == 403
    other_url = RequestValidator(TOKEN).compute_signature(f"{PUBLIC}/webhooks/twilio/voice", form)
    assert client.post("/webhooks/twilio/softphone", data=urlencode(form),
                       content_type="application/x-www-form-urlencoded",
                       headers={"X-Twilio-Signature": other_url}).status_code == 403


def test_the_pages_report_and_twilios_status_callback_are_one_call(client: Any, session: Session,
                                                                   anna: Staff) -> None:
    sid = "CA" + "b" * 32
    report = {"sip_call_id": sid, "direction": "outbound", "number": PATIENT}
    for kind in ("answered", "answered", "ended"):  # the page retries a post: nothing more
        answer = client.post("/api/desk/softphone/events", json={**report, "kind": kind})
        assert answer.status_code == 200, answer.get_json()
    call_id = answer.get_json()["call_id"]
    # The TwiML app's status callback for the SDK's leg: to Twilio, a call coming in from the client.
    status = {"AccountSid": ACCOUNT, "ApplicationSid": APP, "CallSid": sid, "CallStatus": "completed",
              "Direction": "inbound", "From": "client:desk-anna", "To": PATIENT, "CallDuration": "42",
              "SequenceNumber": "3", "Timestamp": format_datetime(utcnow()), "ApiVersion": "2010-04-01"}
    assert _signed(client, status, url=f"{PUBLIC}/webhooks/twilio/status").status_code in (200, 204)
    session.expire_all()
    calls = session.scalars(select(Call)).all()
    assert [c.id for c in calls] == [call_id]
    call = calls[0]
    assert (call.provider, call.provider_call_id) == ("twilio", sid)
    assert call.direction is CallDirection.OUTBOUND and call.dialed == PATIENT
    assert call.caller == CALLER_ID and call.extension == "201"
    assert call.status is CallStatus.COMPLETED
