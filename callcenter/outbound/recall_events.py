"""`recall.due` events: the clinic's system hears of each check-up as it comes due (it may invite
the patient its own way), once per patient and recall, from the same computation as the recall
call list. Written by the planner's daily run on the clinic's clock."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.core import events_out
from callcenter.core.models import Clinic, Patient, Treatment
from callcenter.outbound.lists import ListSettings, due_recalls


def announce(session: Session, clinic: Clinic, now: datetime, settings: ListSettings) -> int:
    """Events for the recalls due now (or in the catch-up days) not announced before; a patient
    who has a visit booked, or whose data was erased, is not due. The caller commits."""
    wanted = due_recalls(session, clinic, now, settings)
    if not wanted:
        return 0
    treatments = {row.id: row for row in session.execute(
        select(Treatment.id, Treatment.type, Treatment.performed_on)
        .join(Patient, Patient.id == Treatment.patient_id)
        .where(Treatment.id.in_(set(wanted.values())), Patient.erased_at.is_(None)))}
    recalls = [{"patient_id": patient_id, "due_date": due.isoformat(), "treatment_id": tid,
                "treatment_type": treatments[tid].type.value,
                "performed_on": treatments[tid].performed_on.isoformat(),
                "after_days": (due - treatments[tid].performed_on).days}
               for (patient_id, due), tid in sorted(wanted.items()) if tid in treatments]
    return events_out.recalls_due(session, clinic.id, recalls, now)
