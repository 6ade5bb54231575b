"""Yeastar P-Series webhook push: {"type", "sn", "msg"} JSON signed with X-Signature.

X-Signature = base64(HMAC-SHA256(secret, raw body)). `msg` is itself JSON-encoded text in
Yeastar's examples (an object is accepted too).

Times: the CDR's `time_start` is the PBX's wall-clock time, read in the clinic's TIMEZONE (the
PBX must be set to the same zone, docs/pbx.md). Status events (30011, 30016) carry no time at all;
their `call_id` is the Asterisk-style "<unix seconds>.<n>" of the call's start (it matches
`time_start` in Yeastar's own CDR example), so they are stamped with that instant.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from webhooks import payload_fields as fields
from webhooks.events import (
    CallEvent,
    CallEventKind,
    Direction,
    InboundRequest,
    PayloadError,
    SignatureError,
    WebhookReply,
)

CALL_STATUS, NEW_CDR, INBOUND_INVITATION = 30011, 30012, 30016
RECORDING_SCHEME = "yeastar-recording:"
DIRECTIONS = {"inbound": Direction.INBOUND, "outbound": Direction.OUTBOUND,
              "internal": Direction.INTERNAL}


def signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _call_start(call_id: str) -> datetime:
    head = call_id.split(".", 1)[0]
    if not head.isdigit() or len(head) > 11:
        raise PayloadError("call_id", "expected '<unix seconds>.<n>'")
    return fields.epoch({"call_id": head}, "call_id")


def _blank(value: str) -> str:
    """Yeastar sends a single space for empty text fields."""
    return value.strip()


class YeastarAdapter:
    name = "yeastar"

    def verify(self, request: InboundRequest, settings: Mapping[str, Any]) -> None:
        secret = settings.get("YEASTAR_SECRET") or ""
        if not secret:
            raise SignatureError("CALLCENTER_YEASTAR_SECRET is not set")
        given = request.header("X-Signature")
        if not given:
            raise SignatureError("missing X-Signature header")
        expected = signature(secret, request.body).encode()
        if not hmac.compare_digest(given.strip().encode("utf-8", "replace"), expected):
            raise SignatureError("X-Signature does not match")

    def parse(self, request: InboundRequest, settings: Mapping[str, Any]) -> list[CallEvent]:
        envelope = fields.json_body(request)
        kind = fields.integer(envelope, "type")
        message = envelope.get("msg")
        msg = fields.json_object(message, "msg") if isinstance(message, str) else message
        if not isinstance(msg, Mapping):
            raise PayloadError("msg", "expected an object or JSON text")
        if kind in (CALL_STATUS, INBOUND_INVITATION):
            return self._status(kind, msg, settings)
        if kind == NEW_CDR:
            return self._cdr(msg, settings)
        return []  # extension presence, recording downloads...: nothing for the call log

    def reply(self, request: InboundRequest, events: list[CallEvent],
              settings: Mapping[str, Any]) -> WebhookReply:
        return WebhookReply(200, "")

    def _status(self, kind: int, msg: Mapping[str, Any],
                settings: Mapping[str, Any]) -> list[CallEvent]:
        call_id = fields.text(msg, "call_id")
        members = msg.get("members")
        if not isinstance(members, list):
            raise PayloadError("members", "expected a list")
        started = _call_start(call_id)
        trunk: dict[str, Any] = {"direction": Direction.INTERNAL}
        extensions: list[tuple[str, str]] = []
        for member in members:
            if not isinstance(member, Mapping) or len(member) != 1:
                raise PayloadError("members", "each member is one object")
            (role, info), = member.items()
            if not isinstance(info, Mapping):
                raise PayloadError(f"members.{role}", "expected an object")
            status = fields.text(info, "member_status", required=False).upper()
            if role == "extension":
                extensions.append((fields.text(info, "number"), status))
            elif role in ("inbound", "outbound"):
                raw_from = fields.text(info, "from", required=False)
                raw_to = fields.text(info, "to", required=False)
                inbound = role == "inbound"
                trunk = {"direction": Direction.INBOUND if inbound else Direction.OUTBOUND,
                         "caller": fields.phone(raw_from, settings) if inbound else None,
                         "caller_raw": raw_from,
                         "dialed": fields.phone(raw_to, settings), "status": status}
        trunk_status = trunk.pop("status", "")
        common = {"provider": self.name, "provider_call_id": call_id, "occurred_at": started,
                  "raw": msg, **trunk}
        events = []
        if kind == INBOUND_INVITATION or trunk_status in ("ALERT", "RING"):
            events.append(CallEvent(kind=CallEventKind.RINGING, event_id=f"{call_id}:trunk",
                                    **common))
        for number, status in extensions:
            mapped = {"RING": CallEventKind.RINGING, "ALERT": CallEventKind.RINGING,
                      "ANSWER": CallEventKind.ANSWERED,
                      "ANSWERED": CallEventKind.ANSWERED}.get(status)
            if mapped is None:
                continue  # HOLD, BYE: the CDR (30012) closes the call
            events.append(CallEvent(kind=mapped, extension=number,
                                    event_id=f"{call_id}:{number}", **common))
        return events

    def _cdr(self, msg: Mapping[str, Any], settings: Mapping[str, Any]) -> list[CallEvent]:
        call_id = fields.text(msg, "call_id")
        started = fields.local_time(fields.text(msg, "time_start"), settings["TIMEZONE"],
                                    "time_start")
        total = fields.integer(msg, "call_duration", default=0)
        talk = fields.integer(msg, "talk_duration", default=0)
        direction = DIRECTIONS.get(fields.text(msg, "type").lower())
        if direction is None:
            raise PayloadError("type", "expected Inbound, Outbound or Internal")
        raw_from = _blank(fields.text(msg, "call_from", required=False))
        raw_to = _blank(fields.text(msg, "call_to", required=False))
        if direction == Direction.INBOUND:
            did = _blank(fields.text(msg, "did_number", required=False))
            parties = {"caller": fields.phone(raw_from, settings), "caller_raw": raw_from,
                       "dialed": fields.phone(did, settings), "extension": raw_to or None}
        else:
            parties = {"caller": None, "caller_raw": raw_from,
                       "dialed": fields.phone(raw_to, settings), "extension": raw_from or None}
        status = fields.text(msg, "status").upper()
        answered = status in ("ANSWERED", "ANSWERD") and talk > 0
        common = {"provider": self.name, "provider_call_id": call_id, "direction": direction,
                  "event_id": f"{call_id}:cdr", "raw": msg, **parties}
        end = fields.later(started, total, "call_duration")
        extra = {"status": status}
        events = [CallEvent(kind=CallEventKind.RINGING, occurred_at=started, **common)]
        if answered:
            events.append(CallEvent(kind=CallEventKind.ANSWERED,
                                    occurred_at=fields.later(started, max(total - talk, 0),
                                                             "talk_duration"), **common))
            events.append(CallEvent(kind=CallEventKind.ENDED, occurred_at=end, duration=talk,
                                    extra=extra, **common))
        else:
            events.append(CallEvent(kind=CallEventKind.MISSED, occurred_at=end, duration=0,
                                    extra=extra, **common))
        recording = _blank(fields.text(msg, "recording", required=False))
        if recording:
            # A file name on the PBX: fetched through Yeastar's recording download API.
            events.append(CallEvent(kind=CallEventKind.RECORDING, occurred_at=end,
                                    recording_url=RECORDING_SCHEME + recording,
                                    extra={"file": recording}, **common))
        return events
