"""Who is calling: the patients on a number, and whether the caller is new."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from callcenter.core.models import Call, CallerKind, Organisation, Patient, PatientPhone


@dataclass(frozen=True)
class CallerMatch:
    kind: CallerKind
    patient_ids: tuple[int, ...]
    first_time: bool


def patients_for_number(session: Session, clinic_id: int, e164: str) -> tuple[int, ...]:
    # A correlated EXISTS keeps the plan on the e164 index; a plain join lets SQLite's planner
    # scan the clinic's patients instead (12 ms vs 0.1 ms at 20,000 patients).
    live_patient = exists().where(Patient.id == PatientPhone.patient_id, Patient.clinic_id == clinic_id,
                                  Patient.erased_at.is_(None))
    return tuple(session.scalars(
        select(PatientPhone.patient_id).where(PatientPhone.e164 == e164, live_patient)
        .order_by(PatientPhone.patient_id)
    ).all())


def match_caller(session: Session, clinic_id: int, e164: str | None, *, before: datetime,
                 exclude_call_id: int | None = None) -> CallerMatch:
    """One patient: linked; several (a family): all kept as candidates; a number the desk marked
    as an organisation's: not a patient; none of these: a new caller."""
    if not e164:
        return CallerMatch(CallerKind.HIDDEN, (), False)
    patient_ids = patients_for_number(session, clinic_id, e164)
    if len(patient_ids) > 1:
        return CallerMatch(CallerKind.FAMILY, patient_ids, False)
    if patient_ids:
        return CallerMatch(CallerKind.REPEAT, patient_ids, False)
    # A new caller: one statement asks both whether it is an organisation's number and whether
    # it called before (on every webhook's path, so the known patient above asks neither).
    organisation, called_before = session.execute(select(
        exists().where(Organisation.clinic_id == clinic_id, Organisation.e164 == e164),
        exists().where(Call.clinic_id == clinic_id, Call.caller == e164, Call.started_at < before,
                       Call.id != (exclude_call_id or 0)),
    )).one()
    if organisation:
        return CallerMatch(CallerKind.NON_PATIENT, (), False)
    return CallerMatch(CallerKind.NEW, (), not called_before)
