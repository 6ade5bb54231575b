"""The desk's browser phone: what the page needs to register, the dial-time rules before it
dials, and its calls logged through the same ingest path as the PBX's webhooks.

One call, not two: the page reports each call by its SIP Call-ID (Twilio: the CallSid). An event
for a call the PBX announced (the pop the receptionist answered from) is recorded on that call;
otherwise on a call keyed by the Call-ID, which is also the row a PBX reporting Call-IDs
(`provider_call_id`) or Twilio's own status callbacks (the CallSid) write to. Every event carries
its own id, so a page retrying a post changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.access import softphone_accounts
from callcenter.core import clinic_scope, clinic_settings
from callcenter.core.i18n import N_
from callcenter.core.inputs import FieldError
from callcenter.core.models import Call, CallStatus, Clinic, Staff, utcnow
from callcenter.core.phones import normalize
from callcenter.core.runtime import Runtime
from callcenter.desk.clicktocall import cleared_number
from callcenter.inbound.ingest import ingest_events
from webhooks import CallEvent, CallEventKind, Direction

KINDS = {"answered": CallEventKind.ANSWERED, "transferred": CallEventKind.TRANSFERRED,
         "ended": CallEventKind.ENDED, "ringing": CallEventKind.RINGING, "missed": CallEventKind.MISSED}
# How long after a pop the ringing browser phone is taken to be that call (by caller number).
MATCH_WINDOW = timedelta(minutes=5)
TICKET_SECONDS = 120


class SoftphoneError(FieldError):
    """A browser-phone request refused, naming the field."""


@dataclass(frozen=True)
class Report:
    """One thing the page saw happen to a call."""

    kind: str  # a key of KINDS
    sip_call_id: str
    direction: str  # inbound | outbound
    number: str = ""  # the other party as the phone showed it
    call_id: int | None = None  # the pop's call, when the page matched it
    target: str = ""  # the extension a transfer went to


def page_config(runtime: Runtime, staff: Staff) -> dict[str, Any]:
    """What the desk's phone needs to start; {"kind": "off"} without one."""
    phone = softphone_accounts.read(runtime.config["SECRET_KEY"], staff)
    if phone is None:
        return {"kind": "off", "unreadable": softphone_accounts.unreadable(runtime.config["SECRET_KEY"], staff)}
    if phone.kind == "twilio":
        return {"kind": "twilio", "identity": phone.identity, "extension": staff.sip_extension or ""}
    return {"kind": "sip", "ws": phone.wss_url, "uri": f"sip:{phone.sip_user}@{phone.sip_domain}",
            "user": phone.sip_user, "password": phone.password, "domain": phone.sip_domain,
            "extension": staff.sip_extension or "", "name": staff.display_name}


TWILIO_SOURCES = ("wss://*.twilio.com", "https://*.twilio.com")


def connect_sources(runtime: Runtime, staff: Staff) -> tuple[str, ...]:
    """Where the desk page's phone connects besides our own origin (for its CSP)."""
    phone = softphone_accounts.read(runtime.config["SECRET_KEY"], staff)
    if phone is None:
        return ()
    if phone.kind == "twilio":
        return TWILIO_SOURCES
    parts = urlsplit(phone.wss_url)
    return (f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}",)


def clear_to_dial(runtime: Runtime, staff: Staff, raw_number: str, *, task_id: int | None,
                  asked_to_call: str) -> dict[str, str]:
    """The dial-time rules of every desk call, before the browser dials; the number to dial and
    a short-lived ticket the Twilio voice URL checks, so only cleared numbers are called."""
    number, _clinic = cleared_number(runtime, staff, raw_number, task_id=task_id,
                                     asked_to_call=asked_to_call, via="softphone")
    return {"number": number, "ticket": ticket(runtime.config["SECRET_KEY"], staff.id, number)}


def ticket(secret_key: str, staff_id: int, number: str, now: float | None = None) -> str:
    expires = int((now if now is not None else time.time()) + TICKET_SECONDS)
    return f"{staff_id}.{expires}.{_ticket_mac(secret_key, staff_id, number, expires)}"


def ticket_staff(secret_key: str, value: str, number: str, now: float | None = None) -> int | None:
    """The staff member a ticket was given to for this number, None if forged or expired."""
    try:
        staff_text, expires_text, mac = value.split(".")
        staff_id, expires = int(staff_text), int(expires_text)
    except ValueError:
        return None
    if expires < (now if now is not None else time.time()):
        return None
    if not hmac.compare_digest(mac, _ticket_mac(secret_key, staff_id, number, expires)):
        return None
    return staff_id


def _ticket_mac(secret_key: str, staff_id: int, number: str, expires: int) -> str:
    message = f"softphone-dial|{staff_id}|{number}|{expires}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()[:32]


def record(runtime: Runtime, staff: Staff, report: Report) -> int:
    """Log what the browser phone saw; returns our call id (the card to show it on)."""
    if report.kind not in KINDS:
        raise SoftphoneError("kind", N_("unknown call event"))
    if report.direction not in ("inbound", "outbound"):
        raise SoftphoneError("direction", N_("inbound or outbound"))
    if not report.sip_call_id or len(report.sip_call_id) > 128:
        raise SoftphoneError("sip_call_id", N_("the call's SIP Call-ID (up to 128 characters)"))
    config = runtime.config
    remote = normalize(report.number, config["REGION"]) if report.number else None
    phone = softphone_accounts.read(config["SECRET_KEY"], staff)
    provider = "twilio" if phone is not None and phone.kind == "twilio" else "softphone"
    with runtime.sessions() as session:
        clinic_scope.restrict(session, clinic_scope.scope_of(session, staff))
        call = _call_for(session, report, remote, provider)
        clinic = session.get(Clinic, call.clinic_id if call is not None else staff.clinic_id)
        assert clinic is not None  # the staff member's own clinic is in their scope
        kind = report.kind
        if call is not None and kind == "ringing":
            if call.status != CallStatus.ANSWERED or call.extension == staff.sip_extension:
                return call.id  # the PBX announced it: its own events log the ringing
            # Answered at another desk and now ringing here: put through, so the card follows.
            kind = "transferred"
        key = (call.provider, call.provider_call_id) if call is not None else (provider, report.sip_call_id)
        caller_id = clinic_settings.caller_id(clinic, config) or None
    extension = report.target if report.kind == "transferred" else staff.sip_extension
    outbound = report.direction == "outbound"
    event = CallEvent(
        provider=key[0], provider_call_id=key[1], kind=KINDS[kind], occurred_at=utcnow(),
        direction=Direction.OUTBOUND if outbound else Direction.INBOUND,
        caller=caller_id if outbound else remote, dialed=remote if outbound else None,
        caller_raw="" if outbound else report.number[:64], extension=extension or None,
        event_id=f"softphone:{staff.id}:{report.target}:{report.sip_call_id}"[:190])
    raw = json.dumps({"softphone": report.kind, "sip_call_id": report.sip_call_id, "staff_id": staff.id,
                      "direction": report.direction, "target": report.target})
    changes = ingest_events(runtime, key[0], [event], raw, source="softphone", clinic_id=clinic.id)
    return changes[0].call_id


def _call_for(session: Session, report: Report, remote: str | None, provider: str) -> Call | None:
    """The call already on record that this browser-phone call is: the pop the page named, one
    keyed by the same Call-ID, or (ringing) the call ringing at this desk from the same number."""
    if report.call_id is not None:
        call = session.get(Call, report.call_id)
        if call is None:  # or another clinic's
            raise SoftphoneError("call_id", N_("no such call"), 404)
        return call
    same = session.scalars(select(Call).where(Call.provider_call_id == report.sip_call_id)
                           .order_by((Call.provider == provider).desc(), Call.id.desc()).limit(1)).first()
    if same is not None or report.direction != "inbound" or remote is None:
        return same
    # Any extension: a call transferred here is still the first desk's call on record.
    return session.scalars(
        select(Call).where(Call.caller == remote, Call.status.in_((CallStatus.RINGING, CallStatus.ANSWERED)),
                           Call.started_at >= utcnow() - MATCH_WINDOW)
        .order_by(Call.id.desc()).limit(1)).first()
