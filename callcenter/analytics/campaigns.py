"""Outbound work: how many were reached, confirmed, caught cancelling, booked or rebooked.

Counted over dial tasks due in the period. Reached / confirmed / cancelling come from the
result campaigns/results.py writes on the task. Booked is read from
the schedule, not from a result: the patient has an appointment (new or moved) created after
the task was made and within the attribution window.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, exists, func, select
from sqlalchemy.orm import Session

from callcenter.analytics.funnel import Row, rate
from callcenter.analytics.periods import Filters
from callcenter.analytics.sqltime import shifted
from callcenter.core.models import Appointment, Campaign, DialTask, TaskPurpose
from callcenter.outbound import results

REACHED = sorted(outcome.value for outcome in results.REACHED)
CANCELLING = (results.Outcome.CANCEL.value, results.Outcome.RESCHEDULE.value)


def _count(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def campaigns(session: Session, flt: Filters) -> list[Row]:
    """One row per campaign (desk tasks without a campaign: one row per purpose)."""
    result = DialTask.result
    booked_after = exists().where(
        Appointment.patient_id == DialTask.patient_id,
        Appointment.clinic_id == DialTask.clinic_id,
        Appointment.created_at >= DialTask.created_at,
        Appointment.created_at <= shifted(DialTask.created_at, flt.window_seconds),
    )
    # A confirmation's row shows no bookings: its tasks are not probed (most of a clinic's tasks).
    booked = func.coalesce(func.sum(case((DialTask.purpose == TaskPurpose.CONFIRMATION, 0),
                                         (booked_after, 1), else_=0)), 0)
    found = session.execute(
        select(DialTask.campaign_id, Campaign.name, DialTask.purpose, func.count(),
               _count(result.in_(REACHED)), _count(result == results.Outcome.CONFIRMED.value),
               _count(result.in_(CANCELLING)), booked)
        .outerjoin(Campaign, Campaign.id == DialTask.campaign_id)
        .where(DialTask.clinic_id == flt.clinic_id, DialTask.due_date >= flt.start,
               DialTask.due_date <= flt.end)
        .group_by(DialTask.campaign_id, Campaign.name, DialTask.purpose)
    ).all()
    rows = []
    for campaign_id, name, purpose, tasks, reached, confirmed, cancelling, booked in found:
        confirming = TaskPurpose(purpose) is TaskPurpose.CONFIRMATION
        reached, confirmed, cancelling, booked = map(int, (reached, confirmed, cancelling, booked))
        rows.append({
            "campaign_id": campaign_id, "campaign": name or None, "purpose": str(purpose),
            "tasks": tasks, "reached": reached, "reached_rate": rate(reached, tasks),
            "confirmed": confirmed if confirming else None,
            "confirmation_rate": rate(confirmed, tasks) if confirming else None,
            "cancellations_caught": cancelling if confirming else None,
            "booked": None if confirming else booked,
            "booked_rate": None if confirming else rate(booked, tasks),
        })
    return sorted(rows, key=lambda r: (r["purpose"], str(r["campaign"])))
