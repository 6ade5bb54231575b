"""A patient card for an unknown caller: the name they give and the number they called from."""

from __future__ import annotations

from sqlalchemy.orm import Session

from callcenter.core import clinic_settings
from callcenter.core.i18n import N_
from callcenter.core.models import Call, CallDirection, CallerKind, Clinic, Patient, PatientPhone


def patient_from_call(session: Session, call: Call, *, last_name: str, first_name: str,
                      patronymic: str = "", notes: str = "", language: str | None = None) -> Patient:
    """Create the card (a lead until their first visit) and link the call to it; the caller commits.
    Without a language the card takes the clinic's language for new patients."""
    if call.caller_kind == CallerKind.NON_PATIENT:
        # An organisation's call (a vendor, an advertiser) must not grow the patient base.
        raise ValueError(N_("this caller is marked as not a patient"))
    first, last = first_name.strip()[:100], last_name.strip()[:100]
    if not (first or last):
        raise ValueError(N_("a first or last name is needed"))
    number = call.dialed if call.direction == CallDirection.OUTBOUND else call.caller
    if language is None:
        clinic = session.get(Clinic, call.clinic_id)
        assert clinic is not None  # the call's own clinic
        language = clinic_settings.patient_language(clinic)
    patient = Patient(clinic_id=call.clinic_id, first_name=first, last_name=last,
                      patronymic=patronymic.strip()[:100], notes=notes[:5000],
                      preferred_language=language, is_lead=True)
    if number:
        patient.phones = [PatientPhone(e164=number, label="mobile")]
    session.add(patient)
    session.flush()
    call.patient_id = patient.id
    return patient
