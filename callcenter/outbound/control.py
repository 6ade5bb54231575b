"""Pause, resume, cancel a campaign; its progress (done / pending / failed)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from callcenter.core.i18n import N_
from callcenter.core.models import (
    Campaign,
    CampaignState,
    DialAttempt,
    DialMode,
    DialTask,
    TaskState,
)

ACTIONS = ("pause", "resume", "cancel")
STATE_LABELS = {"running": N_("running"), "paused": N_("paused"), "cancelled": N_("cancelled"),
                "finished": N_("finished")}


class ControlError(ValueError):
    """The action does not apply to the campaign in its state; the message says why."""


def apply(session: Session, campaign: Campaign, action: str, now: datetime) -> None:
    if action not in ACTIONS:
        raise ControlError(f"unknown action {action!r} (one of {', '.join(ACTIONS)})")
    if campaign.state in (CampaignState.CANCELLED, CampaignState.FINISHED):
        raise ControlError(f"campaign is {campaign.state.value}")
    if action == "pause":
        campaign.state = CampaignState.PAUSED
    elif action == "resume":
        campaign.state = CampaignState.RUNNING
        campaign.stop_reason, campaign.stop_status = "", None
        # Tasks skipped while paused are due again now, not after the re-queue delay.
        session.execute(update(DialTask).where(DialTask.campaign_id == campaign.id,
                                               DialTask.state == TaskState.PENDING,
                                               DialTask.next_attempt_at > now)
                        .values(next_attempt_at=now).execution_options(synchronize_session=False))
    else:
        campaign.state = CampaignState.CANCELLED
        # Attempts already ringing finish and are written back; nothing new is dialed.
        session.execute(update(DialTask).where(DialTask.campaign_id == campaign.id,
                                               DialTask.state == TaskState.PENDING)
                        .values(state=TaskState.CANCELLED, result="campaign_cancelled",
                                next_attempt_at=None)
                        .execution_options(synchronize_session=False))


def stop(campaign: Campaign, reason: str, status: int | None) -> None:
    """The worker pauses a campaign its line refuses (dial_reasons.STOPS_CAMPAIGN), saying why."""
    if campaign.state is CampaignState.RUNNING:
        campaign.state = CampaignState.PAUSED
        campaign.stop_reason, campaign.stop_status = reason, status


def set_mode(campaign: Campaign, mode: str) -> None:
    try:
        campaign.mode = DialMode(mode)
    except ValueError:
        raise ControlError(f"unknown mode {mode!r} (preview, twilio or sip)") from None


def progress(session: Session, clinic_id: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Campaigns, newest first, each with task counts: done, pending, in progress, failed, cancelled."""
    query = select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id.desc()).limit(limit)
    if clinic_id is not None:
        query = query.where(Campaign.clinic_id == clinic_id)
    campaigns = session.scalars(query).all()
    counts: dict[int, dict[str, int]] = {c.id: {s.value: 0 for s in TaskState} for c in campaigns}
    if campaigns:
        rows = session.execute(
            select(DialTask.campaign_id, DialTask.state, func.count())
            .where(DialTask.campaign_id.in_(list(counts))).group_by(DialTask.campaign_id, DialTask.state))
        for campaign_id, state, count in rows:
            counts[campaign_id][state.value] = count
    reasons = _reasons(session, list(counts))
    return [{
        "id": c.id, "clinic_id": c.clinic_id, "name": c.name, "purpose": c.purpose.value,
        "mode": c.mode.value, "state": c.state.value,
        "created_at": c.created_at.isoformat(),
        "tasks": counts[c.id], "total": sum(counts[c.id].values()),
        "stop_reason": c.stop_reason or None, "stop_status": c.stop_status,
        "reasons": reasons.get(c.id, []),
    } for c in campaigns]


def _reasons(session: Session, campaign_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Per campaign: why attempts reached nobody, with the PBX's status, most frequent first."""
    found: dict[int, list[dict[str, Any]]] = {}
    if not campaign_ids:
        return found
    rows = session.execute(
        select(DialTask.campaign_id, DialAttempt.reason, DialAttempt.sip_status, func.count())
        .join(DialTask, DialTask.id == DialAttempt.task_id)
        .where(DialTask.campaign_id.in_(campaign_ids), DialAttempt.reason != "")
        .group_by(DialTask.campaign_id, DialAttempt.reason, DialAttempt.sip_status)
        .order_by(func.count().desc(), DialAttempt.reason))
    for campaign_id, reason, status, count in rows:
        found.setdefault(campaign_id, []).append({"reason": reason, "sip_status": status, "count": count})
    return found
