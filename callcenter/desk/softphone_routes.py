"""The desk's browser phone: its settings for the signed-in receptionist, the dial-time rules
before it dials, its call events, and for Twilio clinics the Voice SDK's access token and the
TwiML app's voice URL."""

from __future__ import annotations

from flask import Blueprint, Response, abort, jsonify, request
from sqlalchemy import select
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from callcenter.access import softphone_accounts
from callcenter.access.auth import require_role
from callcenter.core import clinic_scope, clinic_settings
from callcenter.core.inputs import optional_text, text
from callcenter.core.models import Call, Clinic, DialTask, OptOut, Staff
from callcenter.core.phones import normalize
from callcenter.core.web import db, runtime
from callcenter.desk import clicktocall, desk_request, softphone
from callcenter.desk.desk_request import answer_errors
from callcenter.desk.http_input import DeskError, body_json, id_field
from callcenter.outbound import dial_rules

bp = Blueprint("softphone", __name__)
DESK = ("receptionist", "admin")
TOKEN_SECONDS = 3600

answer_errors(bp, "invalid_request", DeskError, softphone.SoftphoneError)


@bp.get("/api/desk/softphone")
@require_role(*DESK)
def settings() -> Response:
    """The signed-in receptionist's own phone (with the SIP password their browser registers
    with); never another staff member's."""
    response = jsonify(softphone.page_config(runtime(), desk_request.staff()))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/api/desk/softphone/dial")
@require_role(*DESK)
def dial() -> Response:
    """The dial-time rules (do-not-call, consent, calling hours) before the browser dials."""
    body = body_json()
    number = body.get("number")
    if not isinstance(number, str) or not number:
        raise DeskError("number", "required (E.164)")
    task_id = id_field(body, "task_id", required=False)
    if task_id is not None and db().get(DialTask, task_id) is None:
        raise DeskError("task_id", "no such task", 404)
    try:
        cleared = softphone.clear_to_dial(runtime(), desk_request.staff(), number, task_id=task_id,
                                          asked_to_call=optional_text(OptOut.reason, body, "asked_to_call"))
    except (clicktocall.DialError, dial_rules.DialRefused) as exc:
        raise DeskError(exc.field, exc.msgid, exc.status, **exc.params) from None
    return jsonify(cleared)


@bp.post("/api/desk/softphone/events")
@require_role(*DESK)
def events() -> Response:
    """What the browser phone saw (ringing, answered, transferred, ended), by SIP Call-ID."""
    body = body_json()
    call_id = id_field(body, "call_id", required=False)
    report = softphone.Report(
        kind=_word(body, "kind"), sip_call_id=text(Call.provider_call_id, body.get("sip_call_id"), "sip_call_id"),
        direction=_word(body, "direction"), number=optional_text(Call.caller_raw, body, "number"),
        call_id=call_id, target=optional_text(Staff.sip_extension, body, "target"))
    return jsonify({"call_id": softphone.record(runtime(), desk_request.staff(), report)})


def _word(body: dict[str, object], field: str) -> str:
    """A code from a short list; the domain function names the field when it is not one."""
    value = body.get(field)
    return value if isinstance(value, str) and len(value) <= 16 else ""


@bp.post("/api/desk/softphone/token")
@require_role(*DESK)
def twilio_token() -> Response:
    """A Voice SDK access token for the receptionist's Twilio identity (an hour)."""
    config = runtime().config
    phone = softphone_accounts.read(config["SECRET_KEY"], desk_request.staff())
    if phone is None or phone.kind != "twilio":
        raise DeskError("softphone", "this desk has no Twilio phone", 409)
    if not (config["TWILIO_ACCOUNT_SID"] and config["TWILIO_API_KEY_SID"] and config["TWILIO_API_KEY_SECRET"]
            and config["TWILIO_TWIML_APP_SID"]):
        raise DeskError("softphone", "Twilio is not set up for browser phones", 503)
    token = AccessToken(config["TWILIO_ACCOUNT_SID"], config["TWILIO_API_KEY_SID"],
                        config["TWILIO_API_KEY_SECRET"], identity=phone.identity, ttl=TOKEN_SECONDS)
    token.add_grant(VoiceGrant(outgoing_application_sid=config["TWILIO_TWIML_APP_SID"], incoming_allow=True))
    response = jsonify({"token": token.to_jwt(), "identity": phone.identity, "ttl": TOKEN_SECONDS})
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/webhooks/twilio/softphone")
def twilio_voice() -> Response:
    """The TwiML app's voice URL: a desk's call from the browser. A number is dialed only with
    the ticket the dial rules gave for it; an extension rings that desk's browser phone."""
    config = runtime().config
    base = config["PUBLIC_URL"].rstrip("/") or request.host_url.rstrip("/")
    signature = request.headers.get("X-Twilio-Signature", "")
    if not config["TWILIO_AUTH_TOKEN"] or not RequestValidator(config["TWILIO_AUTH_TOKEN"]).validate(
            base + request.full_path.rstrip("?"), request.form.to_dict(), signature):
        abort(403)
    clinic_scope.restrict(db(), clinic_scope.installation(db()))  # Twilio serves the installation
    to = request.form.get("To", "")
    reply = VoiceResponse()
    target = _desk_identity(to) if to.isdigit() and len(to) <= 10 else None
    if target is not None:
        reply.dial(answer_on_bridge=True).client(target)
        return Response(str(reply), mimetype="text/xml")
    number = normalize(to, config["REGION"])
    staff_id = softphone.ticket_staff(config["SECRET_KEY"], request.form.get("ticket", ""), number or "")
    staff = db().get(Staff, staff_id) if staff_id is not None else None
    if number is None or staff is None:
        reply.reject()
        return Response(str(reply), mimetype="text/xml")
    clinic = db().get(Clinic, staff.clinic_id)
    assert clinic is not None
    reply.dial(caller_id=clinic_settings.caller_id(clinic, config) or None, answer_on_bridge=True).number(number)
    return Response(str(reply), mimetype="text/xml")


def _desk_identity(extension: str) -> str | None:
    """The Twilio identity of the desk at this extension (a transfer or an internal call)."""
    secret_key = runtime().config["SECRET_KEY"]
    for staff in db().scalars(select(Staff).where(Staff.sip_extension == extension, Staff.active.is_(True))):
        phone = softphone_accounts.read(secret_key, staff)
        if phone is not None and phone.kind == "twilio":
            return phone.identity
    return None
