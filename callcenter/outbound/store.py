"""Campaign rows: one list per clinic × purpose × day, created on first use."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core.models import Campaign, CampaignState, DialMode, TaskPurpose

# Calls that need a person (rebooking, a call-back the patient asked for) always go to the desk.
DESK_ONLY = (TaskPurpose.NO_SHOW, TaskPurpose.MISSED_CALL, TaskPurpose.RESCHEDULE,
             TaskPurpose.CALL_BACK, TaskPurpose.GAP_FILL)


def campaign_name(purpose: TaskPurpose, day: date) -> str:
    return f"{purpose.value} {day.isoformat()}"


def default_mode(purpose: TaskPurpose, config: Mapping[str, Any]) -> DialMode:
    return DialMode.PREVIEW if purpose in DESK_ONLY else DialMode(config["DIAL_MODE"])


def campaign_for(session: Session, clinic_id: int, purpose: TaskPurpose, day: date,
                 mode: DialMode) -> Campaign:
    """The day's list for this purpose; a new one starts running in the given mode."""
    name = campaign_name(purpose, day)
    campaign = session.scalar(select(Campaign).where(
        Campaign.clinic_id == clinic_id, Campaign.purpose == purpose, Campaign.name == name))
    if campaign is None:
        campaign = Campaign(clinic_id=clinic_id, purpose=purpose, mode=mode, name=name,
                            state=CampaignState.RUNNING, settings={"day": day.isoformat()})
        session.add(campaign)
        session.flush()
    return campaign
