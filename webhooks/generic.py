"""The generic JSON webhook: any PBX that can send an HTTP POST (schema in docs/generic-webhook.md).

Body: one event object, or a list of them. Signed like every format we define: hex
HMAC-SHA256 of "<unix timestamp>.<body>" with CALLCENTER_GENERIC_SECRET, inside the replay window.
Dedupe: the sender's `event_id` when given, else event + timestamp + extension, so a retried
POST of the same body is one event.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from callcenter.core.phones import normalize
from webhooks.events import (
    CallEvent,
    CallEventKind,
    Direction,
    InboundRequest,
    PayloadError,
    WebhookReply,
)
from webhooks.hmac_signing import verify_signed
from webhooks.payload_fields import (
    JSON,
    Clock,
    declared,
    optional_int,
    optional_text,
    required,
    system_clock,
)

PROVIDER = "generic"
MAX_ID = 128
MAX_URL = 2000
FIELDS = frozenset({"call_id", "event", "direction", "from", "to", "extension", "timestamp",
                    "duration", "recording_url", "event_id"})


class GenericAdapter:
    name = PROVIDER

    def __init__(self, clock: Clock = system_clock) -> None:
        self.clock = clock

    def verify(self, request: InboundRequest, settings: Mapping[str, Any]) -> None:
        verify_signed(request, settings.get("GENERIC_SECRET") or "", settings["REPLAY_WINDOW"],
                      request.received_at or self.clock())

    def parse(self, request: InboundRequest, settings: Mapping[str, Any]) -> list[CallEvent]:
        declared(request, JSON)
        try:
            data = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise PayloadError("body", "not a JSON document") from None
        items = data if isinstance(data, list) else [data]
        events = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise PayloadError(f"body[{index}]" if isinstance(data, list) else "body",
                                   "an event must be a JSON object")
            events.append(generic_event(item, settings["REGION"]))
        return events

    def reply(self, request: InboundRequest, events: list[CallEvent],
              settings: Mapping[str, Any]) -> WebhookReply:
        return WebhookReply(204)


def generic_event(item: Mapping[str, Any], region: str) -> CallEvent:
    unknown = sorted(set(item) - FIELDS)
    if unknown:
        raise PayloadError(unknown[0], "unknown field (see docs/generic-webhook.md)")
    call_id = required(item, "call_id")
    if len(call_id) > MAX_ID:
        raise PayloadError("call_id", f"longer than {MAX_ID} characters")
    event = required(item, "event")
    try:
        kind = CallEventKind(event)
    except ValueError:
        choices = ", ".join(k.value for k in CallEventKind)
        raise PayloadError("event", f"must be one of {choices}") from None
    direction_text = optional_text(item, "direction") or "inbound"
    try:
        direction = Direction(direction_text)
    except ValueError:
        raise PayloadError("direction", "must be inbound, outbound or internal") from None
    recording_url = optional_text(item, "recording_url") or None
    if kind is CallEventKind.RECORDING and recording_url is None:
        raise PayloadError("recording_url", "required for a recording event")
    if recording_url is not None and len(recording_url) > MAX_URL:
        raise PayloadError("recording_url", f"longer than {MAX_URL} characters")
    caller_raw = optional_text(item, "from")
    event_id = optional_text(item, "event_id")
    if len(event_id) > MAX_ID:
        raise PayloadError("event_id", f"longer than {MAX_ID} characters")
    return CallEvent(
        provider=PROVIDER, provider_call_id=call_id, kind=kind, direction=direction,
        occurred_at=event_time(item.get("timestamp")),
        caller=normalize(caller_raw, region), caller_raw=caller_raw[:64],
        dialed=normalize(optional_text(item, "to"), region), extension=optional_text(item, "extension")[:32] or None,
        duration=optional_int(item, "duration"), recording_url=recording_url,
        event_id=event_id or None, raw=dict(item),
    )


def event_time(value: Any) -> datetime:
    """ISO 8601 with a UTC offset, or unix seconds (number or numeric string) → aware UTC."""
    if value is None or value == "":
        raise PayloadError("timestamp", "missing")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise PayloadError("timestamp", "must be ISO 8601 text or unix seconds")
    if isinstance(value, str) and not _numeric(value):
        return _iso_time(value)
    seconds = float(value)
    if not math.isfinite(seconds):
        raise PayloadError("timestamp", "not a finite number")
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise PayloadError("timestamp", "out of range") from None


def _numeric(value: str) -> bool:
    return value.isascii() and value.strip().replace(".", "", 1).isdigit()


def _iso_time(value: str) -> datetime:
    try:
        stamp = datetime.fromisoformat(value.strip())
    except ValueError:
        raise PayloadError("timestamp", "not ISO 8601 (e.g. 2024-05-01T10:00:00+03:00)") from None
    if stamp.tzinfo is None:
        raise PayloadError("timestamp", "needs a UTC offset or Z (e.g. 2024-05-01T07:00:00Z)")
    try:
        return stamp.astimezone(UTC)
    except OverflowError:
        raise PayloadError("timestamp", "out of range") from None
