"""Campaigns for the admin (/admin/campaigns, /api/campaigns) and the desk's preview list."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request

from callcenter.access.audit import record as audit
from callcenter.access.auth import current_staff, require_role
from callcenter.access.locale import request_locale
from callcenter.core import clinic_scope
from callcenter.core.i18n import NP_, Text
from callcenter.core.labels import PURPOSES
from callcenter.core.models import Campaign, Clinic, DialTask, utcnow
from callcenter.core.web import db
from callcenter.outbound import control
from callcenter.outbound.dialers.preview import desk_list
from callcenter.outbound.results import Outcome, RetryPolicy, record_outcome

bp = Blueprint("campaigns_admin", __name__, template_folder="templates")
DESK = ("receptionist", "admin")
# What a receptionist can record after calling by hand.
DESK_OUTCOMES = (Outcome.CONFIRMED, Outcome.ACKNOWLEDGED, Outcome.RESCHEDULE, Outcome.CANCEL,
                 Outcome.OPT_OUT, Outcome.BUSY, Outcome.NO_ANSWER, Outcome.MACHINE)
RESULT_LABELS: dict[str, Text] = {
    "confirmed": NP_("call result", "confirmed"),
    "acknowledged": NP_("call result", "talked"),
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


def _tasks() -> list[dict[str, Any]]:
    """The home clinic's preview list; its patients' names are an audited read."""
    tasks = desk_list(db(), _home_clinic(), utcnow())
    audit(db(), _staff_id(), "view_task_list", "clinic", _home_clinic().id,
          task_ids=[task["task_id"] for task in tasks])
    db().commit()
    return tasks


def _campaign(campaign_id: int) -> Campaign | None:
    return db().get(Campaign, campaign_id)  # None too for another clinic's: the session's scope


@bp.get("/admin/campaigns")
@require_role("admin")
def page() -> str:
    return render_template("campaigns/admin.html", campaigns=_campaigns(), stop_reasons=control.STOP_REASONS,
                           state_labels=control.STATE_LABELS,
                           locale=request_locale(current_app.config["LOCALE"]))


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
    """The preview list: one click dials (tel: link, taken by the softphone), one click records."""
    return render_template("campaigns/desk.html", tasks=_tasks(),
                           outcomes=[(o.value, RESULT_LABELS[o.value]) for o in DESK_OUTCOMES],
                           purposes=PURPOSES,
                           locale=request_locale(current_app.config["LOCALE"]))


@bp.get("/api/campaigns/desk")
@require_role(*DESK)
def desk() -> Response:
    return jsonify({"tasks": _tasks()})


@bp.post("/api/campaigns/tasks/<int:task_id>/outcome")
@require_role(*DESK)
def outcome(task_id: int) -> Response | tuple[Response, int]:
    task = db().get(DialTask, task_id)
    if task is None:
        return _error(404, "unknown_task", f"no task {task_id}")
    body = request.get_json(silent=True)
    value = body.get("outcome") if isinstance(body, dict) else None
    allowed = [o.value for o in DESK_OUTCOMES]
    if value not in allowed:
        return _error(400, "invalid_outcome", f"outcome must be one of {', '.join(allowed)}")
    task.attempts += 1
    changed = record_outcome(db(), task, Outcome(value), now=utcnow(),
                             policy=RetryPolicy.from_config(current_app.config))
    db().commit()
    return jsonify({"task_id": task.id, "state": task.state.value, "result": task.result,
                    "changed": changed})
