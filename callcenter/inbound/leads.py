"""A patient card for an unknown caller: who they are, the numbers they can be reached on, the
language they are spoken to in; and the cards the clinic may already have for the same person."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, joinedload

from callcenter.core import clinic_settings, events_out
from callcenter.core.inputs import InputError
from callcenter.core.models import (
    Call,
    CallDirection,
    CallerKind,
    Clinic,
    Patient,
    PatientPhone,
    Sex,
)

# How the desk labels a number (the first is the default of a new one).
PHONE_LABELS = ("mobile", "home", "work", "family")
DUPLICATES_SHOWN = 5


@dataclass(frozen=True)
class NewPatient:
    """What the desk's form gives; phones are (E.164, label) besides the number of the call."""

    last_name: str
    first_name: str
    patronymic: str = ""
    notes: str = ""
    language: str | None = None
    sex: Sex = Sex.UNKNOWN
    birth_date: date | None = None
    phones: list[tuple[str, str]] = field(default_factory=list)


def caller_number(call: Call) -> str | None:
    """The far end of the call: the caller, or the number an outbound call dialed."""
    return call.dialed if call.direction == CallDirection.OUTBOUND else call.caller


def _phones(call: Call, given: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The form's numbers, with the call's own added (as mobile) when the form left it out; each once."""
    seen: dict[str, str] = {}
    number = caller_number(call)
    for e164, label in [*given, *([(number, PHONE_LABELS[0])] if number else [])]:
        seen.setdefault(e164, label)
    return list(seen.items())


def patient_from_call(session: Session, call: Call, *, last_name: str, first_name: str,
                      patronymic: str = "", notes: str = "", language: str | None = None,
                      sex: Sex = Sex.UNKNOWN, birth_date: date | None = None,
                      phones: list[tuple[str, str]] | None = None, now: datetime) -> Patient:
    """Create the card (a lead until their first visit) and link the call to it; the caller commits.
    Without a language the card takes the clinic's language for new patients."""
    if call.caller_kind == CallerKind.NON_PATIENT:
        # An organisation's call (a vendor, an advertiser) must not grow the patient base.
        raise InputError("call_id", "this caller is marked as not a patient")
    first, last = first_name.strip()[:100], last_name.strip()[:100]
    if not (first or last):
        raise InputError("last_name", "a first or last name is needed")
    if language is None:
        clinic = session.get(Clinic, call.clinic_id)
        assert clinic is not None  # the call's own clinic
        language = clinic_settings.patient_language(clinic)
    patient = Patient(clinic_id=call.clinic_id, first_name=first, last_name=last,
                      patronymic=patronymic.strip()[:100], notes=notes[:5000],
                      preferred_language=language, sex=sex, birth_date=birth_date, is_lead=True)
    patient.phones = [PatientPhone(e164=e164, label=label) for e164, label in _phones(call, phones or [])]
    session.add(patient)
    events_out.patient_created(patient, now)
    call.patient_id = patient.id
    return patient


def create(session: Session, call: Call, form: NewPatient, now: datetime) -> Patient:
    return patient_from_call(session, call, last_name=form.last_name, first_name=form.first_name,
                             patronymic=form.patronymic, notes=form.notes, language=form.language,
                             sex=form.sex, birth_date=form.birth_date, phones=form.phones, now=now)


def duplicates(session: Session, call: Call, form: NewPatient) -> list[tuple[Patient, str]]:
    """The clinic's cards that may be this person: (patient, "number" or "name_birth_date").

    By any of the numbers (a family shares one, so it is a warning, not a refusal) and by the same
    last and first name (in any case) with the same birth date. Names are compared here, not in
    SQL: SQLite's lower() folds ASCII only, and the birth date already narrows the rows to a few.
    """
    numbers = {e164 for e164, _label in _phones(call, form.phones)}
    conditions = []
    if numbers:
        conditions.append(Patient.id.in_(select(PatientPhone.patient_id)
                                         .where(PatientPhone.e164.in_(numbers))))
    if form.birth_date is not None:
        conditions.append(Patient.birth_date == form.birth_date)
    if not conditions:
        return []
    rows = session.scalars(
        select(Patient).options(joinedload(Patient.phones))
        .where(Patient.clinic_id == call.clinic_id, Patient.erased_at.is_(None), or_(*conditions))
        .order_by(Patient.id)).unique().all()
    name = (form.last_name.strip().casefold(), form.first_name.strip().casefold())
    found = []
    for patient in rows:
        if {p.e164 for p in patient.phones} & numbers:
            found.append((patient, "number"))
        elif all(name) and (patient.last_name.strip().casefold(),
                            patient.first_name.strip().casefold()) == name:
            found.append((patient, "name_birth_date"))
    return found[:DUPLICATES_SHOWN]
