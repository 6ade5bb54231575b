"""The desk's patient forms: the new-patient form (JSON) and the card's edit form (HTML), read
with the same checks: every field checked and, when wrong, refused naming the field (in the
staff member's language through DeskError's msgid)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from itertools import zip_longest
from typing import Any
from zoneinfo import ZoneInfo

from callcenter.core.config_values import LOCALES
from callcenter.core.inputs import optional_text, problem
from callcenter.core.models import Clinic, Patient, Sex
from callcenter.core.phones import normalize
from callcenter.desk.http_input import DeskError
from callcenter.inbound.leads import PHONE_LABELS, NewPatient

MOST_PHONES = 6
MOST_DIGITS_TEXT = 40  # "+7 (903) 000-11-22 ext. 5" and the like
OLDEST = date(1900, 1, 1)
EDIT_FIELDS = ("last_name", "first_name", "patronymic", "notes", "language", "sex", "birth_date")
CONSENTS = ("consent_calls", "consent_marketing")


def _choice(body: dict[str, Any], name: str, choices: tuple[str, ...], field: str = "") -> str | None:
    value = body.get(name)
    if value in (None, ""):
        return None
    if value not in choices:
        raise DeskError(field or name, "one of: {choices}", choices=", ".join(choices))
    return str(value)


def _birth_date(body: dict[str, Any], today: date) -> date | None:
    value = body.get("birth_date")
    if value in (None, ""):
        return None
    try:
        born = date.fromisoformat(str(value)[:10]) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        born = None
    if born is None:
        raise DeskError("birth_date", "expected a date like 1980-04-30")
    if not OLDEST <= born <= today:
        raise DeskError("birth_date", "must be between {first} and today", first=OLDEST.isoformat())
    return born


def _phones(body: dict[str, Any], region: str) -> list[tuple[str, str]]:
    rows = body.get("phones")
    if rows in (None, []):
        return []
    if not isinstance(rows, list) or len(rows) > MOST_PHONES:
        raise DeskError("phones", "a list of at most {most} numbers", most=MOST_PHONES)
    phones = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise DeskError(f"phones.{index}", "expected an object with number and label")
        raw = row.get("number")
        if raw in (None, ""):
            continue  # an empty row the form left
        e164 = normalize(raw, region) if isinstance(raw, str) and len(raw) <= MOST_DIGITS_TEXT \
            and problem(raw) is None else None
        if e164 is None:
            raise DeskError(f"phones.{index}.number", "not a phone number")
        label = _choice(row, "label", PHONE_LABELS, f"phones.{index}.label") or PHONE_LABELS[0]
        phones.append((e164, label))
    return phones


def read(body: dict[str, Any], clinic: Clinic, now: datetime) -> NewPatient:
    """The form's fields; the language defaults to the clinic's for new patients (never the
    receptionist's), the sex to unknown."""
    names = {name: optional_text(getattr(Patient, name), body, name).strip()
             for name in ("last_name", "first_name", "patronymic", "notes")}
    if not (names["first_name"] or names["last_name"]):
        raise DeskError("first_name", "a first or last name is needed")
    today = now.astimezone(ZoneInfo(clinic.timezone)).date()
    return NewPatient(
        **names, language=_choice(body, "language", LOCALES),
        sex=Sex(_choice(body, "sex", tuple(s.value for s in Sex)) or Sex.UNKNOWN),
        birth_date=_birth_date(body, today), phones=_phones(body, clinic.region))


def form_body(form: Mapping[str, Any], numbers: list[str], labels: list[str]) -> dict[str, Any]:
    """The card's edit form (a plain HTML form) as the JSON body `read` checks; empty phone rows
    are left out, a number without its label gets the first label (never dropped), and an
    unticked box is a "no"."""
    body: dict[str, Any] = {name: form.get(name, "") for name in EDIT_FIELDS}
    body["phones"] = [{"number": number, "label": label}
                      for number, label in zip_longest(numbers, labels[:len(numbers)], fillvalue="")
                      if number.strip()]
    for name in CONSENTS:
        body[name] = form.get(name) == "1"
    return body


def form_values(patient: Patient) -> dict[str, Any]:
    """The card as the edit form shows it first."""
    return {"last_name": patient.last_name, "first_name": patient.first_name,
            "patronymic": patient.patronymic, "notes": patient.notes,
            "language": patient.preferred_language, "sex": patient.sex.value,
            "birth_date": patient.birth_date.isoformat() if patient.birth_date else "",
            "phones": [{"number": p.e164, "label": p.label} for p in patient.phones],
            **{name: bool(getattr(patient, name)) for name in CONSENTS}}


def read_edit(body: dict[str, Any], clinic: Clinic, now: datetime) -> dict[str, Any]:
    """The edit form's changes for `core.patient_records.update`, checked as the new-patient
    form is (`read`), with the consents; a language left out keeps the card's."""
    given = read(body, clinic, now)
    changes: dict[str, Any] = {
        "last_name": given.last_name, "first_name": given.first_name,
        "patronymic": given.patronymic, "notes": given.notes, "sex": given.sex,
        "birth_date": given.birth_date, "phones": given.phones}
    if given.language is not None:
        changes["preferred_language"] = given.language
    for name in CONSENTS:
        if not isinstance(body.get(name), bool):
            raise DeskError(name, "expected true or false")
        changes[name] = body[name]
    return changes
