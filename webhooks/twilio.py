"""Twilio Programmable Voice.

Sub-paths under /webhooks/twilio (form POSTs signed with X-Twilio-Signature):
  voice      the number's Voice URL: a call arrives (ringing); the reply rings the desk phones
  status     call-progress callbacks: of the number, of REST calls, and of the desk legs we <Dial>
  dial       the <Dial action>: how ringing the desk ended (an agent talked, or nobody answered)
  recording  the voicemail <Record>: its recordingStatusCallback and its action

A desk leg (ParentCallSid, To = a sip:/client: URI or a TWILIO_RING number) belongs to the
parent call and names the extension that rang or answered; one that ends unanswered says nothing
about the call (another phone may have answered): the dial action decides answered or missed.
A leg to an outside number (click-to-call dialing the patient) is the outbound call's far end.
An outbound call to a desk phone rings the receptionist first: her picking up is not an answer.

Dedupe: every event gets an id built from the leg's CallSid plus what happened (a leg goes
through each CallStatus at most once), so a retried callback maps onto the stored event even when
it carries no Timestamp or SequenceNumber. SequenceNumber is kept in `extra` for ordering.
Time: the Timestamp of a status callback (RFC 2822); RecordingStartTime + duration for a
recording; otherwise the time we received the request (voice and dial requests have no time).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from twilio.request_validator import (
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)
from twilio.twiml.voice_response import VoiceResponse

from callcenter.core.phones import normalize
from webhooks.events import (
    CallEvent,
    CallEventKind,
    Direction,
    InboundRequest,
    PayloadError,
    SignatureError,
    WebhookReply,
)
from webhooks.payload_fields import (
    Clock,
    form_fields,
    optional_int,
    optional_text,
    required,
    system_clock,
)

PROVIDER = "twilio"
SIGNATURE_HEADER = "X-Twilio-Signature"
RING_SECONDS = 25
VOICEMAIL_MAX_SECONDS = 120
DESK_LEG_EVENTS = "ringing answered completed"
# What Twilio puts in From when the caller withholds the number: the words spelled on a keypad
# (ANONYMOUS, RESTRICTED, BLOCKED, UNAVAILABLE).
HIDDEN_NUMBERS = frozenset({"+266696687", "+7378742833", "+2562533", "+86282452253"})
MISSED_STATUSES = frozenset({"busy", "no-answer", "canceled", "failed"})
ANSWERED_DIAL_STATUSES = frozenset({"completed", "answered"})
STATUS_KINDS = {
    "ringing": CallEventKind.RINGING,
    "in-progress": CallEventKind.ANSWERED,
    "completed": CallEventKind.ENDED,
    **dict.fromkeys(MISSED_STATUSES, CallEventKind.MISSED),
}
# Nothing to show yet: the call exists but nothing rings.
SILENT_STATUSES = frozenset({"queued", "initiated"})
VOICE_KINDS = {"ringing": CallEventKind.RINGING, "in-progress": CallEventKind.ANSWERED}
VOICEMAIL_PROMPTS = {
    "ru": ("ru-RU", "Здравствуйте! Сейчас все администраторы разговаривают с пациентами. "
                    "Назовите после сигнала своё имя и номер, и мы обязательно перезвоним."),
    "en": ("en-US", "Hello, everyone at the front desk is on another call right now. "
                    "After the tone, please leave your name and number and we will call you back."),
    "zh": ("zh-CN", "您好，前台工作人员正在接听其他电话。请在提示音后留下您的姓名和电话，我们会尽快回电。"),
}
XML = "text/xml; charset=utf-8"


class TwilioAdapter:
    name = PROVIDER

    def __init__(self, clock: Clock = system_clock) -> None:
        self.clock = clock

    def verify(self, request: InboundRequest, settings: Mapping[str, Any]) -> None:
        token = settings.get("TWILIO_AUTH_TOKEN") or ""
        if not token:
            raise SignatureError("TWILIO_AUTH_TOKEN is not set; unsigned requests are refused")
        signature = request.header(SIGNATURE_HEADER)
        if not signature:
            raise SignatureError(f"missing {SIGNATURE_HEADER} header")
        algorithm = get_signature_algorithm(request.header(SIGNATURE_SETTINGS_HEADER))
        validator = RequestValidator(token)
        if not validator.validate(request.url, _signed_params(request), signature, algorithm):
            raise SignatureError(f"{SIGNATURE_HEADER} does not match {request.url}")

    def parse(self, request: InboundRequest, settings: Mapping[str, Any]) -> list[CallEvent]:
        form = form_fields(request)
        handler = _HANDLERS.get(request.subpath.strip("/"))
        if handler is None:
            raise PayloadError("subpath", f"unknown Twilio callback {request.subpath!r}; "
                                          "expected voice, status, dial or recording")
        return handler(form, settings, request.received_at or self.clock())

    def reply(self, request: InboundRequest, events: list[CallEvent],
              settings: Mapping[str, Any]) -> WebhookReply:
        subpath = request.subpath.strip("/")
        form = form_fields(request)
        base = _callback_base(request.url)
        if subpath == "voice":
            return WebhookReply(200, desk_twiml(base, settings), XML)
        if subpath == "dial":
            if optional_text(form, "DialCallStatus") in ANSWERED_DIAL_STATUSES:
                return WebhookReply(200, _hangup_twiml(), XML)
            return WebhookReply(200, voicemail_twiml(base, settings["LOCALE"]), XML)
        if subpath == "recording" and not optional_text(form, "RecordingStatus"):
            # The <Record action>: Twilio waits for TwiML; the message is taken, so hang up.
            return WebhookReply(200, _hangup_twiml(), XML)
        return WebhookReply(204)


def desk_twiml(base: str, settings: Mapping[str, Any]) -> str:
    """Ring every desk phone at once; the dial action learns who answered or sends to voicemail."""
    targets = [t.strip() for t in (settings.get("TWILIO_RING") or "").split(",") if t.strip()]
    if not targets:
        return voicemail_twiml(base, settings["LOCALE"])
    recording: dict[str, str] = {}
    if settings.get("TWILIO_RECORD"):
        recording = {"record": "record-from-answer-dual",
                     "recording_status_callback": f"{base}/recording",
                     "recording_status_callback_method": "POST",
                     "recording_status_callback_event": "completed"}
    response = VoiceResponse()
    dial = response.dial(action=f"{base}/dial", method="POST", timeout=RING_SECONDS,
                         answer_on_bridge=True, **recording)
    leg = {"status_callback": f"{base}/status", "status_callback_event": DESK_LEG_EVENTS,
           "status_callback_method": "POST"}
    for target in targets:
        lowered = target.lower()
        if lowered.startswith("client:"):
            dial.client(target[len("client:"):], **leg)
        elif lowered.startswith("sip:"):
            dial.sip(target, **leg)
        else:
            dial.number(target, **leg)
    return str(response)


def voicemail_twiml(base: str, locale: str) -> str:
    language, prompt = VOICEMAIL_PROMPTS.get(locale, VOICEMAIL_PROMPTS["en"])
    response = VoiceResponse()
    response.say(prompt, language=language)
    response.record(action=f"{base}/recording", method="POST", max_length=VOICEMAIL_MAX_SECONDS,
                    play_beep=True, trim="trim-silence",
                    recording_status_callback=f"{base}/recording",
                    recording_status_callback_method="POST",
                    recording_status_callback_event="completed")
    return str(response)


def _hangup_twiml() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response)


def _callback_base(url: str) -> str:
    """/webhooks/twilio/voice → /webhooks/twilio: where the sibling callbacks live."""
    parts = urlsplit(url)
    head = parts.path.rstrip("/").rsplit("/", 1)[0]
    return urlunsplit((parts.scheme, parts.netloc, head, "", ""))


def _signed_params(request: InboundRequest) -> dict[str, str]:
    """What Twilio signed besides the URL: the form fields of a POST (a GET signs only its URL,
    query included). The same reading parse uses, so what verifies is what is applied."""
    return {} if request.method == "GET" else form_fields(request)


def _occurred(form: Mapping[str, str], name: str, received: datetime) -> datetime:
    value = optional_text(form, name)
    if not value:
        return received
    try:
        stamp = parsedate_to_datetime(value)
        if stamp.tzinfo is None:
            raise PayloadError(name, "has no time zone")
        # The last day of year 9999 west of UTC is in year 10000 on UTC's clock: no datetime.
        return stamp.astimezone(UTC)
    except (TypeError, ValueError, IndexError, OverflowError):
        raise PayloadError(name, "not an RFC 2822 date") from None


def _agent(uri: str) -> str | None:
    """sip:101@clinic.sip.twilio.com → 101; client:reception1 → reception1; a number stays."""
    value = uri.strip()
    for prefix in ("sip:", "client:"):
        if value.lower().startswith(prefix):
            value = value[len(prefix):].split("@", 1)[0].split(";", 1)[0]
    return value or None


class Leg(enum.Enum):
    """Which leg a callback is about: they map differently onto the call."""

    CALL = "call"  # the call itself (an incoming call, or an outbound call to an outside number)
    DESK = "desk"  # one desk phone we <Dial> for an incoming call (has ParentCallSid)
    AGENT_FIRST = "agent_first"  # an outbound call that rings a desk phone first (click-to-call)
    OUTSIDE = "outside"  # a <Dial> leg to an outside number (e.g. the patient in click-to-call)


def _desk_phone(to: str, settings: Mapping[str, Any]) -> bool:
    """SIP and client URIs are desk phones; so are numbers listed in TWILIO_RING."""
    if to.lower().startswith(("sip:", "client:")):
        return True
    region = settings["REGION"]
    number = normalize(to, region)
    ring = (t.strip() for t in (settings.get("TWILIO_RING") or "").split(","))
    return number is not None and number in {normalize(t, region) for t in ring if t}


def _call(form: Mapping[str, str], settings: Mapping[str, Any]) -> tuple[dict[str, Any], Leg]:
    """The CallEvent fields a callback carries, and which leg it is about."""
    region = settings["REGION"]
    call_sid = required(form, "CallSid")
    raw_from, to = optional_text(form, "From"), optional_text(form, "To")
    caller = None if raw_from in HIDDEN_NUMBERS else normalize(raw_from, region)
    fields: dict[str, Any] = {"provider": PROVIDER, "caller": caller, "caller_raw": raw_from[:64]}
    parent = optional_text(form, "ParentCallSid")
    if parent and _desk_phone(to, settings):
        # The desk rings for an incoming call; the parent's own events carry the dialed number.
        return {**fields, "provider_call_id": parent, "direction": Direction.INBOUND,
                "extension": _agent(to)}, Leg.DESK
    if parent:
        return {**fields, "provider_call_id": parent, "direction": Direction.OUTBOUND,
                "dialed": normalize(to, region)}, Leg.OUTSIDE
    direction = optional_text(form, "Direction") or "inbound"
    if direction == "inbound":
        return {**fields, "provider_call_id": call_sid, "direction": Direction.INBOUND,
                "dialed": normalize(to, region)}, Leg.CALL
    if not direction.startswith("outbound"):
        raise PayloadError("Direction", f"unknown direction {direction!r}")
    if _desk_phone(to, settings):
        return {**fields, "provider_call_id": call_sid, "direction": Direction.OUTBOUND,
                "extension": _agent(to)}, Leg.AGENT_FIRST
    return {**fields, "provider_call_id": call_sid, "direction": Direction.OUTBOUND,
            "dialed": normalize(to, region)}, Leg.CALL


def _voice(form: Mapping[str, str], settings: Mapping[str, Any],
           received: datetime) -> list[CallEvent]:
    call, _ = _call(form, settings)
    status = required(form, "CallStatus")
    kind = VOICE_KINDS.get(status)
    if kind is None:
        raise PayloadError("CallStatus", f"unexpected {status!r} for an incoming call")
    return [CallEvent(**call, kind=kind, occurred_at=received,
                      event_id=f"{form['CallSid']}:voice", raw=dict(form))]


def _status(form: Mapping[str, str], settings: Mapping[str, Any],
            received: datetime) -> list[CallEvent]:
    call, leg = _call(form, settings)
    status = required(form, "CallStatus")
    if status in SILENT_STATUSES:
        return []
    kind = STATUS_KINDS.get(status)
    if kind is None:
        raise PayloadError("CallStatus", f"unknown status {status!r}")
    if leg is Leg.DESK and kind is CallEventKind.MISSED:
        return []  # this phone stopped ringing; another may have answered (the dial action says)
    if leg is Leg.AGENT_FIRST and kind is CallEventKind.ANSWERED:
        return []  # the receptionist picked up; the patient is only being dialed now
    extra = {key: value for key, value in (
        ("sequence", optional_text(form, "SequenceNumber")),
        ("status", status),
        ("answered_by", optional_text(form, "AnsweredBy")),
        ("sip_response_code", optional_text(form, "SipResponseCode")),
        ("leg", form["CallSid"] if leg in (Leg.DESK, Leg.OUTSIDE) else ""),
    ) if value}
    duration = optional_int(form, "CallDuration") if kind is CallEventKind.ENDED else None
    if leg is not Leg.DESK and call["direction"] is Direction.INBOUND and duration is not None:
        # An inbound call's own duration also counts ringing and voicemail: not talk time.
        extra["call_duration"] = duration
        duration = None
    return [CallEvent(**call, kind=kind, occurred_at=_occurred(form, "Timestamp", received),
                      duration=duration, event_id=f"{form['CallSid']}:{status}", extra=extra,
                      raw=dict(form))]


def _dial(form: Mapping[str, str], settings: Mapping[str, Any],
          received: datetime) -> list[CallEvent]:
    call, _ = _call(form, settings)
    status = required(form, "DialCallStatus")
    extra = {"dial_status": status, "dial_call_sid": optional_text(form, "DialCallSid")}
    if status in ANSWERED_DIAL_STATUSES:
        kind, duration = CallEventKind.ENDED, optional_int(form, "DialCallDuration")
    elif status in MISSED_STATUSES:
        kind, duration = CallEventKind.MISSED, None
    else:
        raise PayloadError("DialCallStatus", f"unknown status {status!r}")
    return [CallEvent(**call, kind=kind, occurred_at=received, duration=duration,
                      event_id=f"{form['CallSid']}:dial", extra=extra, raw=dict(form))]


def _recording(form: Mapping[str, str], settings: Mapping[str, Any],
               received: datetime) -> list[CallEvent]:
    """A finished recording: from the status callback or the <Record> action, whichever is first."""
    call, _ = _call(form, settings)
    status = optional_text(form, "RecordingStatus")
    if status and status != "completed":
        return []  # in-progress, or absent/failed: nothing to listen to
    url = optional_text(form, "RecordingUrl")
    if not url:
        return []  # the caller hung up before the tone
    recording_sid = required(form, "RecordingSid")
    duration = optional_int(form, "RecordingDuration")
    started = optional_text(form, "RecordingStartTime")
    occurred = (_occurred(form, "RecordingStartTime", received) + timedelta(seconds=duration or 0)
                if started else received)
    return [CallEvent(**call, kind=CallEventKind.RECORDING, occurred_at=occurred,
                      duration=duration, recording_url=url, event_id=recording_sid,
                      raw=dict(form))]


_HANDLERS = {"voice": _voice, "status": _status, "dial": _dial, "recording": _recording}
