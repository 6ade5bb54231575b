"""Zadarma (and its Megacall white label): NOTIFY_* form posts signed with HMAC-SHA1.

Times: `call_start` is wall-clock time without an offset, in the time zone set in the Zadarma
account; we read it in the clinic's TIMEZONE, so the two must agree (docs/pbx.md). Zadarma sends no
answer or hang-up time, so ANSWERED is stamped at `call_start` and the end at
`call_start + duration` (the talk seconds): the order of events and the talk time are right,
the ring time is not known.

What the Signature does not cover is bound (webhooks.Binding, checked in the transaction that
applies the events; docs/security.md, "Webhook signatures and replay"):
  signed   a signed field set names one call: the first pbx_call_id it arrived with, with these
           exact values (the fields are concatenated without separators, so a re-cut of the same
           string into other values is refused too);
  call     a call's identity (direction, caller or extension, destination, call_start) is fixed
           by its first signed event, and every later event of that call must agree;
  end      NOTIFY_END / NOTIFY_OUT_END carry the outcome (disposition, duration, ...) unsigned:
           the first one accepted for a call is its outcome, a different one is refused;
NOTIFY_RECORD signs both of its fields; its recording id must be '<10-digit unix seconds>.<n>', so
the pair cannot be re-cut into another call id either.
Values read only from unsigned fields: ANSWER's extension comes from the signed `destination`,
never from `internal`; the recording id comes only from NOTIFY_RECORD, never from NOTIFY_END.
"""

from __future__ import annotations

import base64
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

# Which fields, concatenated, each event signs (Zadarma's webhook library).
SIGNED_FIELDS: dict[str, tuple[str, ...]] = {
    "NOTIFY_START": ("caller_id", "called_did", "call_start"),
    "NOTIFY_INTERNAL": ("caller_id", "called_did", "call_start"),
    "NOTIFY_END": ("caller_id", "called_did", "call_start"),
    "NOTIFY_IVR": ("caller_id", "called_did", "call_start"),
    "NOTIFY_ANSWER": ("caller_id", "destination", "call_start"),
    "NOTIFY_OUT_START": ("internal", "destination", "call_start"),
    "NOTIFY_OUT_END": ("internal", "destination", "call_start"),
    "NOTIFY_RECORD": ("pbx_call_id", "call_id_with_rec"),
}
# Events sharing a signed field set: a signature of one of them also verifies the others.
SCHEMES = {"NOTIFY_START": "in", "NOTIFY_INTERNAL": "in", "NOTIFY_END": "in", "NOTIFY_IVR": "in",
           "NOTIFY_ANSWER": "answer", "NOTIFY_OUT_START": "out", "NOTIFY_OUT_END": "out",
           "NOTIFY_RECORD": "record"}
# What identifies the call in each scheme (ANSWER's destination is whoever answered: it may
# change with a transfer, so it is not part of the call's identity).
IDENTITY = {"in": ("caller_id", "call_start"), "answer": ("caller_id", "call_start"),
            "out": ("internal", "destination", "call_start")}
DIRECTION_OF = {"in": "inbound", "answer": "inbound", "out": "outbound"}
# The outcome an END reports, none of it signed: fixed by the first END accepted for the call.
OUTCOME = ("disposition", "duration", "status_code", "internal", "is_recorded",
           "call_id_with_rec", "caller_id")
RECORD_ID = re.compile(r"[0-9]{10}\.[0-9]+")
ECHO = re.compile(r"[A-Za-z0-9._~-]{1,128}")
RECORDING_SCHEME = "zadarma-record:"


def expected_signatures(secret: str, signed: str) -> tuple[bytes, bytes]:
    """Both forms seen in the wild: base64 of the hex digest (PHP/Python) and of the raw digest."""
    digest = hmac.new(secret.encode(), signed.encode(), hashlib.sha1)
    return base64.b64encode(digest.hexdigest().encode()), base64.b64encode(digest.digest())


def _echo(request: InboundRequest) -> str | None:
    """The zd_echo value of the handshake Zadarma makes when the URL is saved."""
    if request.method != "GET":
        return None
    value = request.args().get("zd_echo")
    if value is None:
        return None
    if not ECHO.fullmatch(value):
        raise PayloadError("zd_echo", "unexpected characters")
    return value


def _record_time(rec_id: str) -> datetime | None:
    """Zadarma call ids are '<unix seconds>.<n>'; the seconds are when the call started."""
    if not RECORD_ID.fullmatch(rec_id):
        return None
    head = rec_id.split(".", 1)[0]
    return fields.epoch({"call_id_with_rec": head}, "call_id_with_rec")


def bindings(form: Mapping[str, str]) -> tuple[Binding, ...]:
    """The facts this (verified) request fixes or must agree with; see the module docstring."""
    event = form.get("event", "")
    scheme = SCHEMES[event]
    call_id = form.get("pbx_call_id", "")
    signed_names = SIGNED_FIELDS[event]
    signed = Binding("signed", scheme + "|" + "".join(form.get(n, "") for n in signed_names),
                     call_id, {n: form.get(n, "") for n in signed_names}, field="pbx_call_id")
    if scheme == "record":
        return (signed,)
    identity = {"direction": DIRECTION_OF[scheme], **{n: form.get(n, "") for n in IDENTITY[scheme]}}
    claims = [signed, Binding("call", call_id, call_id, identity, field="pbx_call_id")]
    if event in ("NOTIFY_END", "NOTIFY_OUT_END"):
        claims.append(Binding("end", call_id, call_id, {n: form.get(n, "") for n in OUTCOME},
                              field="disposition"))
    return tuple(claims)


def _form(request: InboundRequest) -> dict[str, str]:
    """The one reading that verify checks and parse uses: a url-encoded POST body."""
    if request.method != "POST":
        raise PayloadError("method", "Zadarma posts its notifications (GET is only the URL check)")
    return fields.form_fields(request)


class ZadarmaAdapter:
    name = "zadarma"

    def verify(self, request: InboundRequest, settings: Mapping[str, Any]) -> None:
        if request.method == "GET" and "zd_echo" in request.args():
            return  # the handshake carries no signature and applies nothing
        secret = settings.get("ZADARMA_SECRET") or ""
        if not secret:
            raise SignatureError("CALLCENTER_ZADARMA_SECRET is not set")
        given = request.header("Signature")
        if not given:
            raise SignatureError("missing Signature header")
        form = _form(request)
        signed = SIGNED_FIELDS.get(form.get("event", ""))
        if signed is None:
            raise SignatureError("event without a known signature scheme")
        candidate = given.strip().encode("utf-8", "replace")
        string = "".join(form.get(name, "") for name in signed)
        if not any(hmac.compare_digest(candidate, good)
                   for good in expected_signatures(secret, string)):
            raise SignatureError("Signature does not match")

    def parse(self, request: InboundRequest, settings: Mapping[str, Any]) -> list[CallEvent]:
        if _echo(request) is not None:
            return []
        form = _form(request)
        event = fields.text(form, "event")
        call_id = fields.text(form, "pbx_call_id")
        claims = bindings(form) if event in SCHEMES else ()
        if event == "NOTIFY_RECORD":
            return [self._recording(form, call_id, claims)]
        start = fields.local_time(fields.text(form, "call_start"), settings["TIMEZONE"],
                                  "call_start")
        common = {"provider": self.name, "provider_call_id": call_id, "raw": form,
                  "bindings": claims}
        if event in ("NOTIFY_START", "NOTIFY_IVR", "NOTIFY_INTERNAL"):
            extension = fields.text(form, "internal", required=False) or None
            if event == "NOTIFY_INTERNAL" and extension is None:
                raise PayloadError("internal", "missing")
            return [CallEvent(
                kind=CallEventKind.RINGING, occurred_at=start, **self._inbound(form, settings),
                extension=extension,
                event_id=f"{call_id}:internal:{extension}" if extension else f"{call_id}:start",
                **common)]
        if event == "NOTIFY_ANSWER":
            extension = fields.text(form, "destination", required=False) or None
            raw = fields.text(form, "caller_id", required=False)
            return [CallEvent(
                kind=CallEventKind.ANSWERED, occurred_at=start, caller=fields.phone(raw, settings),
                caller_raw=raw, extension=extension, event_id=f"{call_id}:answer", **common)]
        if event == "NOTIFY_END":
            return self._end(form, start, self._inbound(form, settings), common)
        if event == "NOTIFY_OUT_START":
            return [CallEvent(
                kind=CallEventKind.RINGING, occurred_at=start,
                **self._outbound(form, settings, caller_field=None),
                event_id=f"{call_id}:out_start", **common)]
        if event == "NOTIFY_OUT_END":
            parties = self._outbound(form, settings, caller_field="caller_id")
            return self._end(form, start, parties, common)
        raise PayloadError("event", f"unsupported event {event[:40]!r}")

    def reply(self, request: InboundRequest, events: list[CallEvent],
              settings: Mapping[str, Any]) -> WebhookReply:
        echo = _echo(request)
        if echo is not None:
            return WebhookReply(200, echo)
        # An empty 200 leaves NOTIFY_START routing as configured in the PBX: nothing to wait for.
        return WebhookReply(200, "")

    def _inbound(self, form: Mapping[str, str], settings: Mapping[str, Any]) -> dict[str, Any]:
        raw = fields.text(form, "caller_id", required=False)
        return {"direction": Direction.INBOUND, "caller": fields.phone(raw, settings),
                "caller_raw": raw,
                "dialed": fields.phone(fields.text(form, "called_did", required=False), settings)}

    def _outbound(self, form: Mapping[str, str], settings: Mapping[str, Any],
                  caller_field: str | None) -> dict[str, Any]:
        extension = fields.text(form, "internal")
        raw = fields.text(form, caller_field, required=False) if caller_field else ""
        return {"direction": Direction.OUTBOUND, "caller": fields.phone(raw, settings),
                "caller_raw": raw or extension, "extension": extension,
                "dialed": fields.phone(fields.text(form, "destination"), settings)}

    def _end(self, form: Mapping[str, str], start: datetime, parties: dict[str, Any],
             common: dict[str, Any]) -> list[CallEvent]:
        call_id = common["provider_call_id"]
        duration = fields.integer(form, "duration", default=0)
        answered = fields.text(form, "disposition", required=False) == "answered"
        parties = {"extension": fields.text(form, "internal", required=False) or None, **parties}
        end = fields.later(start, duration, "duration")
        extra = {"disposition": fields.text(form, "disposition", required=False),
                 "status_code": fields.text(form, "status_code", required=False)}
        events = []
        if answered:
            # Same event id as NOTIFY_ANSWER: whichever arrives first is kept.
            events.append(CallEvent(kind=CallEventKind.ANSWERED, occurred_at=start,
                                    event_id=f"{call_id}:answer", **parties, **common))
        # The recording id here is unsigned: the recording comes from NOTIFY_RECORD, which signs it.
        events.append(CallEvent(
            kind=CallEventKind.ENDED if answered else CallEventKind.MISSED, occurred_at=end,
            duration=duration if answered else 0, event_id=f"{call_id}:end", extra=extra,
            **parties, **common))
        return events

    def _recording(self, form: Mapping[str, str], call_id: str,
                   claims: tuple[Binding, ...]) -> CallEvent:
        rec_id = fields.text(form, "call_id_with_rec")
        occurred = _record_time(rec_id)
        if occurred is None:
            raise PayloadError("call_id_with_rec", "expected '<unix seconds>.<n>'")
        # Zadarma gives an id, not a file: the link comes from its API (pbx/record/request).
        return CallEvent(
            provider=self.name, provider_call_id=call_id, kind=CallEventKind.RECORDING,
            occurred_at=occurred, recording_url=RECORDING_SCHEME + rec_id,
            event_id=f"{call_id}:record:{rec_id}", extra={"call_id_with_rec": rec_id}, raw=form,
            bindings=claims)
