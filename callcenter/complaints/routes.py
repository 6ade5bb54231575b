"""Complaints and non-patient calls: the desk's JSON API (complaints.js), the owners' list and the
manager's settings (who owns which complaints, where each kind of non-patient call goes)."""

from __future__ import annotations

from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from callcenter.access.audit import record as audit
from callcenter.access.auth import current_staff, require_role
from callcenter.access.locale import request_locale
from callcenter.complaints import organisations, records
from callcenter.complaints.records import ComplaintError
from callcenter.complaints.texts import desk_texts, label
from callcenter.core import clinic_scope
from callcenter.core.ids import storable
from callcenter.core.inputs import text
from callcenter.core.models import (
    Call,
    Clinic,
    Complaint,
    ComplaintRule,
    ComplaintSeverity,
    ComplaintSubject,
    NonPatientPurpose,
    NonPatientRoute,
    Organisation,
    Patient,
    RouteKind,
    Staff,
    StaffRole,
    utcnow,
)
from callcenter.core.web import db

M = TypeVar("M", Call, Patient, Complaint, Clinic, Staff)
bp = Blueprint("complaints", __name__, template_folder="templates")
DESK = ("receptionist", "admin")


@bp.errorhandler(ComplaintError)
def _refused(exc: ComplaintError) -> tuple[Response, int] | tuple[str, int]:
    message = exc.localized(_locale())
    if request.path.startswith("/api/"):
        return jsonify({"error": "invalid_request", "field": exc.field, "message": message}), exc.status
    return _list_page(error=f"{exc.field}: {message}"), exc.status


def _locale() -> str:
    return request_locale(current_app.config["LOCALE"])


def _staff() -> Staff:
    staff = current_staff()
    assert staff is not None  # require_role ran first
    return staff


def _row(model: type[M], value: Any, field: str) -> M:
    """The row of this clinic scope by id, else 404 naming the field (another clinic's too)."""
    key = int(value) if isinstance(value, str) and value.isascii() and value.isdigit() else value
    row = db().get(model, key) if storable(key) else None
    if row is None:
        raise ComplaintError(field, "not found", 404)
    return row


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ComplaintError("body", "expected a JSON object")
    return body


def _zone(clinic_id: int) -> ZoneInfo:
    return ZoneInfo(_row(Clinic, clinic_id, "clinic_id").timezone)


def _complaint_json(c: Complaint, names: dict[int, str], today: Any) -> dict[str, Any]:
    return {"id": c.id, "subject": str(c.subject), "severity": str(c.severity), "words": c.words,
            "status": str(c.status), "owner": names.get(c.owner_id, ""), "due_on": c.due_on.isoformat(),
            "overdue": records.is_overdue(c, today), "answer": c.answer, "call_id": c.call_id,
            "patient_id": c.patient_id}


def _names(ids: set[int]) -> dict[int, str]:
    return {s.id: s.display_name for s in db().scalars(select(Staff).where(Staff.id.in_(ids)))}


@bp.get("/api/complaints/desk")
@require_role(*DESK)
def desk_panel() -> Response:
    """complaints.js's texts and choices, and the complaints this receptionist must report back on."""
    staff, locale = _staff(), _locale()
    today = records.local_today(utcnow(), _zone(staff.clinic_id))
    due = records.to_report_back(db(), staff, today)
    names = _names({c.owner_id for c in due})
    return jsonify({"texts": desk_texts(locale), "subjects": [s.value for s in ComplaintSubject],
                    "severities": [s.value for s in ComplaintSeverity],
                    "purposes": [p.value for p in NonPatientPurpose],
                    "report_back": [_complaint_json(c, names, today) for c in due]})


@bp.get("/api/complaints/calls/<int:call_id>")
@require_role(*DESK)
def call_context(call_id: int) -> Response:
    """For a card: the organisation the number belongs to and where its calls go, and the
    complaints recorded on the call."""
    call = _row(Call, call_id, "call_id")
    org = organisations.organisation_for_call(db(), call)
    route = organisations.route_for(db(), call.clinic_id, org.purpose) if org else None
    found = db().scalars(select(Complaint).where(Complaint.call_id == call.id)).all()
    today = records.local_today(utcnow(), _zone(call.clinic_id))
    names = _names({c.owner_id for c in found})
    return jsonify({"call_id": call.id, "organisation": _org_json(org), "route": _route_json(route),
                    "complaints": [_complaint_json(c, names, today) for c in found]})


def _org_json(org: Organisation | None) -> dict[str, Any] | None:
    return None if org is None else {"id": org.id, "name": org.name, "purpose": str(org.purpose),
                                      "email": org.email}


def _route_json(route: NonPatientRoute | None) -> dict[str, Any] | None:
    return None if route is None else {"kind": str(route.kind), "person": route.person,
                                        "target": route.target}


@bp.post("/api/complaints")
@require_role(*DESK)
def record_complaint() -> Response:
    body, staff = _body(), _staff()
    call = _row(Call, body["call_id"], "call_id") if body.get("call_id") is not None else None
    patient = (_row(Patient, body["patient_id"], "patient_id")
               if body.get("patient_id") is not None else None)
    doctor = body.get("doctor_id")
    clinic = _row(Clinic, call.clinic_id if call else patient.clinic_id if patient else staff.clinic_id,
                  "clinic_id")
    complaint = records.record(
        db(), clinic=clinic, staff=staff, now=utcnow(), call=call, patient=patient,
        subject=records.choice(ComplaintSubject, body.get("subject"), "subject"),
        severity=records.choice(ComplaintSeverity, body.get("severity"), "severity"),
        words=body.get("words", ""),
        doctor_id=_row(Staff, doctor, "doctor_id").id if doctor not in (None, "") else None)
    db().commit()
    today = records.local_today(utcnow(), ZoneInfo(clinic.timezone))
    return jsonify(_complaint_json(complaint, _names({complaint.owner_id}), today)), 201


@bp.post("/api/complaints/calls/<int:call_id>/non-patient")
@require_role(*DESK)
def mark_non_patient(call_id: int) -> Response:
    """{purpose, name, email}: not a patient; answers where the call goes."""
    call, body = _row(Call, call_id, "call_id"), _body()
    purpose = organisations.purpose_of(body.get("purpose"))
    org = organisations.mark(db(), call, _staff(), purpose, name=body.get("name") or "",
                             email=body.get("email") or "", now=utcnow())
    route = organisations.route_for(db(), call.clinic_id, purpose)
    db().commit()
    return jsonify({"call_id": call.id, "organisation": _org_json(org), "route": _route_json(route)})


@bp.post("/api/complaints/calls/<int:call_id>/transferred")
@require_role(*DESK)
def non_patient_transferred(call_id: int) -> Response:
    call = _row(Call, call_id, "call_id")
    org = organisations.organisation_for_call(db(), call)
    route = organisations.route_for(db(), call.clinic_id, org.purpose) if org else None
    if route is None or route.kind == RouteKind.MESSAGE:
        raise ComplaintError("purpose", "no one to put this call through to", 409)
    organisations.transferred(db(), call, _staff(), route)
    db().commit()
    return jsonify({"call_id": call.id, "route": _route_json(route)})


@bp.post("/api/complaints/calls/<int:call_id>/message")
@require_role(*DESK)
def non_patient_message(call_id: int) -> Response:
    """{email, text}: a message for the director."""
    call, body = _row(Call, call_id, "call_id"), _body()
    message = organisations.leave_message(db(), call, _staff(), organisations.organisation_for_call(db(), call),
                                          body.get("email") or "", body.get("text") or "", utcnow())
    db().commit()
    return jsonify({"call_id": call.id, "message_id": message.id, "email": message.email}), 201


def _list_page(error: str = "") -> str:
    staff, locale = _staff(), _locale()
    manager = staff.role == StaffRole.ADMIN
    scope = clinic_scope.current(db())
    assert scope is not None
    today = records.local_today(utcnow(), _zone(staff.clinic_id))
    rows = records.for_staff(db(), staff, everyone=manager)
    overdue = records.overdue(db(), scope.clinic_ids, today) if manager else []
    names = _names({c.owner_id for c in [*rows, *overdue]} | {c.callback_by_id for c in rows})
    return render_template("complaints/list.html", locale=locale, staff=staff, rows=rows,
                           overdue=overdue, names=names, today=today, manager=manager, error=error,
                           messages=organisations.recent_messages(db()) if manager else [],
                           is_overdue=records.is_overdue, label=label)


@bp.get("/complaints")
@require_role(*DESK)
def list_page() -> str:
    return _list_page()


@bp.post("/complaints/<int:complaint_id>/answer")
@require_role(*DESK)
def answer(complaint_id: int) -> BaseResponse:
    complaint, staff = _row(Complaint, complaint_id, "complaint_id"), _staff()
    if staff.role != StaffRole.ADMIN and complaint.owner_id != staff.id:
        raise ComplaintError("answer", "only the owner or a manager answers a complaint", 409)
    records.answer(db(), complaint, staff, request.form.get("answer", ""), utcnow())
    db().commit()
    return redirect("/complaints", 303)


@bp.post("/complaints/<int:complaint_id>/close")
@require_role(*DESK)
def close(complaint_id: int) -> BaseResponse:
    complaint, staff = _row(Complaint, complaint_id, "complaint_id"), _staff()
    records.close(db(), complaint, staff, utcnow())
    db().commit()
    return redirect("/complaints", 303)


@bp.get("/complaints/settings")
@require_role("admin")
def settings_page() -> str:
    staff = _staff()
    owners = db().scalars(select(Staff).where(Staff.role.in_(records.OWNER_ROLES),
                                              Staff.active.is_(True)).order_by(Staff.last_name)).all()
    rules = db().scalars(select(ComplaintRule).order_by(ComplaintRule.subject)).all()
    routes = {r.purpose: r for r in db().scalars(select(NonPatientRoute).where(
        NonPatientRoute.clinic_id == staff.clinic_id))}
    return render_template("complaints/settings.html", locale=_locale(), owners=owners, rules=rules,
                           names={o.id: o.display_name for o in owners}, routes=routes,
                           subjects=list(ComplaintSubject), severities=list(ComplaintSeverity),
                           purposes=list(NonPatientPurpose), kinds=list(RouteKind), label=label)


@bp.post("/complaints/settings/rules")
@require_role("admin")
def save_rule() -> BaseResponse:
    form, staff = request.form, _staff()
    subject = records.choice(ComplaintSubject, form.get("subject"), "subject")
    severity = (records.choice(ComplaintSeverity, form["severity"], "severity")
                if form.get("severity") else None)
    owner = _row(Staff, form.get("owner_id", ""), "owner_id")
    if owner.role not in records.OWNER_ROLES:
        raise ComplaintError("owner_id", "the owner must sign in: an admin or a receptionist")
    days = form.get("due_days", "")
    if not days.isdigit() or int(days) > 60:
        raise ComplaintError("due_days", "a number of days from 0 to 60")
    rule = db().scalar(select(ComplaintRule).where(
        ComplaintRule.clinic_id == staff.clinic_id, ComplaintRule.subject == subject,
        ComplaintRule.severity.is_(None) if severity is None else ComplaintRule.severity == severity))
    rule = rule or ComplaintRule(clinic_id=staff.clinic_id, subject=subject, severity=severity)
    rule.owner_id, rule.due_days = owner.id, int(days)
    db().add(rule)
    db().flush()
    audit(db(), staff.id, "save_complaint_rule", "clinic", staff.clinic_id, rule_id=rule.id)
    db().commit()
    return redirect("/complaints/settings", 303)


@bp.post("/complaints/settings/rules/<int:rule_id>/delete")
@require_role("admin")
def delete_rule(rule_id: int) -> BaseResponse:
    """Its complaints keep their owner; new ones go by the remaining rules, else the manager."""
    rule, staff = _row(ComplaintRule, rule_id, "rule_id"), _staff()
    audit(db(), staff.id, "delete_complaint_rule", "clinic", rule.clinic_id, rule_id=rule.id,
          subject=str(rule.subject), severity=str(rule.severity or ""), owner_id=rule.owner_id,
          due_days=rule.due_days)
    db().delete(rule)
    db().commit()
    return redirect("/complaints/settings", 303)


@bp.post("/complaints/settings/routes")
@require_role("admin")
def save_route() -> BaseResponse:
    form, staff = request.form, _staff()
    clinic = _row(Clinic, staff.clinic_id, "clinic_id")
    route = organisations.save_route(
        db(), clinic, organisations.purpose_of(form.get("purpose")), form.get("kind"),
        text(NonPatientRoute.person, form.get("person", ""), "person"), form.get("target", ""))
    audit(db(), staff.id, "save_non_patient_route", "clinic", clinic.id, route_id=route.id)
    db().commit()
    return redirect("/complaints/settings", 303)

