"""/api/calls/<id>/script and /api/scripts/preview: the filled-in script as JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, request
from werkzeug.exceptions import BadRequest, NotFound

from callcenter.access.audit import record as audit
from callcenter.access.auth import current_staff, require_role
from callcenter.callscripts.library import APPLIES_VALUES, PLACEHOLDERS
from callcenter.callscripts.selection import (
    ScriptNotFound,
    default_library,
    preview_script,
    script_for_call,
)
from callcenter.core.config import LOCALES
from callcenter.core.ids import storable
from callcenter.core.models import Call, Clinic, Service
from callcenter.core.web import db

bp = Blueprint("scripts_api", __name__)

DESK = ("receptionist", "admin")


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name}: not an integer: {raw!r}") from None
    if not storable(value):
        raise BadRequest(f"{name}: out of range: {raw!r}")
    return value


def _service(service_id: Any, clinic_id: int | None) -> Service | None:
    """The asked service on the clinic's price list; raises NotFound (naming service_id) for a
    retired one, another clinic's or none (only its own list may put a price in a script)."""
    if service_id is None:
        return None
    service = db().get(Service, service_id) if storable(service_id) else None
    if service is None or not service.active or clinic_id not in (None, service.clinic_id):
        answer = jsonify({"error": "not_found", "field": "service_id",
                          "message": f"no service {service_id} on the clinic's price list"})
        answer.status_code = 404
        abort(answer)
    return service


def _locale(value: Any, name: str = "locale") -> str | None:
    if value in (None, ""):
        return None
    if value not in LOCALES:
        raise BadRequest(f"{name}: must be one of {', '.join(LOCALES)}, got {value!r}")
    return str(value)


@bp.get("/api/calls/<int:call_id>/script")
@require_role(*DESK)
def call_script(call_id: int):  # type: ignore[no-untyped-def]
    call = db().get(Call, call_id)
    if call is None:
        raise NotFound(f"no call {call_id}")
    try:
        result = script_for_call(
            db(), call, datetime.now(UTC), library=default_library(),
            scenario=request.args.get("scenario") or None, locale=_locale(request.args.get("locale")),
            doctor_id=_int_arg("doctor_id"), specialty=request.args.get("specialty") or None,
            service=_service(_int_arg("service_id"), call.clinic_id),
        )
    except ScriptNotFound as exc:
        raise NotFound(str(exc)) from None
    staff = current_staff()
    # The filled-in script names the patient and their visits: a read of patient data.
    audit(db(), staff.id if staff else None, "view_script", "call", call.id,
          patient_id=call.patient_id, scenario=result.scenario)
    db().commit()
    return jsonify(result.to_json())


@bp.post("/api/scripts/preview")
@require_role("admin")
def preview():  # type: ignore[no-untyped-def]
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object")
    known = {"scenario", "locale", "direction", "channel", "caller_kind", "purpose", "clinic_id",
             "now", "context", "service_id"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(unknown)}")
    scenario = body.get("scenario")
    if not isinstance(scenario, str) or not scenario:
        raise BadRequest("scenario: required")
    context = body.get("context") or {}
    if not isinstance(context, dict) or not all(isinstance(v, str) for v in context.values()):
        raise BadRequest("context: expected an object of texts")
    bad = sorted(set(context) - set(PLACEHOLDERS))
    if bad:
        raise BadRequest(f"context: unknown placeholder(s): {', '.join(bad)}")
    for name in ("direction", "caller_kind", "purpose", "channel", "locale"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise BadRequest(f"{name}: expected a text")
    for name in ("direction", "caller_kind", "purpose"):
        allowed = APPLIES_VALUES[name] or ()
        if body.get(name) is not None and body[name] not in allowed:
            raise BadRequest(f"{name}: must be one of {', '.join(allowed)}, got {body[name]!r}")
    clinic = None
    if body.get("clinic_id") is not None:
        if not storable(body["clinic_id"]):
            raise BadRequest(f"clinic_id: not a clinic id: {body['clinic_id']!r}")
        clinic = db().get(Clinic, body["clinic_id"])  # None too for a clinic the admin is not in
        if clinic is None:
            return jsonify({"error": "not_found", "field": "clinic_id",
                            "message": f"no clinic {body['clinic_id']}"}), 404
    if body.get("service_id") is not None and not storable(body["service_id"]):
        raise BadRequest(f"service_id: not a service id: {body['service_id']!r}")
    service = _service(body.get("service_id"), clinic.id if clinic else None)
    if service is not None and clinic is None:
        clinic = db().get(Clinic, service.clinic_id)
    try:
        now = datetime.fromisoformat(body["now"]) if body.get("now") else datetime.now(UTC)
    except (TypeError, ValueError):
        raise BadRequest(f"now: not an ISO datetime: {body.get('now')!r}") from None
    if now.tzinfo is None:
        raise BadRequest("now: needs a time zone offset")
    try:
        result = preview_script(
            db(), default_library(), scenario=scenario, locale=_locale(body.get("locale")),
            direction=body.get("direction"), caller_kind=body.get("caller_kind"),
            channel=body.get("channel"), purpose=body.get("purpose"), clinic=clinic, now=now,
            context=context, default_timezone=current_app.config["TIMEZONE"],
            default_locale=current_app.config["LOCALE"], service=service,
        )
    except ScriptNotFound as exc:
        raise NotFound(str(exc)) from None
    return jsonify(result.to_json())
