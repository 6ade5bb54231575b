"""Twilio callbacks of our automatic calls: /webhooks/twilio/outbound/<attempt_id>/{twiml,gather,status}.

twiml   the call was answered (AnsweredBy from machine detection): say the message, gather a key
gather  the key pressed: written back through results.record_outcome, then one question
        ("rate us 1 to 5") unless the patient asked for no more calls
rating  the key pressed for it: stored through complaints.ratings; a wrong key is asked once more
status  call progress: logged through the inbound webhook pipeline (Call row), then a final
        status with no key pressed becomes busy / no answer / hung up / failed
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, current_app, jsonify, make_response, request
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Gather, VoiceResponse

from callcenter.complaints import ratings
from callcenter.core import clinic_scope
from callcenter.core.inputs import FieldError
from callcenter.core.models import Appointment, Clinic, DialAttempt, DialTask, Patient, utcnow
from callcenter.core.phones import mask
from callcenter.core.web import db, runtime
from callcenter.inbound.ingest import handle_webhook
from callcenter.inbound.webhook_http import inbound_request, limit_webhook, signed_url
from callcenter.outbound import prompts
from callcenter.outbound.results import Outcome, RetryPolicy, outcome_for_key, record_outcome

bp = Blueprint("outbound", __name__, url_prefix="/webhooks/twilio/outbound")
XML = "text/xml; charset=utf-8"
SAY_LANGUAGE = {"ru": "ru-RU", "en": "en-US", "zh": "zh-CN"}
FINAL_STATUS = {"busy": Outcome.BUSY, "no-answer": Outcome.NO_ANSWER, "failed": Outcome.FAILED,
                "canceled": Outcome.FAILED, "completed": Outcome.HUNG_UP}
GATHER_SECONDS = 8
# Asked again after a wrong key: this many times in all, then goodbye.
RATING_ROUNDS = 2
bp.before_request(limit_webhook)


def _verified_attempt(attempt_id: int) -> tuple[DialAttempt, DialTask, Clinic, str]:
    """The signed Twilio callback's attempt, task, clinic and language; 403 / 404 otherwise."""
    token = current_app.config["TWILIO_AUTH_TOKEN"]
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not RequestValidator(token).validate(signed_url(), request.form, signature):
        abort(make_response(jsonify({"error": "bad_signature",
                                     "message": "X-Twilio-Signature does not match"}), 403))
    session = _trusted_db()
    attempt = session.get(DialAttempt, attempt_id)
    if attempt is None:
        abort(make_response(_not_found(attempt_id)))
    task = session.get(DialTask, attempt.task_id)
    assert task is not None
    clinic = session.get(Clinic, task.clinic_id)
    assert clinic is not None
    patient = session.get(Patient, task.patient_id) if task.patient_id else None
    lang = prompts.language(patient.preferred_language if patient else None, clinic.locale)
    return attempt, task, clinic, lang


def _trusted_db() -> Session:
    """Twilio, signature-checked, speaks for every clinic of the installation."""
    return clinic_scope.restrict(db(), clinic_scope.installation(db()))


def _not_found(attempt_id: int) -> tuple[Response, int]:
    return jsonify({"error": "unknown_attempt", "message": f"no dial attempt {attempt_id}"}), 404


def _twiml(response: VoiceResponse) -> Response:
    return Response(str(response), status=200, content_type=XML)


def _record(attempt: DialAttempt, task: DialTask, outcome: Outcome, digits: str = "") -> None:
    record_outcome(db(), task, outcome, now=utcnow(), attempt=attempt, digits=digits,
                   policy=RetryPolicy.from_config(current_app.config))
    db().commit()


def _gather(attempt_id: int, task: DialTask, clinic: Clinic, lang: str) -> VoiceResponse:
    visit = db().get(Appointment, task.appointment_id) if task.appointment_id else None
    text = prompts.message(task.purpose, lang, clinic.name, visit.starts_at if visit else None,
                           ZoneInfo(clinic.timezone))
    response = VoiceResponse()
    gather = Gather(num_digits=1, timeout=GATHER_SECONDS, method="POST",
                    action=f"{signed_base()}/{attempt_id}/gather")
    gather.say(text, language=SAY_LANGUAGE[lang])
    response.append(gather)
    response.hangup()
    return response


def signed_base() -> str:
    """This blueprint's public base URL, as Twilio will call (and sign) it."""
    url = signed_url()
    return url[: url.index("/webhooks/twilio/outbound") + len("/webhooks/twilio/outbound")]


@bp.post("/<int:attempt_id>/twiml")
def twiml(attempt_id: int) -> Response | tuple[Response, int]:
    attempt, task, clinic, lang = _verified_attempt(attempt_id)
    answered_by = request.form.get("AnsweredBy", "")
    if answered_by.startswith("machine") or answered_by == "fax":
        response = VoiceResponse()
        if current_app.config["DIAL_MACHINE"] == "message":
            response.say(prompts.machine_message(lang, clinic.name), language=SAY_LANGUAGE[lang])
        response.hangup()
        _record(attempt, task, Outcome.MACHINE)
        return _twiml(response)
    return _twiml(_gather(attempt_id, task, clinic, lang))


@bp.post("/<int:attempt_id>/gather")
def gather(attempt_id: int) -> Response | tuple[Response, int]:
    attempt, task, clinic, lang = _verified_attempt(attempt_id)
    digits = request.form.get("Digits", "")
    outcome = outcome_for_key(digits[:1], task.purpose)
    if outcome is None:
        # No key or a key with no meaning: say the choices once more.
        return _twiml(_gather(attempt_id, task, clinic, lang))
    _record(attempt, task, outcome, digits)
    current_app.logger.info("outbound attempt %s to %s: %s", attempt_id, mask(task.phone), outcome)
    call_back = outcome in (Outcome.CANCEL, Outcome.RESCHEDULE)
    if outcome is Outcome.OPT_OUT:  # asked for no more calls: no more questions either
        return _last_words(prompts.thanks(lang, call_back=call_back), lang)
    return _twiml(_ask_rating(attempt_id, prompts.thanks(lang, call_back=call_back, rate=True), lang, 1))


def _ask_rating(attempt_id: int, text: str, lang: str, asked: int) -> VoiceResponse:
    """One key for the rating; no key at all falls through to the hangup, rating nothing."""
    response = VoiceResponse()
    gather = Gather(num_digits=1, timeout=GATHER_SECONDS, method="POST",
                    action=f"{signed_base()}/{attempt_id}/rating?asked={asked}")
    gather.say(text, language=SAY_LANGUAGE[lang])
    response.append(gather)
    response.hangup()
    return response


@bp.post("/<int:attempt_id>/rating")
def rating(attempt_id: int) -> Response | tuple[Response, int]:
    attempt, task, _clinic, lang = _verified_attempt(attempt_id)
    asked = request.args.get("asked", "")
    try:
        ratings.record(db(), clinic_id=task.clinic_id, answer=request.form.get("Digits", ""),
                       channel="ivr", now=utcnow(), patient_id=task.patient_id,
                       appointment_id=task.appointment_id, call_id=task.call_id,
                       dial_attempt_id=attempt.id)
    except FieldError:
        if asked.isdigit() and int(asked) < RATING_ROUNDS:
            return _twiml(_ask_rating(attempt_id, prompts.rate_again(lang), lang, int(asked) + 1))
        return _last_words(prompts.after_rating(lang, rated=False), lang)
    db().commit()
    return _last_words(prompts.after_rating(lang, rated=True), lang)


def _last_words(text: str, lang: str) -> Response:
    response = VoiceResponse()
    response.say(text, language=SAY_LANGUAGE[lang])
    response.hangup()
    return _twiml(response)


@bp.post("/<int:attempt_id>/status")
def status(attempt_id: int) -> Response | tuple[Response, int]:
    # The call belongs to the clinic that placed it, whatever caller ID it showed (the
    # installation's, shared by every clinic that sets none of its own).
    placed = _trusted_db().scalar(select(DialTask.clinic_id).join(
        DialAttempt, DialAttempt.task_id == DialTask.id).where(DialAttempt.id == attempt_id))
    result = handle_webhook(runtime(), inbound_request("twilio", "status"),
                            clinic_id=placed)
    if result.error is not None:
        return jsonify({**result.error, "raw_id": result.raw_id}), result.status
    final = FINAL_STATUS.get(request.form.get("CallStatus", ""))
    if final is not None:
        session = _trusted_db()
        attempt = session.scalar(select(DialAttempt).where(DialAttempt.id == attempt_id))
        if attempt is None:
            return _not_found(attempt_id)
        task = session.get(DialTask, attempt.task_id)
        assert task is not None
        attempt.provider_call_id = attempt.provider_call_id or request.form.get("CallSid")
        _record(attempt, task, final)  # a no-op if a key was already pressed
    return Response("", status=204)
