"""Find a patient from anywhere on the desk: by name, by (part of) a phone number, or by birth
date. Reads only through the request's clinic-scoped session, so another clinic's patients are
never found; the caller audits what was shown."""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, joinedload

from callcenter.core.models import Patient, PatientPhone
from callcenter.core.phones import normalize

LIMIT = 20
DIGITS = re.compile(r"[\d\s()+\-.]{4,}")
DATE_FORMATS = (re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})"), re.compile(r"(\d{1,2})[./](\d{1,2})[./](\d{4})"))


def birth_date(query: str) -> date | None:
    """2001-04-12 or 12.04.2001 (12/04/2001): day first, as ru and most of the world write it."""
    for n, pattern in enumerate(DATE_FORMATS):
        match = pattern.fullmatch(query)
        if match:
            parts = [int(p) for p in match.groups()]
            year, month, day = parts if n == 0 else parts[::-1]
            try:
                return date(year, month, day)
            except ValueError:
                return None
    return None


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _name_token(token: str) -> object:
    # SQLite folds only ASCII case: the spellings people type (as is, Capitalised, lower) are
    # tried instead of lower(), which would miss "соколова" for "Соколова".
    spellings = {token, token.capitalize(), token.lower(), token.upper()}
    return or_(*(column.like(f"{_like(s)}%", escape="\\") for s in spellings
                 for column in (Patient.last_name, Patient.first_name, Patient.patronymic)))


def search(session: Session, query: str, region: str) -> list[Patient]:
    """Up to LIMIT patients matching the query, surname order; [] for a query too short to mean
    anything (one letter would list the whole clinic)."""
    query = " ".join(query.split())[:100]
    found = select(Patient).options(joinedload(Patient.phones)).where(Patient.erased_at.is_(None))
    born = birth_date(query)
    if born is not None:
        found = found.where(Patient.birth_date == born)
    elif DIGITS.fullmatch(query):
        # A whole number in the clinic's national format (8 916 …) is found by its E.164 form.
        digits = re.sub(r"\D", "", query)
        full = normalize(query, region) if len(digits) >= 7 else None
        number = PatientPhone.e164.like(f"%{digits}%")
        found = found.where(Patient.id.in_(select(PatientPhone.patient_id).where(
            or_(number, PatientPhone.e164 == full) if full else number)))
    elif len(query) >= 2:
        found = found.where(and_(*(_name_token(token) for token in query.split(" "))))
    else:
        return []
    return list(session.scalars(found.order_by(Patient.last_name, Patient.first_name, Patient.id)
                                .limit(LIMIT)).unique())
