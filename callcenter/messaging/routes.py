"""The desk's text API: a patient's thread, a reply from the card, the unread incoming texts."""

from __future__ import annotations

import logging

import redis
from flask import Blueprint, Response, current_app, jsonify, request
from rq import Queue

from callcenter.access.audit import record as audit
from callcenter.access.auth import current_staff, require_role
from callcenter.access.locale import request_locale
from callcenter.core.inputs import InputError
from callcenter.core.models import Patient, Staff, utcnow
from callcenter.core.web import db, runtime
from callcenter.messaging import sending, thread

bp = Blueprint("messaging", __name__)
DESK = ("receptionist", "admin")
log = logging.getLogger(__name__)


def _staff() -> Staff:
    staff = current_staff()
    assert staff is not None  # require_role let the request in
    return staff


def _patient(patient_id: int) -> Patient:
    patient = db().get(Patient, patient_id)
    if patient is None or patient.erased_at is not None:
        raise InputError("patient_id", "no such patient")
    return patient


def _region() -> str:
    return str(current_app.config["REGION"])


@bp.errorhandler(InputError)
def _refused(exc: InputError) -> tuple[Response, int]:
    # Another clinic's patient is not there at all: the same 404 as an id that never existed.
    status = 404 if exc.field == "patient_id" else 400
    return jsonify({"error": "invalid_request", "field": exc.field,
                    "message": exc.localized(request_locale(current_app.config["LOCALE"]))}), status


@bp.get("/api/patients/<int:patient_id>/messages")
@require_role(*DESK)
def patient_thread(patient_id: int) -> Response:
    patient = _patient(patient_id)
    entries = thread.thread(db(), patient, _region())
    thread.mark_read(db(), patient, utcnow())
    # The open card refreshes its thread (poll=1) after the first read, which is the one audited:
    # the card page itself is audited too, so a view never goes unrecorded.
    if request.args.get("poll") != "1":
        audit(db(), _staff().id, "view_patient", "patient", patient.id, via="messages")
    db().commit()
    return jsonify({"items": [entry.as_json() for entry in entries]})


@bp.post("/api/patients/<int:patient_id>/messages")
@require_role(*DESK)
def send_reply(patient_id: int) -> tuple[Response, int]:
    patient = _patient(patient_id)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InputError("body", "expected a JSON object")
    staff = _staff()
    message_id = thread.reply(db(), staff, patient, body.get("body"), body.get("phone"), utcnow(),
                              current_app.config)
    audit(db(), staff.id, "text_patient", "patient", patient.id, message_id=message_id)
    db().commit()
    _send_now(message_id)
    return jsonify({"id": message_id, "status": "queued"}), 201


def _send_now(message_id: int) -> None:
    """Hand the reply to a worker at once; if Redis is away, the planner's next round sends it."""
    try:
        Queue(sending.SMS_QUEUE, connection=runtime().redis).enqueue(
            sending.send_batch, [message_id], job_timeout=600, result_ttl=600)
    except redis.RedisError as exc:
        log.warning("text %s left for the planner: %s", message_id, type(exc).__name__)


@bp.get("/api/messages/unread")
@require_role(*DESK)
def unread() -> Response:
    return jsonify({"items": thread.unread(db(), _region())})
