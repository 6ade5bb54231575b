"""What the attending doctor must be told: a patient who cancelled and refused any next contact.

Doctors have no pages of their own; the notice waits on the desk's visits page until a
receptionist has passed it on and marks it seen.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from callcenter.core.models import Appointment, DoctorNotice

REFUSED_NEXT_CONTACT = "refused_next_contact"


def tell_doctor(session: Session, appointment: Appointment, *, note: str, now: datetime,
                staff_id: int | None = None) -> DoctorNotice:
    notice = DoctorNotice(clinic_id=appointment.clinic_id, doctor_id=appointment.doctor_id,
                          patient_id=appointment.patient_id, appointment_id=appointment.id,
                          kind=REFUSED_NEXT_CONTACT, note=note, created_by_id=staff_id, created_at=now)
    session.add(notice)
    session.flush()
    return notice


def open_notices(session: Session, clinic_id: int, limit: int = 50) -> list[DoctorNotice]:
    """Notices not yet passed on, the oldest first."""
    return list(session.scalars(
        select(DoctorNotice).options(joinedload(DoctorNotice.patient), joinedload(DoctorNotice.doctor))
        .where(DoctorNotice.clinic_id == clinic_id, DoctorNotice.seen_at.is_(None))
        .order_by(DoctorNotice.created_at, DoctorNotice.id).limit(limit)))


def mark_seen(notice: DoctorNotice, now: datetime) -> None:
    notice.seen_at = notice.seen_at or now
