"""Mango Office VPBX: form posts (vpbx_api_key, sign, json) to <base>/events/<name>.

sign = sha256_hex(api key + json + salt). Time stamps are Unix seconds. Mango's PDF (v1.9)
labels them "UTC+3", which describes the PBX's clock, not the number: a Unix time stamp has no
zone, so we read it as UTC. If a clinic ever sees its Mango calls three hours off, set
CALLCENTER_MANGO_CLOCK_SHIFT=10800 (seconds subtracted from every Mango time stamp).

A call is one `entry_id`; its legs (IVR, queue, each ringing employee) are `call_id`s with
their own `seq` counter. Leg events give ringing and answer; a leg's Disconnected does not end
the call (the IVR leg disconnects when the call is handed to a person): the end, and whether
anyone talked, come from /events/summary, which must be switched on (docs/pbx.md).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta
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

RECORDING_SCHEME = "mango-recording:"
DIRECTIONS = {0: Direction.INTERNAL, 1: Direction.INBOUND, 2: Direction.OUTBOUND}
# Notifications we accept and answer 200 without turning them into call events.
IGNORED = frozenset({"events/dtmf", "events/sms", "events/ping", "events/callback",
                     "result/callback", "events/recognized/offline"})


def sign(api_key: str, payload: str, salt: str) -> str:
    return hashlib.sha256((api_key + payload + salt).encode()).hexdigest()


def _form(request: InboundRequest) -> dict[str, str]:
    """The one reading of the request that verify checks and parse uses: a url-encoded POST.

    Only its `json` field is read past the signature check, and `sign` covers all of it.
    """
    if request.method != "POST":
        raise PayloadError("method", "Mango posts its notifications")
    return fields.form_fields(request)


class MangoAdapter:
    name = "mango"

    def verify(self, request: InboundRequest, settings: Mapping[str, Any]) -> None:
        api_key = settings.get("MANGO_API_KEY") or ""
        salt = settings.get("MANGO_SALT") or ""
        if not api_key or not salt:
            raise SignatureError("CALLCENTER_MANGO_API_KEY / CALLCENTER_MANGO_SALT are not set")
        try:
            form = _form(request)
        except PayloadError as exc:
            # The proof travels inside the form: a body that is not that form carries none.
            raise SignatureError(f"not a signed Mango form ({exc.field}: {exc.problem})") from None
        given_key = form.get("vpbx_api_key", "").encode("utf-8", "replace")
        given_sign = form.get("sign", "").strip().lower().encode("utf-8", "replace")
        if not given_sign:
            raise SignatureError("missing sign")
        expected = sign(api_key, form.get("json", ""), salt).encode()
        key_ok = hmac.compare_digest(given_key, api_key.encode())
        if not (hmac.compare_digest(given_sign, expected) and key_ok):
            raise SignatureError("sign does not match")

    def parse(self, request: InboundRequest, settings: Mapping[str, Any]) -> list[CallEvent]:
        subpath = request.subpath.strip("/")
        if subpath in IGNORED:
            return []
        form = _form(request)
        data = fields.json_object(fields.text(form, "json"), "json")
        shift = timedelta(seconds=int(settings.get("MANGO_CLOCK_SHIFT") or 0))
        if subpath == "events/call":
            return self._leg(data, settings, shift)
        if subpath == "events/summary":
            return self._summary(data, settings, shift)
        if subpath in ("events/recording", "events/record/added"):
            return self._recording(data, shift)
        raise PayloadError("subpath", f"unsupported Mango notification {subpath[:60]!r}")

    def reply(self, request: InboundRequest, events: list[CallEvent],
              settings: Mapping[str, Any]) -> WebhookReply:
        return WebhookReply(200, "")

    def _time(self, data: Mapping[str, Any], name: str, shift: timedelta) -> datetime:
        return fields.epoch(data, name) - shift

    def _leg(self, data: Mapping[str, Any], settings: Mapping[str, Any],
             shift: timedelta) -> list[CallEvent]:
        entry = fields.text(data, "entry_id")
        leg = fields.text(data, "call_id")
        seq = fields.integer(data, "seq")
        state = fields.text(data, "call_state")
        source, target = fields.mapping(data, "from"), fields.mapping(data, "to")
        kind = {"Appeared": CallEventKind.RINGING, "Connected": CallEventKind.ANSWERED}.get(state)
        if kind is None:
            if state not in ("OnHold", "Disconnected"):
                raise PayloadError("call_state", f"unknown state {state[:30]!r}")
            return []
        from_ext = fields.text(source, "extension", required=False)
        to_ext = fields.text(target, "extension", required=False) or None
        if from_ext and to_ext:
            direction = Direction.INTERNAL
        elif from_ext:
            direction = Direction.OUTBOUND
        else:
            direction = Direction.INBOUND
        parties = self._parties(direction, source, target, data, settings)
        return [CallEvent(
            provider=self.name, provider_call_id=entry, kind=kind,
            occurred_at=self._time(data, "timestamp", shift),
            event_id=f"{leg}:{seq}", extra={"leg": leg, "seq": seq,
                                            "location": fields.text(data, "location",
                                                                    required=False)},
            raw=data, **parties)]

    def _summary(self, data: Mapping[str, Any], settings: Mapping[str, Any],
                 shift: timedelta) -> list[CallEvent]:
        entry = fields.text(data, "entry_id")
        direction = DIRECTIONS.get(fields.integer(data, "call_direction"))
        if direction is None:
            raise PayloadError("call_direction", "expected 0, 1 or 2")
        source, target = fields.mapping(data, "from"), fields.mapping(data, "to")
        parties = self._parties(direction, source, target, data, settings)
        created = self._time(data, "create_time", shift)
        ended = self._time(data, "end_time", shift)
        talk = fields.integer(data, "talk_time", default=0)
        extra = {"disconnect_reason": fields.text(data, "disconnect_reason", required=False),
                 "entry_result": fields.text(data, "entry_result", required=False)}
        common = {"provider": self.name, "provider_call_id": entry, "raw": data, **parties}
        events = [CallEvent(kind=CallEventKind.RINGING, occurred_at=created,
                            event_id=f"{entry}:summary", **common)]
        # talk_time is 0 when nobody spoke (even if entry_result says 1 for an IVR-only call).
        if talk:
            answered = self._time(data, "talk_time", shift)
            events.append(CallEvent(kind=CallEventKind.ANSWERED, occurred_at=answered,
                                    event_id=f"{entry}:summary", **common))
            events.append(CallEvent(
                kind=CallEventKind.ENDED, occurred_at=ended, event_id=f"{entry}:summary",
                duration=max(int((ended - answered).total_seconds()), 0), extra=extra, **common))
        else:
            events.append(CallEvent(kind=CallEventKind.MISSED, occurred_at=ended, duration=0,
                                    event_id=f"{entry}:summary", extra=extra, **common))
        return events

    def _recording(self, data: Mapping[str, Any], shift: timedelta) -> list[CallEvent]:
        state = fields.text(data, "recording_state", required=False)
        if state and state != "Completed":
            return []  # Started / Continued: nothing to fetch yet
        code = fields.text(data, "completion_code", required=False)
        if code and code != "1000":
            return []  # too short or not kept: no file will exist
        entry = fields.text(data, "entry_id")
        recording = fields.text(data, "recording_id")
        # The file is fetched by id through Mango's API (queries/recording/post).
        return [CallEvent(
            provider=self.name, provider_call_id=entry, kind=CallEventKind.RECORDING,
            occurred_at=self._time(data, "timestamp", shift),
            recording_url=RECORDING_SCHEME + recording, event_id=recording,
            extension=fields.text(data, "extension", required=False) or None,
            extra={"recording_id": recording}, raw=data)]

    def _parties(self, direction: Direction, source: Mapping[str, Any],
                 target: Mapping[str, Any], data: Mapping[str, Any],
                 settings: Mapping[str, Any]) -> dict[str, Any]:
        """caller/dialed as the call log keeps them: outbound calls are dialed *to* the client."""
        caller_raw = fields.text(source, "number", required=False)
        extension = fields.text(target, "extension", required=False) or None
        if direction == Direction.OUTBOUND:
            line = fields.text(data, "line_number", required=False) or caller_raw
            return {"direction": direction, "caller": fields.phone(line, settings),
                    "caller_raw": line, "extension": fields.text(source, "extension",
                                                                 required=False) or None,
                    "dialed": fields.phone(fields.text(target, "number", required=False),
                                           settings)}
        tracking = fields.mapping(data, "dct")
        line = (fields.text(tracking, "number", required=False)
                if fields.text(tracking, "type", required=False) in ("1", "2") else "")
        line = (line or fields.text(target, "line_number", required=False)
                or fields.text(data, "line_number", required=False))
        return {"direction": direction, "caller": fields.phone(caller_raw, settings),
                "caller_raw": caller_raw, "extension": extension,
                "dialed": fields.phone(line, settings)}
