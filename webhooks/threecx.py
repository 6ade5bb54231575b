"""3CX call journaling: the "ReportCall" scenario of our CRM template posts one finished call.

3CX does not sign requests; the template sends the key the admin typed in (header X-Api-Key,
never the query string), compared in constant time with CALLCENTER_3CX_SECRET.
3CX has no call id in the journal, so the call is named by a hash of the number and the start
time: a repeated report of the same call lands on the same row. Nothing in a report is signed,
so the first report of a call is its record: a report of the same call that differs in any
field is refused (webhooks.Binding), not applied over the first.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from webhooks import payload_fields as fields
from webhooks.events import (
    Binding,
    CallEvent,
    CallEventKind,
    Direction,
    InboundRequest,
    PayloadError,
    SignatureError,
    WebhookReply,
)

# [CallType] values: who called, and whether anyone talked.
CALL_TYPES = {
    "inbound": (Direction.INBOUND, True),
    "missed": (Direction.INBOUND, False),
    "outbound": (Direction.OUTBOUND, True),
    "notanswered": (Direction.OUTBOUND, False),
}
# What a report says about the call: a second report must say the same.
REPORT_FIELDS = ("call_type", "number", "agent", "duration", "start_utc", "end_utc")
CLOCK = re.compile(r"(?:(\d{1,3})\.)?(\d{1,3}):(\d{2}):(\d{2})(?:\.\d+)?")


def presented_key(request: InboundRequest) -> str:
    # Header only: a key in the query string ends up in proxy logs and in the stored raw request.
    return (request.header("X-Api-Key") or "").strip()


def key_matches(given: str, secret: str) -> bool:
    return bool(secret) and hmac.compare_digest(given.encode("utf-8", "replace"), secret.encode())


def seconds(value: str) -> int:
    """[Duration] as 3CX renders it ("00:01:05", "1.02:03:04") or plain seconds."""
    value = value.strip()
    if value.isdigit() and len(value) <= 9:
        return int(value)
    match = CLOCK.fullmatch(value)
    if not match:
        raise PayloadError("duration", "expected seconds or hh:mm:ss")
    days, hours, minutes, secs = (int(part or 0) for part in match.groups())
    if minutes > 59 or secs > 59:
        raise PayloadError("duration", "expected seconds or hh:mm:ss")
    return ((days * 24 + hours) * 60 + minutes) * 60 + secs


def call_id(number: str, started: datetime) -> str:
    digest = hashlib.sha256(f"{number}|{started.isoformat()}".encode()).hexdigest()
    return f"3cx-{digest[:32]}"


class ThreeCXAdapter:
    name = "3cx"

    def verify(self, request: InboundRequest, settings: Mapping[str, Any]) -> None:
        secret = settings.get("3CX_SECRET") or ""
        if not secret:
            raise SignatureError("CALLCENTER_3CX_SECRET is not set")
        if not key_matches(presented_key(request), secret):
            raise SignatureError("missing or wrong 3CX key")

    def parse(self, request: InboundRequest, settings: Mapping[str, Any]) -> list[CallEvent]:
        media = (request.header("Content-Type") or "").split(";", 1)[0].strip().lower()
        # The template's RequestEncoding picks one of two; anything else is refused, not guessed.
        data = fields.json_body(request) if media == fields.JSON else fields.form_fields(request)
        call_type = fields.text(data, "call_type").lower()
        if call_type not in CALL_TYPES:
            raise PayloadError("call_type", "expected Inbound, Outbound, Missed or Notanswered")
        direction, talked = CALL_TYPES[call_type]
        raw = fields.text(data, "number", required=False)
        started = fields.iso_time(fields.text(data, "start_utc"), "start_utc")
        talk = seconds(fields.text(data, "duration", required=False) or "0") if talked else 0
        end_text = fields.text(data, "end_utc", required=False)
        ended = (fields.iso_time(end_text, "end_utc") if end_text
                 else fields.later(started, talk, "duration"))
        if ended < started:
            raise PayloadError("end_utc", "before start_utc")
        number = fields.phone(raw, settings)
        parties = ({"caller": number, "caller_raw": raw, "dialed": None}
                   if direction == Direction.INBOUND
                   else {"caller": None, "caller_raw": "", "dialed": number})
        name = call_id(raw, started)
        report = Binding("report", name, name, {key: fields.text(data, key, required=False)
                                               for key in REPORT_FIELDS}, field="call_type")
        common = {"provider": self.name, "provider_call_id": name, "direction": direction,
                  "extension": fields.text(data, "agent", required=False) or None,
                  "event_id": name, "raw": data, "bindings": (report,), **parties}
        events = [CallEvent(kind=CallEventKind.RINGING, occurred_at=started, **common)]
        if talked:
            answered = max(started, fields.later(ended, -talk, "duration"))
            events.append(CallEvent(kind=CallEventKind.ANSWERED, occurred_at=answered, **common))
            events.append(CallEvent(kind=CallEventKind.ENDED, occurred_at=ended, duration=talk,
                                    **common))
        else:
            events.append(CallEvent(kind=CallEventKind.MISSED, occurred_at=ended, duration=0,
                                    **common))
        return events

    def reply(self, request: InboundRequest, events: list[CallEvent],
              settings: Mapping[str, Any]) -> WebhookReply:
        # The template's ResponseType is Json: an empty object is a valid answer.
        return WebhookReply(200, "{}", "application/json")
