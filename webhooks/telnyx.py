"""Telnyx Call Control: JSON events signed with Ed25519 over "<timestamp>|<raw body>".

The call is the `call_session_id` (all legs of one conversation). A leg we dial to a SIP URI
(handing the caller to a desk phone) is the agent's leg: its ringing and answer carry the
extension, its hang-up does not end the call. Stale time stamps (older or newer than
REPLAY_WINDOW seconds, 300 by default as in Telnyx's SDK) are refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from webhooks import payload_fields as fields
from webhooks.events import (
    CallEvent,
    CallEventKind,
    Direction,
    InboundRequest,
    SignatureError,
    WebhookReply,
)

KINDS = {
    "call.initiated": CallEventKind.RINGING,
    "call.answered": CallEventKind.ANSWERED,
    "call.hangup": CallEventKind.ENDED,
    "call.recording.saved": CallEventKind.RECORDING,
}


def signed_message(timestamp: str, body: bytes) -> bytes:
    return timestamp.encode() + b"|" + body


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
        signature = fields.b64decode(request.header("telnyx-signature-ed25519") or "")
        if not stamp or signature is None or len(signature) != 64:
            raise SignatureError("missing telnyx-signature-ed25519 / telnyx-timestamp")
        if not stamp.isdigit() or len(stamp) > 12:
            raise SignatureError("telnyx-timestamp is not unix seconds")
        window = int(settings.get("REPLAY_WINDOW") or 300)
        now = request.received_at.timestamp() if request.received_at else self.clock()
        if abs(now - int(stamp)) > window:
            raise SignatureError("telnyx-timestamp outside the replay window")
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
