"""Campaigns for the admin (/admin/campaigns, /api/campaigns) and the desk's preview list."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request
from sqlalchemy import select

from ..auth import current_staff, require_role
from ..campaigns import control
from ..campaigns.dialers.preview import desk_list
from ..campaigns.results import Outcome, RetryPolicy, record_outcome
from ..clinics import default_clinic
from ..i18n import request_locale
from ..models import Campaign, Clinic, DialTask, utcnow
from . import db

bp = Blueprint("campaigns_admin", __name__)
DESK = ("receptionist", "admin")
# What a receptionist can record after calling by hand.
DESK_OUTCOMES = (Outcome.CONFIRMED, Outcome.ACKNOWLEDGED, Outcome.RESCHEDULE, Outcome.CANCEL,
                 Outcome.OPT_OUT, Outcome.BUSY, Outcome.NO_ANSWER, Outcome.MACHINE)


def _error(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify({"error": code, "message": message}), status


def _clinic_id() -> int:
    staff = current_staff()
    if staff is not None:
        return staff.clinic_id
    return default_clinic(db(), current_app.config).id


def _campaign(campaign_id: int) -> Campaign | None:
    return db().scalar(select(Campaign).where(Campaign.id == campaign_id,
                                              Campaign.clinic_id == _clinic_id()))


@bp.get("/admin/campaigns")
@require_role("admin")
def page() -> str:
    return render_template("campaigns/admin.html", campaigns=control.progress(db(), _clinic_id()),
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
    return jsonify({"campaigns": control.progress(db(), _clinic_id())})


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
    clinic = db().get(Clinic, _clinic_id())
    assert clinic is not None
    return render_template("campaigns/desk.html", tasks=desk_list(db(), clinic, utcnow()),
                           outcomes=[o.value for o in DESK_OUTCOMES],
                           locale=request_locale(current_app.config["LOCALE"]))


@bp.get("/api/campaigns/desk")
@require_role(*DESK)
def desk() -> Response:
    clinic = db().get(Clinic, _clinic_id())
    assert clinic is not None
    return jsonify({"tasks": desk_list(db(), clinic, utcnow())})


@bp.post("/api/campaigns/tasks/<int:task_id>/outcome")
@require_role(*DESK)
def outcome(task_id: int) -> Response | tuple[Response, int]:
    task = db().scalar(select(DialTask).where(DialTask.id == task_id,
                                              DialTask.clinic_id == _clinic_id()))
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
