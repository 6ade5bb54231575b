"""Click-to-call: the PBX rings the receptionist's headset first, then dials the patient.

Twilio: `calls.create` to the agent's SIP/client URI with TwiML that <Dial>s the patient; the call
is logged at once through the normal pipeline (a ringing event under the call's SID), and
Twilio's status callbacks update the same row. SIP PBX (Asterisk AMI): an Originate of the
agent's channel into the dial plan with the patient's number; the PBX's own events log it.
"""

from __future__ import annotations

import json
import logging
import socket
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.base.exceptions import TwilioException
from twilio.twiml.voice_response import VoiceResponse

from callcenter.core import clinic_scope, clinic_settings
from callcenter.core.inputs import FieldError
from callcenter.core.models import Clinic, DialTask, Patient, PatientPhone, Staff, utcnow
from callcenter.core.phones import mask, normalize
from callcenter.core.runtime import Runtime
from callcenter.inbound.ingest import ingest_events
from callcenter.outbound import dial_rules
from callcenter.outbound.dialers.twilio import client as twilio_client
from webhooks import CallEvent, CallEventKind, Direction

log = logging.getLogger(__name__)
STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]


class DialError(FieldError):
    """The call could not start: `status` says whose fault (4xx ours, 502 the provider's)."""


def mode(config: Mapping[str, Any]) -> str:
    """twilio | ami | off; "auto" picks whichever is configured."""
    chosen = config["CLICK_TO_CALL"]
    if chosen != "auto":
        return chosen
    if config["TWILIO_ACCOUNT_SID"] and config["TWILIO_AUTH_TOKEN"]:
        return "twilio"
    if config["AMI_USER"]:
        return "ami"
    return "off"


def agent_twiml(number: str, caller_id: str, status_url: str = "") -> str:
    """What Twilio runs once the receptionist picks up: dial the patient (their leg reports back
    to `status_url`, so the call shows the patient answering)."""
    response = VoiceResponse()
    dial = response.dial(caller_id=caller_id or None, answer_on_bridge=True)
    if status_url:
        dial.number(number, status_callback=status_url, status_callback_method="POST",
                    status_callback_event="initiated ringing answered completed")
    else:
        dial.number(number)
    return str(response)


def dial(runtime: Runtime, staff: Staff, raw_number: str, *, task_id: int | None = None,
         asked_to_call: str = "") -> int | None:
    """Start the call; returns our call id when the provider gives one up front (Twilio).

    The dial rules (do-not-call, consent, calling hours) refuse with `dial_rules.DialRefused`
    unless `asked_to_call` says why the patient wants this call (audited). A missed call to that
    number leaves the list once this call is answered (calls.py)."""
    config = runtime.config
    if not staff.sip_extension:
        raise DialError("extension", "your account has no SIP extension to ring", 409)
    number, clinic = cleared_number(runtime, staff, raw_number, task_id=task_id,
                                    asked_to_call=asked_to_call, via="click_to_call")
    how = mode(config)
    log.info("click-to-call by staff %s to %s via %s", staff.id, mask(number), how)
    if how == "twilio":
        call_id = _dial_twilio(runtime, staff, number, clinic)
    elif how == "ami":
        _originate_ami(config, staff.sip_extension, number)
        call_id = None
    else:
        raise DialError("click_to_call", "click-to-call is not configured (Twilio or Asterisk AMI)", 503)
    if task_id is not None and call_id is not None:
        with runtime.sessions() as session:
            clinic_scope.restrict(session, clinic_scope.scope_of(session, staff))
            task = session.get(DialTask, task_id)
            if task is not None:
                task.call_id = call_id
                task.attempts += 1
                session.commit()
    return call_id


def cleared_number(runtime: Runtime, staff: Staff, raw_number: str, *, task_id: int | None,
                   asked_to_call: str, via: str) -> tuple[str, Clinic]:
    """The number in E.164 and the clinic calling it, once the dial rules allow the call now
    (`dial_rules.DialRefused` otherwise): every way a desk dials (the PBX, the browser phone)
    passes here."""
    number = normalize(raw_number, runtime.config["REGION"])
    if number is None:
        raise DialError("number", "not a dialable phone number")
    clinic = _calling_clinic(runtime, staff, task_id)
    with runtime.sessions() as session:
        # Unscoped for the do-not-call list: an entry without a clinic binds every clinic.
        override = dial_rules.Override(staff.id, asked_to_call) if asked_to_call.strip() else None
        dial_rules.check(session, clinic, phone=number, now=utcnow(), config=runtime.config,
                         patient_id=_patient_called(session, clinic.id, number, task_id),
                         override=override, via=via)
        session.commit()
    return number, clinic


def _patient_called(session: Session, clinic_id: int, number: str, task_id: int | None) -> int | None:
    """Whose consent the call needs: the list task's patient, else the one card with the number
    (a family number shared by several cards answers for the number alone)."""
    task = session.get(DialTask, task_id) if task_id is not None else None
    if task is not None and task.clinic_id == clinic_id:
        return task.patient_id
    found = session.scalars(select(PatientPhone.patient_id).join(Patient).where(
        PatientPhone.e164 == number, Patient.clinic_id == clinic_id).limit(2)).all()
    return found[0] if len(found) == 1 else None


def _calling_clinic(runtime: Runtime, staff: Staff, task_id: int | None) -> Clinic:
    """The clinic the call is made for: the list task's, else the staff member's own."""
    with runtime.sessions() as session:
        clinic_scope.restrict(session, clinic_scope.scope_of(session, staff))
        task = session.get(DialTask, task_id) if task_id is not None else None
        clinic = session.get(Clinic, task.clinic_id if task is not None else staff.clinic_id)
        assert clinic is not None  # the staff member's own clinic is always in their scope
        return clinic


def _dial_twilio(runtime: Runtime, staff: Staff, number: str, clinic: Clinic) -> int:
    config = runtime.config
    caller_id = clinic_settings.caller_id(clinic, config)
    agent_uri = config["TWILIO_AGENT_URI"].format(extension=staff.sip_extension)
    base = config["PUBLIC_URL"].rstrip("/")
    status_url = f"{base}/webhooks/twilio/status" if base else ""
    callbacks: dict[str, Any] = ({"status_callback": status_url, "status_callback_event": STATUS_EVENTS,
                                  "status_callback_method": "POST"} if status_url else {})
    try:
        created = twilio_client(config).calls.create(
            to=agent_uri, from_=caller_id or number, twiml=agent_twiml(number, caller_id, status_url),
            **callbacks)
    except TwilioException as exc:
        log.warning("click-to-call failed at Twilio: %s", type(exc).__name__)
        raise DialError("number", "Twilio refused the call", 502) from None
    event = CallEvent(provider="twilio", provider_call_id=created.sid, kind=CallEventKind.RINGING,
                      occurred_at=utcnow(), direction=Direction.OUTBOUND, caller=caller_id or None,
                      dialed=number, extension=staff.sip_extension, event_id="click-to-call")
    raw = json.dumps({"click_to_call": created.sid, "staff_id": staff.id,
                      "extension": staff.sip_extension})
    changes = ingest_events(runtime, "twilio", [event], raw, source="click-to-call",
                            clinic_id=clinic.id)
    return changes[0].call_id


def ami_originate_action(config: Mapping[str, Any], extension: str, number: str, action_id: str) -> str:
    """The AMI Originate: ring the agent's channel, then run the dial plan for the number."""
    lines = {
        "Action": "Originate", "ActionID": action_id,
        "Channel": config["AMI_AGENT_CHANNEL"].format(extension=extension),
        "Context": config["AMI_CONTEXT"], "Exten": number.lstrip("+"), "Priority": "1",
        "CallerID": f"<{extension}>", "Timeout": str(config["DIAL_RING_SECONDS"] * 1000),
        "Async": "true", "Variable": f"CALLCENTER_CLICK={action_id}",
    }
    return "".join(f"{k}: {v}\r\n" for k, v in lines.items()) + "\r\n"


def _originate_ami(config: Mapping[str, Any], extension: str, number: str) -> None:
    action_id = f"cc-{uuid.uuid4().hex[:16]}"
    login = (f"Action: Login\r\nActionID: {action_id}-login\r\nUsername: {config['AMI_USER']}\r\n"
             f"Secret: {config['AMI_PASSWORD']}\r\nEvents: off\r\n\r\n")
    try:
        with socket.create_connection((config["AMI_HOST"], config["AMI_PORT"]), timeout=5) as conn:
            reader = conn.makefile("rb")
            reader.readline()  # "Asterisk Call Manager/x.y"
            conn.sendall(login.encode())
            if _ami_response(reader, f"{action_id}-login").get("Response") != "Success":
                raise DialError("click_to_call", "the PBX refused the AMI login", 502)
            conn.sendall(ami_originate_action(config, extension, number, action_id).encode())
            reply = _ami_response(reader, action_id)
            if reply.get("Response") != "Success":
                raise DialError("number", "the PBX refused the call: {reason}", 502,
                                reason=reply.get("Message", "-"))
            # Closing before Asterisk's "Goodbye" makes it log a dropped manager session and can
            # cut the queued Originate on some versions: log off the way a well-behaved client does.
            conn.sendall(f"Action: Logoff\r\nActionID: {action_id}-logoff\r\n\r\n".encode())
            _ami_response(reader, f"{action_id}-logoff")
    except OSError as exc:
        raise DialError("click_to_call", "the PBX is unreachable ({reason})", 502,
                        reason=type(exc).__name__) from None


def _ami_response(reader: Any, action_id: str) -> dict[str, str]:
    """The reply to one action: events and replies to other actions on the socket are skipped."""
    while True:
        packet = _ami_packet(reader)
        if "Response" in packet and packet.get("ActionID") == action_id:
            return packet


def _ami_packet(reader: Any) -> dict[str, str]:
    fields: dict[str, str] = {}
    while True:
        line = reader.readline()
        if not line:
            raise DialError("click_to_call", "the PBX closed the AMI connection", 502)
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if not text:
            if fields:
                return fields
            continue
        name, _, value = text.partition(":")
        fields[name.strip()] = value.strip()
