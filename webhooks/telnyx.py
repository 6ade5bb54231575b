"""Telnyx Call Control: JSON events signed with Ed25519 over "<timestamp>|<raw body>".

The call is the `call_session_id` (all legs of one conversation). A leg we dial to a SIP URI
(handing the caller to a desk phone) is the agent's leg: its ringing and answer carry the
extension, its hang-up does not end the call. Stale time stamps (older or newer than
REPLAY_WINDOW seconds, 300 by default as in Telnyx's SDK) are refused.

Telnyx signs with a private key only Telnyx holds, so the admin page's test event cannot carry a
Telnyx signature. It carries our self-test signature instead: HMAC-SHA256 over the same
"<timestamp>|<body>" with a key derived from the service's CALLCENTER_SECRET_KEY and the
configured public key. It is accepted only while the public key is set, within the same replay
window, and only for a call from the reserved TEST_CALLER: whoever could forge it (only someone
holding the service's own secret key) can pop nothing but a card marked as a test.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from webhooks import payload_fields as fields
from webhooks.events import (
    TEST_CALLER,
    CallEvent,
    CallEventKind,
    Direction,
    InboundRequest,
    PayloadError,
    SignatureError,
    WebhookReply,
)

KINDS = {
    "call.initiated": CallEventKind.RINGING,
    "call.answered": CallEventKind.ANSWERED,
    "call.hangup": CallEventKind.ENDED,
    "call.recording.saved": CallEventKind.RECORDING,
}


SELF_TEST_HEADER = "X-Callcenter-Self-Test"


def signed_message(timestamp: str, body: bytes) -> bytes:
    return timestamp.encode() + b"|" + body


def self_test_signature(settings: Mapping[str, Any], timestamp: str, body: bytes) -> str:
    """Hex HMAC of the signed message, keyed by the service's secret key and the Telnyx key."""
    key = hmac.new(str(settings.get("SECRET_KEY") or "").encode(),
                   b"telnyx-self-test|" + str(settings.get("TELNYX_PUBLIC_KEY") or "").encode(),
                   hashlib.sha256).digest()
    return hmac.new(key, signed_message(timestamp, body), hashlib.sha256).hexdigest()


def _check_self_test(request: InboundRequest, settings: Mapping[str, Any], stamp: str,
                     given: str) -> None:
    if not settings.get("SECRET_KEY"):
        raise SignatureError("no secret key to check a self-test signature with")
    expected = self_test_signature(settings, stamp, request.body)
    if not hmac.compare_digest(expected.encode(), given.strip().encode("utf-8", "replace")):
        raise SignatureError(f"{SELF_TEST_HEADER} does not match")
    try:
        payload = fields.mapping(fields.mapping(fields.json_body(request), "data"), "payload")
        caller = fields.phone(fields.text(payload, "from"), settings)
    except PayloadError:
        caller = None
    if caller != TEST_CALLER:
        raise SignatureError("a self-test signature covers only calls from the test number")


class TelnyxAdapter:
    name = "telnyx"

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        # The replay check needs the current time; tests pass a fixed clock.
        self.clock = clock

    def verify(self, request: InboundRequest, settings: Mapping[str, Any]) -> None:
        key = fields.b64decode(settings.get("TELNYX_PUBLIC_KEY") or "")
        if key is None or len(key) != 32:
            raise SignatureError("CALLCENTER_TELNYX_PUBLIC_KEY is not a base64 Ed25519 key")
        stamp = (request.header("telnyx-timestamp") or "").strip()
        self_test = request.header(SELF_TEST_HEADER)
        signature = fields.b64decode(request.header("telnyx-signature-ed25519") or "")
        if not stamp or (self_test is None and (signature is None or len(signature) != 64)):
            raise SignatureError("missing telnyx-signature-ed25519 / telnyx-timestamp")
        if not stamp.isdigit() or len(stamp) > 12:
            raise SignatureError("telnyx-timestamp is not unix seconds")
        window = int(settings.get("REPLAY_WINDOW") or 300)
        now = request.received_at.timestamp() if request.received_at else self.clock()
        if abs(now - int(stamp)) > window:
            raise SignatureError("telnyx-timestamp outside the replay window")
        if self_test is not None:
            _check_self_test(request, settings, stamp, self_test)
            return
        assert signature is not None
        try:
            VerifyKey(key).verify(signed_message(stamp, request.body), signature)
        except BadSignatureError:
            raise SignatureError("telnyx-signature-ed25519 does not match") from None

    def parse(self, request: InboundRequest, settings: Mapping[str, Any]) -> list[CallEvent]:
        body = fields.json_body(request)
        # API v2 wraps the event in "data"; v1 sent it bare with "call_answered"-style names.
        data = fields.mapping(body, "data") if "data" in body else body
        event_type = fields.text(data, "event_type").replace("_", ".")
        kind = KINDS.get(event_type)
        if kind is None:
            return []  # speak/gather/bridge/... events change nothing in the call log
        payload = fields.mapping(data, "payload")
        stamp = (fields.text(data, "occurred_at", required=False)
                 or fields.text(payload, "occurred_at", required=False)
                 or fields.text(data, "created_at"))
        session = fields.text(payload, "call_session_id")
        common: dict[str, Any] = {
            "provider": self.name, "provider_call_id": session,
            "occurred_at": fields.iso_time(stamp, "occurred_at"),
            "event_id": fields.text(data, "id"), "raw": body,
            "extra": {"leg": fields.text(payload, "call_leg_id", required=False)},
        }
        if kind == CallEventKind.RECORDING:
            urls = fields.mapping(payload, "recording_urls")
            url = fields.text(urls, "mp3", required=False) or fields.text(urls, "wav")
            return [CallEvent(kind=kind, recording_url=url, **common)]
        raw_from = fields.text(payload, "from", required=False)
        raw_to = fields.text(payload, "to", required=False)
        if raw_to.lower().startswith("sip:"):
            if kind == CallEventKind.ENDED:
                return []  # the desk phone hung up; the caller's leg ends the call
            extension = raw_to[4:].split("@", 1)[0]
            return [CallEvent(kind=kind, extension=extension, **common)]
        outgoing = fields.text(payload, "direction", required=False) == "outgoing"
        parties = {
            "direction": Direction.OUTBOUND if outgoing else Direction.INBOUND,
            "caller": fields.phone(raw_from, settings), "caller_raw": raw_from,
            "dialed": fields.phone(raw_to, settings),
        }
        if kind == CallEventKind.ENDED:
            cause = fields.text(payload, "hangup_cause", required=False)
            common["extra"] = {**common["extra"], "hangup_cause": cause,
                               "hangup_source": fields.text(payload, "hangup_source",
                                                            required=False)}
        return [CallEvent(kind=kind, **parties, **common)]

    def reply(self, request: InboundRequest, events: list[CallEvent],
              settings: Mapping[str, Any]) -> WebhookReply:
        return WebhookReply(200, "")
