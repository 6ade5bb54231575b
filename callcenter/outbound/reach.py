"""Who may be called, on which number, and who needs no call because a visit is booked: the rules
every outbound path asks (list builders, the dialer's last check, texts, the desk), stated once as
SQL expressions so a list for a million patients asks them inside one statement."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, and_, exists, or_, select
from sqlalchemy.orm import Session, aliased

from callcenter.core.models import ACTIVE_STATUSES, Appointment, OptOut, Patient, PatientPhone

CHUNK = 5000


def binds(clinic_id: Any, entry: Any = OptOut) -> ColumnElement[bool]:
    """A do-not-call entry binds its own clinic; one without a clinic (older rows) binds all."""
    return or_(entry.clinic_id.is_(None), entry.clinic_id == clinic_id)


def number_opted_out(session: Session, e164: str, clinic_id: int) -> bool:
    return session.scalar(select(exists().where(OptOut.e164 == e164, OptOut.scope == "all",
                                                binds(clinic_id)))) or False


def phone_to_call(patient_id: Any) -> ScalarSelect[str]:
    """The number a patient is called on, NULL when they may not be called at all: erased cards,
    patients without consent and anyone who opted out (by card or by number) are left out; a
    patient's first number that is not opted out is the one called. Correlates with the
    enclosing query through `patient_id` (its own tables are aliases, never correlated)."""
    phone, patient = aliased(PatientPhone), aliased(Patient)
    by_card, by_number = aliased(OptOut), aliased(OptOut)
    return (select(phone.e164).join(patient, patient.id == phone.patient_id)
            .where(phone.patient_id == patient_id, patient.consent_calls.is_(True),
                   patient.erased_at.is_(None),
                   ~exists().where(by_card.patient_id == patient.id, by_card.scope == "all"),
                   ~exists().where(by_number.e164 == phone.e164, by_number.scope == "all",
                                   binds(patient.clinic_id, by_number)))
            .order_by(phone.id).limit(1).scalar_subquery())


def callable_phones(session: Session, patient_ids: Iterable[int]) -> dict[int, str]:
    """Patient id → the number to call (`phone_to_call`), for the patients who may be called."""
    ids = sorted(set(patient_ids))
    phones: dict[int, str] = {}
    for start in range(0, len(ids), CHUNK):
        rows = session.execute(select(Patient.id, phone_to_call(Patient.id))
                               .where(Patient.id.in_(ids[start:start + CHUNK])))
        phones.update((patient_id, e164) for patient_id, e164 in rows if e164 is not None)
    return phones


def future_visit(now: datetime, visit: Any = Appointment) -> ColumnElement[bool]:
    """An appointment that still lies ahead and is not cancelled: the patient is coming."""
    return and_(visit.starts_at > now, visit.status.in_(ACTIVE_STATUSES))


def has_future_visit(patient_id: Any, now: datetime) -> ColumnElement[bool]:
    """The patient has a visit booked (an alias inside, so a query on visits may ask it too)."""
    visit = aliased(Appointment)
    return exists().where(visit.patient_id == patient_id, future_visit(now, visit))


def patients_with_future_visit(session: Session, clinic_id: int, now: datetime) -> set[int]:
    return set(session.scalars(select(Appointment.patient_id).distinct()
                               .where(Appointment.clinic_id == clinic_id, future_visit(now))))


def patient_has_future_visit(session: Session, patient_id: int, now: datetime) -> bool:
    return session.scalar(select(has_future_visit(patient_id, now))) or False
