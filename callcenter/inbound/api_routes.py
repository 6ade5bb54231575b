"""JSON API over the call log: list with filters, one call with its events, desk edits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.access.audit import record as audit
from callcenter.access.auth import current_staff, require_role
from callcenter.core.ids import MAX_ID, storable
from callcenter.core.inputs import InputError as BadRequest
from callcenter.core.inputs import text
from callcenter.core.models import (
    Call,
    CallDirection,
    CallOutcome,
    CallStatus,
    Channel,
    Patient,
    RawState,
    RawWebhook,
    TrackingNumber,
)
from callcenter.core.web import db, runtime
from callcenter.inbound.attribution import assign_channel, set_heard_from, unattributed_numbers
from callcenter.inbound.ingest import IngestResult, failed_ids, reprocess

bp = Blueprint("api_calls", __name__, url_prefix="/api")

DESK = ("receptionist", "admin")


def _not_found(what: str, field: str | None = None) -> tuple[Response, int]:
    """Missing and another clinic's look the same: the session's clinic scope hides the latter."""
    body = {"error": "not_found", "message": f"{what} not found"}
    return jsonify({**body, "field": field} if field else body), 404


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def call_json(call: Call, with_events: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": call.id, "provider": call.provider, "provider_call_id": call.provider_call_id,
        "direction": call.direction, "status": call.status, "caller": call.caller,
        "dialed": call.dialed, "channel": call.channel.code if call.channel else None,
        "patient_id": call.patient_id, "candidate_patient_ids": [c.patient_id for c in call.candidates],
        "caller_kind": call.caller_kind, "first_time": call.first_time, "agent_id": call.agent_id,
        "extension": call.extension, "started_at": _iso(call.started_at),
        "ringing_at": _iso(call.ringing_at), "answered_at": _iso(call.answered_at),
        "ended_at": _iso(call.ended_at), "duration": call.duration,
        "recording_url": call.recording_url, "outcome": call.outcome,
        "heard_from": call.heard_from_channel.code if call.heard_from_channel else None,
        "heard_from_note": call.heard_from_note, "notes": call.notes,
        "callback_done_at": _iso(call.callback_done_at),
    }
    if with_events:
        body["events"] = [
            {"kind": e.kind, "occurred_at": _iso(e.occurred_at), "received_at": _iso(e.received_at),
             "raw_webhook_id": e.raw_webhook_id, **{k: v for k, v in e.data.items() if v}}
            for e in call.events
        ]
    return body


def _parse_time(name: str) -> datetime | None:
    value = request.args.get(name)
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(name, "expected an ISO 8601 date-time with offset") from None
    if parsed.tzinfo is None:
        raise BadRequest(name, "time zone offset required (e.g. 2026-03-01T00:00:00+03:00)")
    return parsed


def _int_arg(name: str, default: int | None = None, maximum: int = MAX_ID) -> int | None:
    value = request.args.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(name, "expected an integer") from None
    if number < 0 or number > maximum:
        raise BadRequest(name, f"must be between 0 and {maximum}")
    return number


def _enum_arg(name: str, enum_cls: type) -> Any:
    value = request.args.get(name)
    if not value:
        return None
    try:
        return enum_cls(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum_cls)
        raise BadRequest(name, f"one of: {allowed}") from None


@bp.get("/calls")
@require_role(*DESK)
def list_calls() -> Response:
    query = select(Call)
    since, until = _parse_time("from"), _parse_time("to")
    if since:
        query = query.where(Call.started_at >= since)
    if until:
        query = query.where(Call.started_at < until)
    if status := _enum_arg("status", CallStatus):
        query = query.where(Call.status == status)
    if direction := _enum_arg("direction", CallDirection):
        query = query.where(Call.direction == direction)
    if channel := request.args.get("channel"):
        if text(Channel.code, channel, "channel") == "unattributed":
            query = query.where(Call.channel_id.is_(None), Call.direction == CallDirection.INBOUND)
        else:
            query = query.join(Channel, Channel.id == Call.channel_id).where(Channel.code == channel)
    if (patient := _int_arg("patient")) is not None:
        if db().get(Patient, patient) is None:
            return _not_found("patient", "patient")
        query = query.where(Call.patient_id == patient)
    if (agent := _int_arg("agent")) is not None:
        query = query.where(Call.agent_id == agent)
    total = db().scalar(select(func.count()).select_from(query.subquery()))
    limit = _int_arg("limit", 100, maximum=1000)
    offset = _int_arg("offset", 0)
    rows = db().scalars(query.order_by(Call.started_at.desc(), Call.id.desc()).limit(limit)
                        .offset(offset)).all()
    _audit_read(rows, "list_calls")
    return jsonify({"total": total, "limit": limit, "offset": offset,
                    "calls": [call_json(c) for c in rows]})


def _audit_read(calls: list[Call], action: str) -> None:
    """Calls carry patient data (numbers, notes, recordings): who read which is on record."""
    audit(db(), _staff_id(), action, "call", calls[0].id if len(calls) == 1 else "",
          call_ids=[c.id for c in calls], patient_ids=sorted({c.patient_id for c in calls
                                                             if c.patient_id}))
    db().commit()


@bp.get("/calls/<int:call_id>")
@require_role(*DESK)
def get_call(call_id: int) -> Response | tuple[Response, int]:
    call = db().get(Call, call_id)
    if call is None:
        return _not_found("call")
    body = call_json(call, with_events=True)
    _audit_read([call], "view_call")
    return jsonify(body)


@bp.patch("/calls/<int:call_id>")
@require_role(*DESK)
def update_call(call_id: int) -> Response | tuple[Response, int]:
    session = db()
    call = session.get(Call, call_id)
    if call is None:
        return _not_found("call")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("body", "expected a JSON object")
    unknown = set(body) - {"outcome", "heard_from", "heard_from_note", "patient_id", "notes"}
    if unknown:
        raise BadRequest(sorted(unknown)[0], "unknown field")
    missing = _apply_edits(session, call, body)
    if missing:
        session.rollback()
        return _not_found(missing, missing)
    audit(session, _staff_id(), "edit_call", "call", call.id, fields=sorted(body))
    session.commit()
    return jsonify(call_json(call))


def _apply_edits(session: Session, call: Call, body: dict[str, Any]) -> str | None:
    """Apply the edits; the name of a field whose record is not found (none is written then)."""
    if "outcome" in body:
        try:
            call.outcome = CallOutcome(body["outcome"]) if body["outcome"] is not None else None
        except ValueError:
            raise BadRequest("outcome", "one of: " + ", ".join(o.value for o in CallOutcome)) from None
    if "heard_from" in body or "heard_from_note" in body:
        code = body.get("heard_from", call.heard_from_channel.code if call.heard_from_channel else None)
        note = text(Call.heard_from_note, body.get("heard_from_note", call.heard_from_note),
                    "heard_from_note")
        if code is not None:
            text(Channel.code, code, "heard_from")
        try:
            set_heard_from(session, call, code, note)
        except LookupError as exc:
            raise BadRequest("heard_from", str(exc)) from None
    if "patient_id" in body:
        patient_id = body["patient_id"]
        if patient_id is not None and not storable(patient_id):
            raise BadRequest("patient_id", "expected a patient id or null")
        if patient_id is not None and session.get(Patient, patient_id) is None:
            return "patient_id"
        call.patient_id = patient_id
    if "notes" in body:
        call.notes = text(Call.notes, body["notes"], "notes")
    return None


def _staff_id() -> int | None:
    staff = current_staff()
    return staff.id if staff else None


@bp.get("/tracking-numbers")
@require_role("admin")
def list_numbers() -> Response:
    rows = (unattributed_numbers(db()) if request.args.get("unattributed")
            else db().scalars(select(TrackingNumber).order_by(TrackingNumber.id)))
    return jsonify([{"id": n.id, "e164": n.e164, "label": n.label,
                     "channel": n.channel.code if n.channel else None,
                     "auto_created": n.auto_created, "main_line": n.main_line,
                     "active": n.active, "clinic_id": n.clinic_id} for n in rows])


@bp.patch("/tracking-numbers/<int:number_id>")
@require_role("admin")
def update_number(number_id: int) -> Response | tuple[Response, int]:
    session = db()
    number = session.get(TrackingNumber, number_id)
    if number is None:
        return _not_found("tracking number")
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or "channel" not in body:
        raise BadRequest("channel", "expected {\"channel\": \"<code>\" | null}")
    channel = None
    if body["channel"] is not None:
        code = text(Channel.code, body["channel"], "channel")
        channel = session.scalar(select(Channel).where(Channel.code == code))
        if channel is None:
            raise BadRequest("channel", f"unknown channel {body['channel']!r}")
        if not channel.active and channel.id != number.channel_id:
            raise BadRequest("channel", f"channel {code!r} is retired")
    main_line = body.get("main_line", number.main_line)
    if not isinstance(main_line, bool):
        raise BadRequest("main_line", "expected true or false")
    moved = assign_channel(session, number, channel)
    number.main_line = main_line
    if body.get("label") is not None:
        number.label = text(TrackingNumber.label, body["label"], "label")
    audit(session, _staff_id(), "assign_channel", "tracking_number", number.id,
          channel=body["channel"])
    session.commit()
    return jsonify({"id": number.id, "channel": body["channel"], "main_line": number.main_line,
                    "calls_updated": moved})


@bp.get("/webhooks/raw")
@require_role("admin")
def list_raw() -> Response:
    state = _enum_arg("state", RawState)
    query = select(RawWebhook).order_by(RawWebhook.id.desc()).limit(_int_arg("limit", 100, 1000))
    if state:
        query = query.where(RawWebhook.state == state)
    return jsonify([{"id": r.id, "clinic_id": r.clinic_id, "provider": r.provider, "path": r.path,
                     "state": r.state,
                     "error": r.error, "attempts": r.attempts, "received_at": _iso(r.received_at),
                     "bytes": len(r.body)} for r in db().scalars(query)])


@bp.post("/webhooks/raw/<int:raw_id>/reprocess")
@require_role("admin")
def reprocess_raw(raw_id: int) -> Response | tuple[Response, int]:
    if db().get(RawWebhook, raw_id) is None:  # the pipeline's own session is installation-wide
        return _not_found("raw webhook")
    try:
        result = reprocess(runtime(), raw_id)
    except LookupError:
        return _not_found("raw webhook")
    return jsonify(_reprocessed(raw_id, result))


@bp.post("/webhooks/raw/reprocess-failed")
@require_role("admin")
def reprocess_failed() -> Response:
    """Every failed row once, each in its own transaction: one that fails again is reported
    with its error and the rest still run."""
    results = [_reprocessed(raw_id, reprocess(runtime(), raw_id)) for raw_id in failed_ids(db())]
    return jsonify({"reprocessed": len(results),
                    "statuses": {r["id"]: r["status"] for r in results}, "results": results})


def _reprocessed(raw_id: int, result: IngestResult) -> dict[str, Any]:
    """The pipeline's answer to the PBX, and why the row is still not applied, if it is not."""
    error = result.error
    if result.failure is not None:
        error = {"error": "apply_failed", "message": result.failure}
    return {"id": raw_id, "status": result.status, "error": error,
            "calls": sorted({c.call_id for c in result.changes})}
