"""Pause, resume, cancel a campaign; its progress (done / pending / failed)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from callcenter.core.i18n import N_
from callcenter.core.models import Campaign, CampaignState, DialMode, DialTask, TaskState

ACTIONS = ("pause", "resume", "cancel")
# Why the service stopped a list by itself (Campaign.stop_reason), as the admin reads it.
STOP_REASONS = {
    "dialer_not_configured": N_("Stopped: automatic calls are not set up (Twilio or SIP settings are "
                                "missing). Set them up, or switch the list to the desk, then resume."),
}


STATE_LABELS = {"running": N_("running"), "paused": N_("paused"), "cancelled": N_("cancelled"),
                "finished": N_("finished")}


def reason_for(error: Exception) -> str:
    """The stop reason for a dialer that cannot start (its settings are missing)."""
    del error  # every construction failure of a dialer today is a missing setting
    return "dialer_not_configured"


def stop(session: Session, campaign_id: int, reason: str) -> None:
    """Pause a running list with a reason (once: a second failing job changes nothing)."""
    session.execute(update(Campaign).where(Campaign.id == campaign_id,
                                           Campaign.state == CampaignState.RUNNING)
                    .values(state=CampaignState.PAUSED, stop_reason=reason)
                    .execution_options(synchronize_session=False))


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
        campaign.stop_reason = ""
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
    return [{
        "id": c.id, "clinic_id": c.clinic_id, "name": c.name, "purpose": c.purpose.value,
        "mode": c.mode.value, "state": c.state.value, "stop_reason": c.stop_reason or None,
        "created_at": c.created_at.isoformat(),
        "tasks": counts[c.id], "total": sum(counts[c.id].values()),
    } for c in campaigns]
