"""Preview: the list goes to the desk, a receptionist dials with one click and records the outcome.

Nothing is dialed here; the desk page reads `desk_list`, and the outcome comes back through
results.record_outcome like any automatic call.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from callcenter.core.models import (
    Campaign,
    CampaignState,
    Clinic,
    DialMode,
    DialTask,
    Patient,
    TaskState,
)
from callcenter.core.phones import display
from callcenter.outbound.lists import patients_with_future_visit
from callcenter.outbound.results import Outcome


def desk_list(session: Session, clinic: Clinic, now: datetime, limit: int = 200) -> list[dict[str, Any]]:
    """What the desk should call now, most urgent first.

    Preview tasks whose time has come, plus automatic ones that could not reach the patient
    (the "call" mark for the next shift). After-care tasks of a patient who booked meanwhile
    drop off at once, before the periodic rebuild cancels them.
    """
    rows = session.execute(
        select(DialTask, Patient)
        .join(Campaign, Campaign.id == DialTask.campaign_id)
        .outerjoin(Patient, Patient.id == DialTask.patient_id)
        .where(DialTask.clinic_id == clinic.id, Campaign.state == CampaignState.RUNNING,
               or_((Campaign.mode == DialMode.PREVIEW) & (DialTask.state == TaskState.PENDING)
                   & (DialTask.next_attempt_at <= now),
                   (Campaign.mode != DialMode.PREVIEW) & (DialTask.state == TaskState.FAILED)
                   & (DialTask.result != Outcome.EXPIRED.value) & (DialTask.due_date >= now.date())))
        .order_by(DialTask.priority, DialTask.next_attempt_at, DialTask.id)
        .limit(limit)
    ).all()
    booked = patients_with_future_visit(session, clinic.id, now)
    items = []
    for task, patient in rows:
        if task.purpose.value in ("follow_up", "recall", "no_show") and task.patient_id in booked:
            continue
        name = " ".join(filter(None, (patient.first_name, patient.patronymic, patient.last_name))) if patient else ""
        items.append({
            "task_id": task.id, "purpose": task.purpose.value, "patient_id": task.patient_id,
            "patient": name, "phone": task.phone, "phone_display": display(task.phone, clinic.region) if task.phone else "",
            "dial_uri": f"tel:{task.phone}" if task.phone else "", "due_date": task.due_date.isoformat(),
            "appointment_id": task.appointment_id, "attempts": task.attempts,
            "state": task.state.value, "result": task.result, "notes": task.notes,
        })
    return items
