"""Campaigns for the admin (/admin/campaigns, /api/campaigns) and the desk's preview list."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request

from callcenter.access.audit import record as audit
from callcenter.access.auth import current_staff, require_role
from callcenter.access.locale import request_locale
from callcenter.callscripts.tasks import script_for_task
from callcenter.callscripts.values import format_when
from callcenter.core import clinic_scope
from callcenter.core.clinic_settings import call_window, clock_text
from callcenter.core.i18n import NP_, Text
from callcenter.core.inputs import InputError
from callcenter.core.labels import PURPOSES
from callcenter.core.models import Campaign, Clinic, DialTask, TaskPurpose, utcnow
from callcenter.core.web import db
from callcenter.outbound import control, dial_reasons
from callcenter.outbound.dialers.preview import DeskList, desk_list
from callcenter.outbound.gap_fill import REASONS
from callcenter.outbound.results import DESK_OUTCOMES, Outcome, RetryPolicy, record_outcome

bp = Blueprint("campaigns_admin", __name__, template_folder="templates")
DESK = ("receptionist", "admin")
RESULT_LABELS: dict[str, Text] = {
    "confirmed": NP_("call result", "confirmed"),
    "acknowledged": NP_("call result", "talked"),
    "booked": NP_("call result", "booked a visit"),
    "reschedule": NP_("call result", "reschedule"),
    "cancel": NP_("call result", "cancel"),
    "opt_out": NP_("call result", "no more calls"),
    "busy": NP_("call result", "busy"),
    "no_answer": NP_("call result", "no answer"),
    "machine": NP_("call result", "answering machine"),
}


def _error(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify({"error": code, "message": message}), status


def _staff_id() -> int:
    staff = current_staff()
    assert staff is not None  # require_role ran first
    return staff.id


def _home_clinic() -> Clinic:
    staff = current_staff()
    assert staff is not None  # require_role ran first
    clinic = db().get(Clinic, staff.clinic_id)
    assert clinic is not None
    return clinic


def _campaigns() -> list[dict[str, Any]]:
    """Every campaign of the admin's clinics."""
    scope = clinic_scope.current(db())
    assert scope is not None
    return [c for clinic_id in sorted(scope.clinic_ids) for c in control.progress(db(), clinic_id)]


def _purpose_filter() -> TaskPurpose | None:
    raw = request.args.get("purpose", "")
    if not raw:
        return None
    try:
        return TaskPurpose(raw)
    except ValueError:
        raise InputError("purpose", "choose one of the listed values") from None


def _page_number() -> int:
    raw = request.args.get("page", "1")
    if not raw.isdigit() or not 0 < int(raw) < 10_000:
        raise InputError("page", "expected a page number")
    return int(raw)


def _tasks() -> DeskList:
    """One page of the home clinic's preview list; its patients' names are an audited read."""
    found = desk_list(db(), _home_clinic(), utcnow(), current_app.config, _locale(),
                      purpose=_purpose_filter(), page=_page_number())
    audit(db(), _staff_id(), "view_task_list", "clinic", _home_clinic().id,
          task_ids=[task["task_id"] for task in found.tasks])
    db().commit()
    return found


def _locale() -> str:
    return request_locale(current_app.config["LOCALE"])


def _campaign(campaign_id: int) -> Campaign | None:
    return db().get(Campaign, campaign_id)  # None too for another clinic's: the session's scope


@bp.get("/admin/campaigns")
@require_role("admin")
def page() -> str:
    locale = request_locale(current_app.config["LOCALE"])
    campaigns = [{**c, "stopped_why": dial_reasons.describe(c["stop_reason"], c["stop_status"], locale)
                  if c["stop_reason"] else "",
                  "why": [(dial_reasons.describe(r["reason"], r["sip_status"], locale), r["count"])
                          for r in c["reasons"]]} for c in _campaigns()]
    return render_template("campaigns/admin.html", campaigns=campaigns, state_labels=control.STATE_LABELS,
                           locale=locale)


@bp.post("/admin/campaigns/<int:campaign_id>/<action>")
@require_role("admin")
def page_action(campaign_id: int, action: str) -> Any:
    reply = _act(campaign_id, action)
    if isinstance(reply, tuple):
        return reply
    return redirect("/admin/campaigns", code=303)


@bp.get("/api/campaigns")
@require_role("admin")
def list_campaigns() -> Response:
    return jsonify({"campaigns": _campaigns()})


@bp.post("/api/campaigns/<int:campaign_id>/<action>")
@require_role("admin")
def act(campaign_id: int, action: str) -> Response | tuple[Response, int]:
    return _act(campaign_id, action)


def _act(campaign_id: int, action: str) -> Response | tuple[Response, int]:
    campaign = _campaign(campaign_id)
    if campaign is None:
        return _error(404, "unknown_campaign", f"no campaign {campaign_id}")
    try:
        control.apply(db(), campaign, action, utcnow())
    except control.ControlError as exc:
        return _error(409 if action in control.ACTIONS else 400, "bad_action", str(exc))
    db().commit()
    return jsonify({"campaign": next(c for c in control.progress(db(), campaign.clinic_id)
                                     if c["id"] == campaign.id)})


@bp.patch("/api/campaigns/<int:campaign_id>")
@require_role("admin")
def change(campaign_id: int) -> Response | tuple[Response, int]:
    campaign = _campaign(campaign_id)
    if campaign is None:
        return _error(404, "unknown_campaign", f"no campaign {campaign_id}")
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or "mode" not in body:
        return _error(400, "invalid_body", "expected a JSON object with mode")
    try:
        control.set_mode(campaign, str(body["mode"]))
    except control.ControlError as exc:
        return _error(400, "invalid_mode", str(exc))
    db().commit()
    return jsonify({"id": campaign.id, "mode": campaign.mode.value})


@bp.get("/desk/outbound")
@require_role(*DESK)
def desk_page() -> str:
    """The preview list: one click dials (the dial rules checked), one click records (undo for a
    few seconds: outbound.js sends the outcome once they pass)."""
    found = _tasks()
    clinic = _home_clinic()
    resumes = (format_when(found.calling_resumes_at, clinic.timezone, _locale())
               if found.calling_resumes_at else None)
    return render_template("campaigns/desk.html", found=found, labels=RESULT_LABELS,
                           purposes=PURPOSES, purpose=request.args.get("purpose", ""),
                           reasons=REASONS, resumes=resumes,
                           window="–".join(clock_text(c) for c in call_window(clinic, current_app.config)),
                           locale=_locale())


@bp.get("/api/campaigns/desk")
@require_role(*DESK)
def desk() -> Response:
    found = _tasks()
    return jsonify({"tasks": found.tasks, "total": found.total, "page": found.page,
                    "pages": found.pages, "calling_resumes_at": found.calling_resumes_at.isoformat()
                    if found.calling_resumes_at else None})


@bp.get("/api/campaigns/tasks/<int:task_id>/script")
@require_role(*DESK)
def task_script(task_id: int) -> Response | tuple[Response, int]:
    """What to say on this call, filled in, with the two slots to offer where the call books."""
    task = db().get(DialTask, task_id)
    if task is None:
        return _error(404, "unknown_task", f"no task {task_id}")
    staff = current_staff()
    assert staff is not None  # require_role ran first
    script = script_for_task(db(), task, utcnow(), agent=staff)
    audit(db(), staff.id, "view_script", "dial_task", task.id, patient_id=task.patient_id,
          scenario=script.scenario)
    db().commit()
    return jsonify(script.to_json())


@bp.post("/api/campaigns/tasks/<int:task_id>/outcome")
@require_role(*DESK)
def outcome(task_id: int) -> Response | tuple[Response, int]:
    task = db().get(DialTask, task_id)
    if task is None:
        return _error(404, "unknown_task", f"no task {task_id}")
    body = request.get_json(silent=True)
    value = body.get("outcome") if isinstance(body, dict) else None
    allowed = [o.value for o in DESK_OUTCOMES[task.purpose]]
    if value not in allowed:
        return jsonify({"error": "invalid_outcome", "field": "outcome",
                        "message": f"outcome must be one of {', '.join(allowed)}"}), 400
    task.attempts += 1
    changed = record_outcome(db(), task, Outcome(value), now=utcnow(),
                             policy=RetryPolicy.from_config(current_app.config))
    audit(db(), _staff_id(), "task_outcome", "dial_task", task.id, outcome=value)
    db().commit()
    return jsonify({"task_id": task.id, "state": task.state.value, "result": task.result,
                    "changed": changed})
