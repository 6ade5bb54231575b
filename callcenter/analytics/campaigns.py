"""Outbound work: how many were reached, confirmed, caught cancelling, booked or rebooked.

Counted over dial tasks due in the period, from the result the desk or the dialer wrote on the
task (a CallOutcome value).
"""

from __future__ import annotations

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from ..models import CallOutcome, Campaign, DialTask, TaskPurpose
from .funnel import Row, rate
from .periods import Filters

NOT_REACHED = ("", CallOutcome.NOT_REACHED.value, CallOutcome.WRONG_NUMBER.value)
CANCELLING = (CallOutcome.CANCELLED.value, CallOutcome.RESCHEDULED.value)
BOOKING = (CallOutcome.BOOKED.value, CallOutcome.RESCHEDULED.value)


def _count(condition: object) -> object:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)  # type: ignore[arg-type]


def campaigns(session: Session, flt: Filters) -> list[Row]:
    """One row per campaign (desk tasks without a campaign: one row per purpose)."""
    result = DialTask.result
    found = session.execute(
        select(DialTask.campaign_id, Campaign.name, DialTask.purpose, func.count(),
               _count(result.not_in(NOT_REACHED)),
               _count(result == CallOutcome.CONFIRMED.value),
               _count(result.in_(CANCELLING)),
               _count(result.in_(BOOKING)))
        .outerjoin(Campaign, Campaign.id == DialTask.campaign_id)
        .where(DialTask.clinic_id == flt.clinic_id, DialTask.due_date >= flt.start,
               DialTask.due_date <= flt.end)
        .group_by(DialTask.campaign_id, Campaign.name, DialTask.purpose)
    ).all()
    rows = []
    for campaign_id, name, purpose, tasks, reached, confirmed, cancelling, booked in found:
        purpose = TaskPurpose(purpose)
        confirming = purpose is TaskPurpose.CONFIRMATION
        reached, confirmed, cancelling, booked = map(int, (reached, confirmed, cancelling, booked))
        rows.append({
            "campaign_id": campaign_id, "campaign": name or None, "purpose": purpose.value,
            "tasks": tasks, "reached": reached, "reached_rate": rate(reached, tasks),
            "confirmed": confirmed if confirming else None,
            "confirmation_rate": rate(confirmed, tasks) if confirming else None,
            "cancellations_caught": cancelling if confirming else None,
            "booked": None if confirming else booked,
            "booked_rate": None if confirming else rate(booked, tasks),
        })
    return sorted(rows, key=lambda r: (r["purpose"], str(r["campaign"])))
