"""A ringing call as each PBX would post it, signed the way that PBX signs: the admin page's
"send a test event" runs one through the real route, so verify, parse and apply are the ones a
real call meets.

Signing reuses each adapter's own helper. Telnyx is the exception that cannot be helped: it
signs with a private key only Telnyx holds, and the service has the public half, so the test
event carries our self-test signature instead (see `webhooks.telnyx.self_test_signature`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from twilio.request_validator import RequestValidator

from webhooks import hmac_signing, mango, telnyx, yeastar, zadarma
from webhooks.events import TEST_CALLER

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


@dataclass(frozen=True)
class Ring:
    """What the test call is: which number it dials, when, under which call id (the caller is
    always TEST_CALLER)."""

    call_id: str
    dialed: str  # E.164: one of the clinic's tracking numbers
    now: datetime  # aware


@dataclass(frozen=True)
class SampleRequest:
    provider: str
    subpath: str
    headers: dict[str, str]
    body: bytes
    mount: str = ""  # where the provider's webhooks arrive; "" = /webhooks/<provider>

    @property
    def path(self) -> str:
        return (self.mount or f"/webhooks/{self.provider}") + (f"/{self.subpath}" if self.subpath else "")


def new_call_id() -> str:
    return uuid.uuid4().hex


def _json(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def _own_signed(provider: str, secret: str, ring: Ring, body: bytes) -> SampleRequest:
    stamp = int(ring.now.timestamp())
    return SampleRequest(provider, "", {
        "Content-Type": JSON, hmac_signing.TIMESTAMP_HEADER: str(stamp),
        hmac_signing.SIGNATURE_HEADER: hmac_signing.sign(secret, stamp, body)}, body)


def _generic(ring: Ring, settings: Mapping[str, Any], mount_url: str) -> SampleRequest:
    body = _json({"call_id": ring.call_id, "event": "ringing", "direction": "inbound",
                  "from": TEST_CALLER, "to": ring.dialed, "timestamp": int(ring.now.timestamp())})
    return _own_signed("generic", settings["GENERIC_SECRET"], ring, body)


def _asterisk(ring: Ring, settings: Mapping[str, Any], mount_url: str) -> SampleRequest:
    # The trunk channel's Newchannel: the caller, and the DID as the extension dialed.
    body = _json({"Event": "Newchannel", "Channel": "PJSIP/trunk-test", "ChannelState": "4",
                  "ChannelStateDesc": "Ring", "CallerIDNum": TEST_CALLER, "Context": "from-trunk",
                  "Exten": ring.dialed, "Uniqueid": ring.call_id,
                  "Linkedid": ring.call_id, "Timestamp": f"{ring.now.timestamp():.6f}"})
    return _own_signed("asterisk", settings["ASTERISK_SECRET"], ring, body)


def _twilio(ring: Ring, settings: Mapping[str, Any], mount_url: str) -> SampleRequest:
    url = f"{mount_url}/voice"  # Twilio signs the URL it posts to
    account = settings.get("TWILIO_ACCOUNT_SID") or "AC" + "0" * 32
    form = {"AccountSid": account, "ApiVersion": "2010-04-01", "CallSid": "CA" + ring.call_id,
            "CallStatus": "ringing", "Direction": "inbound", "From": TEST_CALLER,
            "Caller": TEST_CALLER, "To": ring.dialed, "Called": ring.dialed}
    signature = RequestValidator(settings["TWILIO_AUTH_TOKEN"]).compute_signature(url, form)
    return SampleRequest("twilio", "voice", {"Content-Type": FORM, "X-Twilio-Signature": signature},
                         urlencode(form).encode())


def _zadarma(ring: Ring, settings: Mapping[str, Any], mount_url: str) -> SampleRequest:
    # call_start is the account's wall clock, read in the clinic's zone.
    start = ring.now.astimezone(ZoneInfo(settings["TIMEZONE"])).strftime("%Y-%m-%d %H:%M:%S")
    form = {"event": "NOTIFY_START", "call_start": start, "pbx_call_id": f"in_{ring.call_id}",
            "caller_id": TEST_CALLER, "called_did": ring.dialed}
    signed = "".join(form[name] for name in zadarma.SIGNED_FIELDS["NOTIFY_START"])
    signature = zadarma.expected_signatures(settings["ZADARMA_SECRET"], signed)[0].decode()
    return SampleRequest("zadarma", "", {"Content-Type": FORM, "Signature": signature},
                         urlencode(form).encode())


def _mango(ring: Ring, settings: Mapping[str, Any], mount_url: str) -> SampleRequest:
    text = json.dumps({"entry_id": ring.call_id, "call_id": f"{ring.call_id}:1",
                       "timestamp": int(ring.now.timestamp()), "seq": 1, "call_state": "Appeared",
                       "location": "ivr", "from": {"number": TEST_CALLER},
                       "to": {"number": ring.dialed, "line_number": ring.dialed}},
                      separators=(",", ":"))
    key, salt = settings["MANGO_API_KEY"], settings["MANGO_SALT"]
    body = urlencode({"vpbx_api_key": key, "sign": mango.sign(key, text, salt), "json": text})
    return SampleRequest("mango", "events/call", {"Content-Type": FORM}, body.encode())


def _yeastar(ring: Ring, settings: Mapping[str, Any], mount_url: str) -> SampleRequest:
    # Yeastar's call id is Asterisk's "<unix seconds>.<n>": the call's start is read from it.
    call_id = f"{int(ring.now.timestamp())}.{int(ring.call_id[:6], 16)}"
    msg = {"call_id": call_id, "members": [{"inbound": {
        "from": TEST_CALLER, "to": ring.dialed, "trunk_name": "test",
        "channel_id": "PJSIP/trunk-test", "member_status": "ALERT", "call_path": ""}}]}
    body = _json({"type": 30016, "sn": "test", "msg": json.dumps(msg, separators=(",", ":"))})
    return SampleRequest("yeastar", "", {
        "Content-Type": JSON, "X-Signature": yeastar.signature(settings["YEASTAR_SECRET"], body)}, body)


def _telnyx(ring: Ring, settings: Mapping[str, Any], mount_url: str) -> SampleRequest:
    body = _json({"data": {
        "record_type": "event", "event_type": "call.initiated", "id": str(uuid.uuid4()),
        "occurred_at": ring.now.isoformat(), "payload": {
            "call_session_id": ring.call_id, "call_leg_id": f"{ring.call_id}-leg",
            "call_control_id": f"v3:{ring.call_id}", "from": TEST_CALLER, "to": ring.dialed,
            "direction": "incoming", "state": "parked"}}})
    stamp = str(int(ring.now.timestamp()))
    return SampleRequest("telnyx", "", {
        "Content-Type": JSON, "telnyx-timestamp": stamp,
        telnyx.SELF_TEST_HEADER: telnyx.self_test_signature(settings, stamp, body)}, body)


def _threecx(ring: Ring, settings: Mapping[str, Any], mount_url: str) -> SampleRequest:
    # 3CX journals a call once it is over and names no DID: the report of a short answered call.
    stamp = ring.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    form = {"call_type": "Inbound", "number": TEST_CALLER, "duration": "00:00:01",
            "start_utc": stamp, "end_utc": stamp, "entity_id": ring.call_id[:12]}
    return SampleRequest("3cx", "", {"Content-Type": FORM, "X-Api-Key": settings["3CX_SECRET"]},
                         urlencode(form).encode())


_BUILDERS = {"generic": _generic, "asterisk": _asterisk, "twilio": _twilio, "zadarma": _zadarma,
             "mango": _mango, "yeastar": _yeastar, "telnyx": _telnyx, "3cx": _threecx}


def ringing(provider: str, ring: Ring, settings: Mapping[str, Any], base_url: str,
            mount: str = "") -> SampleRequest:
    """The signed request of a ringing call (3CX: of a finished one) that `provider` would post
    to the service at `base_url`, under `mount` (a clinic's own account URL) or the provider's
    installation-wide path; `settings` must hold the signing settings that path verifies with."""
    mount = mount or f"/webhooks/{provider}"
    return replace(_BUILDERS[provider](ring, settings, base_url.rstrip("/") + mount), mount=mount)
